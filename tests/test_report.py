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
