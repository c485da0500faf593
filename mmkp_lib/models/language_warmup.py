"""Language warm-up of the tiny Llama: the stand-in for the pretraining every real VLM's language model has.

The paper's student (Qwen2.5-VL-7B) knows the language its posts and the
teacher's rationales are written in before fine-tuning starts; the offline
`tiny` student does not, and spends its first several hundred steps learning
to read and copy. So, after the vision warm-up and before any fine-tuning,
the build trains the language model on plain text (no image, no chat
template, loss on every token): posts of a *separately generated* embedded
benchmark (`SynthConfig(seed=7)`, never the evaluated benchmark's splits)
and, by default, the oracle teacher's rationale for each, one document per
post.

Which posts may be in that corpus is a real choice for the "unseen"
breakdown, so it is a knob (`topics`):
  - "seen" (default): only corpus posts whose keyphrases all occur in the
    training split of the default embedded benchmark (`SynthConfig()`), so
    a keyphrase that is unseen in that training split is unseen by the whole
    model, warm-up included, and the held-out colour-shape pairs never appear;
  - "all": every corpus post, so the warm-up may have read topics (and
    colour-shape pairs) that are unseen in the evaluated training split.

Measured before it became part of the build (throwaway probe, v1 tokenizer,
SFT at batch 32, lr 2e-3 cosine over 400 steps, no vision warm-up, 64
validation posts): 300 steps on 8,000 posts' text + rationale ("all") took
SFT present F1@M from 6% / 13% / 26% at steps 100 / 200 / 400 to 91% / 97% /
97%, unseen 65% from step 200.

    .venv/bin/python -c "from mmkp_lib.models import build_tiny; build_tiny('cache/models/x', lm_warmup_steps=300)"
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

CORPORA = ("text+rationale", "text")
TOPIC_RULES = ("seen", "all")


@dataclass(frozen=True)
class LanguageWarmupConfig:
    steps: int = 300  # optimiser steps
    batch_size: int = 32  # documents per step
    lr: float = 2e-3  # AdamW peak learning rate (linear ramp, cosine decay)
    ramp_steps: int = 30
    weight_decay: float = 0.0
    n_posts: int = 8000  # corpus documents (after the topic rule), drawn in order from the corpus benchmark
    corpus: str = "text+rationale"  # text+rationale: post text, newline, oracle rationale; text: post text only
    topics: str = "seen"  # seen | all (module docstring)
    style: str = "facts"  # the oracle rationale's style (teacher.oracle.STYLES): the student's own CoT language
    corpus_seed: int = 7  # SynthConfig seed of the corpus benchmark; the evaluated default benchmark is seed 0
    max_length: int = 256  # tokens per document (rationales: p99 ~250 with the v2 tokenizer)
    bf16: bool = False  # autocast to bf16 (where the CPU or GPU has bf16 units); False: fp32, bit-reproducible
    seed: int = 0

    def __post_init__(self):
        from mmkp_lib.models.warmup_loop import check_choice
        from mmkp_lib.teacher.oracle import STYLES

        check_choice("language warm-up", "corpus", self.corpus, CORPORA)
        check_choice("language warm-up", "topics", self.topics, TOPIC_RULES)
        check_choice("language warm-up", "style", self.style, STYLES)


def reference_keyphrases() -> set[str]:
    """The keyphrases of the default embedded benchmark's training split (`mmkp synth`'s defaults)."""
    from mmkp_lib.synth import SynthConfig, build_posts

    reference, _ = build_posts(SynthConfig(), "unused")  # images are not drawn: texts and keyphrases only
    return {k for p in reference["train"] for k in p.keyphrases}


def corpus_posts(cfg: LanguageWarmupConfig):
    """cfg.n_posts training posts of the corpus benchmark that pass the topic rule, in the benchmark's order."""
    from mmkp_lib.synth import SynthConfig, build_posts

    allowed = reference_keyphrases() if cfg.topics == "seen" else None
    n_train = max(cfg.n_posts, 200)  # the generator needs a few hundred posts to find valid/test topics
    while True:
        corpus, _ = build_posts(SynthConfig(seed=cfg.corpus_seed, n_train=n_train, n_valid=10, n_test=10), "unused")
        kept = [p for p in corpus["train"] if allowed is None or set(p.keyphrases) <= allowed][: cfg.n_posts]
        if len(kept) == cfg.n_posts:
            return kept
        if n_train >= 16 * cfg.n_posts:
            raise ValueError(f"the topic rule {cfg.topics!r} keeps {len(kept)} of {n_train} corpus posts, "
                             f"fewer than n_posts={cfg.n_posts}")
        n_train *= 2


