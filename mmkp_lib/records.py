"""Post records and the canonical JSONL format every stage reads and writes.

A post is one social-media item: text, an optional image, its gold keyphrases.
Canonical JSONL holds one post per line:

    {"id": "train-000001", "text": "...", "image": "images/train-000001.png",
     "keyphrases": ["vintage bicycle", "red circle"], "split": "train", "meta": {...}}

Image paths are written relative to the JSONL file's folder when they lie
under it, and resolved back to absolute paths on reading, so a dataset folder
can be moved or copied as a whole.

    from mmkp_lib.records import read_posts, write_posts
    posts = read_posts("data/synth/train.jsonl")
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable


@dataclass
class Post:
    """One post: what a model sees (text, image) and what it should predict."""

    id: str
    text: str
    keyphrases: list[str]
    image: str | None = None  # absolute path once read; None when the post has no image
    split: str | None = None  # "train" | "valid" | "test" | None
    meta: dict[str, Any] = field(default_factory=dict)  # OCR text, attributes, generator latents...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DataError(ValueError):
    """Bad input, with where it is: `path:line: what is wrong`."""

    def __init__(self, path: str | os.PathLike | None, line: int | None, reason: str, message: str):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = reason  # short machine-readable kind, e.g. "missing-sep", "duplicate-id"
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class BadRecords:
    """Collects bad records when the user asked to skip them, counted by reason.

    `on_error="raise"` (the default everywhere) raises the first DataError;
    `on_error="skip"` records it here and the caller drops the record.
    """

    def __init__(self, on_error: str = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.errors: list[DataError] = []

    def handle(self, error: DataError) -> None:
        if self.on_error == "raise":
            raise error
        self.errors.append(error)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(e.reason for e in self.errors))

    def __len__(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        if not self.errors:
            return "no bad records"
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items()))
        first = self.errors[0]
        return f"skipped {len(self.errors)} bad records ({parts}); first: {first}"


def check_limit(limit: Any, name: str = "limit") -> int:
    """The one rule for "only the first N posts", wherever a limit is taken: 0 or None = all posts, N >= 1 the first N.

    Anything else (a negative number, which slicing would read as "all but the last N", a fraction, a bool)
    is a ValueError naming the parameter. Returns the limit as an int (0 = all).
    """
    if limit is None:
        return 0
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"{name}={limit!r}: the number of posts to keep, an integer >= 1 (0 or none: all posts)")
    return limit


def first_posts(posts: list[Post], limit: Any, name: str = "limit") -> list[Post]:
    """The first `limit` posts under check_limit's rule (0 or None: all of them)."""
    limit = check_limit(limit, name)
    return posts[:limit] if limit else list(posts)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def check_keyphrases(value: Any, path: str | os.PathLike | None, line: int | None, post_id: Any) -> list[str]:
    """A post's (or a prediction's) keyphrase list, checked: DataError naming an element of the wrong type.

    `[1, null]` or `"kp1; kp2"` are errors saying what type was found where (they were once dropped silently).
    """
    if not isinstance(value, list):
        raise DataError(path, line, "bad-field", f"post {post_id!r}: field 'keyphrases' is a {_type_name(value)} "
                                                 f"({value!r:.40}), not a list of strings")
    for i, k in enumerate(value):
        if not isinstance(k, str):
            raise DataError(path, line, "bad-keyphrase", f"post {post_id!r}: keyphrases[{i}] is a {_type_name(k)} "
                                                         f"({k!r:.40}), not a string")
    return list(value)


def check_unique_ids(posts: Iterable[Post], path: str | os.PathLike | None, bad: BadRecords,
                     lines: list[int] | None = None) -> list[Post]:
    """Drop (or raise on) posts whose id was already seen, naming both lines."""
    seen: dict[str, int | None] = {}
    kept = []
    for i, post in enumerate(posts):
        line = lines[i] if lines else None
        if post.id in seen:
            first = seen[post.id]
            at = f" (first at line {first})" if first is not None else ""
            bad.handle(DataError(path, line, "duplicate-id", f"duplicate post id {post.id!r}{at}"))
            continue
        seen[post.id] = line
        kept.append(post)
    return kept


