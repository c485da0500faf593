"""`mmkp convert`: convert posts between the data formats (mmkp_lib.formats).

    mmkp convert --in ../shared/data/cmkp_tiny --split test --to jsonl --out data/cmkp/test.jsonl
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from mmkp_lib.cli.args import READABLE_FORMATS, fail

FORMAT_CHOICES = ("jsonl", "cmkp", "llava", "sharegpt")  # = mmkp_lib.formats.FORMATS, kept literal for a fast --help

EPILOG = """\
formats:
  jsonl     canonical JSONL, one post per line, every field (mmkp's own)
  cmkp      MMKP / CMKP <split>_src.txt lines: text<sep>kp1;kp2<sep>url, with the
            side files <split>_ocr_final.txt and <split>_attribute_cleaned.txt
            beside them read into meta (ids are "<split>-<line number>")
  llava     the LLaVA-style JSON list of the open AimKP code (id, image, text, conversations)
  sharegpt  messages + images for LLaMA-Factory / ms-swift (written only)

--in may be a file (format guessed from its name: .jsonl, _src.txt, .json) or a
folder holding <split>.jsonl, <split>_src.txt or <split>.json (choose with --split).

examples:
  # MMKP test split (with its OCR and attribute side files) to canonical JSONL
  mmkp convert --in ../shared/data/cmkp_tiny --split test --to jsonl --out data/cmkp/test.jsonl
  # ... with the images you have; posts whose image is gone are skipped and counted
  mmkp convert --in mmkp/train_src.txt --image-dir mmkp/images --missing-images skip \\
      --to jsonl --out data/mmkp/train.jsonl
  # the embedded benchmark for the AimKP code, and for LLaMA-Factory / ms-swift
  mmkp convert --in data/synth --split train --to llava --out aimkp/train.json
  mmkp convert --in data/synth/train.jsonl --to sharegpt --out lf_data/mmkp_train.json
  # keep going past bad lines; they are counted by reason and reported
  mmkp convert --in posts_src.txt --to jsonl --out posts.jsonl --skip-bad
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert", help="convert posts between jsonl, cmkp (MMKP), llava (AimKP) and sharegpt",
        description="Read posts in one format and write them in another. Bad input stops with an error "
                    "naming file, line and problem, unless --skip-bad.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="inp", required=True, metavar="PATH",
                   help="input file, or a dataset folder (then --split chooses the file)")
    p.add_argument("--from", dest="src_format", choices=READABLE_FORMATS, metavar="FMT",
                   help="input format: jsonl | cmkp | llava (default: guessed from the name)")
    p.add_argument("--to", dest="dst_format", required=True, choices=FORMAT_CHOICES, metavar="FMT",
                   help="output format: jsonl | cmkp | llava | sharegpt")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output file (cmkp: name it <split>_src.txt; side files are written beside it)")
    p.add_argument("--image-dir", metavar="DIR",
                   help="where cmkp image names / relative llava image paths are found (cmkp default: no "
                        "images; llava default: the JSON's folder)")
    p.add_argument("--split", metavar="S",
                   help="split to read from a folder; for a cmkp/llava file, the split its posts get")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip bad records instead of stopping at the first; they are counted and reported")
    p.add_argument("--missing-images", choices=("error", "skip", "none"), default="error",
                   help="a post whose image file is missing or unreadable: error (a bad record, the "
                        "default), skip (drop it, counted), none (keep it without its image, counted)")
    p.add_argument("--out-image-dir", metavar="DIR",
                   help="llava output: write image paths relative to DIR (default: the output's folder)")
    p.add_argument("--image-paths", choices=("absolute", "relative"), default="absolute",
                   help="sharegpt output: absolute image paths, or relative to the output's folder")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmkp_lib.formats import BadRecords, DataError, detect_format, find_split_file, load_posts, write_posts

    bad = BadRecords("skip" if args.skip_bad else "raise")
    options = {}
    if args.dst_format == "llava" and args.out_image_dir:
        options["image_dir"] = args.out_image_dir
    if args.dst_format == "sharegpt":
        options["image_paths"] = args.image_paths
    try:
        src, src_format = Path(args.inp), args.src_format
        if src.is_dir():  # name the file actually read
            src, src_format = find_split_file(src, args.split, src_format)
        src_format = src_format or detect_format(src)
        if os.path.realpath(args.out) == os.path.realpath(src):
            raise ValueError(f"--out {args.out} is the input file: converting would overwrite it; "
                             f"write to another file")
        if Path(args.out).is_dir():
            raise ValueError(f"--out {args.out}: is a folder; name the output file (e.g. {Path(args.out) / 'posts.jsonl'})")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            posts = load_posts(src, format=src_format, split=args.split, image_dir=args.image_dir,
                               missing_images=args.missing_images, bad=bad)
        for w in caught:  # the bad-record summary is printed below; other notices (images kept as none) here
            if not str(w.message).endswith(bad.summary()):
                print(f"warning: {w.message}", file=sys.stderr)
        print(f"read {len(posts)} posts from {src} ({src_format})")
        print(f"bad records: {bad.summary()}")
        if not posts:
            raise ValueError(f"{src}: no posts to convert (an empty file{', or every record bad' if len(bad) else ''}?); "
                             f"nothing written to {args.out}")
        n = write_posts(posts, args.out, args.dst_format, **options)
    except DataError as error:
        hint = "" if args.skip_bad else " (--skip-bad skips bad records and counts them)"
        return fail("convert", f"{error}{hint}", 1)
    except (OSError, ValueError) as error:
        return fail("convert", error, 1)
    print(f"wrote {n} posts to {args.out} ({args.dst_format})")
    for extra in _side_files_written(args, posts):
        print(f"wrote {extra}")
    return 0


def _side_files_written(args: argparse.Namespace, posts) -> list[str]:
    if args.dst_format != "cmkp":
        return []
    from mmkp_lib.formats.cmkp import SIDE_FILES, side_file

    return [str(side_file(args.out, key)) for key in SIDE_FILES if any(key in p.meta for p in posts)]
