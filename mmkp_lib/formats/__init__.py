"""Every data format mmkp reads or writes, behind one pair of functions.

    from mmkp_lib.formats import load_posts, write_posts
    posts = load_posts("../shared/data/cmkp_tiny", split="test")          # CMKP src + side files
    posts = load_posts("data/synth", split="train")                       # canonical JSONL
    posts = load_posts("mmkp_test.json", image_dir="mmkp_images")          # LLaVA / AimKP JSON
    write_posts(posts, "train_sharegpt.json", "sharegpt")                 # for LLaMA-Factory / ms-swift

or from the shell: `mmkp convert --in PATH --to llava --out OUT.json`.

Formats (FORMATS):

- "jsonl": canonical JSONL (mmkp_lib.records), one post per line, all fields.
- "cmkp": MMKP / CMKP `<split>_src.txt` lines `text<sep>kp1;kp2<sep>url`
  with optional side files (mmkp_lib.formats.cmkp).
- "llava": the LLaVA-style JSON list of the open AimKP code (mmkp_lib.formats.llava).
- "sharegpt": the LLaMA-Factory / ms-swift layout; written only
  (mmkp_lib.formats.sharegpt).

Guarantees of load_posts, whatever the format: every post has a non-empty id
(unique in the file), a text, at least one non-empty keyphrase, and an image
that is None or an absolute path to a readable image file (unless
missing_images="none" kept a post without its image and said so in a
warning). Bad input raises DataError naming file, line and what is wrong;
with on_error="skip" bad records are dropped, counted by reason in `bad` and
reported in a warning (never dropped silently).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable

from mmkp_lib import records
from mmkp_lib.records import BadRecords, DataError, Post

from .cmkp import SIDE_FILES, SRC_SUFFIX, read_cmkp, write_cmkp
from .common import MISSING_IMAGES, ImageChecker
from .llava import read_llava, write_llava
from .sharegpt import write_sharegpt

FORMATS = ("jsonl", "cmkp", "llava", "sharegpt")
READABLE_FORMATS = ("jsonl", "cmkp", "llava")

# How a split's file is named inside a dataset folder, per format (tried in this order).
SPLIT_FILES = (("jsonl", "{split}.jsonl"), ("cmkp", "{split}" + SRC_SUFFIX), ("llava", "{split}.json"))

__all__ = ["FORMATS", "READABLE_FORMATS", "MISSING_IMAGES", "BadRecords", "DataError", "Post",
           "detect_format", "find_split_file", "load_posts", "write_posts"]


def detect_format(path: str | os.PathLike) -> str:
    """The format a file name implies: `*.jsonl` jsonl, `*_src.txt` / `*.txt` cmkp, `*.json` llava.

    A sharegpt file is also `.json`: name format="sharegpt" to write one.
    """
    name = Path(path).name
    if any(name.endswith(suffix) for suffix in SIDE_FILES.values()):
        raise ValueError(f"{path} is a CMKP side file (aligned with a src file); load the `*{SRC_SUFFIX}` "
                         f"beside it, which reads its side files too")
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".txt"):
        return "cmkp"
    if name.endswith(".json"):
        return "llava"
    raise ValueError(f"cannot tell the format of {path} from its name (expected .jsonl, _src.txt or .json); "
                     f"pass format= one of {FORMATS}")


def find_split_file(folder: str | os.PathLike, split: str | None = None,
                    format: str | None = None) -> tuple[Path, str]:
    """(file, format) of one split inside a dataset folder: `<split>.jsonl`, `<split>_src.txt` or `<split>.json`.

    Without `split`, the folder must hold exactly one such file.
    """
    folder = Path(folder)
    kinds = [(f, pattern) for f, pattern in SPLIT_FILES if format in (None, f)]
    if split is not None:
        found = [(folder / pattern.format(split=split), f) for f, pattern in kinds
                 if (folder / pattern.format(split=split)).is_file()]
        if not found:
            names = ", ".join(pattern.format(split=split) for _, pattern in kinds)
            raise FileNotFoundError(f"{folder}: no file for split {split!r} (looked for {names})")
        if len(found) > 1:
            raise ValueError(f"{folder}: split {split!r} exists in several formats "
                             f"({', '.join(p.name for p, _ in found)}); pass format=")
        return found[0]
    found = []
    for f, pattern in kinds:
        suffix = pattern.format(split="")
        found += [(p, f) for p in sorted(folder.glob("*" + suffix)) if p.is_file()
                  and not (f == "cmkp" and not p.name.endswith(SRC_SUFFIX))]
    if len(found) != 1:
        names = ", ".join(p.name for p, _ in found) or "none"
        raise ValueError(f"{folder}: pass split= to choose a file (found: {names})")
    return found[0]


def load_posts(path: str | os.PathLike, format: str | None = None, split: str | None = None,
               image_dir: str | os.PathLike | None = None, on_error: str = "raise",
               missing_images: str = "error", bad: BadRecords | None = None, *,
               ocr: str | os.PathLike | None = "auto",
               attributes: str | os.PathLike | None = "auto") -> list[Post]:
    """Read posts from a file or a dataset folder, in any readable format.

    path: a file, or a folder holding `<split>.jsonl`, `<split>_src.txt` or
        `<split>.json` (then `split` chooses which).
    format: "jsonl" | "cmkp" | "llava"; None guesses from the name (detect_format).
    split: on a folder, which split to load; on a cmkp or llava file, the
        split given to its posts (cmkp default: the file name's prefix, which
        also starts each id: "test-17"); JSONL posts keep their own split and
        get this one only where they have none.
    image_dir: where cmkp image names and relative llava image paths are
        looked up (llava default: the JSON's folder). JSONL stores its own
        image paths, so it takes none.
    on_error: "raise" (first bad record raises DataError) or "skip" (bad
        records are dropped, counted by reason in `bad`, and a warning says so).
    missing_images: "error" | "skip" | "none", see
        mmkp_lib.formats.common.MISSING_IMAGES.
    bad: a BadRecords to collect skipped records in (to print bad.summary()
        or read bad.counts); when given, its own on_error is used instead
        of `on_error`; one is made from on_error when None.
    ocr, attributes: cmkp side files: "auto" (beside the src file if there),
        a path, or None (do not read).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "sharegpt":
        raise ValueError("the sharegpt layout is written for other tools, not read: it holds no post ids; "
                         "read the jsonl, cmkp or llava file it was made from")
    if path.is_dir():
        path, format = find_split_file(path, split, format)
    format = format or detect_format(path)
    bad = bad if bad is not None else BadRecords(on_error)
    n_bad_before = len(bad)

    if format == "jsonl":
        if image_dir is not None:
            raise ValueError(f"{path}: canonical JSONL stores its image paths (relative to its folder); "
                             f"image_dir applies to cmkp and llava input only")
        images = ImageChecker(missing_images, bad)
        posts = records.read_posts(path, check_images=missing_images == "error", bad=bad)
        if missing_images != "error":
            posts = [p for p in posts if images.check(p, path, None)]
        if images.notice():
            warnings.warn(images.notice(), stacklevel=2)
        for post in posts:
            post.split = post.split or split
    elif format == "cmkp":
        posts = read_cmkp(path, image_dir, split=split, ocr=ocr, attributes=attributes,
                          missing_images=missing_images, bad=bad)
    else:
        posts = read_llava(path, image_dir, split=split, missing_images=missing_images, bad=bad)

    for post in posts:  # absolute whatever the working folder, so paths survive a chdir
        if post.image is not None:
            post.image = os.path.abspath(post.image)
    if len(bad) > n_bad_before:
        new = BadRecords("skip")
        new.errors = bad.errors[n_bad_before:]
        warnings.warn(f"{path}: {new.summary()}", stacklevel=2)
    return posts


def write_posts(posts: Iterable[Post], path: str | os.PathLike, format: str | None = None,
                **options) -> int:
    """Write posts in `format` (None: guessed from the name; sharegpt must be named). Returns the count.

    options go to the format's writer: cmkp `side_files`; llava `image_dir`;
    sharegpt `target`, `rationales`, `image_paths`.
    """
    format = format or detect_format(path)
    if format == "jsonl":
        if options:
            raise TypeError(f"canonical JSONL takes no options, got {sorted(options)}")
        return records.write_posts(posts, path)
    if format == "cmkp":
        return write_cmkp(posts, path, **options)
    if format == "llava":
        return write_llava(posts, path, **options)
    if format == "sharegpt":
        return write_sharegpt(posts, path, **options)
    raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
