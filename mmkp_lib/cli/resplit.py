"""`mmkp resplit`: rebuild train/valid/test from a pool so the test overlap hits a target (mmkp_lib.resplit).

    mmkp resplit --pool data/synth --target 0.45 --out data/synth_v2
    mmkp resplit --pool ../shared/data/cmkp_tiny/train_src.txt ../shared/data/cmkp_tiny/valid_src.txt \\
        ../shared/data/cmkp_tiny/test_src.txt --target 0.5 --tolerance 0.03 --out data/cmkp_tiny_v2

A folder in --pool contributes its train, valid and test files. The test and
valid sizes default to the pool's own test and valid sizes. The output folder
gets train.jsonl, valid.jsonl, test.jsonl (canonical JSONL, images referenced
where they are) and resplit.json (asked versus achieved overlap, sizes).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from mmkp_lib.cli.args import READABLE_FORMATS, at_least, check_dataset_out, fail, fraction, positive

REPORT = "resplit.json"  # written last: a folder holding it was made by `mmkp resplit`, which may rewrite it


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "resplit", help="re-split a pool of posts to a target test-keyphrase overlap (MMKP-V2 style)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool", required=True, nargs="+", metavar="PATH",
                   help="files or dataset folders whose posts form the pool")
    p.add_argument("--target", required=True, type=fraction, metavar="F",
                   help="unique test-keyphrase overlap to reach, a fraction (e.g. 0.45)")
    p.add_argument("--tolerance", type=fraction, default=0.01, metavar="F",
                   help="allowed |achieved - target| (default: %(default)s)")
    p.add_argument("--n-test", type=positive(int), metavar="N", help="test posts (default: the pool's test size)")
    p.add_argument("--n-valid", type=at_least(int, 0), metavar="N", help="valid posts (default: the pool's valid size)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--format", choices=READABLE_FORMATS, metavar="FMT",
                   help="input format: jsonl | cmkp | llava (default: guessed from the names)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(run=run)
    return p


def load_pool(paths: list[str], format: str | None) -> list:
    """Posts of every path; a folder gives its train, valid and test files (those it has)."""
    from pathlib import Path

    from mmkp_lib.eval_io import load_gold
    from mmkp_lib.formats import find_split_file

    posts = []
    for path in paths:
        if Path(path).is_dir():
            for split in ("train", "valid", "test"):
                try:
                    find_split_file(path, split, format)
                except FileNotFoundError:
                    continue
                posts += load_gold(path, format, split)
        else:
            posts += load_gold(path, format, None)
    return posts


def check_out(out, pool: list[str]) -> None:
    """Refuse an --out that would overwrite data: a pool input, or a folder of split files not made by resplit."""
    for path in pool:
        p = os.path.realpath(path)
        if os.path.realpath(out) in (p, os.path.dirname(p)):
            raise ValueError(f"--out {out}: holds the pool input {path}, which the new splits would overwrite; "
                             f"write them to a new folder")
    check_dataset_out(out, REPORT, "resplit")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmkp_lib.records import DataError, write_posts
    from mmkp_lib.resplit import ResplitError, resplit

    try:
        check_out(args.out, args.pool)
        pool = load_pool(args.pool, args.format)
        result = resplit(pool, args.target, args.n_test, args.n_valid, args.tolerance, args.seed)
    except ResplitError as error:
        print(f"mmkp resplit: cannot do it: {error}", file=sys.stderr)
        return 2
    except (DataError, OSError, ValueError) as error:
        return fail("resplit", error, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the report first: it marks the folder as resplit's, so a rerun after an interruption may rewrite it
    (out / REPORT).write_text(json.dumps(result.report, indent=2) + "\n", encoding="utf-8")
    for split in ("train", "valid", "test"):
        write_posts(getattr(result, split), out / f"{split}.jsonl")
    r = result.report
    before = f"{r['overlap_before']:.4f}" if r["overlap_before"] is not None else "n/a"
    print(f"unique test-keyphrase overlap: asked {result.asked:.4f}, achieved {result.achieved:.4f} "
          f"(tolerance {result.tolerance}; before: {before})")
    print("sizes: " + ", ".join(f"{k} {v}" for k, v in r["sizes"].items()) + f"; wrote {out}/")
    return 0
