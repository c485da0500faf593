"""Image features of posts from a VLM's vision tower: what the traditional baseline reads of the image.

The tower is the one the VLM itself reads (for `tiny`, the warmed-up BiT tower of its build), so the baseline
and the VLM strategies see the same picture through the same encoder; its output tokens are mean-pooled into
one vector per image, the layer the vision warm-up's probes read (vision_warmup.tower_tokens).

    from mmkp_lib.image_features import tower_features
    x = tower_features(posts, "tiny", cache_dir="cache/models")     # (posts, width) float32 numpy array
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from mmkp_lib.records import Post

BATCH_IMAGES = 256  # images per tower forward pass (a 32 px image costs ~0.1 ms of a 2.3M-parameter tower)


def vision_tower(model):
    """The VLM's vision tower (LLaVA's, FastVLM's: `model.model.vision_tower`), or a clear error."""
    tower = getattr(getattr(model, "model", None), "vision_tower", None)
    if tower is None:
        raise ValueError(f"{type(model).__name__} has no `model.vision_tower`; the baseline's image features need a "
                         "LLaVA-layout VLM such as the offline `tiny` model (or pass image_model=None for text only)")
    return tower


def tower_features(posts: Sequence[Post], model_name: str, *, seed: int = 0,
                   cache_dir: str | os.PathLike = "cache/models", batch_size: int = BATCH_IMAGES) -> np.ndarray:
    """(posts, width) mean-pooled tower features; a post without an image gets a zero row. Images that
    cannot be read fail with their post id and path (records.load_image)."""
    import torch

    from mmkp_lib.models import load_model
    from mmkp_lib.models.vision_warmup import tower_tokens
    from mmkp_lib.records import load_image

    with_image = [i for i, p in enumerate(posts) if p.image]
    if not with_image:
        raise ValueError("no post has an image: there are no image features to compute")
    model, processor = load_model(model_name, seed=seed, cache_dir=cache_dir)
    tower = vision_tower(model)
    pooled = []
    with torch.no_grad():
        for start in range(0, len(with_image), batch_size):
            images = []
            for i in with_image[start:start + batch_size]:
                try:
                    images.append(load_image(posts[i].image))
                except OSError as e:
                    raise ValueError(f"post {posts[i].id}: cannot read its image {posts[i].image}: {e}") from e
            pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
            pooled.append(tower_tokens(tower, pixels).mean(dim=1).float().numpy())
    pooled = np.concatenate(pooled)
    out = np.zeros((len(posts), pooled.shape[1]), dtype=np.float32)
    out[with_image] = pooled
    return out
