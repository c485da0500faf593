"""Warm-up of the tiny vision tower on separately generated, labelled images: the stand-in for a pretrained encoder.

Every real VLM starts from a vision encoder pretrained on millions of images.
No such weights install offline, and a tower trained from scratch *inside*
the VLM learns colour and scene but not shape (measured here with SigLIP: 18%
on 4 shapes after 400 end-to-end steps). So, before the VLM is assembled, the
tower alone is trained to classify colour, shape and scene from mean-pooled
features of what the VLM reads (tower_tokens); the heads are then dropped and
the tower's weights go into the VLM's vision tower (strict: all keys match).

The warm-up images are drawn with the benchmark's own renderer
(mmkp_lib.synth.draw_image / sample_object) from fresh random latents: every
scene and colour, the default benchmark's 4 shapes (SynthConfig.n_shapes),
object sizes, distractors, noise and jitter as in the default SynthConfig;
never the benchmark's train/valid/test images. Like a real pretrained
encoder, the tower sees every colour-shape pairing; which pairings go with
which keyphrases is what the student learns.

The recipe (batch 64, AdamW 2e-3, 30k-image pool, one thread) and the tower
come from these measurements on this 2-core machine (held-out probe accuracy
on 2000 images):
  - The default, a BiT tower (ResNetV2 with GroupNorm and weight-standardised
    convolutions: stem 32 channels, 2 stages of one pre-activation bottleneck
    block, 64/128 channels, stride 8: a 4x4 map = 16 image tokens of a 32 px
    image): 1000 steps colour 99.85% / shape 93.75% / scene 99.75%; 1500 steps
    99.95 / 97.75 / 99.9; 2000 steps (the default build) 99.95 / 99.4 / 99.95,
    in 82 s of training + 38 s of drawing (two probes at once on the 2 cores).
    A ResNet of the same size (BatchNorm) learnt as fast (1500 steps: 99.95 /
    99.3 / 100) but its batch statistics make a row's features depend on its
    batch (gradient accumulation, eval-mode Dynamic CoT scoring and a frozen
    tower would no longer be exact). A ConvNext of the same size (4 px patchify
    stem) reached only 49% shape after 1000 steps.
  - The previous default, SigLIP 4 layers x 64 with 4 px patches (64 image
    tokens), 3000 steps: colour 99.9%, shape 75.8%, scene 100% (253 s of
    training). With 6 shapes: 46-53% after ~1500 steps, 77% after 6000; sin-cos
    position init, attention pooling, per-patch shape targets and distillation
    from a CNN teacher changed little at equal steps: the ViT's missing locality
    was the bottleneck, which is why the tower is now a CNN (transformers'
    FastVLM layout flattens a CNN's last feature map into image tokens).
  - Inside LLaVA with the SigLIP tower (benchmarks/bench_vision_warmup.py, 300
    end-to-end steps, batch 32): shape 63.7% with the warm-up vs 24.8% (chance)
    without; colour 97% / 96%, scene 100% both.

    .venv/bin/python benchmarks/bench_warmup_tower.py                # the default build's 2000 steps
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass

LABELS = ("colour", "shape", "scene")


@dataclass(frozen=True)
class WarmupConfig:
    steps: int = 2000  # optimiser steps (deterministic; about 0.03-0.04 s each on one thread for the default tower)
    batch_size: int = 64  # images per step
    lr: float = 2e-3  # AdamW peak learning rate (linear ramp, cosine decay)
    weight_decay: float = 0.05
    ramp_steps: int = 100  # linear warm-up of the learning rate
    n_images: int = 30000  # training pool, generated once (about 20 s); steps x batch / n_images = epochs
    n_eval: int = 2000  # held-out images (another random stream) for the reported accuracies
    draw_size: int = 64  # px the images are drawn at (the benchmark's size); the processor resizes them
    n_shapes: int = 4  # first k of synth's SHAPES: the default benchmark's (SynthConfig.n_shapes)
    n_colours: int = 8  # first k of synth's COLOURS (all of them)
    seed: int = 0


def ramp_cosine(step: int, *, peak: float, ramp_steps: int, steps: int) -> float:
    """The warm-ups' learning rate at `step` (0-based): a linear ramp to `peak` over ramp_steps, then cosine to 0."""
    if step < ramp_steps:
        return peak * (step + 1) / ramp_steps
    progress = (step - ramp_steps) / max(1, steps - ramp_steps)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def label_names(cfg: WarmupConfig = WarmupConfig()) -> dict[str, tuple[str, ...]]:
    """The classes the heads predict: the first n_colours colours, first n_shapes shapes, every scene."""
    from mmkp_lib.synth import COLOURS, SCENES, SHAPES

    return {"colour": tuple(COLOURS[:cfg.n_colours]), "shape": tuple(SHAPES[:cfg.n_shapes]), "scene": tuple(SCENES)}


