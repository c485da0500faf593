"""The embedded experiment as code: its defaults, the plan of run folders, and `ensure_runs` that makes them.

Notebooks 03-05 and `make report` ask for runs by name; this module says what
each name means (every training parameter), reuses a finished run whose
config.json matches, resumes a killed one from its last checkpoint, trains the
rest (several at once, one process each, when that is faster on this machine)
and predicts the test split:

    from mmkp_lib.experiment import ExperimentConfig, plan, report_plan, ensure_teacher, ensure_runs
    cfg = ExperimentConfig()                                   # the default embedded experiment (one seed)
    ensure_teacher(cfg)                                        # oracle rationales, if the cache lacks them
    folders = ensure_runs(plan(cfg))                           # zero-shot, sft, cot, multitask, dyncot-g0.4 (seed 0)
    folders = ensure_runs(report_plan(cfg))                    # issue 6: 3 seeds + the gamma sweep on seed 0

    .venv/bin/python -m mmkp_lib.experiment --plan report      # the same from a shell (prints each run's status)
    .venv/bin/python -m mmkp_lib.experiment --plan default --dry-run

Run names are `<label>-seed<k>` (`sft-seed0`, `cot-seed1`, `dyncot-g0.4-seed0`,
`dyncot-gq0.3-seed0`), which `mmkp_lib.analysis` turns into labels and seeds;
the zero-shot row is `zero-shot-<model>` (one run: it has no training seed).
Every strategy trains for the same number of optimizer steps at the same batch
size, so the comparison is at equal training compute per step; steps and wall
time are recorded in each run's config.json (`result`, `experiment`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mmkp_lib import runs
from mmkp_lib.training.config import STRATEGIES, ConfigError, TrainConfig, parse_gamma

# TrainConfig fields that change no trained number (launch.RESUME_MAY_CHANGE), plus `out`: a run that moved
# with its work folder is still the same run.
_IGNORED_PARAMS = ("out", "tqdm", "num_workers", "eval_batch_size", "save_total_limit")
_PATH_PARAMS = ("data", "teacher_cache", "model_cache")
STATUSES = ("complete", "predict", "resume", "train", "retrain")


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
    sweep_gammas: tuple = (0.1, 0.2, 0.4, 0.8, 1.6, "q0.3")  # gamma sweep (seed seeds[0]); includes `gamma`
    scoring: str = "online"  # Dynamic CoT: online (exact) | lagged (free)
    max_steps: int = 400  # optimizer steps, the same for every strategy
    batch_size: int = 32  # samples per optimizer step (one micro-batch)
    lr: float = 5e-4  # peak AdamW learning rate (cosine decay, 5% warm-up)
    eval_every: int = 50  # optimizer steps between validation F1 points (learning curves); 0 = off
    eval_samples: int = 64  # validation posts generated at each point
    max_new_tokens: int = 400  # generation budget (reasoning + answer), validation and test; oracle CoT targets: p99 342 tokens
    zero_shot_max_new_tokens: int = 32  # zero-shot budget: a "kp1; kp2" answer needs ~10 tokens; an untuned model rambles
    bf16: str | bool = "auto"  # bf16 autocast in training: auto = where the CPU/GPU has bf16 units (else fp32)
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
        # The rest (scoring, lr, model...) is checked by TrainConfig when the plan is built.
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


# ---- the plan -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One run folder and everything that makes it: a TrainConfig (or zero-shot settings) and the test prediction.

    JSON-serialisable (`to_dict`/`from_dict`), so a worker process receives exactly what the planner meant.
    """

    name: str  # folder name under runs_dir: "<label>-seed<k>" or "zero-shot-<model>"
    out: str  # the run folder (absolute)
    train: dict | None  # TrainConfig.to_dict(); None for zero-shot
    zero_shot: dict | None  # predict_zero_shot keyword arguments; None for trained runs
    predict: dict  # split, limit, batch_size, max_new_tokens of the test prediction
    threads: int = 1  # torch threads the run uses (recorded; results differ in the last bits across thread counts)
    keep_checkpoints: bool = False  # a finished run keeps model/ only (checkpoints are for resuming)

    @property
    def kind(self) -> str:
        return "zero-shot" if self.train is None else "train"

    @property
    def strategy(self) -> str:
        return "zero-shot" if self.train is None else self.train["strategy"]

    def train_config(self) -> TrainConfig:
        if self.train is None:
            raise ValueError(f"{self.name} is a zero-shot run: it has no TrainConfig")
        return TrainConfig.from_dict(self.train)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        return cls(**d)


