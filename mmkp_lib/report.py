"""`make report`: run the pipeline's stages, execute the notebooks, render the HTML report.

Each stage has a fingerprint (its parameters, the source files it depends on,
the fingerprints of the stages before it). A stage whose fingerprint matches
the one recorded at its last successful run, and whose outputs still exist, is
reused; `--fresh 1` redoes everything. Stage times go into reports/index.html.

    python -m mmkp_lib.report                 # the full default run (what `make report` does)
    python -m mmkp_lib.report --smoke 1       # tiny sizes, every notebook, a minute or two, into reports-smoke/
    python -m mmkp_lib.report --smoke 1 --out /tmp/rep --work /tmp/work   # elsewhere

The committed pages are reports/*.html; a smoke pass writes to reports-smoke/ (ignored by git) and never
touches them. Notebooks receive paths relative to the repository, so no page shows the folder it was made in.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# The shared copy of the real MMKP files beside the repository (development, CI); the report copies it into the
# work folder's data/mmkp (git-ignored) so notebook 01 gets a repository-relative path.
MMKP_MIRROR = ROOT.parent / "shared" / "data" / "mmkp"


def default_out(smoke: bool) -> Path:
    """reports/ (committed) for the full run, reports-smoke/ (ignored) for a smoke pass."""
    return ROOT / ("reports-smoke" if smoke else "reports")


def repo_relative(path: Path) -> str:
    """`path` relative to the repository (where papermill runs the notebooks) when inside it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(ROOT)) or "."
    except ValueError:
        return str(path)


@dataclass
class ReportConfig:
    smoke: bool = False
    fresh: bool = False
    out: Path | None = None  # rendered HTML, executed notebooks, index.html; None = default_out(smoke)
    work: Path = ROOT  # where data/, cache/ and runs/ live
    seed: int = 0

    def __post_init__(self) -> None:
        if self.out is None:
            self.out = default_out(self.smoke)

    @property
    def data_dir(self) -> Path:
        from mmkp_lib.experiment.config import DEFAULT_DATA, SMOKE_DATA

        return self.work / (SMOKE_DATA if self.smoke else DEFAULT_DATA)

    @property
    def summary_path(self) -> Path:
        """Notebook 05's machine-readable summary of the experiment; run_report adds the pipeline's times."""
        return self.out / "summary.json"

    @property
    def mmkp_dir(self) -> Path:
        return self.work / "data" / "mmkp"

    def notebook_parameters(self) -> dict:
        """Parameters every notebook receives; a notebook ignores none of them silently (papermill warns).
        `mmkp_data` is the fetched real MMKP folder, or "" when there is none (notebook 01 then says so)."""
        from mmkp_lib.fetch import has_mmkp

        return {"smoke": self.smoke, "data": repo_relative(self.data_dir), "seed": self.seed,
                "work_dir": repo_relative(self.work), "summary_path": repo_relative(self.summary_path),
                "mmkp_data": repo_relative(self.mmkp_dir) if has_mmkp(self.mmkp_dir) else ""}


@dataclass
class Stage:
    name: str
    run: Callable[[ReportConfig], None]
    outputs: Callable[[ReportConfig], list[Path]]
    inputs: list[Path] = field(default_factory=list)  # source files whose change invalidates the stage
    params: Callable[[ReportConfig], dict] = lambda cfg: {}


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def synth_sizes(smoke: bool) -> list[str]:
    from mmkp_lib.synth.config import SMOKE_SIZES

    return [arg for k, v in SMOKE_SIZES.items() for arg in (f"--{k.replace('_', '-')}", str(v))] if smoke else []


def _run_synth(cfg: ReportConfig) -> None:
    cmd = [sys.executable, "-m", "mmkp_lib.cli", "synth", "--out", str(cfg.data_dir), "--seed", str(cfg.seed)]
    subprocess.run(cmd + synth_sizes(cfg.smoke), check=True)


def teacher_cache(cfg: ReportConfig) -> Path:
    from mmkp_lib.teacher.cache import default_cache_path
    from mmkp_lib.teacher.oracle import DEFAULT_STYLE

    return default_cache_path(cfg.data_dir, "oracle", root=cfg.work, style=DEFAULT_STYLE)


