"""MMKP / CMKP `*_src.txt` files: read and write.

The Twitter data of "Cross-Media Keyphrase Prediction" (Wang et al., EMNLP
2020), used as the MMKP benchmark, holds one post per line, three fields joined
by the literal string `<sep>`:

    post text<sep>kp1;kp2<sep>https://pbs.twimg.com/media/XXXX.jpg

Reading (`read_cmkp`):

- Post id: "<split>-<line number>" (1-based line in the src file, e.g.
  "test-17"), so an id always points at its line. The split is the file name's
  prefix (`test_src.txt` -> "test") unless given.
- Keyphrases keep the dataset's form: the field split on ';', each stripped;
  no stemming or re-segmentation. An empty field or an empty item ("a;;b") is
  a bad record.
- Image: the URL's last path part (`XXXX.jpg`) looked up in `image_dir`.
  Without `image_dir` every post gets image=None (the MMKP images are not
  public); with it, a missing or unreadable file follows `missing_images`
  (see mmkp_lib.formats.common.MISSING_IMAGES). An empty URL field is a
  text-only post. meta["url"] keeps the URL.
- Side files, aligned line by line with the src file, are read when found
  beside it (`<split>_ocr_final.txt`, `<split>_attribute_cleaned.txt`) or when
  given: meta["ocr"] is the OCR line (a string, "" when none) and
  meta["attributes"] the attribute words (a list of strings). A side file
  whose line count differs from the src file's is an error naming both.

    from mmkp_lib.formats.cmkp import read_cmkp
    posts = read_cmkp("../shared/data/cmkp_tiny/test_src.txt", image_dir="mmkp_images/")

Writing (`write_cmkp`) produces the same layout, plus side files when the
posts carry meta["ocr"] / meta["attributes"], so cmkp -> jsonl -> cmkp gives
back the same lines.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable
from urllib.parse import urlparse

from mmkp_lib.records import BadRecords, DataError, Post, read_lines_utf8

from .common import ImageChecker, reader_file, write_lines

SEP = "<sep>"
KEYPHRASE_SEP = ";"
SRC_SUFFIX = "_src.txt"
SIDE_FILES = {"ocr": "_ocr_final.txt", "attributes": "_attribute_cleaned.txt"}  # meta key -> name suffix


def file_prefix(path: str | os.PathLike) -> str:
    """The split-like prefix of a src file name: `test_src.txt` -> "test", `posts.txt` -> "posts"."""
    name = Path(path).name
    return name[: -len(SRC_SUFFIX)] if name.endswith(SRC_SUFFIX) else Path(name).stem


def side_file(src: str | os.PathLike, key: str) -> Path:
    """Where the side file `key` ("ocr" or "attributes") of a src file lies: beside it, same prefix."""
    src = Path(src)
    return src.parent / (file_prefix(src) + SIDE_FILES[key])


def image_name(url: str) -> str:
    """The image file name a URL points at: its last path part, query string dropped."""
    return Path(urlparse(url).path).name


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _read_side(key: str, given: str | os.PathLike | None, src: Path, n_src: int,
               bad: BadRecords) -> dict[int, str] | None:
    """Line number -> text of one side file, or None when it is not there (auto) or not wanted."""
    if given is None:
        return None
    if given == "auto":
        path = side_file(src, key)
        if not path.is_file():
            return None
    else:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such {key} side file (for {src})")
    n_side = _count_lines(path)
    if n_side != n_src:
        raise DataError(path, None, "side-file-mismatch",
                        f"{key} side file has {n_side} lines but {src} has {n_src} lines; "
                        f"side files must be aligned line by line with the src file")
    return dict(read_lines_utf8(path, bad))


def parse_line(text: str, path: str | os.PathLike, line: int) -> tuple[str, list[str], str]:
    """(post text, keyphrases, url) of one src line, or DataError saying what is wrong."""
    fields = text.split(SEP)
    if len(fields) != 3:
        found = "an empty line" if not text.strip() else f"{len(fields) - 1} '{SEP}'"
        raise DataError(path, line, "missing-sep",
                        f"expected 3 fields text{SEP}kp1;kp2{SEP}url (two '{SEP}'), found {found}")
    post_text, kp_field, url = fields
    if not kp_field.strip():
        raise DataError(path, line, "empty-keyphrases", "empty keyphrase field (the second field)")
    keyphrases = [k.strip() for k in kp_field.split(KEYPHRASE_SEP)]
    if not all(keyphrases):
        raise DataError(path, line, "empty-keyphrase",
                        f"empty keyphrase between ';' in the keyphrase field {kp_field!r}")
    return post_text, keyphrases, url.strip()


def read_cmkp(path: str | os.PathLike, image_dir: str | os.PathLike | None = None, *,
              split: str | None = None, ocr: str | os.PathLike | None = "auto",
              attributes: str | os.PathLike | None = "auto", missing_images: str = "error",
              on_error: str = "raise", bad: BadRecords | None = None) -> list[Post]:
    """Read a CMKP `*_src.txt` file (see the module docstring for ids, images and side files).

    ocr / attributes: "auto" (read the side file beside `path` if it is there),
    a path (read it; it must exist), or None (do not read one).
    on_error="skip" drops bad lines and counts them by reason in `bad`.
    """
    path = reader_file(path, image_dir)
    bad = bad if bad is not None else BadRecords(on_error)
    split = split or file_prefix(path)
    images = ImageChecker(missing_images, bad)

    n_src = _count_lines(path)
    sides = {key: _read_side(key, given, path, n_src, bad)
             for key, given in (("ocr", ocr), ("attributes", attributes))}

    posts = []
    for line, text in read_lines_utf8(path, bad):
        if line == 1:
            text = text.lstrip("\ufeff")  # a BOM some editors add is not part of the text
        try:
            post_text, keyphrases, url = parse_line(text, path, line)
        except DataError as error:
            bad.handle(error)
            continue
        meta: dict = {"url": url}
        side_ok = True
        for key, lines in sides.items():
            if lines is None:
                continue
            if line not in lines:  # that side line was not UTF-8: already reported, drop the post with it
                side_ok = False
                continue
            value = lines[line].strip()
            meta[key] = value.split() if key == "attributes" else value
        if not side_ok:
            continue
        image = None
        if image_dir is not None and url:
            image = str((Path(image_dir) / image_name(url)).resolve())
        post = Post(id=f"{split}-{line}", text=post_text, keyphrases=keyphrases, image=image,
                    split=split, meta=meta)
        if images.check(post, path, line):
            posts.append(post)
    if images.notice():
        warnings.warn(images.notice(), stacklevel=2)
    return posts


def _check_writable(post: Post, path: Path) -> None:
    where = f"post {post.id!r}"
    if any(c in post.text for c in "\r\n") or SEP in post.text:
        raise DataError(path, None, "unwritable",
                        f"{where}: its text holds a line break or '{SEP}', which a CMKP line cannot hold")
    if not post.keyphrases:
        raise DataError(path, None, "unwritable", f"{where}: no keyphrases")
    for k in post.keyphrases:
        if not k.strip() or KEYPHRASE_SEP in k or SEP in k or any(c in k for c in "\r\n"):
            raise DataError(path, None, "unwritable",
                            f"{where}: keyphrase {k!r} is empty or holds ';', '{SEP}' or a line break")


def _url_of(post: Post) -> str:
    """The third field: the post's URL when it names the post's image, else the image's file name."""
    url = str(post.meta.get("url") or "")
    if post.image is None:
        return url
    name = Path(post.image).name
    return url if image_name(url) == name else name