def check_image(post: Post, path: str | os.PathLike | None, line: int | None, bad: BadRecords) -> bool:
    """True if the post has no image or a readable image file; else reports it."""
    if post.image is None:
        return True
    if not os.path.isfile(post.image):
        bad.handle(DataError(path, line, "missing-image", f"image file not found: {post.image} (post {post.id!r})"))
        return False
    try:
        from PIL import Image

        with Image.open(post.image) as im:
            im.verify()
    except Exception as exc:  # PIL raises many types for a broken file
        bad.handle(DataError(path, line, "unreadable-image",
                             f"image file cannot be read: {post.image} (post {post.id!r}): {exc}"))
        return False
    return True


def load_image(path: str | os.PathLike):
    """A post's image as an RGB PIL image, its file closed again (size limits belong to the processor)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _relative_image(image: str | None, folder: Path) -> str | None:
    if image is None:
        return None
    try:
        return Path(image).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return image  # outside the dataset folder: keep as given


def write_posts(posts: Iterable[Post], path: str | os.PathLike) -> int:
    """Write posts as canonical JSONL (atomically: a temp file then rename). Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for post in posts:
            d = post.to_dict()
            d["image"] = _relative_image(post.image, path.parent)
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_lines_utf8(path: str | os.PathLike, bad: BadRecords) -> list[tuple[int, str]]:
    """(line number, text) for each line, reporting lines that are not valid UTF-8."""
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad.handle(DataError(path, lineno, "not-utf8",
                                     f"bytes that are not UTF-8 at column {exc.start + 1}: {raw[exc.start:exc.start + 8]!r}"))
                continue
            out.append((lineno, text.rstrip("\r\n")))
    return out


def read_json_lines(path: str | os.PathLike, bad: BadRecords) -> list[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line of a JSONL file; a line that is not JSON is a bad record."""
    out = []
    for lineno, text in read_lines_utf8(path, bad):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            error = DataError(path, lineno, "bad-json", f"not valid JSON ({exc.msg} at column {exc.colno})")
        else:
            out.append((lineno, value))
            continue
        bad.handle(error)  # outside the except block: a raised DataError does not chain the decoder's error
    return out


def read_posts(path: str | os.PathLike, on_error: str = "raise", check_images: bool = True,
               bad: BadRecords | None = None) -> list[Post]:
    """Read canonical JSONL. Bad lines raise DataError naming file and line (or are skipped and counted in `bad`)."""
    path = Path(path)
    bad = bad if bad is not None else BadRecords(on_error)  # not `bad or`: an empty BadRecords is falsy (len 0)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    posts, lines = [], []
    required = {"id": str, "text": str, "keyphrases": list}
    for lineno, d in read_json_lines(path, bad):
        if not isinstance(d, dict):
            bad.handle(DataError(path, lineno, "bad-json", f"expected a JSON object, got {type(d).__name__}"))
            continue
        problem = next((f"field {k!r} missing" if k not in d else
                        f"field {k!r} is a {_type_name(d[k])} ({d[k]!r:.40}), not a {t.__name__}"
                        for k, t in required.items() if not isinstance(d.get(k), t)), None)
        if problem:
            bad.handle(DataError(path, lineno, "bad-field", problem))
            continue
        try:
            keyphrases = [k.strip() for k in check_keyphrases(d["keyphrases"], path, lineno, d["id"]) if k.strip()]
        except DataError as error:
            bad.handle(error)
            continue
        if not keyphrases:
            bad.handle(DataError(path, lineno, "empty-keyphrases", f"post {d['id']!r} has no keyphrases"))
            continue
        image = d.get("image")
        if image is not None and not os.path.isabs(image):
            image = os.path.abspath(path.parent / image)
        post = Post(id=d["id"], text=d["text"], keyphrases=keyphrases, image=image,
                    split=d.get("split"), meta=d.get("meta") or {})
        if check_images and not check_image(post, path, lineno, bad):
            continue
        posts.append(post)
        lines.append(lineno)
    return check_unique_ids(posts, path, bad, lines)
