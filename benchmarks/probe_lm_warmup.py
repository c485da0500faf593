"""Which language warm-up? The default build's variants, each trained with the report's SFT and CoT settings.

The language warm-up (mmkp_lib.models.language_warmup) stands in for the
pretraining of a real VLM's language model. Its corpus is a separately
generated benchmark (`mmkp synth --seed 7`), never the evaluated splits. This
probe rebuilds the default `tiny` model with one warm-up setting changed at a
time and trains seed 0 of SFT and Fine-tune-CoT on each, exactly as the
report does (same TrainConfig, same test prediction):

    default      text + rationale, topics "seen" (only keyphrases of the evaluated train split)
    text         post text only, no rationales
    topics-all   text + rationale, every topic, also those unseen in the evaluated train split
                 (a leak: "unseen" then means unseen by the fine-tuning, not by the model)
    none         no language warm-up (SFT only: it shows what the warm-up buys)

    .venv/bin/python benchmarks/probe_lm_warmup.py --json reports/lm_warmup_variants.json   # ~50 min here
    .venv/bin/python benchmarks/probe_lm_warmup.py --variants text --strategies sft          # one build, one run
    .venv/bin/python benchmarks/probe_lm_warmup.py --quick                                   # smoke: seconds

The default variant reuses the report's own runs (`--report-runs`, default
runs/) when they are complete and were trained on the current default build;
otherwise it is built and trained here like the others. Builds and runs go
under `--out` (default cache/probe_lm_warmup) and are reused by a second call.
The vision tower comes from the report's cache (cache/models), so a variant
build costs its language and connector warm-ups only. Results are
deterministic on CPU (fixed thread counts), whatever the machine's load.
Prints a table (test F1@M in percent per group, the warm-up's loss and
seconds) and writes the same figures with `--json`; notebook 03 shows them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmkp_lib.metrics import GROUPS  # noqa: E402  (after the path line: runs from a clone)

VARIANTS = {  # TinyConfig fields each variant changes from DEFAULT_TINY
    "default": {},
    "text": {"lm_warmup_corpus": "text"},
    "topics-all": {"lm_warmup_topics": "all"},
    "none": {"lm_warmup_steps": 0},
}
STRATEGIES_OF = {"default": ("sft", "cot"), "text": ("sft", "cot"), "topics-all": ("sft", "cot"), "none": ("sft",)}


def build_variant(name: str, knobs: dict, folder: Path, vision_cache: Path, base_config, log) -> dict:
    """Build (or reuse) the variant's model in folder/model; its build_info.json."""
    from mmkp_lib.models.tiny import build_tiny

    model = folder / "model"
    info_file = model / "build_info.json"
    if not info_file.is_file():
        log(f"{name}: building the model into {model} ({knobs or 'the default settings'}) ...")
        build_tiny(model, seed=0, config=dataclasses.replace(base_config, **knobs), vision_cache=vision_cache)
    return json.loads(info_file.read_text())


def variant_spec(cfg, strategy: str, model: Path, runs_dir: Path):
    """The report's seed-0 spec of `strategy`, trained on the model folder `model` into runs_dir."""
    from mmkp_lib.experiment.plan import train_spec

    spec = train_spec(dataclasses.replace(cfg, runs_dir=str(runs_dir)), strategy, seed=0)
    # a folder, not the named "tiny": model_folder passes a folder through instead of (re)building the default
    return dataclasses.replace(spec, train=dict(spec.train, model=str(model.resolve())))


def reusable_report_run(cfg, strategy: str, report_runs: Path) -> Path | None:
    """The report's own seed-0 run of `strategy` when complete and trained on the current default build."""
    from mmkp_lib.experiment.plan import run_status, train_spec

    spec = train_spec(dataclasses.replace(cfg, runs_dir=str(report_runs.resolve())), strategy, seed=0)
    status, _ = run_status(spec)
    return Path(spec.out) if status == "complete" else None


def run_figures(folder: Path, test, train) -> dict:
    from mmkp_lib.analysis import load_run, score_runs
    from mmkp_lib.analysis.summary import final_curve_gain
    from mmkp_lib.metrics import aggregate

    run = load_run(folder)
    values = aggregate(score_runs(test, [run], train)[run.name])
    curve = [{"step": e["step"], "f1m_all": e.get("valid_f1@M_all"), "f1m_present": e.get("valid_f1@M_present")}
             for e in run.train_log or [] if e.get("event") == "valid"]
    experiment = run.config.get("experiment") or {}
    # relative to the work folder, so the committed JSON names no machine's paths
    return {"run": os.path.relpath(folder), "commit": (run.config.get("git") or {}).get("commit"),
            "f1m": {g: (values.get(g) or {}).get("f1@M") for g in GROUPS}, "valid_curve": curve, "final_curve_gain": final_curve_gain(run),
            "train_s": experiment.get("train_wall_s"), "predict_s": experiment.get("predict_wall_s")}


