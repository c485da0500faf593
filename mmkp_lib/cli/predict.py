"""`mmkp predict`: generate keyphrases for a split, write predictions.jsonl and metrics.json.

    mmkp predict --run runs/sft --split test                  # the run's data, its final model
    mmkp predict --run runs/sft --split valid --checkpoint runs/sft/checkpoint-200
    mmkp predict --model smol --data data/synth --split test --out runs/zero-shot-smol   # zero-shot

Files (in the run folder, or --out for zero-shot): predictions.jsonl and
metrics.json for the test split, predictions-<split>.jsonl and
metrics-<split>.json for another. Seen/unseen scores use the data's training
split (`--train-split none` to skip them).
"""
from __future__ import annotations

import argparse
import re

from mmkp_lib.cli.args import LIMIT_HELP, at_least, fail, positive, post_limit


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="generate with a trained run (or a model, zero-shot) and score it",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    # dest is not "run": the dispatcher keeps the subcommand function in args.run
    which.add_argument("--run", dest="run_dir", metavar="RUN", help="a run folder written by `mmkp train`")
    which.add_argument("--model", help="zero-shot: tiny | tiny-test | smol | a hub id | a local folder")
    p.add_argument("--data", help="dataset (default: the run's training data; required with --model)")
    p.add_argument("--split", default="test", help="split to predict (default: test)")
    p.add_argument("--out", help="zero-shot run folder (default: runs/zero-shot-<model>)")
    p.add_argument("--checkpoint", help="with --run: predict with this checkpoint folder instead of the final model")
    p.add_argument("--train-split", default="train", help="split whose keyphrases count as seen (none: skip seen/unseen)")
    p.add_argument("--limit", type=post_limit, default=0, help=LIMIT_HELP)
    p.add_argument("--batch-size", type=positive(int), default=32, help="posts per generation batch (default: 32)")
    p.add_argument("--max-new-tokens", type=positive(int, "tokens"), default=128,
                   help="generation budget per post (default: 128)")
    p.add_argument("--model-seed", type=at_least(int, 0), default=0,
                   help="zero-shot: seed of an offline model (default: 0)")
    p.add_argument("--model-cache", default="cache/models", help="where offline models are built (default: cache/models)")
    p.add_argument("--shots", type=at_least(int, 0), default=None,
                   help="zero-shot: in-context examples (the first training posts with their keyphrases) before the "
                        "prompt, to show the answer format (default: 3; 0 = the instruction alone)")
    p.add_argument("--max-pixels", type=at_least(int, 16, "pixels"), help="zero-shot: image size limit for dynamic-resolution processors")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mmkp_lib.inference import ZERO_SHOT_SHOTS, predict_run, predict_zero_shot
    from mmkp_lib.eval_io import format_table
    from mmkp_lib.records import DataError

    train_split = None if args.train_split.lower() == "none" else args.train_split
    common = dict(split=args.split, train_split=train_split, limit=args.limit, batch_size=args.batch_size,
                  max_new_tokens=args.max_new_tokens, progress=True)
    usage = None
    if args.run_dir and args.out:
        usage = "--out is for zero-shot predictions; a run's predictions go into its folder"
    elif args.model and not args.data:
        usage = "--model (zero-shot) needs --data"
    elif args.model and args.checkpoint:
        usage = "--checkpoint belongs with --run"
    elif args.run_dir and args.shots is not None:
        usage = "--shots is for zero-shot predictions (--model); a trained run is prompted as it was trained"
    if usage:
        return fail("predict", usage)
    try:
        if args.run_dir:
            metrics = predict_run(args.run_dir, data=args.data, checkpoint=args.checkpoint, **common)
            where = args.run_dir
        else:
            where = args.out or "runs/zero-shot-" + re.sub(r"[^A-Za-z0-9._-]+", "-", args.model).strip("-")
            shots = ZERO_SHOT_SHOTS if args.shots is None else args.shots
            metrics = predict_zero_shot(args.model, data=args.data, out=where, model_seed=args.model_seed,
                                        model_cache=args.model_cache, max_pixels=args.max_pixels, shots=shots,
                                        **common)
    except (OSError, ValueError, DataError) as exc:  # missing/wrong files, bad data, a folder that is no run
        return fail("predict", exc)
    print(format_table(metrics, metrics.get("group_sizes")))
    gen = metrics["generation"]
    print(f"{gen['posts']} posts, parsed {gen['parsed_share']:.0%}, reasoned {gen['reasoned_share']:.0%}, mean think tokens "
          f"{gen['mean_think_tokens']:.1f}, {gen['generation_seconds']:.1f} s generating -> {where}")
    return 0
