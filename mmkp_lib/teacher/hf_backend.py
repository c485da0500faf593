"""Teacher backend for a local transformers VLM: batched generation with left padding.

Any model `AutoModelForImageTextToText` + `AutoProcessor` load (a hub id on a
machine with network, or a folder), e.g. Qwen2.5-VL-7B on a GPU, or the
project's small offline model:

    mmkp teacher --data data/synth --backend hf --model Qwen/Qwen2.5-VL-7B-Instruct --batch-size 16 --device cuda
    mmkp teacher --data data/synth --backend hf --model runs/tiny-vlm/checkpoint-final

Token counts are exact (the processor's input ids, the generated ids up to EOS); cost is 0.
"""
from __future__ import annotations

import time

from mmkp_lib.prompts import SPECIAL_TAGS
from mmkp_lib.records import Post, load_image
from mmkp_lib.teacher.base import TeacherBackend, TeacherResponse, utc_now
from mmkp_lib.teacher.prompt import teacher_messages


class HFBackend(TeacherBackend):
    name = "hf"
    max_workers = 1  # one model in memory; parallelism comes from batching

    def __init__(self, model: str | None = None, *, batch_size: int = 8, max_new_tokens: int = 512,
                 temperature: float = 0.0, device: str | None = None, dtype: str | None = None,
                 model_obj=None, processor=None):
        """Load `model` (hub id or folder), or take an already built `model_obj` + `processor` (tests, notebooks)."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if model_obj is None:
            if not model:
                raise ValueError("the hf backend needs --model: a hub id or a local folder holding a VLM")
            kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
            model_obj = AutoModelForImageTextToText.from_pretrained(model, **kwargs)
            processor = processor or AutoProcessor.from_pretrained(model)
        if processor is None:
            raise ValueError("pass the processor together with model_obj")
        self.model = model or getattr(model_obj.config, "_name_or_path", "") or type(model_obj).__name__
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.vlm = model_obj.to(self.device).eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.tokenizer.padding_side = "left"  # decoder-only generation: pad on the left so outputs line up
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        eos = self.vlm.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        # Special tokens to strip from the decoded text, except the tags the validator must see.
        self._strip = [t for t in self.tokenizer.all_special_tokens if t not in SPECIAL_TAGS]

    def request_params(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "device": self.device}

    def _chat_text(self, post: Post, max_words: int) -> str:
        messages = teacher_messages(post, max_words)
        try:
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception:  # some templates (Gemma-style) reject a system turn: fold it into the user turn
            system = messages[0]["content"][0]["text"]
            user = messages[1]
            content = [dict(p) for p in user["content"]]
            content[-1]["text"] = system + "\n\n" + content[-1]["text"]
            return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)

    def generate(self, posts: list[Post], max_words: int) -> list[TeacherResponse]:
        # A batch mixes posts with and without images badly in most processors: run the two kinds apart.
        out: dict[int, TeacherResponse] = {}
        for with_image in (True, False):
            idx = [i for i, p in enumerate(posts) if bool(p.image) == with_image]
            if idx:
                for i, r in zip(idx, self._generate([posts[i] for i in idx], max_words)):
                    out[i] = r
        return [out[i] for i in range(len(posts))]

    def _generate(self, posts: list[Post], max_words: int) -> list[TeacherResponse]:
        import torch

        started, t0 = utc_now(), time.perf_counter()
        texts = [self._chat_text(p, max_words) for p in posts]
        kwargs = {}
        if posts[0].image:
            kwargs["images"] = [load_image(p.image) for p in posts]
        inputs = self.processor(text=texts, padding=True, return_tensors="pt", **kwargs).to(self.device)
        gen = {"max_new_tokens": self.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if self.temperature > 0:
            gen.update(do_sample=True, temperature=self.temperature)
        else:
            gen.update(do_sample=False)
        with torch.no_grad():
            seqs = self.vlm.generate(**inputs, **gen)
        prompt_len = inputs["input_ids"].shape[1]
        in_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        elapsed = time.perf_counter() - t0
        out = []
        for row, n_in in zip(seqs[:, prompt_len:].tolist(), in_tokens):
            ids, finish = [], "length"
            for t in row:
                if t in self.eos_ids:
                    finish = "stop"
                    break
                ids.append(t)
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            for tok in self._strip:  # keep <think>/<answer> even when the tokenizer marks them special
                text = text.replace(tok, "")
            out.append(TeacherResponse(text=text, input_tokens=int(n_in), output_tokens=len(ids), cost_usd=0.0,
                                       finish_reason=finish, started_at=started, finished_at=utc_now(),
                                       elapsed_s=round(elapsed / len(posts), 4)))
        return out