def warmup_figures(info: dict) -> dict:
    lm = info.get("language_warmup") or {}
    return {"config": {k: info["config"][k] for k in ("lm_warmup_steps", "lm_warmup_corpus", "lm_warmup_topics",
                                                      "lm_warmup_style")},
            "lm_loss_start": lm.get("loss_start"), "lm_loss_end": lm.get("loss_end"),
            "lm_train_s": lm.get("train_seconds"), "lm_tokens_per_document": lm.get("tokens_per_document"),
            "connector_loss_end": (info.get("connector_warmup") or {}).get("loss_end"),
            "build_s": info.get("build_seconds")}


def print_table(results: dict) -> None:
    head = f"{'variant':<11} {'run':<4} " + " ".join(f"{g:>8}" for g in GROUPS) + f" {'gain':>6} {'LM loss':>8} {'train s':>8}"
    print(head)
    for name, r in results.items():
        for strategy, fig in r["runs"].items():
            cells = " ".join(f"{100 * fig['f1m'][g]:8.1f}" if fig["f1m"][g] is not None else f"{'-':>8}"
                             for g in GROUPS)
            gain = fig["final_curve_gain"]
            loss = r["warmup"]["lm_loss_end"]
            print(f"{name:<11} {strategy:<4} {cells} {100 * gain if gain is not None else float('nan'):6.1f} "
                  f"{loss if loss is not None else float('nan'):8.3f} {fig['train_s'] or float('nan'):8.0f}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--strategies", nargs="+", choices=("sft", "cot"), default=None,
                    help="strategies to train per variant (default: sft and cot; sft only for 'none')")
    ap.add_argument("--work-dir", default=".", help="the folder the report runs in, holding data/, cache/ and runs/ (default: .)")
    ap.add_argument("--report-runs", default=None, help="the report's runs folder (default: <work-dir>/runs)")
    ap.add_argument("--out", default=None, help="variant builds and runs (default: <work-dir>/cache/probe_lm_warmup)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--quick", action="store_true", help="smoke: the smoke experiment on TEST_TINY with a 5-step "
                    "language warm-up (seconds; the figures mean nothing)")
    args = ap.parse_args(argv)

    from mmkp_lib.experiment import ExperimentConfig, execute
    from mmkp_lib.experiment.plan import evaluation_posts
    from mmkp_lib.models.tiny import DEFAULT_TINY, TEST_TINY

    work = Path(args.work_dir).resolve()
    json_file = Path(args.json).resolve() if args.json else None
    report_runs = Path(args.report_runs).resolve() if args.report_runs else None
    out = Path(args.out).resolve() if args.out else work / "cache" / ("probe_lm_warmup-quick" if args.quick
                                                                      else "probe_lm_warmup")
    os.chdir(work)  # the experiment's data/ and cache/ paths are relative to the folder it runs in
    cfg = ExperimentConfig(work_dir=str(work), smoke=args.quick)
    base = dataclasses.replace(TEST_TINY, lm_warmup_steps=5) if args.quick else DEFAULT_TINY
    log = lambda m: print(m, flush=True)  # noqa: E731
    execute.ensure_data(cfg, log=log)
    execute.ensure_teacher(cfg, log=log)
    eff = cfg.effective()
    test, train = evaluation_posts(cfg)
    report_runs = report_runs or Path(eff.runs_dir)

    t0 = time.perf_counter()
    results = {}
    for name in args.variants:
        strategies = args.strategies or STRATEGIES_OF[name]
        folder = out / name
        reused = {s: reusable_report_run(cfg, s, report_runs) for s in strategies} if name == "default" and \
            not args.quick else {}
        if reused and all(reused.values()):
            info = json.loads((Path(eff.model_cache) / "tiny-seed0" / "build_info.json").read_text())
            log(f"{name}: the report's own runs in {report_runs}")
        else:
            info = build_variant(name, VARIANTS[name], folder, Path(eff.model_cache), base, log)
        figures = {}
        for strategy in strategies:
            run = reused.get(strategy)
            if run is None:
                run = execute.ensure_run(variant_spec(cfg, strategy, folder / "model", folder / "runs"), log=log)
            figures[strategy] = run_figures(Path(run), test, train)
        results[name] = {"knobs": VARIANTS[name], "warmup": warmup_figures(info), "runs": figures}
    print_table(results)
    print(f"probe wall time {time.perf_counter() - t0:.0f} s")
    if json_file:
        json_file.write_text(json.dumps({"variants": results, "seed": 0, "quick": args.quick,
                                               "steps": eff.train.max_steps}, indent=1))
        print(f"wrote {json_file}")
    return results


if __name__ == "__main__":
    main()
