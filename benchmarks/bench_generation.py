"""Batched generation (batch 32, left padding, KV cache) against one-by-one generation, per post, on CPU.

    .venv/bin/python benchmarks/bench_generation.py                 # 64 test posts, SFT and CoT lengths (a few minutes)
    .venv/bin/python benchmarks/bench_generation.py --posts 96 --repeats 3
    .venv/bin/python benchmarks/bench_generation.py --quick         # seconds: TEST_TINY model, 8 posts

Both sides call the project's `mmkp_lib.inference.generate_predictions` on
the same posts: once with `batch_size=32` in one call over all posts (as
`mmkp predict` does, so batches are grouped by prompt length), once per post
with `batch_size=1`. The `generate` decoder's forcing processor needs row i
of a chunk to be post i, so it is called per chunk of 32 with
`sort_by_length=False`. Times are wall clock for the whole call (prompt
rendering, image loading, the processor, `generate`, decoding and parsing),
divided by the number of posts; the time inside `model.generate` alone is
printed beside it.

The model is the real `tiny` architecture (as in bench_training.py: random
weights, no vision warm-up). A random model writes until max_new_tokens, so
its outputs would all have the same length; instead a logits processor (one
precomputed matrix, one scatter per step) makes it write, token for token, each post's own target and then the stop token:
the SFT target ("kp1; kp2", a few tokens) in one pass and the oracle
teacher's CoT target ("<think>..</think><answer>..</answer>", about 100
tokens) in the other. Per-token compute is the same as any model of this
architecture, and output lengths vary from post to post as a trained model's
do, so batched rows that stop early still wait for the longest row of their
batch, as they would in real use. The outputs of both sides are compared
(they must be identical, and equal to the targets).

Two greedy decoders are measured: `fast`, the project's own loop
(mmkp_lib.generation.greedy_decode: finished rows leave the batch and the
cache, no per-token logits processors; what inference uses by default), and
`generate`, transformers' model.generate (the previous default), forced
through the same targets.

Target: batched at batch 32 at least 8x faster per post than one-by-one (`--json` writes
`speedup_batch32` = {"sft": ..., "cot": ...} for the fast decoder).

Last, the same posts and target texts are generated batched (fast decoder) by
the previous default model (SigLIP tower with 64 image tokens, v1 tokenizer:
longer prompts and longer CoT outputs) and the default / previous posts/s
ratio is printed per kind (`default_vs_previous` in the JSON).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import end_summary, ensure_model, load_average  # noqa: E402


class ForceTargets:
    """LogitsProcessor: row i emits targets[i] token by token, then the stop token (greedy picks the forced id)."""

    def __new__(cls, *args, **kwargs):  # transformers is imported on use only
        import torch
        from transformers import LogitsProcessor

        class _ForceTargets(LogitsProcessor):
            def __init__(self, targets: list[list[int]], eos_id: int):
                width = max(len(t) for t in targets) + 1
                self.forced = torch.full((len(targets), width), eos_id, dtype=torch.long)
                for i, t in enumerate(targets):
                    self.forced[i, : len(t)] = torch.tensor(t, dtype=torch.long)
                self.start: int | None = None

            def __call__(self, input_ids, scores):
                if self.start is None:  # the first call sees the (padded) prompt alone
                    self.start = input_ids.shape[1]
                col = min(input_ids.shape[1] - self.start, self.forced.shape[1] - 1)
                token = self.forced[:, col].to(scores.device)
                out = torch.full_like(scores, -float("inf"))
                out.scatter_(1, token[:, None], 0.0)
                return out

        return _ForceTargets(*args, **kwargs)


def target_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def force_hook(targets: list[list[int]], eos_id: int):
    """generate_predictions' logits_hook: post i emits targets[i] token by token, then the stop token. Vectorised
    (one scatter per step), so forcing costs the batched side no per-row Python loop that real decoding lacks."""
    import torch

    width = max(len(t) for t in targets) + 1
    forced = torch.full((len(targets), width), eos_id, dtype=torch.long)
    for i, t in enumerate(targets):
        forced[i, : len(t)] = torch.tensor(t, dtype=torch.long)

    def hook(posts, step, logits):
        logits.fill_(-float("inf"))
        logits.scatter_(1, forced[posts, min(step, width - 1)][:, None], 0.0)
    return hook


def generate(model, processor, posts, targets, batch_size: int, max_new_tokens: int, decoder: str = "fast"):
    """generate_predictions over `posts`; (records, wall seconds). decoder "fast": the project's greedy loop
    (finished rows leave the batch), one call over every post as `mmkp predict` makes (batches of similar prompt
    length); "generate": transformers' model.generate, in calls of `batch_size` posts in their own order (its
    logits processor forces row i of a call)."""
    from transformers import LogitsProcessorList

    from mmkp_lib.inference import generate_predictions

    tokenizer = processor.tokenizer
    t0 = time.perf_counter()
    if decoder == "fast":
        records = generate_predictions(model, processor, posts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                       fast=True, logits_hook=force_hook(targets, tokenizer.eos_token_id))
        return records, time.perf_counter() - t0
    records = []
    for start in range(0, len(posts), batch_size):
        chunk, forced = posts[start:start + batch_size], targets[start:start + batch_size]
        kw = {"fast": False, "sort_by_length": False,
              "logits_processor": LogitsProcessorList([ForceTargets(forced, tokenizer.eos_token_id)])}
        records += generate_predictions(model, processor, chunk, batch_size=batch_size, max_new_tokens=max_new_tokens, **kw)
    return records, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/synth", help="embedded benchmark folder (its test split is used)")
    ap.add_argument("--model-dir", default=None, help="built model folder (default cache/bench/tiny-nowarmup-seed0)")
    ap.add_argument("--posts", type=int, default=64, help="test posts generated by each side")
    ap.add_argument("--batch-size", type=int, default=32, help="batch of the batched side")
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats (batched first, then one-by-one first)")
    ap.add_argument("--kinds", default="sft,cot", help="output lengths measured: sft, cot or both")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: the cores available; 1 is steadier on a busy machine)")
    ap.add_argument("--max-target-tokens", type=int, default=0, help="cut the forced outputs to this many tokens (0: whole)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode: TEST_TINY model, 8 posts, batch 8, 1 repeat, outputs cut to 24 tokens")
    ap.add_argument("--decoders", default="fast,generate",
                    help="greedy decoders measured: fast (the project's loop, the default in inference) and/or "
                         "generate (transformers' model.generate, the previous default)")
    ap.add_argument("--no-previous", action="store_true",
                    help="skip the comparison with the previous default model (SigLIP, 64 image tokens, v1 tokenizer)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        args.posts, args.batch_size, args.repeats, args.max_target_tokens = 8, 8, 1, 24
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or not set(kinds) <= {"sft", "cot"}:
        ap.error(f"--kinds: sft, cot or both, got {args.kinds!r}")
    if not Path(args.data).exists():
        ap.error(f"{args.data} does not exist: run `mmkp synth --out data/synth` first (or pass --data)")

    import torch

    from mmkp_lib.formats import load_posts
    from mmkp_lib.models import load_model
    from mmkp_lib.models.tiny import default_threads
    from mmkp_lib.prompts import cot_target, sft_target
    from mmkp_lib.teacher.oracle import write_rationale

    model_dir = Path(args.model_dir or ROOT / "cache" / "bench" / ("tiny-test-seed0" if args.quick else "tiny-nowarmup-seed0"))
    ensure_model(model_dir, args.quick)
    torch.set_num_threads(args.threads or default_threads())
    model, processor = load_model(str(model_dir))
    posts = load_posts(args.data, split="test")[: args.posts]
    if len(posts) < args.posts:
        ap.error(f"{args.data}: the test split has {len(posts)} posts, fewer than --posts {args.posts}")
    texts = {"sft": [sft_target(p.keyphrases) for p in posts],
             "cot": [cot_target(write_rationale(p), p.keyphrases) for p in posts]}
    print(f"bench_generation: {len(posts)} test posts of {args.data}, model {model_dir.name} "
          f"({sum(p.numel() for p in model.parameters()):,} parameters), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, batched at {args.batch_size} vs one by one, {args.repeats} repeat(s)")
    print(f"load average (1/5/15 min) at start: {load_average()} on {os.cpu_count()} cores", flush=True)

    decoders = [d.strip() for d in args.decoders.split(",") if d.strip()]
    if not decoders or not set(decoders) <= {"fast", "generate"}:
        ap.error(f"--decoders: fast, generate or both, got {args.decoders!r}")
    summary: dict = {"args": vars(args), "load_start": load_average(), "kinds": {}, "speedup_batch32": {}}
    for kind, decoder in [(k, d) for k in kinds for d in decoders]:
        targets = target_ids(processor.tokenizer, texts[kind])
        if args.max_target_tokens:
            targets = [t[: args.max_target_tokens] for t in targets]
        lengths = [len(t) + 1 for t in targets]  # + the stop token
        max_new = max(lengths) + 1
        generate(model, processor, posts[:2], targets[:2], 2, max_new, decoder)  # warm-up: first-call initialisation
        times = {"batched": [], "one-by-one": []}
        gen_s = {"batched": [], "one-by-one": []}
        outputs = {}
        for r in range(args.repeats):
            order = ["batched", "one-by-one"] if r % 2 == 0 else ["one-by-one", "batched"]
            for side in order:
                bs = args.batch_size if side == "batched" else 1
                records, seconds = generate(model, processor, posts, targets, bs, max_new, decoder)
                times[side].append(seconds / len(posts))
                gen_s[side].append(sum(rec["generation_s"] for rec in records) / len(posts))
                outputs[side] = [rec["raw"] for rec in records]
                print(f"  {kind} {decoder} repeat {r + 1} {side:<11} {1000 * times[side][-1]:8.1f} ms/post "
                      f"(generate {1000 * gen_s[side][-1]:.1f})  load {load_average()}", flush=True)
        expected = [processor.tokenizer.decode(t, skip_special_tokens=False) for t in targets]
        same = sum(a == b for a, b in zip(outputs["batched"], outputs["one-by-one"]))
        exact = sum(a == e for a, e in zip(outputs["batched"], expected))
        b, s = statistics.median(times["batched"]), statistics.median(times["one-by-one"])
        gb, gs = statistics.median(gen_s["batched"]), statistics.median(gen_s["one-by-one"])
        ratio = s / b
        print(f"\n{kind.upper()} outputs, decoder {decoder}: {statistics.mean(lengths):.1f} tokens per post on average "
              f"(min {min(lengths)}, max {max(lengths)}, stop token included)")
        print(f"  one-by-one  {1000 * s:8.1f} ms/post   (model.generate alone {1000 * gs:7.1f} ms/post)")
        print(f"  batch {args.batch_size:<4}  {1000 * b:8.1f} ms/post   (model.generate alone {1000 * gb:7.1f} ms/post)")
        print(f"  batched speed-up per post: {ratio:.2f}x end to end, {gs / gb:.2f}x inside generate "
              f"-> target >= 8x: {'met' if ratio >= 8 else 'MISSED'}")
        print(f"  outputs identical between the two sides: {same}/{len(posts)}; equal to the targets: {exact}/{len(posts)}\n")
        if decoder == "fast" and args.batch_size == 32:
            summary["speedup_batch32"][kind] = ratio
        summary["kinds"][f"{kind}-{decoder}"] = {"mean_tokens": statistics.mean(lengths), "batched_ms_per_post": 1000 * b,
                                  "one_by_one_ms_per_post": 1000 * s, "ratio": ratio, "generate_ratio": gs / gb,
                                  "identical": same, "exact": exact, "posts": len(posts),
                                  "times": times, "generate_seconds": gen_s}
    if not args.no_previous:
        summary["default_vs_previous"] = compare_previous(args, model_dir, model, processor, posts, texts, kinds)
    end_summary(summary, args.json)
    return 0


def compare_previous(args, model_dir: Path, model, processor, posts, texts: dict, kinds: list[str]) -> dict:
    """Batched generation (fast decoder) of the same posts and target texts with the default model and with the
    previous default (SigLIP tower, 64 image tokens, v1 tokenizer); per kind, posts/s default / previous."""
    from mmkp_lib.models import load_model

    previous_dir = ensure_model(model_dir.with_name(model_dir.name.replace("tiny", "tiny-previous", 1)), args.quick,
                                previous=True)
    old_model, old_processor = load_model(str(previous_dir))
    print(f"default model against the previous one ({previous_dir.name}), batch {args.batch_size}, fast decoder:")
    out = {}
    for kind in kinds:
        per_post = {}
        for name, (m, proc) in {"default": (model, processor), "previous": (old_model, old_processor)}.items():
            targets = target_ids(proc.tokenizer, texts[kind])
            if args.max_target_tokens:
                targets = [t[: args.max_target_tokens] for t in targets]
            max_new = max(len(t) for t in targets) + 2
            generate(m, proc, posts[:2], targets[:2], 2, max_new)  # warm-up
            per_post[name] = statistics.median(generate(m, proc, posts, targets, args.batch_size, max_new)[1]
                                               for _ in range(args.repeats)) / len(posts)
        out[kind] = per_post["previous"] / per_post["default"]
        print(f"  {kind}: default {1000 * per_post['default']:.1f} ms/post, previous {1000 * per_post['previous']:.1f} "
              f"ms/post -> default / previous posts/s {out[kind]:.2f}x", flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
