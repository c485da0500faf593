"""ExperimentConfig: the default embedded experiment (notebooks 03-05, `make report`) and its smoke size.

    from mmkp_lib.experiment import ExperimentConfig
    cfg = ExperimentConfig(seeds=(0, 1, 2)).validated()
    cfg.effective().runs_dir          # smoke sizes applied, paths resolved, "auto" settings decided
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmkp_lib.training.config import ConfigError, parse_gamma


@dataclass
class ExperimentConfig:
    """The default embedded experiment (notebooks 03/04, `make report`); `smoke=True` shrinks it for CI.

    The training defaults were measured on data/synth with the `tiny` model on
    the 2-core CPU this project targets (see the module docstring of
    notebooks/03_sft_vs_cot.py for the learning curves behind them).
    """

    data: str = "data/synth"  # benchmark folder (train/valid/test .jsonl); `mmkp synth --out data/synth`
    work_dir: str = "."  # where cache/ and runs/ live
    runs_dir: str = ""  # run folders; "" = <work_dir>/runs (smoke: <work_dir>/runs-smoke)
    teacher_backend: str = "oracle"  # whose rationales: oracle (offline, written here) | openai | hf (cache must exist)
    teacher_cache: str = ""  # rationale cache; "" = <work_dir>/cache/teacher/<data folder>/<backend>.jsonl
    model: str = "tiny"  # student: tiny | smol | hub id | local folder
    model_cache: str = ""  # offline model builds; "" = <work_dir>/cache/models
    zero_shot_model: str = "auto"  # zero-shot row: auto = smol when installed (`make smol`), else `model` untrained
    seeds: tuple = (0,)  # training seeds of every strategy (issue 6's report: 0, 1, 2)
    vary_model_seed: bool = False  # True: seed k also rebuilds the model with seed k (init + vision warm-up)
    gamma: float | str = 0.4  # Dynamic CoT threshold of the main row (nats/token, or "qX")
    sweep_gammas: tuple = (0.4, 0.8, 1.6, "q0.3")  # gamma sweep (seed seeds[0]); includes `gamma`
    # (upwards from the paper's 0.4: the tiny student's SFT answer loss ends near 1.4 nats/token after 400 steps,
    # so thresholds below 0.4 switch nothing; q0.3 switches a fixed share whatever the loss scale)
    scoring: str = "online"  # Dynamic CoT: online (exact) | lagged (free)
    max_steps: int = 400  # optimizer steps, the same for every strategy
    batch_size: int = 32  # samples per optimizer step (one micro-batch)
    lr: float = 5e-4  # peak AdamW learning rate (cosine decay, 5% warm-up)
    eval_every: int = 50  # optimizer steps between validation F1 points (learning curves); 0 = off
    eval_samples: int = 64  # validation posts generated at each point
    max_new_tokens: int = 400  # generation budget (reasoning + answer), validation and test; oracle CoT targets: p99 342 tokens
    zero_shot_max_new_tokens: int = 32  # zero-shot budget: a "kp1; kp2" answer needs ~10 tokens; an untuned model rambles
    bf16: str | bool = "auto"  # bf16 autocast in training: auto = where the CPU/GPU has bf16 units (else fp32)
    lora: bool = False  # LoRA adapters on the language model's linear layers (the 3B/7B GPU setting) instead of full FT
    max_pixels: int | None = None  # downscale larger images before the processor (Qwen2.5-VL: e.g. 401408 = 512x28x28)
    predict_batch_size: int = 32  # test posts per generation batch
    test_limit: int = 0  # first N test posts (0 = all)
    limit_train: int = 0  # first N training posts (0 = all)
    save_every: int = 100  # optimizer steps between checkpoints (a killed run resumes from the last)
    workers: int = 2  # runs trained at once, one process each (1 = one at a time, in this process)
    threads: int = 1  # torch threads per run (workers x threads should match the cores)
    smoke: bool = False  # tiny everything: test-sized model, a few steps, a few posts (CI)

    def __post_init__(self) -> None:
        self.seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else self.seeds
        self.sweep_gammas = tuple(self.sweep_gammas) if isinstance(self.sweep_gammas, (list, tuple)) else self.sweep_gammas

    def validated(self) -> "ExperimentConfig":
        """Self after checking every field (ConfigError names the field, its value and what is allowed)."""
        for name in ("max_steps", "batch_size", "eval_samples", "max_new_tokens", "zero_shot_max_new_tokens",
                     "predict_batch_size", "workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, value, "an integer >= 1")
        for name in ("eval_every", "test_limit", "limit_train", "save_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(name, value, "an integer >= 0")
        if not isinstance(self.seeds, tuple) or not self.seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ConfigError("seeds", self.seeds, "a non-empty list of integers >= 0, e.g. [0, 1, 2]")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds", self.seeds, "distinct seeds (a repeated seed would be averaged twice)")
        parse_gamma(self.gamma)
        if self.bf16 not in ("auto", True, False):
            raise ConfigError("bf16", self.bf16, "'auto', True or False")
        from mmkp_lib.teacher.config import BACKENDS

        if self.teacher_backend not in BACKENDS:
            raise ConfigError("teacher_backend", self.teacher_backend, f"one of {', '.join(BACKENDS)}")
        if not isinstance(self.sweep_gammas, tuple):
            raise ConfigError("sweep_gammas", self.sweep_gammas, "a list of gammas, e.g. [0.1, 0.4, 'q0.3']")
        for g in self.sweep_gammas:
            parse_gamma(g)
        if not Path(self.data).exists():
            raise ConfigError("data", self.data, f"an existing benchmark folder (make it with `mmkp synth --out {self.data}`)")
        # The rest (scoring, lr, model, lora, max_pixels...) is checked by TrainConfig when the plan is built.
        from mmkp_lib.experiment.plan import train_config

        train_config(self, "dyncot", self.seeds[0])
        return self

    def effective(self) -> "ExperimentConfig":
        """The config actually run: smoke sizes applied (see SMOKE), paths resolved to absolute ones."""
        cfg = dataclasses.replace(self, **SMOKE) if self.smoke else dataclasses.replace(self)
        work = Path(cfg.work_dir).resolve()
        cfg.work_dir = str(work)
        cfg.data = str(Path(cfg.data).resolve())
        cfg.runs_dir = str(Path(cfg.runs_dir).resolve()) if cfg.runs_dir else str(work / ("runs-smoke" if cfg.smoke else "runs"))
        cfg.model_cache = str(Path(cfg.model_cache).resolve()) if cfg.model_cache else str(work / "cache" / "models")
        cfg.teacher_cache = str(Path(cfg.teacher_cache).resolve()) if cfg.teacher_cache else str(self.default_teacher_cache())
        if cfg.zero_shot_model == "auto":
            cfg.zero_shot_model = "smol" if (not cfg.smoke and smol_installed()) else cfg.model
        if cfg.bf16 == "auto":
            cfg.bf16 = bf16_supported()
        return cfg

    def default_teacher_cache(self) -> Path:
        from mmkp_lib.teacher.cache import default_cache_path

        return default_cache_path(self.data, self.teacher_backend, root=Path(self.work_dir).resolve()).resolve()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Smoke: the test-sized model (builds in a second, no warm-up), a few steps on a few posts; the CoT target still
# fits max_new_tokens so the parser and the reasoning-length tables see real <think> spans when the model copies.
SMOKE = dict(model="tiny-test", zero_shot_model="tiny-test", max_steps=6, batch_size=4, eval_every=3, eval_samples=6,
             max_new_tokens=24, zero_shot_max_new_tokens=8, predict_batch_size=12, test_limit=12, limit_train=48, save_every=0, workers=1,
             threads=1, sweep_gammas=(0.4, "q0.3"))


def bf16_supported() -> bool:
    """Whether training should autocast to bf16 here: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 / AMX.

    Measured on this project's 2-core AMD EPYC (avx512_bf16), tiny model, batch 32, one thread: a training step
    takes 0.45 s instead of 0.70 s (SFT) and 1.86 s instead of 3.1 s (CoT targets). CPUs without bf16 units
    would emulate it (slower), so they train in fp32. Generation always runs in fp32 on CPU.
    """
    try:
        import torch

        if torch.cuda.is_available():
            return bool(torch.cuda.is_bf16_supported())
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def smol_installed() -> bool:
    """Whether `make smol` has installed SmolLM2-135M-Instruct (the zero-shot row's pretrained language model)."""
    try:
        from mmkp_lib.models.smol import SmolNotInstalled, smol_folder
    except ImportError:
        return False
    try:
        smol_folder()
        return True
    except SmolNotInstalled:
        return False

