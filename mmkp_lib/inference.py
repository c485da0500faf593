"""Batched generation for keyphrase prediction, the per-post record of what the model wrote, and metrics.json.

Generation is batched with left padding (every row's answer starts at the same
column, so the KV cache is reused), greedy by default, and stops at the
model's eos (for the offline models `<|im_end|>`). Each output is parsed with
`mmkp_lib.prompts.parse_output`: `<think>..</think><answer>..</answer>` when the
model reasoned, otherwise the whole text is the answer.

    from mmkp_lib.inference import generate_predictions
    records = generate_predictions(model, processor, posts, batch_size=32, max_new_tokens=128)
    records[0]  # {"id", "raw", "keyphrases", "reasoned", "think_tokens", "answer_tokens", "stopped", ...}

    mmkp predict --run runs/sft --data data/synth --split test          # trained run
    mmkp predict --model tiny --data data/synth --split test --out runs/zero-shot-tiny
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from mmkp_lib import runs
from mmkp_lib.prompts import THINK_CLOSE, few_shot_messages, parse_output
from mmkp_lib.records import Post, check_limit, first_posts, load_image


def _stop_ids(model, tokenizer) -> set[int]:
    ids = set()
    gc = getattr(model, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None)
    for e in eos if isinstance(eos, (list, tuple)) else [eos]:
        if e is not None:
            ids.add(int(e))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def think_token_count(tokenizer, ids: Sequence[int]) -> int:
    """Tokens up to and including the one that completes `</think>` (all of them if it never closes).

    Found by bisection on decoded prefixes, so it works whether `</think>` is
    one token (the offline models) or several (a tokenizer that never saw it).
    """
    def closed(k: int) -> bool:
        return THINK_CLOSE in tokenizer.decode(list(ids[:k]), skip_special_tokens=False)

    if not closed(len(ids)):
        return len(ids)
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if closed(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _batches(posts: Sequence[Post], batch_size: int, lengths: Sequence[int] | None = None) -> Iterable[list[int]]:
    """Indices in batches; posts with and without an image never share a batch (processors want one or the other).
    With `lengths` (each post's prompt length), each group is ordered by it first (a stable sort), so a batch
    pads its prompts to a length its rows are close to: left padding is computed like real tokens by every layer,
    and on the default test set in the posts' own order it was about a fifth (23%) of the text prompt positions (0.9% sorted)."""
    for with_image in (True, False):
        idx = [i for i, p in enumerate(posts) if (p.image is not None) == with_image]
        if lengths is not None:
            idx.sort(key=lambda i: lengths[i])
        for start in range(0, len(idx), batch_size):
            yield idx[start:start + batch_size]


def generate_predictions(model, processor, posts: Sequence[Post], *, batch_size: int = 16, max_new_tokens: int = 128,
                         do_sample: bool = False, progress: bool = False, fast: bool | None = None,
                         logits_hook=None, examples: Sequence[tuple[str, list[str]]] = (),
                         sort_by_length: bool = True, **generate_kwargs) -> list[dict[str, Any]]:
    """One record per post (in the posts' order): raw output, parsed keyphrases, reasoning and token counts, time.

    `examples`: (text, keyphrases) pairs put before every prompt as in-context turns (the zero-shot row's
    few-shot prompt, prompts.few_shot_messages); none for trained runs.

    Batches are made of posts of similar prompt length (`sort_by_length`, see _batches); the records still come
    back in the posts' order. False keeps the posts' order in the batches too (a `generate_kwargs` logits
    processor that expects row i of a batch to be post i of a chunk needs it).

    Greedy decoding runs `mmkp_lib.generation.greedy_decode` (finished rows leave the batch; the same tokens as
    `generate`) where the model supports it; `fast=False`, sampling or extra `generate_kwargs` use
    `model.generate`. `logits_hook(posts_index, step, logits)` is greedy_decode's hook, told the index in `posts`
    of each logits row (benchmarks force output lengths with it)."""
    import torch

    from mmkp_lib.generation import greedy_decode, supports_fast_greedy

    if fast is None:
        fast = not do_sample and not generate_kwargs and supports_fast_greedy(model)
    if fast and (do_sample or generate_kwargs):
        raise ValueError("fast greedy decoding takes no sampling or generate() arguments; pass fast=False")
    if fast and not supports_fast_greedy(model):
        raise ValueError(f"fast greedy decoding needs plain 1-D text positions ({type(model).__name__} has other "
                         "position ids, e.g. Qwen2-VL's multimodal RoPE); pass fast=False or leave fast=None")
    if logits_hook is not None and not fast:
        raise ValueError("logits_hook belongs to the fast greedy loop; with generate() pass a logits_processor")

    tokenizer = getattr(processor, "tokenizer", processor)
    stop = _stop_ids(model, tokenizer)
    if not stop:
        raise ValueError("neither the model's generation_config nor the tokenizer names an eos token: "
                         "generation would never stop before max_new_tokens")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop)
    records: list[dict[str, Any] | None] = [None] * len(posts)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generated tokens must follow each prompt directly
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    prompts = [processor.apply_chat_template(few_shot_messages(p.text, p.image is not None, examples),
                                             add_generation_prompt=True, tokenize=False) for p in posts]
    # the text's tokens order the batches; every image adds the same number of tokens, so it cannot reorder them
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]] if sort_by_length \
        else None
    batches = list(_batches(posts, batch_size, lengths))
    try:
        for b, idx in enumerate(batches):
            batch = [posts[i] for i in idx]
            kwargs: dict[str, Any] = {"text": [prompts[i] for i in idx], "return_tensors": "pt", "padding": True}
            if batch[0].image is not None:
                kwargs["images"] = [load_image(p.image) for p in batch]
            enc = processor(**kwargs).to(device)
            t0 = time.perf_counter()
            if fast:
                hook = None if logits_hook is None else _hook_by_post(logits_hook, idx)
                new = greedy_decode(model, enc, max_new_tokens=max_new_tokens, stop_ids=stop, logits_hook=hook)
            else:
                with torch.inference_mode():
                    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample, use_cache=True,
                                         eos_token_id=sorted(stop), pad_token_id=pad_id, **generate_kwargs)
                new = out[:, enc["input_ids"].shape[1]:].tolist()
            seconds = time.perf_counter() - t0
            for i, ids in zip(idx, new):
                cut = next((k for k, t in enumerate(ids) if t in stop), None)
                ids = ids[:cut] if cut is not None else ids
                raw = tokenizer.decode(ids, skip_special_tokens=False)
                parsed = parse_output(raw)
                think = think_token_count(tokenizer, ids) if parsed.reasoned else 0
                records[i] = {"id": posts[i].id, "raw": raw, "keyphrases": parsed.keyphrases,
                              "reasoned": parsed.reasoned, "think_tokens": think, "answer_tokens": len(ids) - think,
                              "generated_tokens": len(ids), "stopped": cut is not None, "parse_error": parsed.error,
                              "generation_s": round(seconds / len(idx), 6)}
            if progress:
                print(f"generated {sum(r is not None for r in records)}/{len(posts)} posts", flush=True)
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return records  # type: ignore[return-value]


