"""VLM training batches: the chat-template prompt (with its image) followed by the target, loss on the target only.

Each row is `prompt tokens (image tokens expanded by the processor) + completion tokens`:

    input_ids   <|user|><image>x64 post text + question<|assistant|> kp1; kp2 </s> <pad>...
    labels      -100 ...                        -100        kp1; kp2 </s> -100...

The prompt is encoded exactly as inference encodes it (the processor with
`add_generation_prompt=True`), and the completion is what the chat template
renders after it, tokenised piecewise: any text the template puts before the
target, the target itself, and the template's closing text (its end-of-turn /
stop token). The stop token is always trained (appended when a template does
not close the turn with it), so generation ends. `score_mask` marks the target
tokens alone: Dynamic CoT's L_sft averages over those (the answer, not the
template's closing tokens).

Rows are right-padded; tensors the processor returns per image (pixel_values,
image_grid_thw, ...) are concatenated along their first axis, which is how
LLaVA and Qwen2-VL both batch them.

    collator = VLMCollator(processor, max_length=512)
    batch = collator([dataset[0], dataset[1]])
    loss = model(**{k: v for k, v in batch.items() if k not in collator.meta_keys}).loss
"""
from __future__ import annotations

import warnings
from typing import Any

import torch

from mmkp_lib.prompts import student_messages
from mmkp_lib.records import Post, load_image

IGNORE_INDEX = -100


class TruncationError(ValueError):
    """The prompt alone does not fit max_length: cutting it would cut image tokens."""


