"""The report runner reuses up-to-date stages, redoes changed or FRESH ones, and writes an index."""
from pathlib import Path

from mmkp_lib import report


def _fake_stages(calls, tmp_path, param):
    def make(name):
        out = tmp_path / f"{name}.out"

        def run(cfg):
            calls.append(name)
            out.write_text(name)

        return report.Stage(name=name, run=run, outputs=lambda cfg: [out], inputs=[],
                            params=lambda cfg: {"p": param[name]})

    return [make("data"), make("01_first")]


def test_second_run_reuses_and_a_change_reruns_downstream(tmp_path, monkeypatch):
    calls, param = [], {"data": 1, "01_first": 1}
    monkeypatch.setattr(report, "stages", lambda: _fake_stages(calls, tmp_path, param))
    cfg = report.ReportConfig(out=tmp_path / "reports", work=tmp_path)

    report.run_report(cfg)
    assert calls == ["data", "01_first"]
    timings = report.run_report(cfg)
    assert calls == ["data", "01_first"], "up-to-date stages must be reused"
    assert all(t["reused"] for t in timings)

    param["data"] = 2  # the data stage changed: it and everything after it rerun
    report.run_report(cfg)
    assert calls == ["data", "01_first", "data", "01_first"]

    (tmp_path / "01_first.out").unlink()  # a lost output is rebuilt
    report.run_report(cfg)
    assert calls[-1] == "01_first" and len(calls) == 5

    cfg.fresh = True
    report.run_report(cfg)
    assert calls[-2:] == ["data", "01_first"]
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "Stage times" in index and "01_first" in index and "Run times" in index


def test_the_computed_answer_opens_the_rendered_page():
    """The Markdown output of the cell tagged `answer` is copied right under the title; nothing without one."""
    import nbformat

    from mmkp_lib.report import hoist_answer

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 03 · Question?"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("Markdown(...)", metadata={"tags": ["answer"]})]
    nb.cells[2].outputs = [nbformat.v4.new_output("execute_result", data={"text/markdown": "SFT **41.0**\nline 2",
                                                                           "text/plain": "<Markdown>"})]
    out = hoist_answer(nb)
    assert [c.cell_type for c in out.cells] == ["markdown", "markdown", "code", "code"]
    assert "SFT **41.0**" in out.cells[1].source and "> line 2" in out.cells[1].source
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("1")]
    assert len(hoist_answer(plain).cells) == 2


def test_smoke_pages_go_to_an_ignored_folder_and_notebooks_get_repository_relative_paths(tmp_path, monkeypatch):
    import subprocess

    from mmkp_lib.paths import display_path

    assert report.ReportConfig().out == report.ROOT / "reports"
    smoke = report.ReportConfig(smoke=True)
    assert smoke.out == report.ROOT / "reports-smoke"  # the committed reports/*.html are never a smoke page
    for path in ("reports-smoke/index.html", "runs-smoke/sft-seed0/config.json"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=report.ROOT).returncode == 0, f"{path} not ignored"
    assert smoke.notebook_parameters()["data"] == "data/synth-smoke" and smoke.notebook_parameters()["work_dir"] == "."
    elsewhere = report.ReportConfig(work=tmp_path)
    assert elsewhere.notebook_parameters()["work_dir"] == str(tmp_path)  # outside the repository: as given
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert display_path(tmp_path / "runs") == "runs" and display_path(tmp_path) == "."
    assert display_path("/somewhere/else") == "/somewhere/else"


def test_each_page_is_listed_with_its_question():
    questions = {nb.stem: report.notebook_question(nb) for nb in sorted(report.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    assert len(questions) == 5 and all(q.endswith("?") and len(q) > 20 for q in questions.values()), questions


def test_summary_says_fresh_only_when_every_stage_and_every_run_was_made_in_this_invocation(tmp_path, monkeypatch):
    import json
    import os
    import time

    run = tmp_path / "runs" / "sft-seed0"
    run.mkdir(parents=True)
    retrain = {"on": True}

    def runs_stage(cfg):  # what the runs stage does: train the run (when asked to), writing its files
        if retrain["on"]:
            (run / "train_log.jsonl").write_text("")
            (run / "metrics.json").write_text("{}")
        cfg.summary_path.write_text(json.dumps({"runs": [], "claims": {}}))  # what notebook 05 writes later

    stages = [report.Stage(name="runs", run=runs_stage, outputs=lambda cfg: [run / "metrics.json"], inputs=[],
                           params=lambda cfg: {})]
    monkeypatch.setattr(report, "stages", lambda: stages)
    monkeypatch.setattr(report, "_runs_outputs", lambda cfg: [run / "metrics.json"])
    monkeypatch.setattr(report, "run_time_rows", lambda cfg: ("", 120.0))
    cfg = report.ReportConfig(out=tmp_path / "reports", work=tmp_path, fresh=True)

    report.run_report(cfg)  # every stage ran and the run was trained in it: a fresh report
    got = json.loads(cfg.summary_path.read_text())
    assert got["wall_minutes_fresh"] == got["wall_minutes"] >= 0 and got["total_process_minutes"] == 2.0
    assert got["commit"] and got["cores"] and got["stages"]["runs"]["reused"] is False

    retrain["on"] = False  # the stage reruns (FRESH) but finds the run complete and trains nothing
    earlier = time.time() - 600  # the run's files, as an invocation ten minutes ago left them
    for f in run.iterdir():
        os.utime(f, (earlier, earlier))
    report.run_report(cfg)
    assert json.loads(cfg.summary_path.read_text())["wall_minutes_fresh"] is None

    retrain["on"], cfg.fresh = True, False  # nothing changed: the stage is reused
    cfg.summary_path.write_text(json.dumps({"runs": [], "claims": {}}))
    report.run_report(cfg)
    assert json.loads(cfg.summary_path.read_text())["wall_minutes_fresh"] is None
