"""The plan: which run folders an experiment needs (RunSpec), what each name means, and what a folder still needs.

    from mmkp_lib.experiment import ExperimentConfig, plan, report_plan, describe
    specs = report_plan(ExperimentConfig())    # zero-shot, 4 strategies x seeds 0-2, the gamma sweep on seed 0
    describe(specs)                            # a row per run: status (complete | predict | resume | train | retrain)
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from mmkp_lib import runs
from mmkp_lib.experiment.config import ExperimentConfig
from mmkp_lib.training.config import DEFAULT_GAMMA, NO_TRAINING_EFFECT, STRATEGIES, Gamma, TrainConfig, parse_gamma

_PATH_PARAMS = ("data", "teacher_cache", "model_cache")
STATUSES = ("complete", "predict", "resume", "train", "retrain")


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
    baseline: dict | None = None  # the traditional baseline's settings (data); None for other runs
    threads: int = 1  # torch threads the run uses (recorded; results differ in the last bits across thread counts)
    keep_checkpoints: bool = False  # a finished run keeps model/ only (checkpoints are for resuming)
    wave: int = 0  # scheduling group: runs of wave 0 go first (plan: one wave per seed, then the gamma sweep)

    @property
    def kind(self) -> str:
        if self.baseline is not None:
            return "baseline"
        return "zero-shot" if self.train is None else "train"

    @property
    def strategy(self) -> str:
        return self.kind if self.train is None else self.train["strategy"]

    @property
    def data(self) -> str:
        return (self.train or self.zero_shot or self.baseline)["data"]

    def train_config(self) -> TrainConfig:
        if self.train is None:
            raise ValueError(f"{self.name} is a zero-shot run: it has no TrainConfig")
        return TrainConfig.from_dict(self.train)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        return cls(**d)

    def write(self, folder: str | os.PathLike) -> Path:
        """<folder>/<name>.spec.json, what `python -m mmkp_lib.experiment --spec FILE` makes."""
        path = Path(folder) / f"{self.name}.spec.json"
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunSpec":
        return cls.from_dict(json.loads(Path(path).read_text()))


def run_name(strategy: str, seed: int, gamma: Gamma | None = None) -> str:
    """"sft-seed0", "dyncot-g0.4-seed1", "dyncot-gq0.3-seed0" (the labels mmkp_lib.analysis parses)."""
    if strategy == "dyncot":
        return f"dyncot-g{parse_gamma(gamma) if gamma is not None else DEFAULT_GAMMA}-seed{seed}"
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}: one of {', '.join(STRATEGIES)}")
    return f"{strategy}-seed{seed}"


def main_labels(cfg: ExperimentConfig) -> dict[str, str]:
    """The analysis label of each of the paper's rows in this experiment: {"sft": "sft", ..., "dyncot": "dyncot-g0.4"}."""
    return {"zero-shot": "zero-shot", "baseline": "baseline", "sft": "sft", "cot": "cot", "multitask": "multitask",
            "dyncot": f"dyncot-g{cfg.train.gamma}"}


def train_config(cfg: ExperimentConfig, strategy: str, seed: int, gamma: Gamma | None = None) -> TrainConfig:
    """The TrainConfig of one planned run: the experiment's training template with this run's strategy, seed,
    folder and the experiment's resolved paths filled in. `gamma` (a sweep's) replaces the template's for dyncot;
    the other strategies record the default gamma, which they do not use."""
    eff = cfg.effective()
    t = eff.train
    gamma = (gamma or t.gamma) if strategy == "dyncot" else DEFAULT_GAMMA
    return dataclasses.replace(
        t, data=eff.data, out=str(Path(eff.runs_dir) / run_name(strategy, seed, gamma)), strategy=strategy,
        teacher_cache=eff.teacher_cache if strategy != "sft" else None, gamma=gamma,
        model_seed=seed if eff.vary_model_seed else 0, model_cache=eff.model_cache, seed=seed,
        limit_train=eff.limit_train or None, bf16=eff.bf16, eval_batch_size=min(t.eval_samples, 32),
        save_total_limit=1, log_every=min(10, t.max_steps))


