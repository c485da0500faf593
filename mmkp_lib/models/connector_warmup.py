"""Connector warm-up of the tiny VLM: image-caption alignment, the stand-in for a pretrained VLM's first stage.

A real VLM's projector (connector) is aligned before instruction tuning: LLaVA's stage 1 trains it alone on
image-caption pairs. The tiny build's projector is random after the vision and language warm-ups, so the
student first has to find out that its image tokens say anything; measured on the embedded benchmark (seed 0,
200 validation posts, lr 2e-3 cosine, batch 32), SFT reached present F1@M 94% by step 400 but absent F1@M
stayed at 3% (it named a frequent colour-shape pair whatever the image), and Fine-tune-CoT, whose rationale
names the colour and the shape, only began to read the image between steps 300 and 350 (absent 12% -> 43%).

So the build trains the connector on captions of freshly drawn images (the vision warm-up's renderer and
latents, never the benchmark's images): the image's 16 tokens, then "<colour> <shape> <scene>" and the end of
turn, the loss on the caption only. By default (`train` "connector+lm", `rehearse`) the language model trains
too, and every step adds a batch of the language warm-up's documents, so it keeps reading text; the tower stays
frozen. Measured there: the projector alone ("connector", LLaVA stage 1) stayed near the image-blind caption
loss (6.2 -> 2.1 nats/token); connector + LM without rehearsal read the image (SFT absent 66%) but forgot the
text (present 23%); with rehearsal SFT reached absent 87% and present 96% by step 250. `pairs` keeps "unseen"
meaningful as the language warm-up's `topics` does: "seen" (default) draws no image whose colour-shape pair is
held out of the default embedded benchmark's training split, so a held-out pair is never captioned; "all"
draws every pair.

    .venv/bin/python -c "from mmkp_lib.models import build_tiny; build_tiny('cache/models/x')"
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

PAIR_RULES = ("seen", "all")
TRAINED = ("connector", "connector+lm")


@dataclass(frozen=True)
class ConnectorWarmupConfig:
    steps: int = 300  # optimiser steps
    batch_size: int = 64  # images per step
    lr: float = 2e-3  # AdamW peak learning rate (linear ramp, cosine decay)
    ramp_steps: int = 30
    n_images: int = 8000  # captioned images, drawn once
    pairs: str = "seen"  # seen | all (module docstring)
    train: str = "connector+lm"  # connector | connector+lm
    rehearse: bool = True  # connector+lm: each step also trains a batch of the language warm-up's documents
    seed: int = 0

    def __post_init__(self):
        from mmkp_lib.models.warmup_loop import check_choice

        check_choice("connector warm-up", "pairs", self.pairs, PAIR_RULES)
        check_choice("connector warm-up", "train", self.train, TRAINED)


def captioned_images(cfg: ConnectorWarmupConfig):
    """(images, captions): cfg.n_images fresh images and their "<colour> <shape> <scene>" captions, drawn as the
    vision warm-up draws its images; under pairs "seen", none shows a held-out colour-shape pair."""
    import numpy as np

    from mmkp_lib.models.vision_warmup import WarmupConfig, label_names, labelled_images
    from mmkp_lib.synth import SynthConfig, held_out_pairs

    wcfg = WarmupConfig()
    names = label_names(wcfg)
    held = set(held_out_pairs(SynthConfig())) if cfg.pairs == "seen" else set()
    rng = np.random.default_rng([cfg.seed, 11])  # a stream of its own: not the vision warm-up's images
    images, captions = [], []
    while len(images) < cfg.n_images:
        batch, labels = labelled_images(min(2000, 2 * (cfg.n_images - len(images))), rng, wcfg)
        for image, (c, s, sc) in zip(batch, labels):
            colour, shape, scene = names["colour"][c], names["shape"][s], names["scene"][sc]
            if (colour, shape) in held or len(images) == cfg.n_images:
                continue
            images.append(image)
            captions.append(f"{colour} {shape} {scene}")
    return images, captions


def connector_warm_up(model, processor, image_tokens: int, cfg: ConnectorWarmupConfig = ConnectorWarmupConfig(),
                      rehearsal_docs: list[str] | None = None, rehearsal_max_length: int = 256, log=None) -> dict:
    """Train `model`'s projector (and, with train "connector+lm", its language model) in place on
    captioned_images(cfg), each image as its `image_tokens` tokens; with cfg.rehearse and `rehearsal_docs` (the
    language warm-up's documents, cut at `rehearsal_max_length` tokens as it cuts them), every step adds the loss
    of a batch of them, so the language model keeps
    reading and copying text while it learns to read images. Returns the caption loss at the start and end,
    seconds and the config."""
    import torch

    from mmkp_lib.models.hub import find_submodule, language_model_of
    from mmkp_lib.models.language_warmup import document_ids, padded_batches, text_batches
    from mmkp_lib.models.vision_warmup import pixel_tensor
    from mmkp_lib.models.warmup_loop import run_steps

    t0 = time.time()
    images, captions = captioned_images(cfg)
    pixels = pixel_tensor(images, processor.image_processor)
    tok = processor.tokenizer
    image_id = model.config.image_token_id
    rows = [[image_id] * image_tokens + ids + [tok.eos_token_id]
            for ids in tok(captions, add_special_tokens=False)["input_ids"]]
    t_data = time.time() - t0

    _, projector = find_submodule(model, ("model.multi_modal_projector", "multi_modal_projector"), "projector")
    trained = list(projector.parameters())
    if cfg.train == "connector+lm":
        trained += list(language_model_of(model)[1].parameters()) + list(model.lm_head.parameters())
    chosen = {id(p) for p in trained}
    saved = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)

    torch.manual_seed(cfg.seed)
    pad = tok.pad_token_id
    caption_rows = padded_batches(rows, cfg.batch_size, pad, cfg.seed)
    rehearse = None
    if cfg.rehearse and cfg.train == "connector+lm" and rehearsal_docs:
        rehearse = text_batches(document_ids(tok, rehearsal_docs, rehearsal_max_length), cfg.batch_size // 2, pad,
                                cfg.seed + 1)

    def batch(step: int) -> list[dict]:
        pick, input_ids, attention = caption_rows(step)
        labels = input_ids.masked_fill((attention == 0) | (input_ids == image_id), -100)
        captions = {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
                    "pixel_values": pixels[pick].float()}
        return [captions] + ([rehearse(step)] if rehearse else [])

    try:
        result = run_steps(model, trained, batch, steps=cfg.steps, lr=cfg.lr, ramp_steps=cfg.ramp_steps, log=log,
                           what="connector warm-up")
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)
    return {**result, "images": len(images), "rehearsal_documents": len(rehearsal_docs or []) if rehearse else 0,
            "data_seconds": round(t_data, 1), "config": asdict(cfg)}