def labelled_images(n: int, rng, cfg: WarmupConfig = WarmupConfig()):
    """n (image, labels) pairs from fresh latents; labels = indices into label_names(cfg) for colour, shape, scene.

    Sizes, distractors, noise and colour jitter follow the benchmark's default SynthConfig.
    """
    import numpy as np

    from mmkp_lib.synth import SynthConfig, draw_image, sample_object

    sc = SynthConfig()
    names = label_names(cfg)
    draw_size = cfg.draw_size
    images, labels = [], np.zeros((n, 3), dtype=np.int64)
    for i in range(n):
        scene = names["scene"][int(rng.integers(len(names["scene"])))]
        obj = sample_object(rng, size=draw_size, colours=names["colour"], shapes=names["shape"],
                            min_frac=sc.min_object_frac, max_frac=sc.max_object_frac)
        distractor = None
        if rng.random() < sc.distractor_prob:
            distractor = sample_object(rng, size=draw_size, colours=names["colour"], shapes=names["shape"],
                                       min_frac=sc.min_distractor_frac, max_frac=sc.max_distractor_frac)
        latents = {"scene": scene, "object": obj, "distractor": distractor}
        images.append(draw_image(latents, size=draw_size, noise=sc.noise, rng=rng, colour_jitter=sc.colour_jitter))
        labels[i] = (names["colour"].index(obj["colour"]), names["shape"].index(obj["shape"]),
                     names["scene"].index(scene))
    return images, labels


def pixel_tensor(images, image_processor, chunk: int = 2000):
    """The processor's pixel_values for many images, in chunks (float16 to halve the pool's memory)."""
    import torch

    parts = [image_processor(images[i:i + chunk], return_tensors="pt")["pixel_values"].to(torch.float16)
             for i in range(0, len(images), chunk)]
    return torch.cat(parts)


def new_tower(vision_config):
    """A fresh, randomly initialised tower for vision_config (SigLIP or a CNN such as BiT), via AutoModel."""
    from transformers import AutoModel

    return AutoModel.from_config(copy.deepcopy(vision_config))  # a copy: saving stamps fields onto the config


def tower_tokens(tower, pixel_values):
    """The tower's output as the VLM reads it: (batch, image tokens, width).

    SigLIP: the last encoder layer's patch features (LLaVA's vision_feature_layer -1, strategy "full").
    A CNN: its last feature map (batch, width, h, w) flattened row by row into h*w tokens, as FastVLM does.
    """
    out = tower(pixel_values=pixel_values, output_hidden_states=True)
    if out.last_hidden_state.dim() == 4:
        return out.last_hidden_state.flatten(2).transpose(1, 2)
    return out.hidden_states[-1]


def _probe_net(tower, n_classes: dict[str, int]):
    import torch.nn as nn

    class ProbeNet(nn.Module):
        """Tower + LayerNorm + one linear head per label on mean-pooled features of the layer LLaVA reads."""

        def __init__(self):
            super().__init__()
            self.tower = tower
            h = tower.config.hidden_size
            self.norm = nn.LayerNorm(h)
            self.heads = nn.ModuleDict({k: nn.Linear(h, n) for k, n in n_classes.items()})

        def forward(self, pixel_values):
            pooled = self.norm(tower_tokens(self.tower, pixel_values).mean(dim=1))
            return {k: head(pooled) for k, head in self.heads.items()}

    return ProbeNet()