def _predict_settings(eff: ExperimentConfig) -> dict:
    return {"split": "test", "limit": eff.test_limit or None, "batch_size": eff.predict_batch_size,
            "max_new_tokens": eff.train.max_new_tokens}


def train_spec(cfg: ExperimentConfig, strategy: str, seed: int, gamma: Gamma | None = None) -> RunSpec:
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
          "max_pixels": eff.train.max_pixels, "shots": eff.zero_shot_shots}
    return RunSpec(name=name, out=str(Path(eff.runs_dir) / name), train=None, zero_shot=zs, predict=settings,
                   threads=eff.threads)


def baseline_spec(cfg: ExperimentConfig) -> RunSpec:
    """The traditional baseline row (mmkp_lib.baseline): fitted in seconds on the training posts the plan's runs
    use, never trained with a strategy; it can only predict training keyphrases. With `baseline_images` it also
    reads the images through the student's own (warmed-up) vision tower."""
    eff = cfg.effective()
    settings = dict(_predict_settings(eff), max_new_tokens=None)
    return RunSpec(name="baseline", out=str(Path(eff.runs_dir) / "baseline"), train=None, zero_shot=None,
                   baseline={"data": eff.data, "limit_train": eff.limit_train or None,
                             "image_model": eff.train.model if eff.baseline_images else None, "model_seed": 0,
                             "model_cache": eff.model_cache}, predict=settings)


def evaluation_posts(cfg: ExperimentConfig) -> tuple[list, list]:
    """(test posts, training posts) as the plan's runs used them: the first `test_limit` test posts they
    predicted, the first `limit_train` training posts they trained on (what seen/unseen is judged against)."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.records import first_posts

    eff = cfg.effective()
    test = first_posts(load_posts(eff.data, split="test"), eff.test_limit, "test_limit")
    train = first_posts(load_posts(eff.data, split="train"), eff.limit_train, "limit_train")
    return test, train


def plan(cfg: ExperimentConfig, *, strategies: Sequence[str] = STRATEGIES, seeds: Sequence[int] | None = None,
         zero_shot: bool = True, baseline: bool = True, sweep: bool = False) -> list[RunSpec]:
    """Run specs: zero-shot and the traditional baseline (once each), then each strategy x seed (dyncot at
    cfg.train.gamma; a strategy in cfg.one_seed_strategies on the first seed only), then the gamma sweep on the first seed (sweep=True; the main gamma is not repeated). Names are unique. Each seed is a scheduling wave and
    the sweep the last one, so the main table's runs finish first."""
    eff = cfg.effective()
    seeds = tuple(seeds) if seeds is not None else eff.seeds
    specs = [zero_shot_spec(cfg)] if zero_shot else []
    if baseline:
        specs.append(baseline_spec(cfg))
    for wave, seed in enumerate(seeds):
        for strategy in strategies:
            if wave > 0 and strategy in eff.one_seed_strategies:
                continue
            specs.append(dataclasses.replace(train_spec(cfg, strategy, seed), wave=wave))
    if sweep:
        for g in eff.sweep_gammas:
            specs.append(dataclasses.replace(train_spec(cfg, "dyncot", seeds[0], g), wave=len(seeds)))
    unique: dict[str, RunSpec] = {}
    for s in specs:
        unique.setdefault(s.name, s)
    return list(unique.values())


def report_plan(cfg: ExperimentConfig, seeds: Sequence[int] | None = None) -> list[RunSpec]:
    """The full report: zero-shot, every strategy for each seed (default 0, 1, 2; smoke: 0), and the gamma
    sweep on the first seed."""
    if seeds is None:
        seeds = (0,) if cfg.smoke else (0, 1, 2)
    return plan(cfg, seeds=seeds, sweep=True)


# ---- status: what a run folder still needs ----------------------------------------------------------------------

