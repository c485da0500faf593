"""The generation loop: ask the teacher, validate, retry, append every response to the cache.

    from mmkp_lib.teacher import OracleBackend, generate_rationales
    summary = generate_rationales(posts, OracleBackend(), "cache/teacher/synth/oracle-facts.jsonl")
    print(summary.format())

Each post is tried up to `max_attempts` times until its rationale validates;
every response (and every failed request) becomes one cache line at once, so
an interrupted run resumes where it stopped without paying twice: accepted
keys are skipped, rejected keys too unless `retry_rejected`, and a key whose
last line is a failed attempt continues with the attempts it has left.
"""
from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from mmkp_lib.records import Post
from mmkp_lib.teacher.base import TeacherBackend, TeacherResponse
from mmkp_lib.teacher.cache import (SCHEMA, TeacherCache, cache_key, fold_states, post_fingerprint,
                                    read_cache)
from mmkp_lib.teacher.pricing import load_prices, price_for
from mmkp_lib.teacher.prompt import PROMPT_HASH, PROMPT_VERSION, render_prompt
from mmkp_lib.teacher.validate import DEFAULT_MAX_THINK_WORDS, validate_output


@dataclass
class RunSummary:
    backend: str
    model: str
    posts: int  # posts asked for
    skipped_accepted: int = 0  # already accepted in the cache
    skipped_rejected: int = 0  # already rejected (not retried without retry_rejected)
    done: int = 0  # posts finished in this run: accepted + rejected + errors
    accepted: int = 0
    rejected: int = 0
    errors: int = 0  # requests that failed (network, HTTP, garbage): asked again next run
    attempts: int = 0  # responses and failed requests this run (= cache lines written)
    reasons: Counter = field(default_factory=Counter)  # reasons of the final rejections this run
    retry_reasons: Counter = field(default_factory=Counter)  # reasons of every invalid response this run
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None when some response had no price
    elapsed_s: float = 0.0
    think_words: list[int] = field(default_factory=list)  # accepted this run
    interrupted: bool = False
    cache_path: str = ""

    @property
    def acceptance_rate(self) -> float:
        """Accepted / (accepted + rejected) over the posts decided in this run."""
        decided = self.accepted + self.rejected
        return self.accepted / decided if decided else float("nan")

    def format(self) -> str:
        lines = [f"teacher {self.backend} ({self.model}), prompt {PROMPT_VERSION} #{PROMPT_HASH}: {self.posts} posts"
                 + (" [interrupted]" if self.interrupted else "")]
        if self.skipped_accepted or self.skipped_rejected:
            lines.append(f"  skipped (in the cache): {self.skipped_accepted} accepted, "
                         f"{self.skipped_rejected} rejected")
        rate = self.done / self.elapsed_s if self.elapsed_s else 0.0
        lines.append(f"  this run: {self.done} posts in {self.elapsed_s:.1f} s ({rate:.1f} posts/s): "
                     f"{self.accepted} accepted, {self.rejected} rejected, {self.errors} failed requests; "
                     f"{self.attempts} responses")
        if self.accepted + self.rejected:
            lines.append(f"  acceptance: {100 * self.acceptance_rate:.1f}%")
        if self.reasons:
            lines.append("  rejected because: " + ", ".join(f"{r} {n}" for r, n in self.reasons.most_common()))
        if self.retry_reasons:
            lines.append("  invalid responses (incl. retried): "
                         + ", ".join(f"{r} {n}" for r, n in self.retry_reasons.most_common()))
        cost = "unknown (model not in the price table)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        lines.append(f"  tokens: {self.input_tokens} in, {self.output_tokens} out; estimated cost {cost}")
        if self.think_words:
            w = sorted(self.think_words)
            lines.append(f"  reasoning words (accepted): mean {statistics.mean(w):.1f}, median "
                         f"{statistics.median(w):.0f}, p10 {w[len(w) // 10]}, p90 {w[(9 * len(w)) // 10]}, "
                         f"min {w[0]}, max {w[-1]}")
        if self.cache_path:
            lines.append(f"  cache: {self.cache_path}")
        return "\n".join(lines)


