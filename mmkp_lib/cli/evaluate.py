"""`mmkp evaluate`: score keyphrase predictions with the CMKP-compatible metrics (mmkp_lib.metrics).

    mmkp evaluate --gold data/synth/test.jsonl --pred runs/sft/predictions.jsonl --train data/synth/train.jsonl
    mmkp evaluate --gold ../shared/data/cmkp_tiny/test_src.txt --pred pred.txt \\
        --train ../shared/data/cmkp_tiny/train_src.txt --json
    mmkp evaluate --gold data/synth --pred runs/sft/predictions.jsonl --ci 1000 --compare runs/cot/predictions.jsonl
"""
from __future__ import annotations

import argparse
import json

from mmkp_lib.cli.args import READABLE_FORMATS, at_least, fail

EPILOG = """\
predictions (--pred, --compare):
  jsonl  one {"id": ..., "keyphrases": [...]} object a line (a run's predictions.jsonl works as is)
  cmkp   one line per gold post, in gold order, keyphrases separated by ';'
  Ids (or the line count) must match the gold set: a mismatch is an error saying
  how many are missing or extra, never a silently smaller average.

metrics (values are fractions; the table shows percent):
  P@k, R@k for k = 1, 3, 5, M (all predictions), O (as many as the post has targets);
  F1@k = harmonic mean of macro P@k and macro R@k (variant cmkp, the default), or
  the mean per-post F1 with P = correct / k (variant aimkp); MAP@5.
  Groups: all, present / absent (in the post text or not), seen / unseen (in the
  training keyphrases or not; needs --train).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="score predictions: F1@1/3/5/M/O, P, R, MAP@5; present/absent, seen/unseen",
        description="Score keyphrase predictions against gold posts with the MMKP evaluation of the CMKP code "
                    "(Porter-stemmed exact match), broken down into present/absent and seen/unseen keyphrases.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gold", required=True, metavar="PATH",
                   help="gold posts: a file (.jsonl, *_src.txt, .json) or a dataset folder (then its test split)")
    p.add_argument("--pred", required=True, metavar="PATH", help="predictions: JSONL (id, keyphrases) or CMKP text")
    p.add_argument("--format", choices=READABLE_FORMATS, metavar="FMT",
                   help="format of --gold and --train: jsonl | cmkp | llava (default: guessed from the name)")
    p.add_argument("--split", metavar="S", help="split to read when --gold is a folder (default: test)")
    p.add_argument("--train", metavar="PATH",
                   help="training posts (file or folder): adds the seen/unseen groups")
    p.add_argument("--pred-format", choices=("jsonl", "cmkp"), metavar="FMT",
                   help="format of --pred / --compare: jsonl | cmkp (default: guessed)")
    p.add_argument("--variant", choices=("cmkp", "aimkp"), default="cmkp",
                   help="cmkp: F1 of macro P and R (default); aimkp: mean per-post F1, P = correct / k")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--ci", type=at_least(int, 0), default=0, metavar="N",
                   help="also give 95%% bootstrap intervals over posts from N resamples (e.g. 1000)")
    p.add_argument("--compare", metavar="PATH",
                   help="a second prediction file: paired bootstrap test of F1@1, F1@3, F1@M against --pred")
    p.add_argument("--seed", type=at_least(int, 0), default=0, help="bootstrap seed (default: %(default)s)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from mmkp_lib.eval_io import format_table, load_gold, read_predictions
    from mmkp_lib.metrics import aggregate, group_sizes, score_posts
    from mmkp_lib.records import DataError

    try:
        gold = load_gold(args.gold, args.format, args.split, "test")
        train = load_gold(args.train, args.format, None, "train") if args.train else None
        preds = read_predictions(args.pred, gold, args.pred_format)
        scores = score_posts(gold, preds, train, source=args.pred)
        other = None
        if args.compare:
            other = score_posts(gold, read_predictions(args.compare, gold, args.pred_format), train,
                                source=args.compare)
    except (DataError, OSError, ValueError) as error:
        return fail("evaluate", error, 1)

    result = aggregate(scores, args.variant)
    extra = {}
    if args.ci > 0:
        from mmkp_lib.stats import bootstrap_all

        cis = bootstrap_all(scores, args.variant, n_boot=args.ci, seed=args.seed)
        extra["ci"] = {g: {m: [iv.low, iv.high] for m, iv in ms.items()} for g, ms in cis.items()}
    if other is not None:
        from mmkp_lib.stats import paired_bootstrap_test

        extra["paired"] = {}
        for metric in ("f1@1", "f1@3", "f1@M"):
            t = paired_bootstrap_test(scores, other, metric, "all", args.variant, n_boot=args.ci or 1000,
                                      seed=args.seed)
            extra["paired"][metric] = {"delta": t.delta, "p_value": t.p_value, "low": t.low, "high": t.high}

    if args.json:
        print(json.dumps({**result, **extra}))
        return 0
    print(format_table(result, group_sizes(scores), args.variant))
    if "ci" in extra:
        print("\n95% bootstrap intervals (%), all posts:")
        for metric in ("f1@1", "f1@3", "f1@5", "f1@M", "f1@O", "map@5"):
            low, high = extra["ci"]["all"][metric]
            print(f"  {metric:<6} {100 * result['all'][metric]:6.2f}  [{100 * low:6.2f}, {100 * high:6.2f}]")
    if "paired" in extra:
        print(f"\npaired bootstrap, {args.compare} minus {args.pred} (all posts):")
        for metric, t in extra["paired"].items():
            print(f"  {metric:<6} delta {100 * t['delta']:+6.2f}  95% [{100 * t['low']:+6.2f}, "
                  f"{100 * t['high']:+6.2f}]  p = {t['p_value']:.4f}")
    return 0