def _hook_by_post(logits_hook, idx: Sequence[int]):
    """greedy_decode's hook (told batch rows) calling `logits_hook` with the posts' indices of those rows."""
    import torch

    post_of_row = torch.tensor(list(idx))
    return lambda rows, step, logits: logits_hook(post_of_row[rows], step, logits)


def generation_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Reasoning and cost figures over a prediction set (notebooks compare these across strategies)."""
    n = len(records)
    if n == 0:
        return {"posts": 0}
    reasoned = [r for r in records if r["reasoned"]]
    return {
        "posts": n,
        "reasoned_share": len(reasoned) / n,
        "mean_think_tokens": sum(r["think_tokens"] for r in records) / n,
        "mean_think_tokens_when_reasoned": (sum(r["think_tokens"] for r in reasoned) / len(reasoned)) if reasoned else None,
        "mean_answer_tokens": sum(r["answer_tokens"] for r in records) / n,
        "mean_generated_tokens": sum(r["generated_tokens"] for r in records) / n,
        "total_think_tokens": sum(r["think_tokens"] for r in records),
        "stopped_share": sum(r["stopped"] for r in records) / n,
        "malformed_share": sum(r["parse_error"] is not None for r in records) / n,  # tags present but not well-formed
        "parsed_share": sum(bool(r["keyphrases"]) for r in records) / n,  # outputs the parser read a keyphrase from
        "generation_seconds": sum(r["generation_s"] for r in records),
    }


def score(posts: Sequence[Post], records: Sequence[dict[str, Any]], train_posts: Sequence[Post] | None = None) -> dict:
    """The evaluator's numbers (all/present/absent, and seen/unseen given training posts) plus the generation summary."""
    from mmkp_lib.metrics import aggregate, group_sizes, score_posts

    scores = score_posts(posts, {r["id"]: r["keyphrases"] for r in records}, train_keyphrases=train_posts)
    result = aggregate(scores)
    result["group_sizes"] = group_sizes(scores)
    result["generation"] = generation_summary(records)
    return result