def plan(posts: list[Post], states: dict, backend: str, model: str,
         retry_rejected: bool = False) -> tuple[list[tuple[Post, int]], int, int]:
    """(posts to ask with the attempts they already used, skipped accepted, skipped rejected)."""
    todo, n_acc, n_rej = [], 0, 0
    for post in posts:
        st = states.get(cache_key(post.id, backend, model, PROMPT_HASH))
        if st is None or st.status == "new":
            todo.append((post, 0))
        elif st.status == "accepted":
            n_acc += 1
        elif st.status == "rejected":
            if retry_rejected:
                todo.append((post, 0))
            else:
                n_rej += 1
        else:
            todo.append((post, st.attempts_used))
    return todo, n_acc, n_rej


def make_record(post: Post, backend: TeacherBackend, attempt: int, max_attempts: int, max_think_words: int,
                resp: TeacherResponse) -> dict:
    """The cache line for one response (validated here) or one failed request."""
    rec = {"schema": SCHEMA, "key": list(cache_key(post.id, backend.name, backend.model, PROMPT_HASH)),
           "status": "error", "attempt": attempt, "max_attempts": max_attempts, "reason": None, "detail": None,
           "request": {"post_fingerprint": post_fingerprint(post), "gold": list(post.keyphrases), "image": post.image,
                       "prompt_version": PROMPT_VERSION, "max_think_words": max_think_words,
                       **backend.request_params()},
           "response": resp.text, "finish_reason": resp.finish_reason, "think": None, "answer": None,
           "think_words": 0, "usage": {"input_tokens": resp.input_tokens, "output_tokens": resp.output_tokens},
           "cost_usd": resp.cost_usd, "error": resp.error, "transport": resp.transport,
           "started_at": resp.started_at, "finished_at": resp.finished_at, "elapsed_s": resp.elapsed_s}
    if resp.text is None:
        rec["reason"], rec["detail"] = "request-failed", resp.error
        return rec
    v = validate_output(resp.text, post.keyphrases, max_think_words)
    rec.update(think=v.think, answer=v.answer, think_words=v.think_words, reason=v.reason, detail=v.detail)
    rec["status"] = "accepted" if v.ok else ("rejected" if attempt >= max_attempts else "retry")
    return rec