def run_name(strategy: str, seed: int, gamma: float | str | None = None) -> str:
    """"sft-seed0", "dyncot-g0.4-seed1", "dyncot-gq0.3-seed0" (the labels mmkp_lib.analysis parses)."""
    if strategy == "dyncot":
        return f"dyncot-g{parse_gamma(0.4 if gamma is None else gamma)}-seed{seed}"
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}: one of {', '.join(STRATEGIES)}")
    return f"{strategy}-seed{seed}"


def main_labels(cfg: ExperimentConfig) -> dict[str, str]:
    """The analysis label of each of the paper's rows in this experiment: {"sft": "sft", ..., "dyncot": "dyncot-g0.4"}."""
    eff = cfg.effective()
    return {"zero-shot": "zero-shot", "sft": "sft", "cot": "cot", "multitask": "multitask",
            "dyncot": f"dyncot-g{parse_gamma(eff.gamma)}"}


def train_config(cfg: ExperimentConfig, strategy: str, seed: int, gamma: float | str | None = None) -> TrainConfig:
    """The TrainConfig of one planned run (validated)."""
    eff = cfg.effective()
    name = run_name(strategy, seed, gamma if gamma is not None else eff.gamma)
    return TrainConfig(
        data=eff.data, out=str(Path(eff.runs_dir) / name), strategy=strategy,
        teacher_cache=eff.teacher_cache if strategy != "sft" else None,
        gamma=(gamma if gamma is not None else eff.gamma) if strategy == "dyncot" else 0.4,
        scoring=eff.scoring, model=eff.model, model_seed=seed if eff.vary_model_seed else 0,
        model_cache=eff.model_cache, max_steps=eff.max_steps, batch_size=eff.batch_size, lr=eff.lr,
        eval_every=eff.eval_every, eval_samples=eff.eval_samples, eval_batch_size=min(eff.eval_samples, 32),
        max_new_tokens=eff.max_new_tokens, seed=seed, limit_train=eff.limit_train or None, bf16=eff.bf16,
        save_every=eff.save_every, save_total_limit=1, log_every=min(10, eff.max_steps),
    )


def _predict_settings(eff: ExperimentConfig) -> dict:
    return {"split": "test", "limit": eff.test_limit or None, "batch_size": eff.predict_batch_size,
            "max_new_tokens": eff.max_new_tokens}


def train_spec(cfg: ExperimentConfig, strategy: str, seed: int, gamma: float | str | None = None) -> RunSpec:
    eff = cfg.effective()
    tc = train_config(cfg, strategy, seed, gamma)
    return RunSpec(name=tc.name, out=tc.out, train=tc.to_dict(), zero_shot=None, predict=_predict_settings(eff),
                   threads=eff.threads)


def zero_shot_spec(cfg: ExperimentConfig) -> RunSpec:
    """The zero-shot row: `zero_shot_model` (smol when installed) prompted, never trained."""
    eff = cfg.effective()
    name = f"zero-shot-{Path(eff.zero_shot_model).name}"
    settings = dict(_predict_settings(eff), max_new_tokens=eff.zero_shot_max_new_tokens)
    zs = {"model_name": eff.zero_shot_model, "data": eff.data, "model_seed": 0, "model_cache": eff.model_cache,
          "max_pixels": None}
    return RunSpec(name=name, out=str(Path(eff.runs_dir) / name), train=None, zero_shot=zs, predict=settings,
                   threads=eff.threads)


def plan(cfg: ExperimentConfig, *, strategies: Sequence[str] = STRATEGIES, seeds: Sequence[int] | None = None,
         zero_shot: bool = True, sweep: bool = False) -> list[RunSpec]:
    """Run specs: zero-shot (once), then each strategy x seed (dyncot at cfg.gamma), then the gamma sweep on the
    first seed (sweep=True; the main gamma is not repeated). Names are unique."""
    eff = cfg.effective()
    seeds = tuple(seeds) if seeds is not None else eff.seeds
    specs = [zero_shot_spec(cfg)] if zero_shot else []
    for seed in seeds:
        for strategy in strategies:
            specs.append(train_spec(cfg, strategy, seed))
    if sweep:
        for g in eff.sweep_gammas:
            specs.append(train_spec(cfg, "dyncot", seeds[0], g))
    unique: dict[str, RunSpec] = {}
    for s in specs:
        unique.setdefault(s.name, s)
    return list(unique.values())


