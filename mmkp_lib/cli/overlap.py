"""`mmkp overlap`: how much the test keyphrases overlap the training keyphrases (mmkp_lib.overlap).

    mmkp overlap --train data/synth/train.jsonl --test data/synth/test.jsonl
    mmkp overlap --train ../shared/data/cmkp_tiny/train_src.txt --test ../shared/data/cmkp_tiny/test_src.txt --json
    mmkp overlap --train data/synth --test data/synth        # folders: their train and test splits
    mmkp overlap --train-keyphrases data/mmkp/train_keyphrases.txt --test data/mmkp/test_src.txt --format cmkp

--train-keyphrases takes the training split as its list of distinct keyphrases (one per line) when its posts
are not at hand; the figures that need the posts (training frequencies, training sizes) are then left out and
the summary says so.
"""
from __future__ import annotations

import argparse
import json

from mmkp_lib.cli.args import READABLE_FORMATS, fail


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "overlap", help="unique / instance overlap of test with train keyphrases, present / unseen shares",
        description="Measure how much a benchmark's test keyphrases occur among its training keyphrases "
                    "(MMKP: 97.32%% of unique test keyphrases; production data: about 45%%), with the share of "
                    "present keyphrases, posts with absent or unseen keyphrases, and the test keyphrases by "
                    "training frequency.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train = p.add_mutually_exclusive_group(required=True)
    train.add_argument("--train", metavar="PATH", help="training posts: a file or a dataset folder")
    train.add_argument("--train-keyphrases", metavar="FILE",
                       help="the training split as its distinct keyphrases, one per line (no posts needed)")
    p.add_argument("--test", required=True, metavar="PATH", help="test posts: a file or a dataset folder")
    p.add_argument("--valid", metavar="PATH", help="validation posts (only sizes are reported)")
    p.add_argument("--format", choices=READABLE_FORMATS, metavar="FMT",
                   help="input format: jsonl | cmkp | llava (default: guessed from the names)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from mmkp_lib.eval_io import load_gold
    from mmkp_lib.overlap import format_overlap, overlap_stats, read_keyphrase_list
    from mmkp_lib.records import DataError

    try:
        train = (read_keyphrase_list(args.train_keyphrases) if args.train_keyphrases
                 else load_gold(args.train, args.format, None, "train"))
        test = load_gold(args.test, args.format, None, "test")
        valid = load_gold(args.valid, args.format, None, "valid") if args.valid else None
        stats = overlap_stats(train, test, valid)
    except (DataError, OSError, ValueError) as error:
        return fail("overlap", error, 1)
    print(json.dumps(stats) if args.json else format_overlap(stats))
    return 0
