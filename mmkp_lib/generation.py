"""Greedy decoding written against the model's forward and KV cache: finished rows leave the batch.

`model.generate` keeps every row of a batch until the longest one stops, and pays its per-step machinery
(logits processors, stopping criteria, cache bookkeeping) on every token; for a 2M-parameter student that
overhead is a large share of a step. This loop does the same greedy search with neither: after each step the
rows that emitted a stop token are dropped from the batch and from the cache (`DynamicCache.batch_select_indices`),
so a batch of short SFT answers and long CoT answers costs what its rows need; and the KV cache writes into
buffers reserved for the whole output (`reserved_cache`) instead of growing by `torch.cat`, which copied the
whole cache at every step (bench_generation.py, batch 32, CoT lengths: 50.7 -> 41.2 ms per post).

    from mmkp_lib.generation import greedy_decode, supports_fast_greedy
    if supports_fast_greedy(model):
        rows = greedy_decode(model, enc, max_new_tokens=400, stop_ids={eos})   # one token list per row

It gives `model.generate(do_sample=False)`'s tokens, token for token (tests/test_generation.py), for
decoder-only VLMs whose text positions are plain 1-D positions (LLaVA, FastVLM: the tiny and smol students). Models
with other position schemes (Qwen2-VL's multimodal RoPE) keep `generate`.
"""
from __future__ import annotations

import functools
from typing import Callable

# model_type values whose forward takes (input_ids | pixel_values, attention_mask, position_ids, past_key_values)
# with 1-D positions, so rows may be dropped between steps
FAST_GREEDY_MODEL_TYPES = ("llava", "fast_vlm")


def supports_fast_greedy(model) -> bool:
    """Whether greedy_decode may replace generate for this model (see FAST_GREEDY_MODEL_TYPES)."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) in FAST_GREEDY_MODEL_TYPES and not hasattr(model, "peft_config")


def reserved_cache(model, capacity: int):
    """A transformers Cache whose layers write each step's keys and values into buffers reserved for `capacity`
    positions (ReservedLayer) instead of concatenating a new tensor per step, which copied the whole cache every
    step (at batch 32, most of a CoT-length decode step's time)."""
    from transformers.cache_utils import Cache

    n_layers = model.config.get_text_config(decoder=True).num_hidden_layers
    layer = _reserved_layer_class()
    return Cache(layers=[layer(capacity) for _ in range(n_layers)])


@functools.cache  # the class subclasses a transformers class: built on first use, once
def _reserved_layer_class():
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):
        """DynamicLayer over preallocated buffers: `keys`/`values` are views of the first `length` positions."""

        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def update(self, key_states, value_states, *args, **kwargs):
            import torch

            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                b, h, n, d = key_states.shape
                self._k = key_states.new_empty((b, h, max(self.capacity, n), d))
                self._v = value_states.new_empty((b, h, max(self.capacity, n), value_states.shape[-1]))
            n = key_states.shape[-2]
            if self.length + n > self._k.shape[-2]:  # past the reservation: grow by doubling
                self._k = torch.cat([self._k, torch.empty_like(self._k)], dim=-2)
                self._v = torch.cat([self._v, torch.empty_like(self._v)], dim=-2)
            self._k[:, :, self.length:self.length + n] = key_states
            self._v[:, :, self.length:self.length + n] = value_states
            self.length += n
            self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length if self.is_initialized else 0

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized:
                # copy the kept rows' written positions only: indexing the whole buffer copied its reserved,
                # still empty tail too, at every row that finished (up to 31 times per batch of 32)
                self._k, self._v = (self._kept(buf, indices) for buf in (self._k, self._v))
                self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

        def _kept(self, buf, indices):
            out = buf.new_empty((len(indices), *buf.shape[1:]))
            out[:, :, :self.length] = buf[indices, :, :self.length]
            return out

    return ReservedLayer


def greedy_decode(model, enc: dict, *, max_new_tokens: int, stop_ids: set[int],
                  logits_hook: Callable | None = None) -> list[list[int]]:
    """The greedy continuation of every row of a left-padded batch `enc` (the processor's output), each up to and
    including its first stop token, or `max_new_tokens` long. `logits_hook(rows, step, logits)` may edit the
    next-token logits in place (rows: the original row index of each logits row; the benchmark uses it to force
    outputs of known lengths)."""
    import torch

    input_ids, attention = enc["input_ids"], enc["attention_mask"]
    n = input_ids.shape[0]
    # generate's positions for a left-padded batch: count real tokens, pads at 1 (masked out anyway)
    positions = (attention.long().cumsum(-1) - 1).masked_fill(attention == 0, 1)
    stop = torch.tensor(sorted(stop_ids), device=input_ids.device)
    out: list[list[int]] = [[] for _ in range(n)]
    rows = torch.arange(n, device=input_ids.device)
    with torch.inference_mode():
        cache = reserved_cache(model, input_ids.shape[1] + max_new_tokens)
        result = model(**enc, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1)
        last = positions[:, -1]
        for step in range(max_new_tokens):
            logits = result.logits[:, -1, :]
            if logits_hook is not None:
                logits_hook(rows, step, logits)
            token = logits.argmax(-1)
            for r, t in zip(rows.tolist(), token.tolist()):
                out[r].append(t)
            going = ~torch.isin(token, stop)
            if step == max_new_tokens - 1 or not bool(going.any()):
                break
            if not bool(going.all()):  # finished rows leave the batch and the cache
                keep = going.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, token, last, attention = rows[keep], token[keep], last[keep], attention[keep]
            attention = torch.cat([attention, attention.new_ones((len(rows), 1))], dim=1)
            last = last + 1
            result = model(input_ids=token[:, None], attention_mask=attention, position_ids=last[:, None],
                           cache=cache, use_cache=True)
    return out
