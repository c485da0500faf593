"""What every teacher backend returns, and the errors that stop a run.

A backend turns a batch of posts into one `TeacherResponse` each. It does its
own transport retries (an HTTP backend retries 429/5xx/timeouts) and reports
them in `transport`; it does not validate: the generation loop (run.py) does
that, so all backends are judged by the same rules.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mmkp_lib.records import Post


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class TeacherResponse:
    text: str | None  # the raw output; None when the request failed
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None when the model has no price in the table
    error: str | None = None  # why the request failed after the backend's own retries
    transport: list[dict] = field(default_factory=list)  # one entry per try: outcome, status, wait...
    finish_reason: str | None = None
    started_at: str = ""
    finished_at: str = ""
    elapsed_s: float = 0.0


class FatalBackendError(RuntimeError):
    """A failure no retry can fix (bad key, unknown model, data the backend refuses): the run stops."""


class TeacherBackend:
    """Base class: `name`, `model`, how many posts per call, how many calls at once."""

    name: str = ""
    model: str = ""
    batch_size: int = 1  # posts per generate() call (a local model batches; an API takes one)
    max_workers: int | None = 1  # concurrent generate() calls this backend allows (None: as many as asked)

    @property
    def stop(self) -> threading.Event:
        """Set by the generation loop on Ctrl-C or a fatal error: a backend waiting to retry gives up at once."""
        event = self.__dict__.get("_stop")
        if event is None:
            event = self.__dict__["_stop"] = threading.Event()
        return event

    def check_posts(self, posts: list[Post]) -> None:
        """Raise FatalBackendError before any work if the backend cannot handle these posts."""

    def request_params(self) -> dict:
        """Generation parameters recorded with every request (temperature, max tokens, endpoint...)."""
        return {}

    def generate(self, posts: list[Post], max_words: int) -> list[TeacherResponse]:
        raise NotImplementedError

    def close(self) -> None:
        pass
