"""Teacher backend for any OpenAI-compatible chat-completions endpoint.

GPT-4o, Doubao through its compatible API, or a local vLLM / SGLang server
(e.g. Qwen2.5-VL-72B) all speak this protocol. The official `openai` client
does the HTTP; its own retries are off (max_retries=0) so that every retry is
decided, timed and recorded here:

  - 429: wait what the server asks (Retry-After / retry-after-ms), else back off;
  - 5xx, 408, timeouts, connection errors, a body that is not a chat completion: back off
    exponentially with jitter (base * 2^k, capped, times a random factor in [0.5, 1.5));
  - 401/403/404 (bad key, no such model or endpoint): stop the whole run;
  - other 4xx: give up on that post (recorded as an error, asked again on the next run).

Settings come from parameters, else environment variables:
OPENAI_BASE_URL, OPENAI_API_KEY, MMKP_TEACHER_MODEL.

    OPENAI_API_KEY=sk-... mmkp teacher --data data/mmkp --backend openai --model gpt-4o --workers 8 --rpm 500
    mmkp teacher --data data/mmkp --backend openai --base-url http://localhost:8000/v1 \\
        --model Qwen/Qwen2.5-VL-72B-Instruct       # a local vLLM server (any non-empty key)
"""
from __future__ import annotations

import base64
import email.utils
import json
import mimetypes
import os
import random
import threading
import time
import warnings

from mmkp_lib.records import Post
from mmkp_lib.teacher.base import FatalBackendError, TeacherBackend, TeacherResponse, utc_now
from mmkp_lib.teacher.pricing import Price, load_prices, price_for
from mmkp_lib.teacher.prompt import teacher_messages


