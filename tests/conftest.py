"""Session fixtures shared by the tests: a tiny dataset, teacher rationales, tiny VLMs, the smoke experiment.

Each is built once per test session (per xdist worker; the smoke experiment once for all workers) into a
temporary folder, never into cache/ or data/.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
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


def _build_smoke_experiment(root: Path) -> SimpleNamespace:
    """Data, oracle rationales and every run of notebook 05's smoke plan (one seed + the smoke gamma sweep)."""
    from mmkp_lib.experiment import ExperimentConfig, ensure_runs, ensure_teacher, report_plan
    from mmkp_lib.synth import SynthConfig, generate

    data = root / "synth-smoke"
    if not (data / "stats.json").is_file():
        generate(SynthConfig(n_train=48, n_valid=12, n_test=12, image_size=32), data, progress=False)
    cfg = ExperimentConfig(data=str(data), work_dir=str(root), smoke=True).validated()
    ensure_teacher(cfg, log=lambda _: None)
    specs = report_plan(cfg, seeds=(0,))
    ensure_runs(specs, workers=1, log=lambda _: None)  # reuses what a killed session left complete
    return SimpleNamespace(data=str(data), work_dir=str(root), runs_dir=cfg.effective().runs_dir,
                           runs=[s.name for s in specs])


@pytest.fixture(scope="session")
def smoke_experiment(tmp_path_factory) -> SimpleNamespace:
    """The smoke experiment notebook 05 reads (zero-shot, SFT, CoT, multi-task, Dynamic CoT g0.4 and gq0.3, seed 0).

    About 15 s to build. Under pytest-xdist the workers share one copy: the first to ask builds it in the
    session's shared temporary folder under a file lock, the others wait and reuse it. Tests must only read it.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _build_smoke_experiment(tmp_path_factory.mktemp("smoke-experiment"))
    shared = tmp_path_factory.getbasetemp().parent  # one folder per session, common to all workers
    root, done = shared / "smoke-experiment", shared / "smoke-experiment.done"
    with open(shared / "smoke-experiment.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build fails
        if not done.exists():
            root.mkdir(exist_ok=True)
            built = _build_smoke_experiment(root)
            done.write_text(json.dumps(vars(built)))
        return SimpleNamespace(**json.loads(done.read_text()))