class VLMCollator:
    """Turns dataset items ({"index", "post", "target", "cot"}) into model batches with completion-only labels.

    `dyncot=True` builds, for every row, both the SFT and the CoT version of the
    batch (`{"sft": batch, "cot": batch, "sample_index", "has_cot"}`); the
    trainer picks one version per row once it knows the sample's SFT loss.
    """

    meta_keys = ("sample_index", "score_mask", "is_cot")

    def __init__(self, processor, max_length: int = 512, dyncot: bool = False):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.dyncot = dyncot
        tok = self.tokenizer
        self.eos_id = tok.eos_token_id
        if self.eos_id is None:
            raise ValueError("the tokenizer has no eos_token_id: the stop token cannot be trained; set tokenizer.eos_token")
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_id
        image_token = getattr(processor, "image_token", None)
        self.image_token_id = getattr(processor, "image_token_id", None)
        if self.image_token_id is None and image_token is not None:
            self.image_token_id = tok.convert_tokens_to_ids(image_token)
        self.truncated = 0  # completions cut by max_length so far (their stop token is lost)

    # ---- one row -------------------------------------------------------------------------------------

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def prompt_text(self, post: Post) -> str:
        return self.processor.apply_chat_template(student_messages(post.text, post.image is not None),
                                                  add_generation_prompt=True, tokenize=False)

    def encode_prompt(self, post: Post) -> dict[str, torch.Tensor]:
        """The processor's encoding of the student prompt (batch of one), image tokens expanded."""
        text = self.prompt_text(post)
        if post.image is not None:
            # Image size limits belong to the processor (models.set_max_pixels), as at inference.
            return dict(self.processor(text=[text], images=[load_image(post.image)], return_tensors="pt"))
        return dict(self.processor(text=[text], return_tensors="pt"))

    def completion(self, post: Post, target: str) -> tuple[list[int], list[int]]:
        """(completion token ids, score mask) for `target` as the template renders the assistant turn."""
        messages = student_messages(post.text, post.image is not None)
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = self.processor.apply_chat_template(
            messages + [{"role": "assistant", "content": [{"type": "text", "text": target}]}], tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("the chat template renders the user turn differently with and without an assistant turn, "
                             "so the prompt tokens cannot be told from the completion tokens; "
                             f"prompt ends {prompt[-60:]!r}, full conversation has {full[:len(prompt)][-60:]!r}")
        tail = full[len(prompt):]
        at = tail.find(target)
        if at < 0:
            raise ValueError(f"the chat template changed the target text (escaping?): {target[:60]!r} not found in {tail[:120]!r}")
        before, after = self._ids(tail[:at]), self._ids(tail[at + len(target):])
        answer = self._ids(target)
        if self.eos_id in after:  # nothing after the stop token is ever generated, so nothing there is trained
            after = after[: after.index(self.eos_id) + 1]
        else:  # the template does not end the turn with the stop token: train it anyway
            after = after + [self.eos_id]
        ids = before + answer + after
        score = [0] * len(before) + [1] * len(answer) + [0] * len(after)
        return ids, score

    def build_row(self, post: Post, prompt: dict[str, torch.Tensor], target: str) -> dict[str, Any]:
        """Prompt + completion for one post: per-token 1-D tensors and the per-image tensors (unchanged)."""
        n_prompt = prompt["input_ids"].shape[1]
        ids, score = self.completion(post, target)
        room = self.max_length - n_prompt
        if room < 1:
            n_image = int((prompt["input_ids"] == self.image_token_id).sum()) if self.image_token_id is not None else 0
            raise TruncationError(
                f"post {post.id!r}: the prompt is {n_prompt} tokens ({n_image} of them image tokens) and max_length is "
                f"{self.max_length}, so truncation would cut into the prompt and its image tokens; the model would then "
                f"fail with a mismatch between image features and image tokens, or learn from a prompt it never sees at "
                f"inference. Raise max_length to at least {n_prompt + len(ids)} (prompt + completion), or lower "
                f"max_pixels to give the image fewer tokens.")
        if len(ids) > room:
            if self.truncated == 0:
                warnings.warn(f"post {post.id!r}: prompt {n_prompt} + completion {len(ids)} tokens exceed max_length="
                              f"{self.max_length}; the completion is cut (its stop token is not trained). "
                              "Raise max_length to avoid this; collator.truncated counts such rows.", stacklevel=2)
            self.truncated += 1
            ids, score = ids[:room], score[:room]
        length = n_prompt + len(ids)
        row: dict[str, Any] = {"per_token": {}, "per_image": {}}
        for key, value in prompt.items():
            if torch.is_tensor(value) and value.dim() == 2 and value.shape == prompt["input_ids"].shape:
                if key == "input_ids":
                    row["per_token"][key] = torch.cat([value[0], torch.tensor(ids, dtype=value.dtype)])
                elif key == "attention_mask":
                    row["per_token"][key] = torch.ones(length, dtype=value.dtype)
                else:  # mm_token_type_ids, token_type_ids: completion tokens are text (0)
                    row["per_token"][key] = torch.cat([value[0], torch.zeros(len(ids), dtype=value.dtype)])
            elif torch.is_tensor(value):
                row["per_image"][key] = value
        row["per_token"]["labels"] = torch.tensor([IGNORE_INDEX] * n_prompt + ids, dtype=torch.long)
        row["per_token"]["score_mask"] = torch.tensor([0] * n_prompt + score, dtype=torch.long)
        return row

    # ---- batches -------------------------------------------------------------------------------------

    def pad_value(self, key: str) -> int:
        return {"input_ids": self.pad_id, "labels": IGNORE_INDEX}.get(key, 0)

    def stack(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Right-pad per-token tensors to the longest row; concatenate per-image tensors."""
        width = max(r["per_token"]["input_ids"].shape[0] for r in rows)
        batch: dict[str, torch.Tensor] = {}
        for key in rows[0]["per_token"]:
            out = torch.full((len(rows), width), self.pad_value(key), dtype=rows[0]["per_token"][key].dtype)
            for i, r in enumerate(rows):
                v = r["per_token"][key]
                out[i, : v.shape[0]] = v
            batch[key] = out
        image_keys = {k for r in rows for k in r["per_image"]}
        for key in sorted(image_keys):
            parts = [r["per_image"][key] for r in rows if key in r["per_image"]]
            batch[key] = torch.cat(parts, dim=0)
        return batch

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        index = torch.tensor([f["index"] for f in features], dtype=torch.long)
        prompts = [self.encode_prompt(f["post"]) for f in features]
        if not self.dyncot:
            batch = self.stack([self.build_row(f["post"], p, f["target"]) for f, p in zip(features, prompts)])
            batch["sample_index"] = index
            batch["is_cot"] = torch.tensor([f["kind"] == "cot" for f in features])
            return batch
        sft = self.stack([self.build_row(f["post"], p, f["target"]) for f, p in zip(features, prompts)])
        # A post without a rationale has no CoT version: its SFT row stands in and has_cot keeps it from being picked.
        cot = self.stack([self.build_row(f["post"], p, f["cot"] or f["target"]) for f, p in zip(features, prompts)])
        has_cot = torch.tensor([f["cot"] is not None for f in features])
        return {"sft": sft, "cot": cot, "sample_index": index, "has_cot": has_cot}

    def mix(self, sft: dict[str, torch.Tensor], cot: dict[str, torch.Tensor], use_cot: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch taking row i from `cot` where use_cot[i] else from `sft` (both from __call__ with dyncot=True)."""
        use_cot = use_cot.to(torch.bool).cpu()
        lengths = torch.where(use_cot, cot["attention_mask"].sum(1).cpu(), sft["attention_mask"].sum(1).cpu())
        width = int(lengths.max())
        shape = sft["input_ids"].shape
        out: dict[str, torch.Tensor] = {}
        for key, value in sft.items():
            if torch.is_tensor(value) and value.dim() == 2 and value.shape == shape:
                other = cot[key]
                mixed = torch.full((shape[0], width), self.pad_value(key), dtype=value.dtype, device=value.device)
                for i in range(shape[0]):
                    src = other if use_cot[i] else value
                    n = int(lengths[i])
                    mixed[i, :n] = src[i, :n]
                out[key] = mixed
            else:  # per-image tensors: the same prompt and image in both versions
                out[key] = value
        out["is_cot"] = use_cot.to(sft["input_ids"].device)
        return out
