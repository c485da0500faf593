"""`mmkp baseline`: the traditional baseline row (a classifier over the training keyphrases) into a run folder.

    mmkp baseline --data data/synth --out runs/baseline
    mmkp baseline --data data/mmkp --out runs/mmkp-baseline --min-count 1
    mmkp evaluate --gold data/synth --pred runs/baseline/predictions.jsonl --train data/synth

Features: the words of the post text, its OCR text and its image attributes (MMKP's side files; the embedded
benchmark has text only); labels: every training keyphrase; scores: cosine to each label's centroid
(mmkp_lib.baseline). With --image-model, also a logistic regression from that VLM's vision-tower features
to the keyphrases an image can show. It can only predict keyphrases it saw in training, so its unseen F1 is 0
by construction.

    mmkp baseline --data data/synth --out runs/baseline --image-model tiny --model-cache cache/models
"""
from __future__ import annotations

import argparse

from mmkp_lib.cli.args import at_least, fail


def add_parser(subparsers) -> argparse.ArgumentParser:
    from mmkp_lib.baseline import BaselineConfig

    d = BaselineConfig()
    p = subparsers.add_parser("baseline", help="the traditional baseline: a classifier over training keyphrases",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/synth", help="dataset folder or MMKP files (default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder: config.json, predictions.jsonl, metrics.json")
    p.add_argument("--split", default="test", help="split predicted (default: %(default)s)")
    p.add_argument("--train-split", default="train", help="split fitted on (default: %(default)s)")
    p.add_argument("--min-count", type=at_least(int, 1), default=d.min_count,
                   help="training posts a word needs to become a feature (default: %(default)s)")
    p.add_argument("--max-predictions", type=at_least(int, 1), default=d.max_predictions,
                   help="keyphrases predicted at most (default: %(default)s)")
    p.add_argument("--keep-ratio", type=float, default=d.keep_ratio,
                   help="keep a prediction after the first when it scores >= this x the first (default: %(default)s)")
    p.add_argument("--image-model", default=None,
                   help="also read the images through this VLM's vision tower (e.g. tiny; default: text only)")
    p.add_argument("--model-cache", default="cache/models", help="where named models are built (default: %(default)s)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from mmkp_lib.baseline import BaselineConfig, predict_baseline_run

    if not 0.0 <= args.keep_ratio <= 1.0:
        return fail("baseline", f"--keep-ratio {args.keep_ratio}: a fraction between 0 and 1")
    try:
        m = predict_baseline_run(args.data, args.out, split=args.split, train_split=args.train_split,
                                 config=BaselineConfig(min_count=args.min_count, max_predictions=args.max_predictions,
                                                       keep_ratio=args.keep_ratio),
                                 image_model=args.image_model, model_cache=args.model_cache)
    except (ValueError, OSError) as e:
        return fail("baseline", e)
    groups = [g for g in ("all", "present", "absent", "seen", "unseen") if g in m]
    print("  ".join(f"{g} F1@1 {100 * m[g]['f1@1']:.2f} F1@M {100 * m[g]['f1@M']:.2f}" for g in groups))
    print(f"run folder: {args.out}")
    return 0