def predict_into_run(run: str | Path, model, processor, posts: Sequence[Post], *, split: str,
                     train_posts: Sequence[Post] | None = None, batch_size: int = 16, max_new_tokens: int = 128,
                     progress: bool = False, settings: dict[str, Any] | None = None,
                     examples: Sequence[tuple[str, list[str]]] = ()) -> dict:
    """Generate for `posts`, write the run's predictions and metrics files for `split`; returns the metrics.

    metrics.json records what the predictions were made with under "predicted_with" (split, posts, limit,
    generation budget, data, model, checkpoint, and `settings`): what decides whether they can be reused.
    """
    if not posts:
        raise ValueError(f"no posts to predict in the {split!r} split; the run's files are left as they were")
    records = generate_predictions(model, processor, posts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   progress=progress, examples=examples)
    return write_predictions(run, posts, records, split=split, train_posts=train_posts,
                             fields={"batch_size": batch_size, "max_new_tokens": max_new_tokens},
                             predicted_with={"max_new_tokens": max_new_tokens, "batch_size": batch_size,
                                             **(settings or {})})


def write_predictions(run: str | Path, posts: Sequence[Post], records: Sequence[dict[str, Any]], *, split: str,
                      train_posts: Sequence[Post] | None, fields: dict[str, Any] | None = None,
                      predicted_with: dict[str, Any] | None = None) -> dict:
    """A run's prediction file for `split` (written whole, then renamed: a kill leaves the old file or none) and
    its metrics file: score(), the split, `fields`, and "predicted_with" (split, posts, `predicted_with`)."""
    pred_name, metrics_name = runs.prediction_files(split)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    tmp = run / (pred_name + ".tmp")
    tmp.unlink(missing_ok=True)
    runs.append_jsonl(tmp, records)
    tmp.replace(run / pred_name)
    metrics = score(posts, records, train_posts)
    metrics.update({"split": split, **(fields or {}),
                    "predicted_with": {"split": split, "posts": len(posts), **(predicted_with or {})}})
    runs.write_json(run / metrics_name, metrics)
    return metrics


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return None, None


def load_trained(run: str | Path, checkpoint: str | Path | None = None):
    """(model, processor) of a finished run (its model/ folder) or of one of its checkpoints.

    A LoRA run stores an adapter: it is loaded onto the base model named in
    config.json and merged, so generation runs at full-model speed.
    """
    from mmkp_lib.models import load_model

    run = Path(run)
    params = runs.read_config(run)["params"]
    folder = Path(checkpoint) if checkpoint else run / runs.MODEL_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder (has `mmkp train --out {run}` finished? "
                                f"pass --checkpoint {run}/checkpoint-N for an unfinished run)")
    device, dtype = _device_and_dtype()
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        base, processor = load_model(params["model"], seed=params.get("model_seed", 0),
                                     cache_dir=params.get("model_cache", "cache/models"),
                                     max_pixels=params.get("max_pixels"), dtype=dtype)
        model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        if device:
            model.to(device)
    else:
        model, processor = load_model(str(folder), dtype=dtype, device=device, max_pixels=params.get("max_pixels"))
    model.eval()
    return model, processor


def _train_posts(data: str, train_split: str | None) -> list[Post] | None:
    """Training posts for the seen/unseen breakdown (None when no training split is given or found)."""
    if not train_split:
        return None
    from mmkp_lib.formats import load_posts

    try:
        return load_posts(data, split=train_split)
    except (FileNotFoundError, ValueError):
        return None


def _posts_to_predict(data: str, split: str, limit: int | None) -> list[Post]:
    from mmkp_lib.formats import load_posts

    limit = check_limit(limit)  # before anything loads: a negative limit would mean "all but the last N"
    posts = first_posts(load_posts(data, split=split), limit)
    if not posts:
        raise ValueError(f"{data}: the {split!r} split has no posts to predict")
    return posts


