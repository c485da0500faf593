"""Fetch the real MMKP text files (Wang et al., EMNLP 2020, MIT licence) into a local folder.

    mmkp data fetch mmkp --out data/mmkp                          # the authors' repository (needs a network)
    mmkp data fetch mmkp --from ../shared/data/mmkp --out data/mmkp   # copy a local mirror (CI, development)

    from mmkp_lib.fetch import fetch_mmkp
    fetch_mmkp("data/mmkp", source="../shared/data/mmkp")

What is fetched: the nine `tw_mm_s1` files of the authors' repository (train / valid / test `*_src.txt`,
`*_ocr_final.txt`, `*_attribute_cleaned.txt`), from `MMKP_BASE_URL` (the repository's raw-file address; pass
`base_url` / `--base-url` for a mirror or if the authors move it). A local mirror may hold fewer: the shared
copy has no training posts, only `train_keyphrases.txt`, the training split's distinct keyphrases; after a
full download that list is derived from `train_src.txt`, so both kinds of folder offer it.

How a file arrives, so that a partial file never looks complete:

- it is written to `<name>.part` and renamed to `<name>` only when whole (size = the server's length) and,
  for the files whose checksum is known (`KNOWN_SHA256`), when its SHA-256 matches;
- an interrupted download leaves `<name>.part`; running the command again resumes it with an HTTP Range
  request (a server that ignores Range sends the whole file, which then replaces the part);
- a file already there and intact is kept; one that differs from the known checksum is refused, not
  overwritten (this command did not write it, so it does not delete it).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mmkp_lib.paths import display_path

# The authors' repository (github.com/yuewang-cuhk/CMKP), folder data/tw_mm_s1, served as raw files.
MMKP_BASE_URL = "https://raw.githubusercontent.com/yuewang-cuhk/CMKP/master/data/tw_mm_s1/"
MMKP_SPLITS = ("train", "valid", "test")
MMKP_SUFFIXES = ("_src.txt", "_ocr_final.txt", "_attribute_cleaned.txt")
MMKP_FILES = tuple(split + suffix for split in MMKP_SPLITS for suffix in MMKP_SUFFIXES)
TRAIN_KEYPHRASES = "train_keyphrases.txt"  # the training split's distinct keyphrases, most frequent first
MIRROR_EXTRAS = (TRAIN_KEYPHRASES, "README.md", "LICENSE")  # also copied from a local mirror when there
# SHA-256 of the authors' valid and test files (as the shared mirror holds them); the training files' are not
# known here, so those are checked by size only.
KNOWN_SHA256 = {
    "test_src.txt": "e5c5f6545bc94aa3ee1fc7fd8924378b630af95881277065cb16ae3d2e8c81ef",
    "test_ocr_final.txt": "12e4f0ea3a3298b276771e9c26fe23bff71af34577d788934808c892abb970e9",
    "test_attribute_cleaned.txt": "751ae187320cb6a3e1e267efd0458d2ad2d4d8d5925d99a5a2bd4352afa8a75e",
    "valid_src.txt": "61b7eca20dd75d2ad656a4549eb9e7313fa7e148fb28da1beb8eb8619c9ca290",
    "valid_ocr_final.txt": "627229cd3b09e22c67005e5f19927237af843c5f40ec944f94e571d5aacddc1d",
    "valid_attribute_cleaned.txt": "73545b92764f02848a8d4a572a38ef5ae1f4bded96bc0c2d049e3618c0af6be1",
}
TIMEOUT = 10.0  # seconds to wait for a connection or for the next bytes; offline, a fetch fails within this
PART = ".part"
CHUNK = 1 << 16


class FetchError(RuntimeError):
    """A file could not be fetched; the message says which, why, and what to do."""


class NoNetworkError(FetchError):
    """The server could not be reached at all."""


@dataclass
class FetchResult:
    out: Path
    fetched: list[str] = field(default_factory=list)  # written by this call
    kept: list[str] = field(default_factory=list)  # already there and intact
    source: str = ""

    def summary(self) -> str:
        parts = [f"{len(self.fetched)} fetched" + (f" ({', '.join(self.fetched)})" if self.fetched else "")]
        if self.kept:
            parts.append(f"{len(self.kept)} already there")
        return f"MMKP in {display_path(self.out)} from {self.source}: " + "; ".join(parts)


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checksum_problem(path: Path, name: str, verify: bool) -> str | None:
    """Why `path` is not the authors' file `name`, or None when it is (or when its checksum is not known)."""
    expected = KNOWN_SHA256.get(name) if verify else None
    if expected is None:
        return None
    got = sha256(path)
    return None if got == expected else f"SHA-256 {got[:12]}... differs from the authors' {expected[:12]}..."


def _keep_existing(dest: Path, verify: bool) -> bool:
    """True when `dest` is already there and intact; FetchError when it is there but differs."""
    if not dest.exists():
        return False
    if not dest.is_file():
        raise FetchError(f"{display_path(dest)} exists and is not a file; move it away or choose another --out")
    problem = _checksum_problem(dest, dest.name, verify)
    if problem:
        raise FetchError(f"{display_path(dest)} already exists and is not the authors' file ({problem}); this "
                         "command did not write it and leaves it alone: move it away or choose another --out")
    return True


