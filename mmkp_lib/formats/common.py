"""Pieces shared by the format readers and writers: the missing-image policy,
the input checks a reader starts with, image paths relative to a folder, JSON
lists read with line numbers, and files written atomically.

A JSON list is written one item per line, so an error's line number points at
the item and a user can open the file at that line:

    [
    {"id": "a", ...},
    {"id": "b", ...}
    ]
"""
from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from mmkp_lib.records import BadRecords, DataError, Post, check_image

# What a reader does when a post's image file is missing or unreadable.
#   "error": it is a bad record: DataError (or skipped and counted under on_error="skip")
#   "skip":  drop the post and count it as a bad record, even under on_error="raise"
#            (for MMKP, whose images are partly gone from Twitter: train on the posts you have)
#   "none":  keep the post without its image (image=None, meta["image_error"] says why),
#            counted and reported in a warning
MISSING_IMAGES = ("error", "skip", "none")


class ImageChecker:
    """Checks each post's image file as a reader builds it, applying a missing-image policy."""

    def __init__(self, policy: str, bad: BadRecords):
        if policy not in MISSING_IMAGES:
            raise ValueError(f"missing_images must be one of {MISSING_IMAGES}, got {policy!r}")
        self.policy = policy
        self.bad = bad
        self.cleared: Counter[str] = Counter()  # policy "none": posts kept without their image, by reason
        self.first_cleared: str | None = None

    def check(self, post: Post, path: str | os.PathLike | None, line: int | None) -> bool:
        """True if the post is kept (its image fine, or cleared under policy "none")."""
        if post.image is None:
            return True
        probe = BadRecords("skip")
        if check_image(post, path, line, probe):
            return True
        error = probe.errors[0]
        if self.policy == "error":
            self.bad.handle(error)  # raises under on_error="raise"
            return False
        if self.policy == "skip":
            self.bad.errors.append(error)  # counted whatever on_error says: the user asked for it
            return False
        post.meta["image_error"] = f"{error.reason}: {post.image}"
        post.image = None
        self.cleared[error.reason] += 1
        self.first_cleared = self.first_cleared or str(error)
        return True

    def notice(self) -> str | None:
        """A one-line report of posts kept without their image, or None if there were none."""
        if not self.cleared:
            return None
        n = sum(self.cleared.values())
        parts = ", ".join(f"{k} {r}" for r, k in sorted(self.cleared.items()))
        return (f"{n} posts kept without their image as missing_images='none' asks ({parts}); "
                f"first: {self.first_cleared}")


def reader_file(path: str | os.PathLike, image_dir: str | os.PathLike | None) -> Path:
    """The file a cmkp / llava reader opens, after checking it and the image folder it was given exist."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise FileNotFoundError(f"{image_dir}: image folder not found (for {path})")
    return path


def relative_path(image: str, folder: str | os.PathLike) -> str:
    """`image` relative to `folder` (POSIX separators) when it lies under it, else absolute."""
    image_abs = Path(image).resolve()
    try:
        return image_abs.relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return str(image_abs)


def resolve_path(name: str, folder: str | os.PathLike) -> str:
    """An absolute path for `name`, read relative to `folder` unless already absolute."""
    p = Path(name)
    return str(p if p.is_absolute() else (Path(folder) / p).resolve())


def read_utf8(path: str | os.PathLike) -> str:
    """The whole file as text; bytes that are not UTF-8 are a DataError naming the line."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")  # a BOM some editors add is not part of the data
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(path, line, "not-utf8",
                        f"bytes that are not UTF-8: {raw[exc.start:exc.start + 8]!r}") from None


def iter_json_list(path: str | os.PathLike) -> Iterator[tuple[int, int, Any]]:
    """(index, line, item) for each item of a file holding one JSON list.

    A file that is not valid JSON, or not a list, raises DataError with the
    line of the problem: a broken file cannot be read item by item, so this is
    never skipped.
    """
    text = read_utf8(path)
    decoder = json.JSONDecoder()

    def fail(pos: int, what: str) -> DataError:
        return DataError(path, text.count("\n", 0, pos) + 1, "bad-json", what)

    def skip_ws(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip_ws(0)
    if pos >= len(text):
        raise fail(pos, "empty file: expected a JSON list of posts")
    if text[pos] != "[":
        kind = "object" if text[pos] == "{" else "value"
        raise fail(pos, f"expected a JSON list of posts ([...]), found a JSON {kind}")
    pos = skip_ws(pos + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                item, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise fail(exc.pos, f"not valid JSON in item [{index}]: {exc.msg}") from None
            yield index, text.count("\n", 0, pos) + 1, item
            index += 1
            pos = skip_ws(end)
            if pos < len(text) and text[pos] == ",":
                pos = skip_ws(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise fail(pos, f"expected ',' or ']' after item [{index - 1}]")
    if skip_ws(pos) < len(text):
        raise fail(skip_ws(pos), "extra data after the JSON list")


@contextlib.contextmanager
def atomic_text_file(path: str | os.PathLike, newline: str | None = None) -> Iterator[TextIO]:
    """Open a temp sibling of `path` for writing; it replaces `path` once the block ends without an error.

    An error (or Ctrl-C) inside the block deletes the temp file: no half-written file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline=newline) as f:
            yield f
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_json_list(items: Iterable[dict], path: str | os.PathLike) -> int:
    """Write a JSON list, one item per line, atomically (temp file then rename). Returns the count."""
    n = 0
    with atomic_text_file(path) as f:
        f.write("[")
        for item in items:
            f.write(("\n" if n == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
            n += 1
        f.write("\n]\n")
    return n


def write_lines(lines: Iterable[str], path: str | os.PathLike) -> int:
    """Write text lines (each ending in a newline) atomically. Returns the count."""
    n = 0
    with atomic_text_file(path, newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
            n += 1
    return n