class RateLimiter:
    """At most `rpm` request starts per minute, spaced evenly (shared by all worker threads)."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Block until this request may start (or `stop` is set); returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            (stop or threading.Event()).wait(wait)
        return wait


class BadResponse(Exception):
    """The server answered 200 but the body is not a usable chat completion."""


def image_data_url(path: str) -> str:
    """The image file as a base64 data URL (what chat-completions servers accept inline)."""
    mime = mimetypes.guess_type(path)[0] or "image/png"
    with open(path, "rb") as f:
        return f"data:{mime};base64,{base64.b64encode(f.read()).decode('ascii')}"


def to_openai_messages(post: Post, max_words: int, image_detail: str = "auto") -> list[dict]:
    """The teacher prompt in the chat-completions format: the image inline as a data URL."""
    out = []
    for msg in teacher_messages(post, max_words):
        content = []
        for part in msg["content"]:
            if part["type"] == "image":
                content.append({"type": "image_url", "image_url": {"url": image_data_url(post.image),
                                                                   "detail": image_detail}})
            else:
                content.append(part)
        if msg["role"] == "system":  # plain string: every compatible server accepts it
            content = " ".join(p["text"] for p in content)
        out.append({"role": msg["role"], "content": content})
    return out


def parse_retry_after(headers) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, or Retry-After as seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def extract_completion(resp) -> tuple[str, int, int, str | None]:
    """(text, input tokens, output tokens, finish reason) of a chat completion, or BadResponse."""
    choices = getattr(resp, "choices", None)
    if not choices:
        raise BadResponse(f"no choices in the response ({type(resp).__name__}: {str(resp)[:120]!r})")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise BadResponse(f"choices[0].message.content is {type(text).__name__}, not text")
    usage = getattr(resp, "usage", None)
    tin = int(getattr(usage, "prompt_tokens", 0) or 0)
    tout = int(getattr(usage, "completion_tokens", 0) or 0)
    return text, tin, tout, getattr(choices[0], "finish_reason", None)


class OpenAIBackend(TeacherBackend):
    """One request per post through `openai.OpenAI(...).chat.completions.create`, with recorded retries."""

    name = "openai"
    batch_size = 1
    max_workers = None  # threads: as many as --workers asks

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 120.0, max_request_retries: int = 6, backoff_base: float = 1.0,
                 backoff_max: float = 60.0, max_retry_after: float = 300.0, rpm: float | None = None,
                 temperature: float = 0.7, max_tokens: int = 1024, image_detail: str = "auto",
                 prices: str | os.PathLike | dict | None = None, client=None):
        self.model = model or os.environ.get("MMKP_TEACHER_MODEL") or ""
        if not self.model:
            raise ValueError("the openai backend needs a model: pass --model (e.g. gpt-4o) or set MMKP_TEACHER_MODEL")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        for name, value, least in (("timeout", timeout, 0.0), ("max_retry_after", max_retry_after, 0.0),
                                   ("backoff_max", backoff_max, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > least:
                raise ValueError(f"{name}={value!r}: seconds, a number > 0 (timeout 0 would fail every request "
                                 f"at once)")
        if isinstance(max_request_retries, bool) or not isinstance(max_request_retries, int) or max_request_retries < 0:
            raise ValueError(f"max_request_retries={max_request_retries!r}: an integer >= 0")
        if not isinstance(backoff_base, (int, float)) or backoff_base < 0:
            raise ValueError(f"backoff_base={backoff_base!r}: seconds, a number >= 0")
        self.timeout = timeout
        self.max_request_retries = max_request_retries
        self.backoff_base, self.backoff_max, self.max_retry_after = backoff_base, backoff_max, max_retry_after
        self.temperature, self.max_tokens, self.image_detail = temperature, max_tokens, image_detail
        self.limiter = RateLimiter(rpm)
        self.rpm = rpm
        self.price: Price | None = price_for(self.model, load_prices(prices))
        if self.price is None:
            warnings.warn(f"no price for model {self.model!r} in the price table: cost is not estimated; "
                          f"pass --prices FILE with {{\"{self.model}\": {{\"input\": USD/1M, \"output\": USD/1M}}}}")
        if client is None:
            import openai

            key = api_key or os.environ.get("OPENAI_API_KEY")
            if not key:
                raise ValueError("the openai backend needs an API key: set OPENAI_API_KEY "
                                 "(for a local vLLM/SGLang server any non-empty string, e.g. OPENAI_API_KEY=EMPTY)")
            client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0)
        self.client = client
        self._rng = random.Random()  # jitter only: unseeded on purpose so parallel runs do not retry in lockstep

    def request_params(self) -> dict:
        return {"base_url": self.base_url, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "image_detail": self.image_detail, "timeout_s": self.timeout}

    def backoff(self, try_number: int) -> float:
        """Wait before try `try_number + 1`: base * 2^(try-1), capped, times a jitter factor in [0.5, 1.5)."""
        return min(self.backoff_max, self.backoff_base * 2 ** (try_number - 1)) * (0.5 + self._rng.random())

    def generate(self, posts: list[Post], max_words: int) -> list[TeacherResponse]:
        return [self._one(post, max_words) for post in posts]

    def _one(self, post: Post, max_words: int) -> TeacherResponse:
        import openai

        messages = to_openai_messages(post, max_words, self.image_detail)
        started, t_start = utc_now(), time.perf_counter()
        transport: list[dict] = []
        outcome = ""
        for attempt in range(1, self.max_request_retries + 2):
            waited = self.limiter.acquire(self.stop)
            t0 = time.perf_counter()
            entry: dict = {"try": attempt}
            if waited:
                entry["rate_limit_wait_s"] = round(waited, 4)
            retry_after = None
            try:
                resp = self.client.chat.completions.create(model=self.model, messages=messages,
                                                           temperature=self.temperature, max_tokens=self.max_tokens)
                text, tin, tout, finish = extract_completion(resp)
            except openai.APIStatusError as exc:
                code = exc.status_code
                entry.update(outcome=f"http-{code}", status=code, message=str(exc)[:300])
                if code in (401, 403, 404):
                    raise FatalBackendError(f"{self.base_url or 'api.openai.com'} answered {code} for model "
                                            f"{self.model!r}: {exc}. Check OPENAI_API_KEY, --base-url and --model.")
                if code == 429:
                    retry_after = parse_retry_after(exc.response.headers if exc.response is not None else None)
                    if retry_after is not None:
                        entry["retry_after_s"] = retry_after
                elif code < 500 and code != 408:  # a request the server will not take: retrying will not help
                    entry["elapsed_s"] = round(time.perf_counter() - t0, 4)
                    transport.append(entry)
                    return self._failed(f"http {code}: {str(exc)[:200]}", transport, started, t_start)
            except openai.APITimeoutError:
                entry.update(outcome="timeout", message=f"no response within {self.timeout} s")
            except openai.APIConnectionError as exc:
                entry.update(outcome="connection-error", message=str(exc)[:300])
            except (json.JSONDecodeError, BadResponse) as exc:
                entry.update(outcome="bad-response", message=f"{type(exc).__name__}: {str(exc)[:300]}")
            else:
                entry.update(outcome="ok", elapsed_s=round(time.perf_counter() - t0, 4))
                transport.append(entry)
                cost = self.price.cost(tin, tout) if self.price else None
                return TeacherResponse(text=text, input_tokens=tin, output_tokens=tout, cost_usd=cost,
                                       transport=transport, finish_reason=finish, started_at=started,
                                       finished_at=utc_now(), elapsed_s=round(time.perf_counter() - t_start, 4))
            entry["elapsed_s"] = round(time.perf_counter() - t0, 4)
            outcome = entry["outcome"]
            transport.append(entry)
            if attempt > self.max_request_retries:
                break
            wait = min(retry_after, self.max_retry_after) if retry_after is not None else self.backoff(attempt)
            entry["wait_s"] = round(wait, 4)
            if self.stop.wait(wait):  # interrupted while waiting to retry
                return self._failed(f"interrupted while waiting to retry after {outcome}", transport, started,
                                    t_start)
        return self._failed(f"gave up after {len(transport)} tries, last: {outcome}", transport, started, t_start)

    def _failed(self, error: str, transport: list[dict], started: str, t_start: float) -> TeacherResponse:
        return TeacherResponse(text=None, error=error, transport=transport, cost_usd=0.0 if self.price else None,
                               started_at=started, finished_at=utc_now(),
                               elapsed_s=round(time.perf_counter() - t_start, 4))

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close:
            close()