def _same_path(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a == b
    return os.path.realpath(str(a)) == os.path.realpath(str(b))


def params_diff(saved: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple]:
    """{name: (saved, wanted)} of the parameters that differ (paths compared resolved; `out` and the like ignored)."""
    diff = {}
    for k in sorted(set(saved) | set(wanted)):
        if k in NO_TRAINING_EFFECT:  # `out` among them: a run that moved with its work folder is the same run
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

    n = len(load_posts(spec.data, split=spec.predict["split"]))
    return min(n, spec.predict["limit"]) if spec.predict["limit"] else n


def _prediction_matches(spec: RunSpec, config: dict) -> bool:
    """Whether the run's prediction files were made with the spec's settings, as metrics.json itself records them.

    Only the prediction output is trusted (its "predicted_with"), never config.json: `mmkp predict` run by hand
    after the experiment rewrites the files but not config.json. Files without that record (an older version)
    do not match, so they are predicted again.
    """
    run = Path(spec.out)
    pred, metrics = runs.prediction_files(spec.predict["split"])
    if not (run / pred).is_file() or not (run / metrics).is_file():
        return False
    try:
        done = runs.read_json(run / metrics).get("predicted_with")
    except ValueError:  # a metrics.json cut short
        return False
    if not isinstance(done, dict):
        return False
    if spec.baseline is not None:
        want = {"limit_train": spec.baseline["limit_train"], "image_model": spec.baseline["image_model"]}
    elif spec.train is not None:
        want = {"model": spec.train["model"], "checkpoint": None,
                "model_step": (config.get("result") or {}).get("global_step")}
    else:
        want = {"model": spec.zero_shot["model_name"], "model_seed": spec.zero_shot["model_seed"],
                "shots": spec.zero_shot["shots"]}
    want.update(data=spec.data, split=spec.predict["split"], posts=_expected_test_posts(spec))
    if spec.baseline is None:
        want["max_new_tokens"] = spec.predict["max_new_tokens"]
    return all(_same_path(done.get(k), v) if k == "data" else done.get(k) == v for k, v in want.items())


def _model_build_changed(config: dict, name: str) -> str | None:
    """Why a run's recorded model build is not this code's build of the named model (None: it is, or the model is
    not a named one): a run trained on an older build (another tokenizer, say) is not the run the plan asks for."""
    from mmkp_lib.models.hub import CHECKED_BUILDS, stale_settings

    if name not in CHECKED_BUILDS:
        return None
    if "model_build" not in config:
        return f"config.json does not record the {name!r} model build it used (made before builds were recorded)"
    diff = stale_settings(name, {"config": config["model_build"] or {}})
    return f"the {name!r} model's build settings changed since (field: (run's, current)) {diff}" if diff else None


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
    if spec.baseline is not None:
        if config.get("kind") != "baseline":
            return "retrain", f"config.json is a {config.get('kind')!r} run, not the baseline"
        return ("complete", "baseline predictions match") if _prediction_matches(spec, config) else \
            ("retrain", "baseline predictions missing or made with other settings")
    if spec.train is None:
        if config.get("kind") != "zero-shot":
            return "retrain", f"config.json is a {config.get('kind')!r} run, not zero-shot"
        diff = params_diff({k: config["params"].get(k) for k in ("model", "model_seed", "data", "shots")},
                           {"model": spec.zero_shot["model_name"], "model_seed": spec.zero_shot["model_seed"],
                            "data": spec.zero_shot["data"], "shots": spec.zero_shot["shots"]})
        if diff:
            return "retrain", f"other zero-shot settings (name: (saved, wanted)) {diff}"
        changed = _model_build_changed(config, spec.zero_shot["model_name"])
        if changed:
            return "retrain", changed
        return ("complete", "zero-shot predictions match") if _prediction_matches(spec, config) else \
            ("retrain", "zero-shot predictions missing or made with other settings")
    diff = params_diff(config.get("params") or {}, spec.train)
    if diff:
        return "retrain", f"config.json differs (name: (saved, wanted)) {diff}"
    changed = _model_build_changed(config, spec.train["model"])
    if changed:
        return "retrain", changed
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