def corpus_documents(cfg: LanguageWarmupConfig) -> list[str]:
    """The warm-up's documents: each corpus post's text and (corpus "text+rationale") its oracle rationale."""
    from mmkp_lib.synth import SynthConfig
    from mmkp_lib.teacher.oracle import write_rationale

    docs = []
    for post in corpus_posts(cfg):
        text = post.text
        if cfg.corpus == "text+rationale":
            text += "\n" + write_rationale(post, seed=cfg.corpus_seed, image_size=SynthConfig().image_size,
                                            style=cfg.style)
        docs.append(text)
    return docs


def document_ids(tokenizer, docs: list[str], max_length: int) -> list[list[int]]:
    """Each document's token ids with eos, cut at max_length."""
    eos = tokenizer.eos_token or ""
    # cut by hand: truncation=True would switch truncation on in the fast tokenizer's backend for good, and the
    # build would save the tokenizer that way
    return [row[:max_length] for row in tokenizer([d + eos for d in docs], add_special_tokens=False)["input_ids"]]


def padded_batches(ids: list[list[int]], batch_size: int, pad: int, seed: int):
    """batch(step) -> (indices, input_ids, attention_mask) of the next `batch_size` rows of `ids`, right-padded
    with `pad`, in a fresh random order (torch.Generator seeded with `seed`) each pass over them."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    state = {"order": [], "pos": 0}

    def batch(step: int):
        if state["pos"] + batch_size > len(state["order"]):
            state["order"], state["pos"] = torch.randperm(len(ids), generator=gen).tolist(), 0
        pick = state["order"][state["pos"]:state["pos"] + batch_size]
        state["pos"] += batch_size
        width = max(len(ids[i]) for i in pick)
        input_ids = torch.full((len(pick), width), pad, dtype=torch.long)
        attention = torch.zeros((len(pick), width), dtype=torch.long)
        for j, i in enumerate(pick):
            input_ids[j, :len(ids[i])] = torch.tensor(ids[i])
            attention[j, :len(ids[i])] = 1
        return pick, input_ids, attention

    return batch


def text_batches(ids: list[list[int]], batch_size: int, pad: int, seed: int):
    """batch(step) -> input_ids / attention_mask / labels (loss on every real token) of padded_batches."""
    rows = padded_batches(ids, batch_size, pad, seed)

    def batch(step: int) -> dict:
        _, input_ids, attention = rows(step)
        return {"input_ids": input_ids, "attention_mask": attention,
                "labels": input_ids.masked_fill(attention == 0, -100)}

    return batch


def language_warm_up(model, tokenizer, cfg: LanguageWarmupConfig = LanguageWarmupConfig(), log=None,
                     docs: list[str] | None = None) -> dict:
    """Train `model`'s language model (a VLM fed text only) in place on corpus_documents(cfg) (`docs`, when the
    caller already has them); returns metrics: the training loss at the start and end, seconds, the corpus size
    and the config."""
    import torch

    from mmkp_lib.models.warmup_loop import run_steps

    t0 = time.time()
    docs = corpus_documents(cfg) if docs is None else docs
    ids = document_ids(tokenizer, docs, cfg.max_length)
    t_data = time.time() - t0
    torch.manual_seed(cfg.seed)
    batch = text_batches(ids, cfg.batch_size, tokenizer.pad_token_id, cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    result = run_steps(model, params, batch, steps=cfg.steps, lr=cfg.lr, ramp_steps=cfg.ramp_steps,
                       weight_decay=cfg.weight_decay, bf16=cfg.bf16, log=log, what="language warm-up")
    return {**result, "documents": len(docs), "tokens_per_document": round(sum(map(len, ids)) / max(1, len(ids)), 1),
            "data_seconds": round(t_data, 1), "config": asdict(cfg)}