def _run_teacher(cfg: ReportConfig) -> None:
    from mmkp_lib.teacher.oracle import DEFAULT_STYLE

    cmd = [sys.executable, "-m", "mmkp_lib.cli", "teacher", "--data", str(cfg.data_dir), "--split", "train",
           "--backend", "oracle", "--style", DEFAULT_STYLE, "--seed", str(cfg.seed), "--out", str(teacher_cache(cfg)), "--no-progress"]
    subprocess.run(cmd, check=True)


def _run_mmkp_fetch(cfg: ReportConfig) -> None:
    """Copy the shared MMKP mirror into data/mmkp when it is there (nothing to do, and no error, when not)."""
    if not (MMKP_MIRROR / "test_src.txt").is_file():
        print(f"[report] no MMKP mirror at {MMKP_MIRROR}; notebook 01 says the real benchmark is not measured "
              "(`mmkp data fetch mmkp --out data/mmkp` adds it)", flush=True)
        return
    subprocess.run([sys.executable, "-m", "mmkp_lib.cli", "data", "fetch", "mmkp", "--from", str(MMKP_MIRROR),
                    "--out", str(cfg.mmkp_dir), "--no-progress"], check=True)


def report_experiment(cfg: ReportConfig):
    """The ExperimentConfig behind the report's runs: notebooks 03-05's defaults on this report's data and work
    folder (so the notebooks find every run the runs stage made)."""
    from mmkp_lib.experiment import ExperimentConfig

    return ExperimentConfig.from_settings("report", data=str(cfg.data_dir), work_dir=str(cfg.work),
                                          smoke=cfg.smoke).validated()


def _run_experiments(cfg: ReportConfig) -> None:
    """Teacher rationales if missing, then every run of `report_plan` (reused when done), longest first."""
    from mmkp_lib.experiment import ensure_runs, ensure_teacher, report_plan

    exp = report_experiment(cfg)
    ensure_teacher(exp)
    ensure_runs(report_plan(exp))  # as many at once as cores / threads allow (one per GPU with CUDA)


def _runs_outputs(cfg: ReportConfig) -> list[Path]:
    from mmkp_lib.experiment import report_plan

    return [Path(s.out) / "metrics.json" for s in report_plan(report_experiment(cfg))]


def _notebook_stage(nb: Path) -> Stage:
    def run(cfg: ReportConfig) -> None:
        execute_notebook(nb, cfg)

    def outputs(cfg: ReportConfig) -> list[Path]:
        return [cfg.out / f"{nb.stem}.html", cfg.out / "executed" / nb.name]

    return Stage(name=nb.stem, run=run, outputs=outputs, inputs=[nb, ROOT / "mmkp_lib"],
                 params=lambda cfg: cfg.notebook_parameters())


