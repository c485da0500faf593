"""ExperimentConfig: the embedded experiment (notebooks 03-05, `make report`), its presets and its smoke size.

    from mmkp_lib.experiment import ExperimentConfig
    cfg = ExperimentConfig.from_settings("report", gamma=0.8, seeds=[0, 1, 2]).validated()
    cfg.train.gamma                   # Gamma(kind='loss', value=0.8): the template every run's TrainConfig copies
    cfg.effective().runs_dir          # smoke sizes applied, paths resolved, "auto" settings decided

An experiment is its own settings (data, seeds, the gamma sweep, prediction,
workers) plus one `TrainConfig` template; each run's config is that template
with the run's strategy, seed and folder filled in (`plan.train_config`).
Flat settings (a notebook's parameters, `--set NAME=VALUE`, a preset) are
sorted into the two by `from_settings`, the one boundary where they are read.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmkp_lib.training.config import STRATEGIES, ConfigError, Gamma, TrainConfig, check_int, field_names, parse_gamma

DEFAULT_DATA = "data/synth"  # the embedded benchmark (`mmkp synth --out data/synth`); built when missing
SMOKE_DATA = "data/synth-smoke"  # its smoke-sized version (synth.SMOKE_SIZES)


def comparable_with_committed(data: str, smoke: bool) -> bool:
    """Whether a run on `data` can be set beside figures committed from the default experiment: the default
    embedded benchmark (whatever folder holds it) and not a smoke run."""
    return not smoke and str(data).rstrip("/").endswith(DEFAULT_DATA)


def embedded_training() -> TrainConfig:
    """The training settings of the embedded experiment, the same for every strategy (measured on data/synth with
    the `tiny` model on the 2-core CPU this project targets; notebook 03 shows the learning curves)."""
    return TrainConfig(
        model="tiny",  # student: tiny | smol | hub id | local folder
        max_steps=400,  # optimizer steps, the same for every strategy
        batch_size=32,  # samples per optimizer step (one micro-batch)
        lr=2e-3,  # peak AdamW learning rate (cosine decay, 5% warm-up); with the language warm-up, seed 0, 64 valid
        # posts, 400 steps: SFT F1@M 89.0 (88.2 at step 300), CoT 79.3 (79.7); at 5e-4: 86.8 (85.3), CoT 73.5 (66.7)
        eval_every=50,  # optimizer steps between validation F1 points (learning curves); 0 = off
        eval_samples=200,  # validation posts generated at each point (the convergence check reads the last two)
        max_new_tokens=400,  # generation budget (reasoning + answer), validation and test; oracle CoT targets: p99 342
        save_every=100,  # optimizer steps between checkpoints (a killed run resumes from the last)
    )


# TrainConfig fields an experiment decides itself, per run or from its own settings (plan.train_config), so they
# are not settings of the template: the run folder, strategy and seeds, the paths and bf16 it resolves, and the
# bookkeeping it sizes from the other settings.
_PER_RUN = frozenset({"out", "strategy", "seed", "model_seed", "data", "teacher_cache", "model_cache", "limit_train",
                      "bf16", "train_split", "valid_split", "eval_batch_size", "save_total_limit", "log_every"})


@dataclass
class ExperimentConfig:
    """The embedded experiment (see the module docstring); `smoke=True` shrinks it for CI."""

    data: str = DEFAULT_DATA  # benchmark folder (train/valid/test .jsonl); made here when it is the default one
    work_dir: str = "."  # where cache/ and runs/ live
    runs_dir: str = ""  # run folders; "" = <work_dir>/runs (smoke: <work_dir>/runs-smoke)
    teacher_backend: str = "oracle"  # whose rationales: oracle (offline, written here) | openai | hf (cache must exist)
    teacher_style: str = "facts"  # oracle rationales: facts (colour, shape, scene stated apart) | prose (varied)
    teacher_cache: str = ""  # rationale cache; "" = <work_dir>/cache/teacher/<data folder>/<backend>[-<style>].jsonl
    model_cache: str = ""  # offline model builds; "" = <work_dir>/cache/models
    zero_shot_model: str = "auto"  # zero-shot row: auto = smol when installed (`make smol`), else the untrained student
    seeds: tuple = (0,)  # training seeds of every strategy (the report: 0, 1, 2)
    vary_model_seed: bool = False  # True: seed k also rebuilds the model with seed k (init + vision warm-up)
    sweep_gammas: tuple = (0.1, 0.4, 1.0, "r0.5")  # gamma sweep (seed seeds[0]); includes the main row's gamma;
    # 0.1 and 1.0 bracket 0.4 (probe, seed 0, 400 steps: 0.1 switched 19% of the visits, 0.4 49.8%); r0.5 is the
    # thought-dropout control: a random half of the CoT visits, the share gamma 0.4 switched in that probe (37% of
    # epoch 1's visits, 71% of epoch 2's); notebook 04 compares the two. A quantile ("q0.3", a fixed share
    # whatever the loss scale) is left to `-p gamma q0.3`: r0.5 already fixes the share, and each sweep run
    # costs ~8 minutes of the report's hour
    one_seed_strategies: tuple = ("multitask",)  # trained on seeds[0] only: no claim is decided on them (the
    # issue's rows over 3 seeds are SFT, Fine-tune-CoT, Dynamic CoT); multi-task at 3 seeds would add ~11 process-minutes
    baseline_images: bool = True  # the traditional baseline also reads the images, through the student's vision
    # tower (needs a LLaVA-layout student such as tiny; data/synth valid: F1@M all 36.8 vs 21.5 text only)
    zero_shot_max_new_tokens: int = 32  # zero-shot budget: a "kp1; kp2" answer needs ~10 tokens; an untuned model rambles
    zero_shot_shots: int = 3  # in-context examples (the first training posts) before the zero-shot prompt; 0 = none
    bf16: str | bool = "auto"  # bf16 autocast in training: auto = where the CPU/GPU has bf16 units (else fp32)
    predict_batch_size: int = 32  # test posts per generation batch
    test_limit: int = 0  # first N test posts (0 = all)
    limit_train: int = 0  # first N training posts (0 = all)
    workers: int = 2  # runs trained at once, one process each (1 = one at a time, in this process)
    threads: int = 1  # torch threads per run (workers x threads should match the cores)
    smoke: bool = False  # tiny everything: test-sized model, a few steps, a few posts (CI)
    train: TrainConfig = field(default_factory=embedded_training)  # every run's training settings (gamma: dyncot's)

    def __post_init__(self) -> None:
        self.seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else self.seeds
        if isinstance(self.one_seed_strategies, list):
            self.one_seed_strategies = tuple(self.one_seed_strategies)
        if isinstance(self.sweep_gammas, (list, tuple)):
            self.sweep_gammas = tuple(parse_gamma(g) for g in self.sweep_gammas)

    @classmethod
    def from_settings(cls, preset: str | None = None, **settings: Any) -> "ExperimentConfig":
        """A preset's settings (PRESETS) updated by `settings`, each sorted to the experiment or its training
        template: the one reader of flat settings (notebook parameters, `--set`, presets). An unknown name is
        refused with the list of known ones."""
        if preset is not None and preset not in PRESETS:
            raise ConfigError("preset", preset, f"one of {', '.join(PRESETS)}")
        return cls().updated({**(PRESETS[preset] if preset else {}), **settings})

    def updated(self, settings: dict[str, Any]) -> "ExperimentConfig":
        """A copy with flat settings applied (see from_settings)."""
        unknown = sorted(set(settings) - set(setting_names()))
        if unknown:
            raise ConfigError(unknown[0], settings[unknown[0]],
                              f"not a setting of the experiment; known ones: {', '.join(setting_names())}")
        own = {k: v for k, v in settings.items() if k in _OWN}
        train = {k: v for k, v in settings.items() if k not in _OWN}
        return dataclasses.replace(self, **own, train=dataclasses.replace(self.train, **train))

    def settings(self) -> dict[str, Any]:
        """Every setting by name, as from_settings takes them (gamma as 0.4 or "q0.3")."""
        train = self.train.to_dict()
        own = {k: getattr(self, k) for k in _OWN}
        own["sweep_gammas"] = [g.to_json() for g in self.sweep_gammas]
        return {**own, **{k: train[k] for k in setting_names() if k not in _OWN}}

    def validated(self) -> "ExperimentConfig":
        """Self after checking every field (ConfigError names the field, its value and what is allowed); the
        training template checked itself when it was made."""
        for name in ("zero_shot_max_new_tokens", "predict_batch_size", "workers", "threads"):
            check_int(name, getattr(self, name), 1)
        for name in ("test_limit", "limit_train", "zero_shot_shots"):
            check_int(name, getattr(self, name), 0)
        if self.train.max_steps < 1:
            raise ConfigError("max_steps", self.train.max_steps, "an integer >= 1: every strategy trains the same steps")
        if not isinstance(self.seeds, tuple) or not self.seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ConfigError("seeds", self.seeds, "a non-empty list of integers >= 0, e.g. [0, 1, 2]")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds", self.seeds, "distinct seeds (a repeated seed would be averaged twice)")
        if not isinstance(self.baseline_images, bool):
            raise ConfigError("baseline_images", self.baseline_images, "True or False")
        if self.bf16 not in ("auto", True, False):
            raise ConfigError("bf16", self.bf16, "'auto', True or False")
        from mmkp_lib.teacher.config import BACKENDS

        if self.teacher_backend not in BACKENDS:
            raise ConfigError("teacher_backend", self.teacher_backend, f"one of {', '.join(BACKENDS)}")
        from mmkp_lib.teacher.oracle import STYLES

        if self.teacher_style not in STYLES:
            raise ConfigError("teacher_style", self.teacher_style, f"one of {', '.join(STYLES)} (the oracle's styles)")
        if not isinstance(self.one_seed_strategies, tuple) or not set(self.one_seed_strategies) <= set(STRATEGIES):
            raise ConfigError("one_seed_strategies", self.one_seed_strategies,
                              f"a list of strategies among {', '.join(STRATEGIES)} (trained on the first seed only)")
        if not isinstance(self.sweep_gammas, tuple) or not all(isinstance(g, Gamma) for g in self.sweep_gammas):
            raise ConfigError("sweep_gammas", self.sweep_gammas, "a list of gammas, e.g. [0.1, 0.4, 'q0.3']")
        if not Path(self.data_folder()).exists():
            raise ConfigError("data", self.data_folder(),
                              f"an existing benchmark folder (make it with `mmkp synth --out {self.data_folder()}`)")
        return self

    def data_folder(self) -> str:
        """The benchmark folder used: `data`, except that a smoke experiment on the default folder uses the
        smoke-sized one (SMOKE_DATA), as `make report SMOKE=1` does."""
        return SMOKE_DATA if self.smoke and self.data == DEFAULT_DATA else self.data

    def effective(self) -> "ExperimentConfig":
        """The config actually run: smoke sizes applied (see SMOKE), paths resolved to absolute ones."""
        cfg = self.updated(SMOKE) if self.smoke else dataclasses.replace(self)
        work = Path(cfg.work_dir).resolve()
        cfg.work_dir = str(work)
        cfg.data = str(Path(self.data_folder()).resolve())
        cfg.runs_dir = str(Path(cfg.runs_dir).resolve()) if cfg.runs_dir else str(work / ("runs-smoke" if cfg.smoke else "runs"))
        cfg.model_cache = str(Path(cfg.model_cache).resolve()) if cfg.model_cache else str(work / "cache" / "models")
        cfg.teacher_cache = str(Path(cfg.teacher_cache).resolve()) if cfg.teacher_cache else str(self.default_teacher_cache())
        if cfg.zero_shot_model == "auto":
            cfg.zero_shot_model = "smol" if (not cfg.smoke and smol_installed()) else cfg.train.model
        if cfg.bf16 == "auto":
            cfg.bf16 = bf16_supported()
        return cfg

    def default_teacher_cache(self) -> Path:
        from mmkp_lib.teacher.cache import default_cache_path

        return default_cache_path(self.data_folder(), self.teacher_backend, root=Path(self.work_dir).resolve(),
                                  style=self.teacher_style).resolve()

    def to_dict(self) -> dict[str, Any]:
        return self.settings()


_OWN = tuple(f.name for f in dataclasses.fields(ExperimentConfig) if f.name != "train")


def setting_names() -> list[str]:
    """Every name from_settings takes: the experiment's own fields and the training template's, sorted."""
    return sorted(set(_OWN) | (field_names() - _PER_RUN))


# Smoke: the test-sized model (builds in a second, no warm-up), a few steps on a few posts; the CoT target still
# fits max_new_tokens so the parser and the reasoning-length tables see real <think> spans when the model copies.
SMOKE = dict(model="tiny-test", zero_shot_model="tiny-test", max_steps=6, batch_size=4, eval_every=3, eval_samples=6,
             max_new_tokens=24, zero_shot_max_new_tokens=8, predict_batch_size=12, test_limit=12, limit_train=48,
             save_every=0, workers=1, threads=1, sweep_gammas=(0.4, "q0.3"))

# Named settings, read by the notebooks (`-p preset NAME`) and `python -m mmkp_lib.experiment --preset NAME`;
# settings given beside a preset override it.
PRESETS: dict[str, dict[str, Any]] = {
    # the embedded experiment of `make report`: the defaults above, 3 seeds in notebook 05 and the report plan
    "report": {},
    # CI-sized: everything tiny (SMOKE), one seed; pages made with it say they are not results
    "smoke": {"smoke": True},
    # the paper's setting on one GPU: Qwen2.5-VL-3B with LoRA on MMKP converted to data/mmkp, GPT-4o rationales
    # written first by notebook 02 (`-p backend openai`); lr 1e-4 is the usual LoRA rate for a 3B VLM
    "qwen2.5-vl-3b-lora": {
        "data": "data/mmkp", "model": "Qwen/Qwen2.5-VL-3B-Instruct", "zero_shot_model": "Qwen/Qwen2.5-VL-3B-Instruct",
        "teacher_backend": "openai", "lora": True, "lr": 1e-4, "batch_size": 8, "grad_accum": 4, "bf16": True,
        "max_pixels": 401408, "max_steps": 2000, "eval_every": 200, "save_every": 200, "max_new_tokens": 512,
        "predict_batch_size": 16, "workers": 1, "baseline_images": False,  # Qwen's tower is not model.vision_tower
    },
}


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
