"""Argument helpers every `mmkp` subcommand shares: numbers with their allowed range, the post limit, error lines.

    p.add_argument("--limit", type=post_limit, help=LIMIT_HELP)
    p.add_argument("--timeout", type=positive(float, "seconds"), default=120.0)
    ...
    return fail("predict", exc)          # prints "mmkp predict: error: ..." and returns the exit code

A bad number stops at parsing (argparse's exit code 2, before anything is read or written) with a message
naming the flag, the value and what is allowed. Light on imports: `mmkp --help` loads this module.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import warnings

from mmkp_lib.records import check_limit

LIMIT_HELP = "only the first N posts (smoke runs; 0 or no --limit: all posts)"
# The formats a subcommand reads posts in: = mmkp_lib.formats.READABLE_FORMATS, literal for a fast --help
# (tests/test_project.py checks the two agree).
READABLE_FORMATS = ("jsonl", "cmkp", "llava")


def _number(kind: type, text: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: a finite number is needed")
    return value


def at_least(kind: type, minimum: float, unit: str = ""):
    """argparse type: a `kind` (int or float) >= minimum."""
    def parse(text: str):
        value = _number(kind, text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text}: must be >= {minimum}{' ' + unit if unit else ''}")
        return value
    parse.__name__ = f"{kind.__name__} >= {minimum}"
    return parse


def positive(kind: type, unit: str = ""):
    """argparse type: a `kind` (int or float) > 0 (`--timeout 0` would give up on every request at once)."""
    if kind is int:
        return at_least(int, 1, unit)

    def parse(text: str):
        value = _number(kind, text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text}: must be > 0{' ' + unit if unit else ''}")
        return value
    parse.__name__ = f"{kind.__name__} > 0"
    return parse


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = _number(float, text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: must be a fraction in [0, 1]")
    return value


def post_limit(text: str) -> int:
    """argparse type of every `--limit`: mmkp_lib.records.check_limit's rule (0: all posts, N >= 1: the first N)."""
    value = _number(int, text)
    try:
        return check_limit(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: the number of posts to keep, an integer >= 1 "
                                         f"(0 or no --limit: all posts)") from None


SPLIT_FILES = ("train.jsonl", "valid.jsonl", "test.jsonl")


def check_dataset_out(out, own_file: str, command: str) -> None:
    """Refuse a dataset --out that is a file, or a folder whose split files another tool (or the user) wrote.

    `own_file` is what `command` writes beside its splits (synth: stats.json, resplit: resplit.json); a folder
    holding it was made by the same command, which may write it again.
    """
    from pathlib import Path

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file; `mmkp {command}` writes a dataset folder "
                         f"({', '.join(SPLIT_FILES)}, {own_file})")
    existing = [name for name in SPLIT_FILES if (out / name).exists()]
    if existing and not (out / own_file).is_file():
        raise ValueError(f"--out {out}: already holds {', '.join(existing)} not written by `mmkp {command}` "
                         f"(no {own_file}); they would be overwritten: write to a new folder")


def fail(command: str, error: BaseException | str, code: int = 2) -> int:
    """Print the one-line error of a subcommand and return its exit code."""
    print(f"mmkp {command}: error: {error}", file=sys.stderr)
    return code


@contextlib.contextmanager
def one_line_warnings(command: str):
    """Show library warnings (e.g. a run that is mostly SFT fallback) as `mmkp CMD: warning: ...` on stderr."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"mmkp {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        old, warnings.showwarning = warnings.showwarning, show
        try:
            yield
        finally:
            warnings.showwarning = old
