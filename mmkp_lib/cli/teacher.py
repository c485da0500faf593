"""`mmkp teacher`: write teacher rationales (<think>...</think><answer>...</answer>) into a resumable cache.

    mmkp teacher --data data/synth --backend oracle                       # the offline default, seconds
    OPENAI_API_KEY=sk-... mmkp teacher --data data/mmkp --backend openai --model gpt-4o --workers 8 \\
        --rpm 500 --out cache/teacher/mmkp/gpt-4o.jsonl
    mmkp teacher --data data/mmkp --backend openai --model gpt-4o --dry-run   # the prompt and the cost, no call
"""
from __future__ import annotations

import argparse
import os
import sys

from mmkp_lib.cli.args import LIMIT_HELP, READABLE_FORMATS, at_least, fail, one_line_warnings, positive, post_limit

BACKEND_CHOICES = ("oracle", "openai", "hf")  # = mmkp_lib.teacher.BACKENDS, literal for a fast --help
ORACLE_STYLES = ("facts", "prose")  # = mmkp_lib.teacher.oracle.STYLES (a test checks), literal for a fast --help

EPILOG = """\
backends:
  oracle   rationales from the embedded benchmark's generator latents (meta["synth"]); no network
  openai   any OpenAI-compatible chat-completions endpoint: GPT-4o, Doubao, a local vLLM/SGLang server.
           Settings: --model / MMKP_TEACHER_MODEL, --base-url / OPENAI_BASE_URL, the key in OPENAI_API_KEY
  hf       a local transformers VLM (hub id or folder), batched generation

The cache is append-only JSONL, keyed by (post id, backend, model, prompt hash). Run the same
command again after an interruption: accepted posts are skipped, rejected ones too (unless
--retry-rejected), failed requests are asked again. Training reads the accepted rationales with
mmkp_lib.teacher.load_rationales(CACHE, posts).

examples:
  mmkp teacher --data data/synth --backend oracle --out cache/teacher/synth/oracle-facts.jsonl
  mmkp teacher --data data/mmkp --backend openai --base-url http://localhost:8000/v1 \\
      --model Qwen/Qwen2.5-VL-72B-Instruct --workers 16        # OPENAI_API_KEY=EMPTY for vLLM
  mmkp teacher --data data/synth --backend hf --model Qwen/Qwen2.5-VL-7B-Instruct --batch-size 16 --device cuda
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "teacher", help="write teacher CoT rationales (oracle, OpenAI-compatible API, local VLM) into a cache",
        description="Ask a teacher to explain each post's gold keyphrases from its text and image, validate "
                    "the answers, and append every response to a resumable JSONL cache.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="PATH",
                   help="dataset folder or file: canonical JSONL, MMKP/CMKP _src.txt or AimKP llava JSON")
    p.add_argument("--split", help="split to read (a folder's file; default train), or to keep from a file")
    p.add_argument("--format", choices=READABLE_FORMATS, help="input format (default: from the name)")
    p.add_argument("--image-dir", help="where cmkp / llava image names are found (see `mmkp convert --help`)")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="oracle", help="teacher backend (default: oracle)")
    p.add_argument("--model", help="openai: model name (or MMKP_TEACHER_MODEL); hf: hub id or folder")
    p.add_argument("--base-url", help="openai: endpoint, e.g. http://localhost:8000/v1 (or OPENAI_BASE_URL)")
    p.add_argument("--out", metavar="CACHE",
                   help="cache file (default: cache/teacher/<dataset folder>/<backend>.jsonl; the oracle's: "
                        "oracle-<style>.jsonl)")
    p.add_argument("--workers", type=positive(int), default=4, help="openai: concurrent requests (default: 4)")
    p.add_argument("--rpm", type=at_least(float, 0, "requests per minute"), help="openai: at most this many requests per minute (0 or none: no limit)")
    p.add_argument("--limit", type=post_limit, default=0, help=LIMIT_HELP)
    p.add_argument("--dry-run", action="store_true",
                   help="print the prompt of the first post and the estimated cost; call nothing")
    p.add_argument("--max-attempts", type=positive(int), default=3,
                   help="tries per post until a rationale validates (default: 3)")
    p.add_argument("--max-think-words", type=positive(int, "words"), default=300,
                   help="reject reasoning longer than this many words (default: 300)")
    p.add_argument("--retry-rejected", action="store_true", help="ask again for posts rejected in earlier runs")
    p.add_argument("--temperature", type=at_least(float, 0), help="sampling temperature (openai default 0.7, hf default 0)")
    p.add_argument("--max-tokens", type=positive(int, "tokens"), default=1024, help="output token limit per response")
    p.add_argument("--timeout", type=positive(float, "seconds"), default=120.0,
                   help="openai: seconds per request (default: 120)")
    p.add_argument("--max-retry-after", type=positive(float, "seconds"), default=300.0,
                   help="openai: the longest wait a server's Retry-After is obeyed for (default: 300)")
    p.add_argument("--max-request-retries", type=at_least(int, 0), default=6,
                   help="openai: retries of one request on 429/5xx/timeouts/garbage (default: 6)")
    p.add_argument("--backoff-base", type=at_least(float, 0, "seconds"), default=1.0,
                   help="openai: first backoff in seconds, doubled per retry, with jitter (default: 1)")
    p.add_argument("--prices", metavar="FILE",
                   help='JSON price table overriding the built-in one: {"model": {"input": USD/1M, "output": USD/1M}}')
    p.add_argument("--image-detail", choices=("auto", "low", "high"), default="auto", help="openai: image detail")
    p.add_argument("--batch-size", type=positive(int), default=8, help="hf: posts per generate() call (default: 8)")
    p.add_argument("--device", help="hf: torch device (default: cuda if available)")
    p.add_argument("--dtype", help="hf: torch dtype name, e.g. bfloat16")
    p.add_argument("--seed", type=at_least(int, 0), default=0, help="oracle: seed of the wording choices (default: 0)")
    p.add_argument("--style", choices=ORACLE_STYLES, default="facts",
                   help="oracle: facts = the facts the answer is built from (quoted topic span, colour, shape, scene) "
                        "in a few templates, about 22 words; prose = varied LLM-like reasoning, about 80 words "
                        "(default: facts)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def load_posts_for(args) -> list:
    """The posts of --data (a folder's --split file, default train; a file's posts of --split if given)."""
    from pathlib import Path

    from mmkp_lib.formats import load_posts
    from mmkp_lib.records import first_posts

    path = Path(args.data)
    split = args.split or ("train" if path.is_dir() else None)
    posts = load_posts(path, format=args.format, split=split, image_dir=args.image_dir)
    if not path.is_dir() and args.split:
        posts = [p for p in posts if p.split == args.split]
    return first_posts(posts, args.limit, "--limit")


def model_name(args) -> str:
    """The model part of the cache key, without building the backend (for --dry-run)."""
    if args.backend == "oracle":
        from mmkp_lib.teacher.oracle import OracleBackend

        return OracleBackend(seed=args.seed, style=args.style).model
    if args.backend == "openai":
        return args.model or os.environ.get("MMKP_TEACHER_MODEL") or ""
    return args.model or ""


def build_backend(args):
    from mmkp_lib.teacher import make_backend

    if args.backend == "oracle":
        return make_backend("oracle", seed=args.seed, style=args.style)
    if args.backend == "openai":
        return make_backend("openai", model=args.model, base_url=args.base_url, timeout=args.timeout,
                            max_retry_after=args.max_retry_after,
                            max_request_retries=args.max_request_retries, backoff_base=args.backoff_base,
                            rpm=args.rpm or None, temperature=0.7 if args.temperature is None else args.temperature,
                            max_tokens=args.max_tokens, image_detail=args.image_detail, prices=args.prices)
    return make_backend("hf", model=args.model, batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                        temperature=args.temperature or 0.0, device=args.device, dtype=args.dtype)


def dry_run(args, posts, out) -> int:
    from mmkp_lib.teacher.prompt import PROMPT_HASH, PROMPT_VERSION, SYSTEM, render_prompt
    from mmkp_lib.teacher.run import cached_states, estimate_cost, plan

    model = model_name(args)
    todo, n_acc, n_rej = plan(posts, cached_states(out), args.backend, model, args.retry_rejected)
    first = posts[0]
    print(f"prompt {PROMPT_VERSION} #{PROMPT_HASH} for post {first.id!r}"
          + (f" (image: {first.image})" if first.image else " (no image)"))
    print(f"--- system ---\n{SYSTEM}\n--- user ---\n{render_prompt(first, args.max_think_words)}\n---")
    print(f"{len(posts)} posts from {args.data}; in the cache {out}: {n_acc} accepted, {n_rej} rejected "
          f"(skipped); {len(todo)} to ask")
    est = estimate_cost([p for p, _ in todo], args.backend, model, args.prices, args.max_think_words)
    print(est.format())
    return 0


def run(args) -> int:
    from mmkp_lib.records import DataError
    from mmkp_lib.teacher import CacheError, FatalBackendError, default_cache_path, generate_rationales

    out = args.out or str(default_cache_path(args.data, args.backend, style=args.style))
    try:
        posts = load_posts_for(args)
        if not posts:
            return fail("teacher", f"no posts in {args.data}" + (f" (split {args.split})" if args.split else ""))
        if args.dry_run:
            return dry_run(args, posts, out)
        backend = build_backend(args)
        with one_line_warnings("teacher"):
            summary = generate_rationales(posts, backend, out, max_attempts=args.max_attempts,
                                          max_think_words=args.max_think_words, retry_rejected=args.retry_rejected,
                                          workers=args.workers, progress=not args.no_progress)
    except (DataError, OSError, CacheError, FatalBackendError, ValueError) as exc:
        return fail("teacher", exc)
    print(summary.format())
    if summary.interrupted:
        return 130
    if summary.errors:
        print(f"{summary.errors} requests failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
