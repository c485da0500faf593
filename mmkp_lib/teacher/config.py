"""A teacher run's settings as one typed, validated object (the notebook's parameters, the CLI's flags).

    from mmkp_lib.teacher.config import TeacherRunConfig
    cfg = TeacherRunConfig(data="data/synth", backend="oracle", smoke=True).validated()
    backend = cfg.make_backend(); cache = cfg.cache_path()
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mmkp_lib.records import check_limit, first_posts
from mmkp_lib.teacher.cache import default_cache_path

BACKENDS = ("oracle", "openai", "hf")
SMOKE_POSTS = 200  # smoke runs stop after this many posts


@dataclass
class TeacherRunConfig:
    data: str = "data/synth"  # dataset folder or file
    split: str = "train"  # which split gets rationales
    backend: str = "oracle"  # oracle | openai | hf
    model: str = ""  # openai: model name (or MMKP_TEACHER_MODEL); hf: hub id or folder
    base_url: str = ""  # openai: endpoint (or OPENAI_BASE_URL)
    workers: int = 4  # openai: concurrent requests
    rpm: float = 0.0  # openai: requests per minute (0: no limit)
    timeout: float = 120.0  # openai: seconds per request
    max_retry_after: float = 300.0  # openai: the longest Retry-After wait obeyed, in seconds
    limit: int = 0  # first N posts (0: all)
    max_attempts: int = 3  # tries per post until a rationale validates
    max_think_words: int = 300  # length cap of the reasoning, in words
    retry_rejected: bool = False  # ask again for posts rejected in earlier runs
    cache: str = ""  # cache file; "" = <work_dir>/cache/teacher/<dataset folder>/<backend>.jsonl
    work_dir: str = "."  # where cache/ lives
    smoke: bool = False  # at most SMOKE_POSTS posts
    seed: int = 0  # oracle: wording seed
    style: str = "facts"  # oracle: facts (the answer's facts, a few templates) | prose (varied, LLM-like)
    batch_size: int = 8  # hf: posts per generate() call
    prices: str = ""  # JSON price table overriding the built-in one

    def validated(self) -> "TeacherRunConfig":
        """Self, or ValueError listing every bad setting and what to pass instead."""
        problems = []
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "openai" and not (self.model or os.environ.get("MMKP_TEACHER_MODEL")):
            problems.append("backend 'openai' needs model (e.g. 'gpt-4o') or MMKP_TEACHER_MODEL")
        if self.backend == "hf" and not self.model:
            problems.append("backend 'hf' needs model: a hub id or a local folder")
        for name in ("workers", "max_attempts", "max_think_words", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        try:
            check_limit(self.limit)
        except ValueError as exc:
            problems.append(str(exc))
        for name in ("timeout", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                problems.append(f"{name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(self.rpm, (int, float)) or self.rpm < 0:
            problems.append(f"rpm must be >= 0 (0: no limit), got {self.rpm!r}")
        from mmkp_lib.teacher.oracle import STYLES

        if self.style not in STYLES:
            problems.append(f"style must be one of {STYLES} (the oracle's), got {self.style!r}")
        if not Path(self.data).exists():
            problems.append(f"data {self.data!r} does not exist (make it with `mmkp synth --out {self.data}`)")
        if problems:
            raise ValueError("bad teacher settings:\n  " + "\n  ".join(problems))
        return self

    @property
    def post_limit(self) -> int:
        """Posts to use: `limit`, capped at SMOKE_POSTS in smoke runs (0: all)."""
        if self.smoke:
            return min(self.limit, SMOKE_POSTS) if self.limit else SMOKE_POSTS
        return self.limit

    def cache_path(self) -> Path:
        if self.cache:
            return Path(self.cache)
        return default_cache_path(self.data, self.backend, root=self.work_dir, style=self.style)

    def load_posts(self) -> list:
        from mmkp_lib.formats import load_posts

        path = Path(self.data)
        posts = load_posts(path, split=self.split)
        if not path.is_dir():
            posts = [p for p in posts if p.split in (None, self.split)]
        return first_posts(posts, self.post_limit)

    def make_backend(self):
        from mmkp_lib.teacher import make_backend

        if self.backend == "oracle":
            return make_backend("oracle", seed=self.seed, style=self.style)
        if self.backend == "openai":
            return make_backend("openai", model=self.model or None, base_url=self.base_url or None,
                                rpm=self.rpm or None, prices=self.prices or None, timeout=self.timeout,
                                max_retry_after=self.max_retry_after)
        return make_backend("hf", model=self.model, batch_size=self.batch_size)

    def to_dict(self) -> dict:
        return asdict(self)