def accuracy(net, pixels, labels, batch_size: int = 256) -> dict[str, float]:
    """Held-out accuracy per label, and 'object' = colour and shape both right."""
    import torch

    net.eval()
    correct = {k: 0 for k in LABELS}
    both = 0
    with torch.no_grad():
        for i in range(0, len(pixels), batch_size):
            out = net(pixels[i:i + batch_size].float())
            y = labels[i:i + batch_size]
            hits = {k: out[k].argmax(-1) == y[:, j] for j, k in enumerate(LABELS)}
            for k in LABELS:
                correct[k] += int(hits[k].sum())
            both += int((hits["colour"] & hits["shape"]).sum())
    net.train()
    n = len(pixels)
    return {**{k: round(correct[k] / n, 4) for k in LABELS}, "object": round(both / n, 4)}


def warm_up_vision_tower(vision_config, image_processor, cfg: WarmupConfig = WarmupConfig(), log=None):
    """Train a fresh tower for vision_config (new_tower) on labelled images; return (tower, metrics).

    metrics: held-out accuracies before and after, per label; seconds spent
    generating data and training; the config. Deterministic given cfg.seed
    (torch and numpy seeded here) and the torch thread count (builds use one).
    """
    import numpy as np
    import torch

    t0 = time.time()
    names = label_names(cfg)
    rng = np.random.default_rng([cfg.seed, 1])  # the tower's data stream, apart from any benchmark seed
    images, labels = labelled_images(cfg.n_images, rng, cfg)
    pixels, labels = pixel_tensor(images, image_processor), torch.from_numpy(labels)
    eval_images, eval_labels = labelled_images(cfg.n_eval, np.random.default_rng([cfg.seed, 2]), cfg)
    eval_pixels, eval_labels = pixel_tensor(eval_images, image_processor), torch.from_numpy(eval_labels)
    del images, eval_images
    t_data = time.time() - t0

    torch.manual_seed(cfg.seed)
    tower = new_tower(vision_config)
    net = _probe_net(tower, {k: len(v) for k, v in names.items()})
    before = accuracy(net, eval_pixels, eval_labels)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(pixels), generator=gen)
    pos, t1, loss_sum = 0, time.time(), 0.0
    net.train()
    for step in range(cfg.steps):
        if pos + cfg.batch_size > len(order):  # next epoch over the pool
            order, pos = torch.randperm(len(pixels), generator=gen), 0
        idx = order[pos:pos + cfg.batch_size]
        pos += cfg.batch_size
        for g in opt.param_groups:
            g["lr"] = ramp_cosine(step, peak=cfg.lr, ramp_steps=cfg.ramp_steps, steps=cfg.steps)
        out = net(pixels[idx].float())
        loss = sum(torch.nn.functional.cross_entropy(out[k], labels[idx, j]) for j, k in enumerate(LABELS))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        loss_sum += loss.detach().item()
        if log and ((step + 1) % max(1, cfg.steps // 10) == 0 or step + 1 == cfg.steps):
            acc = accuracy(net, eval_pixels[:500], eval_labels[:500])
            log(f"vision warm-up step {step + 1}/{cfg.steps}: loss {loss_sum / max(1, cfg.steps // 10):.3f}, "
                f"held-out acc {acc}, {time.time() - t1:.0f}s")
            loss_sum = 0.0
    t_train = time.time() - t1
    after = accuracy(net, eval_pixels, eval_labels)
    metrics = {
        "accuracy": after, "accuracy_before": before, "chance": {k: round(1 / len(v), 4) for k, v in names.items()},
        "labels": {k: list(v) for k, v in names.items()}, "n_eval": cfg.n_eval,
        "data_seconds": round(t_data, 1), "train_seconds": round(t_train, 1), "threads": torch.get_num_threads(),
        "config": asdict(cfg),
    }
    return tower.eval(), metrics


WARMUP_VERSION = 2  # bump when the warm-up's data or training changes, so cached towers are not reused


def warmup_fingerprint(vision_config, image_processor, cfg: WarmupConfig) -> str:
    """A short hash of everything the warmed-up tower depends on (cache key)."""
    import hashlib
    import json

    # Architecture fields only: save_pretrained stamps architectures/dtype/version onto a config object.
    volatile = ("transformers_version", "architectures", "dtype", "torch_dtype")
    vc = {k: v for k, v in vision_config.to_dict().items() if k not in volatile and not k.startswith("_")}
    ip = {k: getattr(image_processor, k, None) for k in ("size", "image_mean", "image_std", "resample")}
    blob = json.dumps([WARMUP_VERSION, vc, {k: str(v) for k, v in ip.items()}, asdict(cfg)], sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tower_folder(vision_config, image_processor, cfg: WarmupConfig, cache_dir):
    """The folder warmed_tower caches this tower in (it holds metrics.json once the tower is there)."""
    from pathlib import Path

    return Path(cache_dir) / f"vision-warmup-seed{cfg.seed}-{warmup_fingerprint(vision_config, image_processor, cfg)}"


def _cache_tower(vision_config, image_processor, cfg: WarmupConfig, cache_dir, threads: int) -> None:
    """warmed_tower into cache_dir on `threads` torch threads (the body of cache_tower_in_background's process)."""
    import torch

    torch.set_num_threads(threads)
    warmed_tower(vision_config, image_processor, cfg, cache_dir=cache_dir,
                 log=lambda line: print(f"[second process] {line}", flush=True))


def cache_tower_in_background(vision_config, image_processor, cfg: WarmupConfig, cache_dir, threads: int = 1):
    """Start warmed_tower(..., cache_dir) in a second process and return it (multiprocessing.Process; join it, then
    warmed_tower loads the cached tower). The build runs the language warm-up meanwhile: the two share no weights
    (a text-only batch gives the tower no gradient), so the model is the same as when they run one after the other,
    on one core each instead of one core for both (about 160 s of the default build's 744 s)."""
    import multiprocessing

    # spawn, not fork: a forked child would inherit the parent's torch thread pool and its locks
    proc = multiprocessing.get_context("spawn").Process(
        target=_cache_tower, args=(vision_config, image_processor, cfg, str(cache_dir), threads),
        name="vision-warmup", daemon=True)
    proc.start()
    return proc


def warmed_tower(vision_config, image_processor, cfg: WarmupConfig = WarmupConfig(), cache_dir=None, log=None):
    """warm_up_vision_tower, cached in cache_dir/vision-warmup-<fingerprint>/ (the tower's save_pretrained + metrics).

    The tiny and smol models of one seed share the same tower this way; the
    cached copy is loaded with AutoModel.from_pretrained, i.e. exactly
    what the warm-up produced.
    """
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from transformers import AutoModel

    if cache_dir is None:
        return warm_up_vision_tower(vision_config, image_processor, cfg, log=log)
    folder = tower_folder(vision_config, image_processor, cfg, cache_dir)
    if (folder / "metrics.json").exists():
        metrics = json.loads((folder / "metrics.json").read_text())
        return AutoModel.from_pretrained(folder).eval(), {**metrics, "cached": str(folder)}
    tower, metrics = warm_up_vision_tower(vision_config, image_processor, cfg, log=log)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tower.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        try:
            tmp.rename(folder)
        except OSError:  # another process cached it first: same seed and config, so same weights
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tower, metrics


def load_tower_into(vlm, tower) -> None:
    """Copy a warmed-up tower into a VLM's vision tower (LLaVA's or FastVLM's); every key must match."""
    missing, unexpected = vlm.model.vision_tower.load_state_dict(tower.state_dict(), strict=True)
    assert not missing and not unexpected  # strict=True raises first; kept as the documented invariant
