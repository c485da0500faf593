"""A pretrained zero-shot row: SmolLM2-135M-Instruct prompted with and without in-context examples.

The report's zero-shot row is whatever `zero_shot_model` resolves to; on a
fresh clone that is the untrained student (the `smol` model needs `make smol`,
and its default build's connector warm-up costs 300 steps of 5-8 s on a 135M
language model, longer than the report's budget allows). This probe measures
what a pretrained language model does with the report's zero-shot prompt
(`mmkp_lib.inference.predict_zero_shot`: the instruction after `--shots`
in-context examples, the first training posts with their keyphrases; the
lenient parser) on the embedded benchmark's test posts:

    make smol                                                        # once: SmolLM2-135M-Instruct, offline
    .venv/bin/python benchmarks/probe_zero_shot.py --json reports/zero_shot_smol.json   # 1000 posts, ~25 min here
    .venv/bin/python benchmarks/probe_zero_shot.py --limit 64 --shots 3               # a minute or two

The model is `smol` with the tiny model's warmed-up tower (from the report's
vision cache) and, by default, no connector warm-up (`--connector-steps 0`:
the projector is random, so the image tokens carry no usable signal and the
row is in effect text-only). Besides the evaluator's figures it counts, per
setting, the share of outputs the parser read a keyphrase from, the share in
the expected "kp1; kp2" form (every keyphrase at most four words), and the
share of predicted keyphrases that are copies of the in-context examples'
keyphrases (a model that copies its examples has learned the format, not the
task). Runs go under `--out` (default cache/probe_zero_shot) and are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmkp_lib.metrics import GROUPS  # noqa: E402  (after the path line: runs from a clone)

SHORT_WORDS = 4  # a keyphrase of the expected form has at most this many words (the benchmark's have 1-2)


def output_shares(predictions: list[dict], example_keyphrases: set[str]) -> dict:
    """parsed: outputs with a keyphrase; formatted: outputs whose keyphrases are all short (the "kp1; kp2" form);
    copied: predicted keyphrases (all outputs) that repeat an in-context example's keyphrase."""
    n = max(1, len(predictions))
    kps = [[k.strip().lower() for k in r.get("keyphrases") or []] for r in predictions]
    flat = [k for ks in kps for k in ks]
    return {"parsed": sum(bool(ks) for ks in kps) / n,
            "formatted": sum(bool(ks) and all(len(k.split()) <= SHORT_WORDS for k in ks) for ks in kps) / n,
            "copied": sum(k in example_keyphrases for k in flat) / max(1, len(flat))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--work-dir", default=".", help="the folder holding data/ and cache/models (default: .)")
    ap.add_argument("--data", default=None, help="benchmark folder (default: the experiment's, data/synth)")
    ap.add_argument("--shots", default="0,3", help="in-context examples, comma-separated settings (default 0,3)")
    ap.add_argument("--limit", type=int, default=None, help="first N test posts (default: all)")
    ap.add_argument("--connector-steps", type=int, default=0,
                    help="connector warm-up steps of the smol build (default 0: random projector)")
    ap.add_argument("--out", default=None, help="builds and runs (default: <work-dir>/cache/probe_zero_shot)")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)
    try:
        shots_list = [int(s) for s in args.shots.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--shots: comma-separated counts such as 0,3; got {args.shots!r}")

    from mmkp_lib.experiment import ExperimentConfig
    from mmkp_lib.models.smol import SmolNotInstalled, build_smol, smol_folder

    try:
        smol_folder()
    except SmolNotInstalled as e:
        ap.exit(2, f"probe_zero_shot: {e}\n")
    work = Path(args.work_dir).resolve()
    json_file = Path(args.json).resolve() if args.json else None
    out = Path(args.out).resolve() if args.out else work / "cache" / "probe_zero_shot"
    os.chdir(work)
    eff = ExperimentConfig(work_dir=str(work)).effective()
    data = args.data or eff.data
    if not Path(data).is_dir():
        ap.error(f"{data} does not exist: run `mmkp synth --out {data}` (or make report) first, or pass --data")

    from mmkp_lib.inference import few_shot_examples, predict_zero_shot
    from mmkp_lib.runs import read_json

    model = out / f"smol-c{args.connector_steps}-seed0"
    if not (model / "build_info.json").is_file():
        t = time.perf_counter()
        build_smol(model, seed=0, vision_cache=eff.model_cache, connector_steps=args.connector_steps)
        print(f"built {model} in {time.perf_counter() - t:.0f} s", flush=True)
    results = {}
    for shots in shots_list:
        run = out / "runs" / f"smol-c{args.connector_steps}-shots{shots}-n{args.limit or 'all'}"
        if not (run / "metrics.json").is_file():
            t = time.perf_counter()
            predict_zero_shot(str(model), data=data, out=run, limit=args.limit, shots=shots,
                              batch_size=eff.predict_batch_size, max_new_tokens=eff.zero_shot_max_new_tokens,
                              model_cache=eff.model_cache, progress=True)
            print(f"shots {shots}: predicted in {time.perf_counter() - t:.0f} s", flush=True)
        metrics = read_json(run / "metrics.json")
        predictions = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines() if line]
        examples = {k.strip().lower() for _, ks in few_shot_examples(data, shots) for k in ks}
        results[str(shots)] = {"run": os.path.relpath(run), "posts": len(predictions),
                               "f1m": {g: (metrics.get(g) or {}).get("f1@M") for g in GROUPS},
                               "f1_1": {g: (metrics.get(g) or {}).get("f1@1") for g in GROUPS},
                               "shares": output_shares(predictions, examples),
                               "predict_s": (metrics.get("generation") or {}).get("generation_seconds"),
                               "examples": sorted(examples), "sample_outputs": [p["raw"] for p in predictions[:3]]}
    print(f"{'shots':>5} {'posts':>6} " + " ".join(f"{g:>8}" for g in GROUPS) + "   parsed formatted copied")
    for shots, r in results.items():
        cells = " ".join(f"{100 * (r['f1m'][g] or 0):8.1f}" for g in GROUPS)
        s = r["shares"]
        print(f"{shots:>5} {r['posts']:>6} {cells}   {100 * s['parsed']:5.0f}% {100 * s['formatted']:8.0f}% "
              f"{100 * s['copied']:5.0f}%")
    if json_file:
        json_file.write_text(json.dumps({"model": "smol", "connector_steps": args.connector_steps,
                                         "max_new_tokens": eff.zero_shot_max_new_tokens, "data": os.path.relpath(data),
                                         "shots": results}, indent=1))
        print(f"wrote {json_file}")
    return results


if __name__ == "__main__":
    main()
