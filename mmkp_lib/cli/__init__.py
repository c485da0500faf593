"""The `mmkp` command line: one subcommand per pipeline stage.

Each subcommand lives in its own module under `mmkp_lib/cli/` and defines
`add_parser(subparsers)` and `run(args) -> int`. Those modules import heavy
libraries (torch, transformers, nltk) only inside `run`, so `mmkp --help`
starts fast.

    mmkp synth --out data/synth
    mmkp convert --in data/synth/train.jsonl --to llava --out train_llava.json
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Order shown in `mmkp --help`: the pipeline's order.
SUBCOMMANDS = ("data", "synth", "convert", "overlap", "resplit", "teacher", "train", "predict", "evaluate", "baseline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmkp",
        description="Multi-modal keyphrase prediction with vision-language models: "
                    "data, metrics, teacher rationales, training and inference.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"mmkp_lib.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
