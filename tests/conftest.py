"""Session fixtures shared by the training and inference tests: a tiny dataset, teacher rationales, tiny VLMs.

Each is built once per test session (per xdist worker) into a temporary folder,
never into cache/ or data/.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def kp_data(tmp_path_factory) -> SimpleNamespace:
    """32 train / 8 valid / 8 test generated posts (32 px images) and a teacher cache covering 3 of 4 train posts."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("kp_data")
    generate(SynthConfig(n_train=32, n_valid=8, n_test=8, image_size=32), root / "synth")
    train = load_posts(root / "synth", split="train")
    teacher = root / "teacher.jsonl"
    with open(teacher, "w", encoding="utf-8") as f:
        for i, post in enumerate(train):
            if i % 4 != 3:  # every fourth post has no accepted rationale: the CoT fallback is exercised
                think = f"the text names {post.keyphrases[0]} and the image shows the rest"
                f.write(json.dumps({"key": [post.id, "test", "m", "h"], "status": "accepted", "think": think}) + "\n")
    return SimpleNamespace(data=str(root / "synth"), teacher=str(teacher), train=train)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> str:
    """mmkp_lib.models' test-sized LLaVA (no vision warm-up), saved to a folder."""
    from mmkp_lib.models import TEST_TINY, build_tiny

    return str(build_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0, config=TEST_TINY))


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> str:
    """A tiny random Qwen2-VL with its image-only processor, saved to a folder."""
    from mmkp_lib.models.qwen import build_tiny_qwen

    return str(build_tiny_qwen(tmp_path_factory.mktemp("models") / "tiny-qwen", seed=0))


def load(folder: str):
    from mmkp_lib.models import load_model

    return load_model(folder)


@pytest.fixture()
def tiny_vlm(tiny_vlm_dir):
    """A fresh (model, processor) of the tiny LLaVA (fresh: tests train it)."""
    return load(tiny_vlm_dir)