def _side_value(post: Post, key: str) -> str:
    value = post.meta.get(key, "")
    text = " ".join(value) if isinstance(value, (list, tuple)) else str(value or "")
    return text.replace("\r", " ").replace("\n", " ")  # one line: OCR text from other sources may hold breaks


def write_cmkp(posts: Iterable[Post], path: str | os.PathLike, *, side_files: bool = True) -> int:
    """Write posts as CMKP src lines (text<sep>kp1;kp2<sep>url), in the given order.

    With side_files=True, `<prefix>_ocr_final.txt` / `<prefix>_attribute_cleaned.txt`
    are written beside `path` when any post has meta["ocr"] / meta["attributes"]
    (posts without one get an empty line, keeping the files aligned).
    A post that a CMKP line cannot hold (a line break or '<sep>' in its text,
    ';' inside a keyphrase) raises DataError before anything is written.
    Note the ids are not stored: reading the file back numbers posts by line.
    Returns the number of posts written.
    """
    path = Path(path)
    posts = list(posts)
    for post in posts:
        _check_writable(post, path)
    n = write_lines((f"{p.text}{SEP}{KEYPHRASE_SEP.join(k.strip() for k in p.keyphrases)}{SEP}{_url_of(p)}"
                     for p in posts), path)
    if side_files:
        for key in SIDE_FILES:
            if any(key in p.meta for p in posts):
                write_lines((_side_value(p, key) for p in posts), side_file(path, key))
    return n