def stages() -> list[Stage]:
    data = Stage(name="data", run=_run_synth, outputs=lambda cfg: [cfg.data_dir / "stats.json"],
                 inputs=[ROOT / "mmkp_lib" / "synth"],
                 params=lambda cfg: {"smoke": cfg.smoke, "seed": cfg.seed, "sizes": synth_sizes(cfg.smoke)})
    teacher = Stage(name="teacher", run=_run_teacher, outputs=lambda cfg: [teacher_cache(cfg)],
                    inputs=[ROOT / "mmkp_lib" / "teacher"], params=lambda cfg: {"backend": "oracle", "seed": cfg.seed})
    # Every training run of notebooks 03-05 at once, two at a time, longest first; the notebooks then reuse them.
    # Its inputs are all of mmkp_lib, but a rerun only checks each run folder's config and trains nothing anew.
    runs = Stage(name="runs", run=_run_experiments, outputs=_runs_outputs, inputs=[ROOT / "mmkp_lib"],
                 params=lambda cfg: {"smoke": cfg.smoke})
    # After the runs, so that the mirror appearing or going reruns the notebooks but no training run.
    mmkp = Stage(name="mmkp-data", run=_run_mmkp_fetch, inputs=[ROOT / "mmkp_lib" / "fetch.py"],
                 outputs=lambda cfg: [cfg.mmkp_dir / "test_src.txt"] if (MMKP_MIRROR / "test_src.txt").is_file() else [],
                 params=lambda cfg: {"mirror": (MMKP_MIRROR / "test_src.txt").is_file(),
                                     "mmkp_data": cfg.notebook_parameters()["mmkp_data"]})
    notebooks = [_notebook_stage(nb) for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    return [data, teacher, runs, mmkp] + notebooks


def execute_notebook(nb: Path, cfg: ReportConfig) -> Path:
    """Execute one notebook with papermill (in the repo root) and render it to HTML."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from mmkp_lib.notebook import parameter_names

    executed = cfg.out / "executed" / nb.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    declared = parameter_names(nb)
    params = {k: v for k, v in cfg.notebook_parameters().items() if k in declared}
    papermill.execute_notebook(str(nb), str(executed), parameters=params, cwd=str(ROOT),
                               progress_bar=False, log_output=False)
    body, _ = HTMLExporter().from_notebook_node(hoist_answer(nbformat.read(str(executed), as_version=4)))
    html_path = cfg.out / f"{nb.stem}.html"
    html_path.write_text(body, encoding="utf-8")
    return html_path


def hoist_answer(notebook):
    """The notebook with its computed answer also shown right under the title cell, for the rendered page.

    A notebook states its question in its first cell; the answer needs the numbers computed further down, in
    the cell tagged `answer`. Its Markdown output is copied into a cell after the first, so each HTML page opens
    with its question and its answer (the executed .ipynb is left as it ran).
    """
    import nbformat

    texts = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and "answer" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "text/markdown" in data:
                    texts.append(data["text/markdown"])
    if not texts:
        return notebook
    box = nbformat.v4.new_markdown_cell(
        "> **Answer, from this run's numbers** (computed under *The answer* below):\n>\n"
        + "\n>\n".join("> " + t.replace("\n", "\n> ") for t in texts))
    box.metadata["tags"] = ["hoisted-answer"]
    notebook.cells.insert(1, box)
    return notebook


def fingerprint(stage: Stage, cfg: ReportConfig, upstream: str) -> str:
    h = hashlib.sha256()
    h.update(upstream.encode())
    h.update(json.dumps(stage.params(cfg), sort_keys=True, default=str).encode())
    h.update(_hash_files(stage.inputs).encode())
    return h.hexdigest()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        # the committed pages under reports/ are this run's own outputs: rewriting them does not dirty the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)reports"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def machine_description() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "torch not installed"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, Python {platform.python_version()}"


def run_report(cfg: ReportConfig) -> list[dict]:
    started, started_at = time.perf_counter(), time.time()
    cfg.out.mkdir(parents=True, exist_ok=True)
    stamps_path = cfg.out / "stamps.json"
    stamps = {} if cfg.fresh or not stamps_path.exists() else json.loads(stamps_path.read_text())
    timings = []
    upstream = ""
    for stage in stages():
        fp = fingerprint(stage, cfg, upstream)
        up_to_date = stamps.get(stage.name, {}).get("fingerprint") == fp and all(p.exists() for p in stage.outputs(cfg))
        if up_to_date:
            print(f"[report] {stage.name}: up to date, reused", flush=True)
            timings.append({"stage": stage.name, "seconds": stamps[stage.name]["seconds"], "reused": True})
        else:
            print(f"[report] {stage.name}: running ...", flush=True)
            t0 = time.perf_counter()
            stage.run(cfg)
            seconds = time.perf_counter() - t0
            print(f"[report] {stage.name}: done in {seconds:.1f} s", flush=True)
            stamps[stage.name] = {"fingerprint": fp, "seconds": seconds}
            stamps_path.write_text(json.dumps(stamps, indent=1))  # after each stage: a crash keeps what is done
            timings.append({"stage": stage.name, "seconds": seconds, "reused": False})
        upstream = fp
    write_index(cfg, timings)
    finish_summary(cfg, timings, wall_s=time.perf_counter() - started, started_at=started_at)
    return timings


MTIME_SLACK_S = 1.0  # file systems stamp mtimes from a coarser clock than time.time(): a file written just after
# the start can read a few ms before it; a run from an earlier invocation is older by the notebooks' run at least


def made_since(paths: list[Path], since: float) -> bool:
    """Whether every one of `paths` exists and was written since `since` (a time.time() stamp, less the slack)."""
    return all(p.is_file() and p.stat().st_mtime >= since - MTIME_SLACK_S for p in paths)


def finish_summary(cfg: ReportConfig, timings: list[dict], wall_s: float, started_at: float) -> Path | None:
    """Add the pipeline's provenance and times to notebook 05's summary.json: commit, cores, this invocation's
    wall minutes, and `wall_minutes_fresh` only when every stage ran in it *and* every run of the plan was made
    in it (its metrics.json, and a trained run's train_log.jsonl, written since `started_at`): a fresh
    `make report`. Otherwise null (a stage or run was reused; their own times are in index.html). Plus the
    runs' summed process-minutes."""
    from mmkp_lib.analysis.summary import write_summary
    from mmkp_lib.runs import read_json

    if not cfg.summary_path.is_file():
        return None
    summary = read_json(cfg.summary_path)
    from mmkp_lib import runs as run_files

    metrics = _runs_outputs(cfg)
    logs = [m.parent / run_files.TRAIN_LOG for m in metrics if (m.parent / run_files.TRAIN_LOG).is_file()]
    fresh = all(not t["reused"] for t in timings) and made_since(metrics + logs, started_at)
    _, run_seconds = run_time_rows(cfg)
    return write_summary(cfg.summary_path, summary, commit=git_commit(), cores=os.cpu_count(),
                         wall_minutes=round(wall_s / 60, 2), wall_minutes_fresh=round(wall_s / 60, 2) if fresh else None,
                         total_process_minutes=round(run_seconds / 60, 2), smoke=cfg.smoke,
                         stages={t["stage"]: {"seconds": round(t["seconds"], 1), "reused": t["reused"]}
                                 for t in timings})


def run_time_rows(cfg: ReportConfig) -> tuple[str, float]:
    """HTML rows (run, train s, predict s, threads) of the report plan's existing runs, and their summed seconds."""
    from mmkp_lib.experiment import run_times

    if not cfg.data_dir.exists():  # no data stage yet: no plan, no runs
        return "", 0.0
    folders = [p.parent for p in _runs_outputs(cfg) if p.is_file()]
    rows, total = [], 0.0
    for r in run_times(folders):
        train_s, predict_s = r["train_s"] or 0.0, r["predict_s"] or 0.0
        total += train_s + predict_s
        rows.append(f"<tr><td>{html.escape(r['run'])}</td><td>{train_s:.0f}</td><td>{predict_s:.0f}</td>"
                    f"<td>{r['threads'] or ''}</td></tr>")
    return "\n".join(rows), total


def notebook_question(nb: Path) -> str:
    """The question a notebook answers: its first Markdown cell's sentence after "**Question:**"."""
    import re

    import nbformat

    for cell in nbformat.read(str(nb), as_version=4).cells:
        if cell.cell_type == "markdown":
            text = " ".join(cell.source.split())
            m = re.search(r"\*\*Question:\*\*\s*(.+?\?)", text)
            return m.group(1) if m else ""
    return ""


def headline_html(cfg: ReportConfig, n_boot: int = 1000) -> str:
    """The index's opening: the paper's rows (zero-shot, SFT, Fine-tune-CoT, multi-task, Dynamic CoT) over
    the report's seeds with their 95% bootstrap intervals, as a table and a figure; "" before any run exists."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    from mmkp_lib import analysis, plots
    from mmkp_lib.experiment import evaluation_posts, main_labels

    if not cfg.data_dir.exists():
        return ""
    exp = report_experiment(cfg)
    labels = set(main_labels(exp).values())
    folders = [p.parent for p in _runs_outputs(cfg) if p.is_file()]
    rows = [r for r in analysis.load_runs(folders) if r.label in labels]
    if not rows:
        return ""
    test, train = evaluation_posts(exp)
    table = analysis.main_table(rows, analysis.score_runs(test, rows, train), n_boot=n_boot)
    wide = analysis.main_table_wide(table)
    fig = plots.main_table_bars(table, metrics=("f1@M",))
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=90, bbox_inches="tight")
    matplotlib.pyplot.close(fig)
    seeds = sorted({r.seed for r in rows if r.seed is not None})
    return (f"<h2>Results</h2><p>F1 in points on {len(test)} test posts of the embedded benchmark: mean over seeds "
            f"{seeds}, ± sd over seeds, [95% bootstrap interval over test posts]. Notebook 05 has the paired tests, "
            f"the verdicts and the caveats.</p>{wide.to_html(border=0)}"
            f'<p><img alt="F1@M per strategy" src="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}">'
            "</p>")


def write_index(cfg: ReportConfig, timings: list[dict]) -> Path:
    pages = sorted(cfg.out.glob("[0-9][0-9]_*.html"))
    rows = "\n".join(
        f"<tr><td>{html.escape(t['stage'])}</td><td>{t['seconds']:.1f} s</td>"
        f"<td>{'reused' if t['reused'] else 'ran'}</td></tr>" for t in timings)
    questions = {nb.stem: notebook_question(nb) for nb in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    links = "\n".join(f'<li><a href="{p.name}">{html.escape(p.stem)}</a>: {html.escape(questions.get(p.stem, ""))}</li>'
                      for p in pages)
    params = html.escape(json.dumps(cfg.notebook_parameters(), indent=1))
    run_rows, run_total = run_time_rows(cfg)
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>MMKP with VLMs: report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td{{padding:0 1em}}</style></head>
<body>
<h1>Multi-modal keyphrase prediction with Dynamic CoT: report</h1>
<p>Reproduction of Ma et al., EMNLP 2025 (arXiv 2510.09358) on the embedded benchmark.
Generated by <code>make report</code>{' in smoke mode (tiny sizes: not results)' if cfg.smoke else ''}.</p>
{headline_html(cfg)}
<h2>The pages, and the question each answers</h2>
<ul>{links}</ul>
<h2>Provenance</h2>
<p>Commit <code>{html.escape(git_commit())}</code>, generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')},
machine: {html.escape(machine_description())}.</p>
<h3>Parameters</h3><pre>{params}</pre>
<h3>Stage times</h3><table>{rows}</table>
<p>Total {sum(t['seconds'] for t in timings):.0f} s of compute recorded in this invocation (a reused stage shows
the time of its last run; the runs stage only checks run folders once they exist).</p>
<h3>Run times</h3>
<p>What making each run took when it was made (one process per run, as many at once as cores / threads allow): training and test
prediction wall seconds from its <code>config.json</code>. Sum: {run_total / 60:.0f} process-minutes.</p>
<table><tr><th>run</th><th>train s</th><th>predict s</th><th>threads</th></tr>{run_rows}</table>
</body></html>
"""
    index = cfg.out / "index.html"
    index.write_text(body, encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", type=int, default=0, choices=(0, 1), help="1: tiny sizes, for CI (default 0)")
    p.add_argument("--fresh", type=int, default=0, choices=(0, 1), help="1: redo every stage (default 0: reuse up-to-date ones)")
    p.add_argument("--out", type=Path, default=None,
                   help="where HTML and executed notebooks go (default: reports/, or reports-smoke/ with --smoke 1)")
    p.add_argument("--work", type=Path, default=ROOT, help="where data/, cache/ and runs/ go")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    cfg = ReportConfig(smoke=bool(a.smoke), fresh=bool(a.fresh), out=a.out.resolve() if a.out else None,
                       work=a.work.resolve(), seed=a.seed)
    timings = run_report(cfg)
    print(f"[report] wrote {cfg.out / 'index.html'} ({sum(t['seconds'] for t in timings):.0f} s of stages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