class _Progress:
    """Counts and the tqdm bar, shared by worker threads."""

    def __init__(self, summary: RunSummary, total: int, enabled: bool):
        from tqdm import tqdm

        self.s = summary
        self.lock = threading.Lock()
        self.bar = tqdm(total=total, disable=not enabled, desc=f"teacher {summary.backend}", unit="post",
                        dynamic_ncols=True, file=sys.stderr)

    def add(self, rec: dict) -> None:
        s = self.s
        with self.lock:
            s.attempts += 1
            s.input_tokens += rec["usage"]["input_tokens"]
            s.output_tokens += rec["usage"]["output_tokens"]
            if rec["cost_usd"] is None:
                s.cost_usd = None
            elif s.cost_usd is not None:
                s.cost_usd += rec["cost_usd"]
            status = rec["status"]
            if status in ("retry", "rejected"):
                s.retry_reasons[rec["reason"]] += 1
            if status == "retry":
                return
            s.done += 1
            if status == "accepted":
                s.accepted += 1
                s.think_words.append(rec["think_words"])
            elif status == "rejected":
                s.rejected += 1
                s.reasons[rec["reason"]] += 1
            else:
                s.errors += 1
            cost = "?" if s.cost_usd is None else f"{s.cost_usd:.4f}"
            self.bar.set_postfix_str(f"acc={s.accepted} rej={s.rejected} err={s.errors} "
                                     f"tok={s.input_tokens + s.output_tokens} ${cost}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def generate_rationales(posts: list[Post], backend: TeacherBackend, cache: str | Path | TeacherCache, *,
                        max_attempts: int = 3, max_think_words: int = DEFAULT_MAX_THINK_WORDS,
                        retry_rejected: bool = False, workers: int = 1, progress: bool = True) -> RunSummary:
    """Write validated rationales for `posts` into the cache; returns what this run did."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    backend.check_posts(posts)
    own_cache = not isinstance(cache, TeacherCache)
    cache = TeacherCache(cache) if own_cache else cache
    summary = RunSummary(backend=backend.name, model=backend.model, posts=len(posts), cache_path=str(cache.path))
    t_start = time.perf_counter()
    try:
        cache.check_fingerprints(posts, backend.name, backend.model, PROMPT_HASH)
        todo, summary.skipped_accepted, summary.skipped_rejected = plan(
            posts, cache.states, backend.name, backend.model, retry_rejected)
        stop = backend.stop  # shared with the backend, so its retry waits end when the run stops
        stop.clear()
        prog = _Progress(summary, len(todo), progress)

        def work(items: list[tuple[Post, int]]) -> None:
            pending = items
            while pending and not stop.is_set():
                responses = backend.generate([p for p, _ in pending], max_think_words)
                retry = []
                for (post, used), resp in zip(pending, responses):
                    rec = make_record(post, backend, used + 1, max_attempts, max_think_words, resp)
                    cache.append(rec)
                    prog.add(rec)
                    if rec["status"] == "retry":
                        retry.append((post, used + 1))
                pending = retry

        chunks = [todo[i:i + backend.batch_size] for i in range(0, len(todo), backend.batch_size)]
        n_threads = min(workers, backend.max_workers or workers)
        try:
            if n_threads == 1:
                for chunk in chunks:
                    work(chunk)
            else:
                pool = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="teacher")
                try:
                    futures = [pool.submit(work, c) for c in chunks]
                    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                    for f in done:
                        if f.exception() is not None:
                            stop.set()
                            raise f.exception()
                except BaseException:
                    stop.set()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                else:
                    pool.shutdown(wait=True)
        except KeyboardInterrupt:
            summary.interrupted = True
            stop.set()
            print("\ninterrupted: lines already written are kept; run the same command again to resume",
                  file=sys.stderr)
        finally:
            prog.close()
    finally:
        summary.elapsed_s = time.perf_counter() - t_start
        if own_cache:
            cache.close()
        backend.close()
    return summary


@dataclass
class CostEstimate:
    posts: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when the model has no price
    assumptions: str

    def format(self) -> str:
        cost = "unknown (no price for this model; pass --prices)" if self.cost_usd is None else f"${self.cost_usd:.2f}"
        return (f"estimated for {self.posts} posts (one attempt each): about {self.input_tokens} input and "
                f"{self.output_tokens} output tokens, cost {cost}\n  ({self.assumptions})")


def estimate_cost(posts: list[Post], backend: str, model: str, prices=None, max_think_words: int = 300,
                  image_tokens: int = 255, output_tokens_per_post: int = 250) -> CostEstimate:
    """A rough cost of asking the teacher once per post, for --dry-run (no request is made).

    Text is counted at ~4 characters per token; an image at `image_tokens` (GPT-4o: 85 at low detail,
    85 + 170 per 512-px tile at high detail, so 255 for a small image); the output at
    `output_tokens_per_post`. Retries and rejected attempts cost extra.
    """
    from mmkp_lib.teacher.prompt import SYSTEM

    tin = sum((len(SYSTEM) + len(render_prompt(p, max_think_words))) // 4 + (image_tokens if p.image else 0)
              for p in posts)
    tout = output_tokens_per_post * len(posts)
    if backend in ("oracle", "hf"):
        cost = 0.0
    else:
        price = price_for(model, load_prices(prices))
        cost = price.cost(tin, tout) if price else None
    return CostEstimate(len(posts), tin, tout, cost,
                        f"~4 characters per text token, {image_tokens} tokens per image, "
                        f"{output_tokens_per_post} output tokens per post; retries cost extra")


def cached_states(cache_path: str | Path) -> dict:
    """Key states of a cache file, read-only (for --dry-run and notebooks; no lock, no repair)."""
    return fold_states(read_cache(cache_path))