def predict_run(run: str | Path, *, data: str | None = None, split: str = "test", checkpoint: str | None = None,
                train_split: str | None = "train", limit: int | None = None, batch_size: int = 16,
                max_new_tokens: int = 128, progress: bool = False) -> dict:
    """Predict with a trained run on a split of its data (or of `data`); writes into the run folder.

    limit: the first N posts (0 or None: all). metrics.json's "predicted_with" names the data, the checkpoint
    (None: the final model) and the training step of the weights used.
    """
    config = runs.read_config(run)
    params = config.get("params") or {}
    if config.get("kind") != "train":
        raise ValueError(f"{run}: a {config.get('kind')!r} run has no trained model to predict with; "
                         f"predict with its model through `mmkp predict --model`")
    data = data or params["data"]
    posts = _posts_to_predict(data, split, limit)
    model, processor = load_trained(run, checkpoint)
    step = _trained_step(run, checkpoint, config)
    settings = {"data": os.path.realpath(data), "limit": check_limit(limit), "model": params.get("model"),
                "checkpoint": str(checkpoint) if checkpoint else None, "model_step": step}
    return predict_into_run(run, model, processor, posts, split=split, train_posts=_train_posts(data, train_split),
                            batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress,
                            settings=settings)


def _trained_step(run: str | Path, checkpoint: str | None, config: dict) -> int | None:
    """The optimizer step of the weights predicted with: the checkpoint's, or the finished run's."""
    if checkpoint:
        state = Path(checkpoint) / runs.CHECKPOINT_STATE
        return runs.read_json(state).get("global_step") if state.is_file() else None
    return (config.get("result") or {}).get("global_step")


ZERO_SHOT_SHOTS = 3  # in-context examples of the zero-shot prompt: enough to show the "kp1; kp2" answer format


def few_shot_examples(data: str, shots: int, split: str = "train",
                      loaded: Sequence[Post] | None = None) -> list[tuple[str, list[str]]]:
    """(text, keyphrases) of the first `shots` posts of `data`'s `split` (file order: the same examples for every
    model and run), the zero-shot prompt's in-context examples; a ValueError when the split has fewer.
    loaded: that split's posts when the caller has read them already (they are not read again)."""
    if shots < 0:
        raise ValueError(f"shots must be >= 0 (in-context examples of the zero-shot prompt), got {shots}")
    if shots == 0:
        return []
    from mmkp_lib.formats import load_posts

    posts = list(loaded if loaded is not None else load_posts(data, split=split))[:shots]
    if len(posts) < shots:
        raise ValueError(f"{data}: shots={shots} in-context examples, but the {split!r} split has {len(posts)} "
                         "posts; pass fewer shots (0: the instruction alone)")
    return [(p.text, list(p.keyphrases)) for p in posts]


def predict_zero_shot(model_name: str, *, data: str, out: str | Path, split: str = "test",
                      train_split: str | None = "train", limit: int | None = None, batch_size: int = 16,
                      max_new_tokens: int = 128, model_seed: int = 0, model_cache: str = "cache/models",
                      max_pixels: int | None = None, shots: int = ZERO_SHOT_SHOTS, progress: bool = False) -> dict:
    """The zero-shot row: the prompt alone, no training. Writes a run folder (config.json kind "zero-shot").

    The prompt is the instruction after `shots` in-context examples, the first training posts with their
    keyphrases (few_shot_examples; 0 = the instruction alone), so an untuned model sees the answer format; the
    lenient parser (prompts.split_keyphrases) reads commas, newlines and #tags too, and the metrics'
    generation.parsed_share says how many outputs it read a keyphrase from.
    `out` must be new, empty or a zero-shot run already: a trained run's or a user's folder is refused.
    """
    from mmkp_lib.models import load_model

    train = _train_posts(data, train_split)  # read once: the seen/unseen breakdown and the examples
    examples = few_shot_examples(data, shots, train_split or "train", loaded=train)
    out = runs.check_writable_run(out, "zero-shot", "zero-shot predictions")
    posts = _posts_to_predict(data, split, limit)
    device, dtype = _device_and_dtype()
    model, processor = load_model(model_name, seed=model_seed, cache_dir=model_cache, max_pixels=max_pixels,
                                  dtype=dtype, device=device)
    params = {"strategy": "zero-shot", "model": model_name, "model_seed": model_seed, "model_cache": model_cache,
              "max_pixels": max_pixels, "data": data, "split": split, "limit": limit, "batch_size": batch_size,
              "max_new_tokens": max_new_tokens, "shots": shots}
    from mmkp_lib.models.hub import build_settings

    runs.write_config(out, params, kind="zero-shot", seed=model_seed,
                      extra={"model_build": build_settings(model_name, seed=model_seed, cache_dir=model_cache)})
    settings = {"data": os.path.realpath(data), "limit": check_limit(limit), "model": model_name,
                "model_seed": model_seed, "checkpoint": None, "model_step": None, "shots": shots}
    return predict_into_run(out, model, processor, posts, split=split, train_posts=train,
                            batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress,
                            settings=settings, examples=examples)
