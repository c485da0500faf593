"""`python -m mmkp_lib.experiment`: a plan's run statuses, its runs made here, or its commands for a GPU cluster.

    python -m mmkp_lib.experiment --plan default --dry-run          # the one-seed embedded experiment's statuses
    python -m mmkp_lib.experiment --plan report                     # make every run of `make report` (2 at a time)
    python -m mmkp_lib.experiment --plan report --preset qwen2.5-vl-3b-lora --set lr=5e-5 \
        --commands "accelerate launch"
                         # prints, per run still to make, `accelerate launch -m mmkp_lib.cli train --config ...`
                         # then the one-process prediction; notebooks 03-05 given the same settings reuse the runs
    python -m mmkp_lib.experiment --spec runs/.logs/sft-seed0.spec.json    # one run in this process (a worker)
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Sequence

from mmkp_lib.experiment.config import PRESETS, ExperimentConfig, setting_names
from mmkp_lib.training.config import ConfigError
from mmkp_lib.experiment.execute import ensure_run, ensure_runs, ensure_teacher
from mmkp_lib.experiment.plan import RunSpec, describe, plan, report_plan, run_status


def parse_settings(pairs: Sequence[str]) -> dict:
    """["model=smol", "seeds=[0,1]", "lora=true"] -> ExperimentConfig.from_settings keyword arguments (values read
    as JSON when they parse, else as strings); an unknown name is refused with the list of known ones."""
    fields = setting_names()
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set {pair!r}: write NAME=VALUE, e.g. --set model=smol")
        if key not in fields:
            raise SystemExit(f"error: --set {key}: not an ExperimentConfig field or training setting; "
                             f"known: {', '.join(fields)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = value
    return out


def run_commands(specs: Sequence[RunSpec], launcher: str, plans_dir: Path) -> list[str]:
    """Shell lines that make each run not yet complete: training under `launcher` (e.g. "accelerate launch
    --num_processes 8"), then the test prediction in one process, which also records it where notebooks look."""
    plans_dir.mkdir(parents=True, exist_ok=True)
    python = shlex.quote(sys.executable)
    lines = []
    for s in specs:
        status, why = run_status(s)
        if status == "complete":
            continue
        spec_file = s.write(plans_dir)
        lines.append(f"# {s.name}: {status} ({why})")
        if s.train is not None and status != "predict":
            train_file = plans_dir / f"{s.name}.train.json"
            train_file.write_text(json.dumps(s.train, indent=1))
            flag = {"resume": " --resume", "retrain": " --overwrite"}.get(status, "")
            lines.append(f"{launcher} -m mmkp_lib.cli train --config {shlex.quote(str(train_file))}{flag}")
        lines.append(f"{python} -m mmkp_lib.experiment --spec {shlex.quote(str(spec_file))}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmkp_lib.experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", help="JSON file of one RunSpec: make that run in this process (what workers do)")
    p.add_argument("--plan", choices=("default", "report"), help="default: one seed; report: 3 seeds + gamma sweep")
    p.add_argument("--preset", choices=tuple(PRESETS), default="report",
                   help="named settings (default: report, the embedded experiment); --set overrides them")
    p.add_argument("--smoke", action="store_true", help="the smoke-sized experiment (the same as --preset smoke)")
    p.add_argument("--show-preset", choices=tuple(PRESETS), metavar="NAME",
                   help=f"print every setting of a preset ({', '.join(PRESETS)}) and exit")
    p.add_argument("--work-dir", default=".", help="where cache/ and runs/ live")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting (repeatable): data, model, teacher_backend, lora, max_steps, gamma, ...")
    p.add_argument("--dry-run", action="store_true", help="print each run's status, train nothing")
    p.add_argument("--commands", metavar="LAUNCHER",
                   help='print the shell commands that make the missing runs, training under LAUNCHER '
                        '(e.g. "accelerate launch" or "python"), instead of running them')
    a = p.parse_args(argv)
    if a.show_preset:
        for name, value in ExperimentConfig.from_settings(a.show_preset).settings().items():
            print(f"{name} = {value!r}")
        return 0
    if a.spec:
        ensure_run(RunSpec.read(a.spec), log=lambda m: print(m, flush=True))
        return 0
    if not a.plan:
        p.error("pass --plan default|report (or --spec FILE)")
    settings = {"work_dir": a.work_dir, **({"smoke": True} if a.smoke else {}), **parse_settings(a.set)}
    try:
        cfg = ExperimentConfig.from_settings(a.preset, **settings).validated()
    except ConfigError as exc:
        p.error(str(exc))
    specs = plan(cfg) if a.plan == "default" else report_plan(cfg)
    if a.commands:
        ensure_teacher(cfg)  # the oracle writes its rationales now; another backend's must exist (it says how)
        plans_dir = Path(cfg.effective().runs_dir) / ".plans"
        print("\n".join(run_commands(specs, a.commands, plans_dir)) or "# every run is complete")
        return 0
    for row in describe(specs):
        print(f"{row['run']:28s} {row['status']:9s} {row['why']}")
    if not a.dry_run:
        ensure_teacher(cfg)
        ensure_runs(specs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