def _finish(part: Path, dest: Path, verify: bool, where: str) -> None:
    """Check the whole part file, then give it its real name (the one step that makes it look complete)."""
    problem = _checksum_problem(part, dest.name, verify)
    if problem:
        part.unlink()  # ours, and wrong: resuming it would only append to bad bytes
        raise FetchError(f"{where}: {problem}; the download was discarded. If the authors changed their files, "
                         "pass --no-checksum")
    os.replace(part, dest)


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, disable=not enabled,
                leave=False)


def _total_length(response, have: int) -> int | None:
    """The whole file's size from a 206 (Content-Range: bytes a-b/TOTAL) or a 200 (Content-Length) response."""
    if response.status == 206:
        total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download(url: str, dest: str | os.PathLike, *, verify: bool = True, timeout: float = TIMEOUT,
             progress: bool = True) -> Path:
    """Download `url` to `dest` through `dest.part`, resuming a part left by an earlier try (see the module)."""
    dest = Path(dest)
    part = dest.with_name(dest.name + PART)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: the part is already whole
            _finish(part, dest, verify, url)
            return dest
        raise FetchError(f"{url}: HTTP {error.code} {error.reason}; check --base-url "
                         f"(the authors' files: {MMKP_BASE_URL})") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise NoNetworkError(f"cannot reach {url} ({reason}): downloading MMKP needs a network. Without one, copy "
                             "a local mirror instead: mmkp data fetch mmkp --from DIR --out "
                             f"{display_path(dest.parent)} (DIR holding test_src.txt ...), or point --base-url "
                             "at a reachable mirror") from None
    with response:
        resumed = have > 0 and response.status == 206
        total = _total_length(response, have)
        got = have if resumed else 0
        try:
            with open(part, "ab" if resumed else "wb") as f, _progress(total, got, dest.name, progress) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        except (http.client.IncompleteRead, socket.timeout, ConnectionError) as error:
            raise _interrupted(url, part, got, total, error) from None
    if total is not None and got != total:
        raise _interrupted(url, part, got, total, "the server closed the connection")
    _finish(part, dest, verify, url)
    return dest


def _interrupted(url: str, part: Path, got: int, total: int | None, why) -> FetchError:
    of = f" of {total}" if total is not None else ""
    return FetchError(f"{url}: download interrupted after {got}{of} bytes ({why}); the partial file is "
                      f"{display_path(part)} and running the same command again resumes it")


def copy_file(src: Path, dest: Path, verify: bool = True) -> Path:
    """Copy through `dest.part` and rename, so a copy cut short never looks complete."""
    part = dest.with_name(dest.name + PART)
    shutil.copyfile(src, part)
    _finish(part, dest, verify, str(src))
    return dest


def write_train_keyphrases(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """The distinct keyphrases of a training `*_src.txt`, one per line, most frequent first (ties: first seen)."""
    from mmkp_lib.formats.cmkp import read_cmkp
    from mmkp_lib.overlap import keyphrase_counts

    counts = keyphrase_counts(read_cmkp(src, ocr=None, attributes=None))
    dest = Path(dest)
    part = dest.with_name(dest.name + PART)
    part.write_text("".join(k + "\n" for k, _ in counts.most_common()), encoding="utf-8")
    os.replace(part, dest)
    return dest


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FetchError(f"--out {display_path(out)} is a file; pass a folder (e.g. data/mmkp)")


def fetch_mmkp(out: str | os.PathLike, *, source: str | os.PathLike | None = None, base_url: str = MMKP_BASE_URL,
               verify: bool = True, timeout: float = TIMEOUT, progress: bool = True) -> FetchResult:
    """Fetch MMKP's files into `out`: from the authors' repository (`base_url`), or copied from the local folder
    `source`. Returns what was fetched and what was already there; FetchError (NoNetworkError offline) otherwise."""
    out = Path(out)
    _check_out(out)
    if source is not None:
        source = Path(source)
        if not (source / "test_src.txt").is_file():
            raise FetchError(f"--from {display_path(source)}: no test_src.txt there; pass a folder holding MMKP's "
                             f"files ({', '.join(MMKP_FILES[3:6])} ...)")
        names = [n for n in MMKP_FILES + MIRROR_EXTRAS if (source / n).is_file()]
    else:
        names = list(MMKP_FILES)
    result = FetchResult(out, source=display_path(source) if source is not None else base_url)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_files(out, names, source, base_url, verify, timeout, progress, result)
    except FetchError:
        if created and not any(out.iterdir()):  # nothing arrived: leave no empty folder behind
            out.rmdir()
        raise
    if (out / "train_src.txt").is_file() and not (out / TRAIN_KEYPHRASES).exists():
        write_train_keyphrases(out / "train_src.txt", out / TRAIN_KEYPHRASES)
        result.fetched.append(TRAIN_KEYPHRASES)
    return result


def _fetch_files(out: Path, names: list[str], source: Path | None, base_url: str, verify: bool, timeout: float,
                 progress: bool, result: FetchResult) -> None:
    for name in names:
        dest = out / name
        if _keep_existing(dest, verify):
            result.kept.append(name)
            continue
        if source is not None:
            copy_file(source / name, dest, verify)
        else:
            download(base_url.rstrip("/") + "/" + name, dest, verify=verify, timeout=timeout, progress=progress)
        result.fetched.append(name)


def has_mmkp(folder: str | os.PathLike | None) -> bool:
    """True when `folder` holds MMKP's test posts and a training side (posts or the keyphrase list)."""
    if not folder:
        return False
    folder = Path(folder)
    return (folder / "test_src.txt").is_file() and any((folder / n).is_file()
                                                        for n in ("train_src.txt", TRAIN_KEYPHRASES))