def report_plan(cfg: ExperimentConfig, seeds: Sequence[int] | None = None) -> list[RunSpec]:
    """Issue 6's full report: zero-shot, every strategy for each seed (default 0, 1, 2; smoke: 0), and the gamma
    sweep on the first seed."""
    if seeds is None:
        seeds = (0,) if cfg.smoke else (0, 1, 2)
    return plan(cfg, seeds=seeds, sweep=True)


def report_runs(work_dir: str | os.PathLike, data: str | os.PathLike, *, smoke: bool = False,
                seeds: Sequence[int] | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """The `make report` stage: teacher rationales if missing, then every run of `report_plan` (reused when done).

        from mmkp_lib.experiment import report_runs
        report_runs("/work/main", "/work/main/data/synth")                 # 18 runs (zero-shot, 4 x 3 seeds, sweep)
        report_runs("/tmp/work", "/tmp/work/data/synth-smoke", smoke=True)

    Notebooks 03-05 then find every run complete and only read them.
    """
    cfg = ExperimentConfig(data=str(data), work_dir=str(work_dir), smoke=smoke).validated()
    ensure_teacher(cfg, log)
    return ensure_runs(report_plan(cfg, seeds), log=log)


# ---- status: what a run folder still needs ----------------------------------------------------------------------

def _same_path(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a == b
    return os.path.realpath(str(a)) == os.path.realpath(str(b))


def params_diff(saved: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple]:
    """{name: (saved, wanted)} of the parameters that differ (paths compared resolved; `out` and the like ignored)."""
    diff = {}
    for k in sorted(set(saved) | set(wanted)):
        if k in _IGNORED_PARAMS:
            continue
        a, b = saved.get(k), wanted.get(k)
        if k in _PATH_PARAMS or k == "data":
            same = _same_path(a, b)
        else:
            same = a == b or (isinstance(a, list) and tuple(a) == b)
        if not same:
            diff[k] = (a, b)
    return diff


def _expected_test_posts(spec: RunSpec) -> int:
    from mmkp_lib.formats import load_posts

    data = spec.train["data"] if spec.train else spec.zero_shot["data"]
    n = len(load_posts(data, split=spec.predict["split"]))
    return min(n, spec.predict["limit"]) if spec.predict["limit"] else n


def _prediction_matches(spec: RunSpec, config: dict) -> bool:
    run = Path(spec.out)
    pred, metrics = runs.prediction_files(spec.predict["split"])
    if not (run / pred).is_file() or not (run / metrics).is_file():
        return False
    done = (config.get("experiment") or {}).get("predict")
    if done is None:  # predicted outside ensure_run: trust metrics.json's own record
        m = runs.read_json(run / metrics)
        done = {"split": m.get("split"), "max_new_tokens": m.get("max_new_tokens"),
                "posts": (m.get("generation") or {}).get("posts")}
    else:
        done = dict(done)
    want = {"split": spec.predict["split"], "max_new_tokens": spec.predict["max_new_tokens"],
            "posts": _expected_test_posts(spec)}
    return all(done.get(k) == v for k, v in want.items())


def run_status(spec: RunSpec) -> tuple[str, str]:
    """(status, why): complete | predict (trained, prediction missing or stale) | resume (checkpoint of the same
    config) | train (no run yet) | retrain (the folder holds another config or a broken run)."""
    run = Path(spec.out)
    if not run.exists() or not any(run.iterdir()):
        return "train", "no run folder yet"
    cfg_file = runs.path(run, runs.CONFIG)
    if not cfg_file.is_file():
        return "retrain", "the folder has no config.json (an interrupted start)"
    config = runs.read_config(run)
    if spec.train is None:
        if config.get("kind") != "zero-shot":
            return "retrain", f"config.json is a {config.get('kind')!r} run, not zero-shot"
        diff = params_diff({k: config["params"].get(k) for k in ("model", "model_seed", "data")},
                           {"model": spec.zero_shot["model_name"], "model_seed": spec.zero_shot["model_seed"],
                            "data": spec.zero_shot["data"]})
        if diff:
            return "retrain", f"other zero-shot settings (name: (saved, wanted)) {diff}"
        return ("complete", "zero-shot predictions match") if _prediction_matches(spec, config) else \
            ("retrain", "zero-shot predictions missing or made with other settings")
    diff = params_diff(config.get("params") or {}, spec.train)
    if diff:
        return "retrain", f"config.json differs (name: (saved, wanted)) {diff}"
    result = config.get("result") or {}
    trained = bool(result) and (run / runs.MODEL_DIR).is_dir() and result.get("global_step") == spec.train["max_steps"]
    if trained:
        if not runs.missing_parts(run, predicted=False) and _prediction_matches(spec, config):
            return "complete", f"trained {result['global_step']} steps, test predictions match"
        return "predict", "trained; test predictions missing or made with other settings"
    ckpt = runs.last_checkpoint(run)
    if ckpt is not None:
        return "resume", f"interrupted; resumes from {ckpt.name}"
    return "retrain", "interrupted before its first checkpoint"


# ---- making runs ------------------------------------------------------------------------------------------------

def ensure_teacher(cfg: ExperimentConfig, log: Callable[[str], None] = print) -> Path:
    """The teacher cache with an accepted rationale for every training post used; the oracle writes missing ones.

    Other backends (openai, hf) are never called from here: their cache must
    already exist (notebook 02 or `mmkp teacher` write it, at a cost).
    """
    from mmkp_lib.formats import load_posts
    from mmkp_lib.teacher import generate_rationales, load_rationales, make_backend

    eff = cfg.effective()
    path = Path(eff.teacher_cache)
    posts = load_posts(eff.data, split="train")
    if eff.limit_train:
        posts = posts[:eff.limit_train]
    have = load_rationales(path, posts) if path.is_file() else {}
    if len(have) == len(posts):
        log(f"teacher cache {path}: rationales for all {len(posts)} training posts")
        return path
    if eff.teacher_backend != "oracle":
        raise FileNotFoundError(
            f"{path}: {len(have)} of {len(posts)} training posts have an accepted {eff.teacher_backend} rationale; "
            f"write them first with notebook 02 or `mmkp teacher --data {eff.data} --backend {eff.teacher_backend} "
            f"--out {path}` (ensure_teacher only runs the free offline oracle)")
    t0 = time.perf_counter()
    summary = generate_rationales(posts, make_backend("oracle"), path, progress=False)
    log(f"teacher cache {path}: oracle wrote {summary.done} rationales in {time.perf_counter() - t0:.1f} s")
    return path


def ensure_models(specs: Sequence[RunSpec], log: Callable[[str], None] = print) -> None:
    """Build the named offline models the specs use (once, with every core) before runs start in parallel."""
    from mmkp_lib.models import NAMED_MODELS, model_folder

    wanted = set()
    for s in specs:
        if s.train is not None:
            wanted.add((s.train["model"], s.train["model_seed"], s.train["model_cache"]))
        else:
            wanted.add((s.zero_shot["model_name"], s.zero_shot["model_seed"], s.zero_shot["model_cache"]))
    for name, seed, cache in sorted(wanted):
        if name in NAMED_MODELS:
            t0 = time.perf_counter()
            folder = model_folder(name, seed=seed, cache_dir=cache)
            if time.perf_counter() - t0 > 5:
                log(f"built {name} (seed {seed}) into {folder} in {time.perf_counter() - t0:.0f} s")


def _record(spec: RunSpec, **fields: Any) -> None:
    config = runs.read_config(spec.out)
    exp = dict(config.get("experiment") or {})
    exp.update(fields)
    runs.update_config(spec.out, experiment=exp)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _quiet_progress_bars() -> None:
    """No per-file "Loading weights" bars in notebooks and worker logs (DESIGN.md: headless runs show no bars)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def ensure_run(spec: RunSpec, log: Callable[[str], None] = print) -> Path:
    """Make `spec`'s run folder complete: reuse, predict, resume or (re)train as `run_status` says. Returns the folder.

    Wall times (training, prediction), the thread count and the machine's load
    average are recorded in config.json under "experiment".
    """
    status, why = run_status(spec)
    run = Path(spec.out)
    if status == "complete":
        log(f"{spec.name}: reused ({why})")
        return run
    log(f"{spec.name}: {status} ({why})")
    _set_threads(spec.threads)
    _quiet_progress_bars()
    load_before = os.getloadavg()
    if spec.train is None:
        from mmkp_lib.inference import predict_zero_shot

        if run.exists():
            shutil.rmtree(run)
        t0 = time.perf_counter()
        predict_zero_shot(spec.zero_shot["model_name"], data=spec.zero_shot["data"], out=run,
                          split=spec.predict["split"], limit=spec.predict["limit"],
                          batch_size=spec.predict["batch_size"], max_new_tokens=spec.predict["max_new_tokens"],
                          model_seed=spec.zero_shot["model_seed"], model_cache=spec.zero_shot["model_cache"],
                          max_pixels=spec.zero_shot["max_pixels"])
        _record(spec, predict=_done_predict(spec), predict_wall_s=round(time.perf_counter() - t0, 2),
                threads=spec.threads, load_avg=[round(x, 2) for x in (*load_before, *os.getloadavg())][:6])
        log(f"{spec.name}: zero-shot predicted in {time.perf_counter() - t0:.0f} s")
        return run

    from mmkp_lib.inference import predict_run
    from mmkp_lib.training import train

    if status in ("train", "retrain", "resume"):
        t0 = time.perf_counter()
        train(spec.train_config(), resume=status == "resume", overwrite=status != "resume", log=lambda *_: None)
        train_wall = round(time.perf_counter() - t0, 2)
        _record(spec, train_wall_s=train_wall, threads=spec.threads, resumed=status == "resume",
                load_avg_train=[round(x, 2) for x in (*load_before, *os.getloadavg())])
        log(f"{spec.name}: trained {spec.train['max_steps']} steps in {train_wall:.0f} s")
        if not spec.keep_checkpoints:
            for ckpt in runs.checkpoints(run):
                shutil.rmtree(ckpt, ignore_errors=True)
    t0 = time.perf_counter()
    p = spec.predict
    predict_run(run, split=p["split"], limit=p["limit"], batch_size=p["batch_size"], max_new_tokens=p["max_new_tokens"])
    predict_wall = round(time.perf_counter() - t0, 2)
    _record(spec, predict=_done_predict(spec), predict_wall_s=predict_wall)
    log(f"{spec.name}: predicted the {p['split']} split in {predict_wall:.0f} s")
    return run


def _done_predict(spec: RunSpec) -> dict:
    return {"split": spec.predict["split"], "max_new_tokens": spec.predict["max_new_tokens"],
            "posts": _expected_test_posts(spec), "batch_size": spec.predict["batch_size"]}


def ensure_runs(specs: Sequence[RunSpec], *, workers: int | None = None, log: Callable[[str], None] = print,
                log_dir: str | os.PathLike | None = None) -> list[Path]:
    """`ensure_run` for every spec; runs that need work go `workers` at a time, each in its own process.

    workers: None = the largest spec thread budget allows (cores // threads), 1 = in this process, one by
    one. Each worker process uses its spec's thread count, so a run gives the same numbers whether it ran
    alone or beside another. A worker's output goes to <runs_dir>/.logs/<name>.log; a failure raises
    RuntimeError with the end of that log. Returns the run folders in the specs' order.
    """
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two specs are named {dup[0]!r}; run names must be unique")
    todo = []
    for s in specs:
        status, why = run_status(s)
        if status == "complete":
            log(f"{s.name}: reused ({why})")
        else:
            todo.append(s)
    if not todo:
        return [Path(s.out) for s in specs]
    _quiet_progress_bars()
    ensure_models(todo, log)
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = max(1, cores // max(s.threads for s in todo))
    if workers <= 1 or len(todo) == 1:
        for s in todo:
            ensure_run(s, log)
        return [Path(s.out) for s in specs]
    _run_parallel(todo, workers, log, log_dir)
    return [Path(s.out) for s in specs]


# Slowest first, so the last runs to finish are short ones (CoT targets and generations are longer than SFT's).
_COST_ORDER = {"multitask": 0, "cot": 1, "dyncot": 2, "sft": 3, "zero-shot": 4}


def _run_order(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """Seed by seed in the plan's order (the first seed's runs, which notebooks 03/04 read, finish first), and
    within one seed slowest first; zero-shot runs join the first seed."""
    seeds = list(dict.fromkeys(s.train["seed"] for s in specs if s.train is not None))

    def key(s: RunSpec) -> tuple[int, int]:
        wave = 0 if s.train is None else seeds.index(s.train["seed"])
        return wave, _COST_ORDER.get(s.strategy, 5)

    return sorted(specs, key=key)


def _run_parallel(specs: Sequence[RunSpec], workers: int, log, log_dir) -> None:
    queue = _run_order(specs)
    log_dir = Path(log_dir) if log_dir else Path(specs[0].out).parent / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, Path, float, Any]] = {}
    failures = []
    t_start = time.perf_counter()
    try:
        while queue or running:
            while queue and len(running) < workers:
                s = queue.pop(0)
                spec_file = log_dir / f"{s.name}.spec.json"
                spec_file.write_text(json.dumps(s.to_dict(), indent=1))
                log_file = log_dir / f"{s.name}.log"
                fh = open(log_file, "w")
                env = dict(os.environ, OMP_NUM_THREADS=str(s.threads), MKL_NUM_THREADS=str(s.threads),
                           TOKENIZERS_PARALLELISM="false")
                proc = subprocess.Popen([sys.executable, "-m", "mmkp_lib.experiment", "--spec", str(spec_file)],
                                        stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())
                running[s.name] = (proc, log_file, time.perf_counter(), fh)
                log(f"{s.name}: started (process {proc.pid}, {s.threads} thread(s), log {log_file})")
            time.sleep(1.0)
            for name, (proc, log_file, t0, fh) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                fh.close()
                del running[name]
                if rc == 0:
                    log(f"{name}: done in {time.perf_counter() - t0:.0f} s "
                        f"({time.perf_counter() - t_start:.0f} s since the first start)")
                else:
                    tail = "".join(log_file.read_text(errors="replace").splitlines(keepends=True)[-15:])
                    failures.append(f"{name} failed (exit {rc}); the end of {log_file}:\n{tail}")
                    log(failures[-1])
    except BaseException:
        for proc, _, _, fh in running.values():  # an interrupted notebook cell stops its workers too
            proc.terminate()
            proc.wait()
            fh.close()
        raise
    if failures:
        raise RuntimeError("\n\n".join(failures))


def describe(specs: Sequence[RunSpec]) -> list[dict[str, Any]]:
    """A row per spec: name, strategy, seed, gamma, status and why (a notebook shows it before training)."""
    rows = []
    for s in specs:
        status, why = run_status(s)
        rows.append({"run": s.name, "strategy": s.strategy, "seed": (s.train or {}).get("seed"),
                     "gamma": (s.train or {}).get("gamma") if s.strategy == "dyncot" else None,
                     "steps": (s.train or {}).get("max_steps"), "batch": (s.train or {}).get("batch_size"),
                     "status": status, "why": why})
    return rows


def run_times(folders: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """A row per run folder: steps, batch, training and prediction wall seconds, threads (from config.json)."""
    rows = []
    for f in folders:
        config = runs.read_config(f)
        params, result, exp = config.get("params") or {}, config.get("result") or {}, config.get("experiment") or {}
        rows.append({"run": Path(f).name, "strategy": params.get("strategy"), "steps": result.get("global_step"),
                     "batch": params.get("batch_size"), "train_s": exp.get("train_wall_s"),
                     "predict_s": exp.get("predict_wall_s"), "threads": exp.get("threads")})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", help="JSON file of one RunSpec: ensure that run in this process (what workers do)")
    p.add_argument("--plan", choices=("default", "report"), help="default: one seed; report: 3 seeds + gamma sweep")
    p.add_argument("--smoke", action="store_true", help="the smoke-sized experiment")
    p.add_argument("--work-dir", default=".", help="where cache/ and runs/ live")
    p.add_argument("--dry-run", action="store_true", help="print each run's status, train nothing")
    a = p.parse_args(argv)
    if a.spec:
        spec = RunSpec.from_dict(json.loads(Path(a.spec).read_text()))
        ensure_run(spec, log=lambda m: print(m, flush=True))
        return 0
    if not a.plan:
        p.error("pass --plan default|report (or --spec FILE)")
    cfg = ExperimentConfig(work_dir=a.work_dir, smoke=a.smoke).validated()
    specs = plan(cfg) if a.plan == "default" else report_plan(cfg)
    for row in describe(specs):
        print(f"{row['run']:28s} {row['status']:9s} {row['why']}")
    if not a.dry_run:
        ensure_teacher(cfg)
        ensure_runs(specs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
