"""The teacher cache: an append-only JSONL file, one line per teacher response (or failed request).

Each line is keyed by (post id, backend, model, prompt hash) and holds what was
asked (the request's essentials), the raw response, the parsed rationale, the
validation result, token usage, cost and timestamps:

    {"schema": 1, "key": ["train-000001", "openai", "gpt-4o", "3f2a..."], "status": "accepted",
     "attempt": 1, "reason": null, "detail": null, "request": {...}, "response": "<think>...",
     "think": "...", "answer": [...], "usage": {"input_tokens": 812, "output_tokens": 141},
     "cost_usd": 0.0034, "transport": [...], "started_at": "...", "finished_at": "...", "elapsed_s": 1.9}

Statuses: `accepted`; `retry` (failed validation, another attempt follows); `rejected` (failed
validation on its last attempt); `error` (the request itself failed: network, HTTP, garbage).
Resuming skips accepted keys, skips rejected ones unless asked to retry them, continues a key
whose last line is `retry` with the attempts it has left, and asks again for `error` keys.

Every line is written with a single `os.write` on an O_APPEND descriptor, so a
kill loses at most the requests in flight. A half-written last line (power
loss, a full disk) is ignored with a warning when reading, and cut off before
the next run appends, so the file stays valid JSONL.

    from mmkp_lib.teacher.cache import load_rationales
    thinks = load_rationales("cache/teacher/synth/oracle-facts.jsonl", posts)   # {post id: reasoning}
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mmkp_lib.records import Post

SCHEMA = 1
STATUSES = ("accepted", "retry", "rejected", "error")

Key = tuple  # (post id, backend, model, prompt hash)


class CacheWarning(UserWarning):
    """Something in a cache file was skipped (a half-written or unreadable line)."""


class CacheError(ValueError):
    """The cache cannot be used as asked (written for other data, locked by another run, ambiguous)."""


def cache_key(post_id: str, backend: str, model: str, prompt_hash: str) -> Key:
    return (post_id, backend, model, prompt_hash)


def post_fingerprint(post: Post) -> str:
    """Hash of what the teacher is shown as text and gold (catches a cache reused for other data with equal ids)."""
    h = hashlib.sha256(json.dumps([post.id, post.text, post.keyphrases], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def default_cache_path(data: str | os.PathLike, backend: str, root: str | os.PathLike = ".",
                       style: str | None = None) -> Path:
    """cache/teacher/<dataset folder name>/<backend>.jsonl, or <backend>-<style>.jsonl for the oracle's styles:
    one file per dataset and teacher, so two oracle styles never share a file (training refuses mixed teachers)."""
    data = Path(data)
    name = (data.parent.name if data.suffix == ".jsonl" else data.name) or "data"
    stem = f"{backend}-{style}" if style and backend == "oracle" else backend
    return Path(root) / "cache" / "teacher" / name / f"{stem}.jsonl"


def _read_lines(path: Path) -> tuple[list[dict], int | None, int]:
    """Records of a cache file, the byte offset of a half-written last line (None if the file ends cleanly), and the
    count of complete lines that are not cache records."""
    data = path.read_bytes()
    records = []
    partial_at = None
    skipped = 0
    end = data.rfind(b"\n") + 1  # everything after the last newline is a half-written line
    if end < len(data):
        partial_at = end
        warnings.warn(f"{path}: ignoring a half-written last line ({len(data) - end} bytes, left by an "
                      f"interrupted write); it is removed before the next append", CacheWarning, stacklevel=3)
    for lineno, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            if not isinstance(rec, dict) or not isinstance(rec.get("key"), list) or rec.get("status") not in STATUSES:
                raise ValueError("not a cache record (needs 'key' and 'status')")
        except (ValueError, UnicodeDecodeError) as exc:
            warnings.warn(f"{path}:{lineno}: skipping an unreadable cache line ({exc})", CacheWarning, stacklevel=3)
            skipped += 1
            continue
        records.append(rec)
    return records, partial_at, skipped


def read_cache(path: str | os.PathLike) -> list[dict]:
    """Every readable record of a cache file, in order ([] when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return _read_lines(path)[0]


@dataclass
class KeyState:
    """Where one key stands after the lines read so far."""

    status: str = "new"  # new | accepted | rejected | pending (retry or error last)
    attempts_used: int = 0  # validation attempts since the last final (rejected) line
    fingerprint: str | None = None
    accepted: dict | None = None


def step_state(st: KeyState, rec: dict) -> KeyState:
    """Advance one key's state by one of its lines (in file order)."""
    st.fingerprint = rec.get("request", {}).get("post_fingerprint") or st.fingerprint
    if st.status == "accepted":
        return st  # final; later lines (none expected) do not undo it
    status = rec["status"]
    if status == "accepted":
        st.status, st.accepted = "accepted", rec
    elif status == "rejected":
        st.status, st.attempts_used = "rejected", 0
    elif status == "retry":
        st.attempts_used = (st.attempts_used if st.status == "pending" else 0) + 1
        st.status = "pending"
    else:  # error: the request failed, so no validation attempt was used; ask again on resume
        st.attempts_used = st.attempts_used if st.status == "pending" else 0
        st.status = "pending"
    return st


def fold_states(records: Iterable[dict]) -> dict[Key, KeyState]:
    states: dict[Key, KeyState] = {}
    for rec in records:
        key = tuple(rec["key"])
        states[key] = step_state(states.get(key) or KeyState(), rec)
    return states


class TeacherCache:
    """Append-only writer over a cache file (one writer at a time, enforced with a file lock).

    with TeacherCache("cache/teacher/synth/openai.jsonl") as cache:
        state = cache.states.get(key)
        cache.append(record)
    """

    def __init__(self, path: str | os.PathLike, fsync_every: int = 50, fsync_interval_s: float = 5.0):
        self.path = Path(path)
        if self.path.is_dir():
            raise CacheError(f"{self.path}: is a folder; the teacher cache is one JSONL file "
                             f"(e.g. --out {self.path / 'rationales.jsonl'})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync_every = fsync_every
        self.fsync_interval_s = fsync_interval_s
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._lock_file()
            self.records, partial_at, skipped = _read_lines(self.path)
            if skipped and not self.records:  # checked before anything is cut or appended
                raise CacheError(f"{self.path}: none of its lines is a teacher cache record (a dataset or another "
                                 f"file?); it is left as it was: pass another --out")
            if partial_at is not None:
                os.ftruncate(self._fd, partial_at)  # cut the half-written line so the next append starts clean
                os.fsync(self._fd)
        except BaseException:
            os.close(self._fd)
            raise
        self.states = fold_states(self.records)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def _lock_file(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process guard
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheError(f"{self.path}: another `mmkp teacher` run is writing this cache; wait for it "
                             f"or pass another --out") from None

    def check_fingerprints(self, posts: Iterable[Post], backend: str, model: str, prompt_hash: str) -> None:
        """Refuse to resume a cache whose lines were written for different posts under the same ids."""
        bad = []
        for post in posts:
            st = self.states.get(cache_key(post.id, backend, model, prompt_hash))
            if st and st.fingerprint and st.fingerprint != post_fingerprint(post):
                bad.append(post.id)
        if bad:
            raise CacheError(f"{self.path}: {len(bad)} cached posts have the same id but another text or gold "
                             f"keyphrases (first: {bad[0]!r}); this cache was written for other data. "
                             f"Pass another --out (or delete the file).")

    def append(self, record: dict) -> None:
        """Write one record as one line: a single write, then flush to the OS; fsync every so often."""
        if record.get("status") not in STATUSES:
            raise ValueError(f"cache record status must be one of {STATUSES}, got {record.get('status')!r}")
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise CacheError(f"{self.path}: the cache is closed; this line is dropped")
            written = os.write(self._fd, data)
            while written < len(data):  # only on a short write (full disk, signal); keeps the line whole if it can
                written += os.write(self._fd, data[written:])
            self.records.append(record)
            key = tuple(record["key"])
            self.states[key] = step_state(self.states.get(key) or KeyState(), record)
            self._unsynced += 1
            now = time.monotonic()
            if self._unsynced >= self.fsync_every or now - self._last_sync >= self.fsync_interval_s:
                os.fsync(self._fd)
                self._unsynced, self._last_sync = 0, now

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)  # closing releases the flock
                self._fd = -1

    def __enter__(self) -> "TeacherCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_rationales(cache_path: str | os.PathLike, posts: Iterable[Post] | None = None, backend: str | None = None,
                    model: str | None = None, prompt_hash: str | None = None) -> dict[str, str]:
    """{post id: accepted reasoning} from a cache, for the CoT training data.

    `posts` restricts the result to those posts and checks that each cached line
    was written for the same text and gold keyphrases. When one id has accepted
    rationales from several (backend, model, prompt hash) keys, pass the filters
    to choose; otherwise this raises rather than mix teachers silently.
    """
    path = Path(cache_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no teacher cache here; write one with `mmkp teacher --out {path}`")
    wanted = None if posts is None else {p.id: p for p in posts}
    found: dict[str, tuple[Key, str]] = {}
    for rec in read_cache(path):
        if rec["status"] != "accepted":
            continue
        key = tuple(rec["key"])
        pid, b, m, h = key
        if (backend and b != backend) or (model and m != model) or (prompt_hash and h != prompt_hash):
            continue
        if wanted is not None:
            if pid not in wanted:
                continue
            fp = rec.get("request", {}).get("post_fingerprint")
            if fp and fp != post_fingerprint(wanted[pid]):
                raise CacheError(f"{path}: the accepted rationale of post {pid!r} was written for another text or "
                                 f"gold keyphrases; this cache belongs to other data")
        if pid in found and found[pid][0] != key:
            raise CacheError(f"{path}: post {pid!r} has accepted rationales from {found[pid][0][1:]} and {key[1:]}; "
                             f"pass backend=/model=/prompt_hash= to choose one")
        found[pid] = (key, rec["think"])
    return {pid: think for pid, (_, think) in found.items()}
