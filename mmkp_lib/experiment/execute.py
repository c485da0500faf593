"""Making runs: teacher rationales, offline models, then each run folder (reuse, predict, resume or train).

    from mmkp_lib.experiment import ExperimentConfig, ensure_runs, ensure_teacher, plan
    cfg = ExperimentConfig.from_settings("report")
    ensure_teacher(cfg)
    folders = ensure_runs(plan(cfg), workers=2)   # two processes at once, one thread each (this 2-core CPU)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from mmkp_lib import runs
from mmkp_lib.paths import display_path
from mmkp_lib.experiment.config import ExperimentConfig
from mmkp_lib.experiment.plan import RunSpec, _expected_test_posts, run_status


def ensure_data(cfg: ExperimentConfig, log: Callable[[str], None] = print) -> Path:
    """The experiment's benchmark folder. The default embedded benchmark (DEFAULT_DATA, or SMOKE_DATA with its
    SMOKE_SIZES in smoke mode) is generated when it is missing (about 15 s; `mmkp synth --out data/synth` does the
    same); any other missing folder is left for validated() to refuse."""
    from mmkp_lib.experiment.config import DEFAULT_DATA

    folder = Path(cfg.data_folder())
    if folder.exists() or cfg.data != DEFAULT_DATA:
        return folder
    from mmkp_lib.synth import SMOKE_SIZES, SynthConfig, generate

    sizes = SMOKE_SIZES if cfg.smoke else {}
    log(f"{display_path(folder)} does not exist: generating the {'smoke-sized ' if cfg.smoke else ''}embedded "
        f"benchmark there (`mmkp synth --out {display_path(folder)}`)")
    generate(SynthConfig(**sizes), folder, progress=False)
    return folder


def ensure_teacher(cfg: ExperimentConfig, log: Callable[[str], None] = print) -> Path:
    """The teacher cache with an accepted rationale for every training post used; the oracle writes missing ones.

    Other backends (openai, hf) are never called from here: their cache must
    already exist (notebook 02 or `mmkp teacher` write it, at a cost).
    """
    from mmkp_lib.formats import load_posts
    from mmkp_lib.records import first_posts
    from mmkp_lib.teacher import generate_rationales, load_rationales, make_backend

    eff = cfg.effective()
    path = Path(eff.teacher_cache)
    posts = first_posts(load_posts(eff.data, split="train"), eff.limit_train, "limit_train")
    have = load_rationales(path, posts) if path.is_file() else {}
    if len(have) == len(posts):
        log(f"teacher cache {display_path(path)}: rationales for all {len(posts)} training posts")
        return path
    if eff.teacher_backend != "oracle":
        raise FileNotFoundError(
            f"{path}: {len(have)} of {len(posts)} training posts have an accepted {eff.teacher_backend} rationale; "
            f"write them first with notebook 02 or `mmkp teacher --data {eff.data} --backend {eff.teacher_backend} "
            f"--out {path}` (ensure_teacher only runs the free offline oracle)")
    t0 = time.perf_counter()
    summary = generate_rationales(posts, make_backend("oracle", style=eff.teacher_style), path, progress=False)
    log(f"teacher cache {display_path(path)}: oracle wrote {summary.done} rationales in {time.perf_counter() - t0:.1f} s")
    return path


def ensure_models(specs: Sequence[RunSpec], log: Callable[[str], None] = print) -> None:
    """Build the named offline models the specs use (once, with every core) before runs start in parallel."""
    from mmkp_lib.models import NAMED_MODELS, model_folder

    wanted = set()
    for s in specs:
        if s.train is not None:
            wanted.add((s.train["model"], s.train["model_seed"], s.train["model_cache"]))
        elif s.zero_shot is not None:
            wanted.add((s.zero_shot["model_name"], s.zero_shot["model_seed"], s.zero_shot["model_cache"]))
        elif s.baseline is not None and s.baseline["image_model"]:  # the baseline reads its vision tower
            wanted.add((s.baseline["image_model"], s.baseline["model_seed"], s.baseline["model_cache"]))
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
    """No per-file "Loading weights" bars in notebooks and worker logs (headless runs show no bars: they would flood the logs)."""
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
    if spec.baseline is not None:
        from mmkp_lib.baseline import predict_baseline_run

        runs.remove_run(run, keep=(spec.baseline["data"],))
        t0 = time.perf_counter()
        predict_baseline_run(spec.baseline["data"], run, split=spec.predict["split"], limit=spec.predict["limit"],
                             limit_train=spec.baseline["limit_train"], image_model=spec.baseline["image_model"],
                             model_cache=spec.baseline["model_cache"], model_seed=spec.baseline["model_seed"])
        _record(spec, predict=_done_predict(spec), predict_wall_s=round(time.perf_counter() - t0, 2),
                threads=spec.threads)
        log(f"{spec.name}: fitted and predicted in {time.perf_counter() - t0:.1f} s")
        return run
    if spec.train is None:
        from mmkp_lib.inference import predict_zero_shot

        runs.remove_run(run, keep=(spec.zero_shot["data"], spec.zero_shot["model_cache"]))
        t0 = time.perf_counter()
        predict_zero_shot(spec.zero_shot["model_name"], data=spec.zero_shot["data"], out=run,
                          split=spec.predict["split"], limit=spec.predict["limit"],
                          batch_size=spec.predict["batch_size"], max_new_tokens=spec.predict["max_new_tokens"],
                          model_seed=spec.zero_shot["model_seed"], model_cache=spec.zero_shot["model_cache"],
                          max_pixels=spec.zero_shot["max_pixels"], shots=spec.zero_shot["shots"])
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
    one. With CUDA GPUs, at most one run per GPU at a time: each worker sees one GPU (CUDA_VISIBLE_DEVICES). Each worker process uses its spec's thread count, so a run gives the same numbers whether it ran
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
    gpus = visible_gpus()
    if workers is None:
        from mmkp_lib.models.tiny import available_cores

        cores = available_cores()
        workers = len(gpus) or max(1, cores // max(s.threads for s in todo))
    if gpus and workers > len(gpus):
        log(f"{workers} workers asked, {len(gpus)} GPU(s) here: {len(gpus)} run(s) at a time, one GPU each")
        workers = len(gpus)
    if workers <= 1 or len(todo) == 1:
        for s in todo:
            ensure_run(s, log)
        return [Path(s.out) for s in specs]
    _run_parallel(todo, workers, log, log_dir, gpus)
    return [Path(s.out) for s in specs]


def visible_gpus() -> list[str]:
    """The CUDA devices a worker may be pinned to (CUDA_VISIBLE_DEVICES entries, else 0..n-1); [] without CUDA."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return (listed or [str(i) for i in range(n)])[:n]


# Process-seconds per optimizer step of each strategy, training and test prediction together (the committed run
# at 3900a1a, one thread, batch 32, facts-style CoT); zero-shot and baseline runs take about 30 s whatever the steps.
_SECONDS_PER_STEP = {"dyncot": 1.45, "multitask": 1.40, "cot": 1.25, "sft": 0.70}
_UNTRAINED_SECONDS = 30.0


def _estimated_seconds(spec: RunSpec) -> float:
    if spec.train is None:
        return _UNTRAINED_SECONDS
    return _SECONDS_PER_STEP.get(spec.strategy, 1.45) * spec.train["max_steps"]


def _run_order(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """Longest first (the classic rule for packing jobs onto workers: the last to finish are the short ones, so no
    worker idles long at the end; on the committed plan 3070 s on two workers instead of 3111 s seed by seed), ties
    wave by wave (the plan's: one per seed, then the gamma sweep)."""
    return sorted(specs, key=lambda s: (-_estimated_seconds(s), s.wave))


def _run_parallel(specs: Sequence[RunSpec], workers: int, log, log_dir, gpus: Sequence[str] = ()) -> None:
    queue = _run_order(specs)
    log_dir = Path(log_dir) if log_dir else Path(specs[0].out).parent / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, Path, float, Any]] = {}
    free_gpus = list(gpus)
    gpu_of: dict[str, str] = {}
    failures = []
    t_start = time.perf_counter()
    try:
        while queue or running:
            while queue and len(running) < workers:
                s = queue.pop(0)
                spec_file = s.write(log_dir)
                log_file = log_dir / f"{s.name}.log"
                fh = open(log_file, "w")
                env = dict(os.environ, OMP_NUM_THREADS=str(s.threads), MKL_NUM_THREADS=str(s.threads),
                           TOKENIZERS_PARALLELISM="false")
                if free_gpus:
                    gpu_of[s.name] = env["CUDA_VISIBLE_DEVICES"] = free_gpus.pop(0)
                proc = subprocess.Popen([sys.executable, "-m", "mmkp_lib.experiment", "--spec", str(spec_file)],
                                        stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())
                running[s.name] = (proc, log_file, time.perf_counter(), fh)
                where = f"GPU {gpu_of[s.name]}" if s.name in gpu_of else f"{s.threads} thread(s)"
                log(f"{s.name}: started (process {proc.pid}, {where}, log {log_file})")
            time.sleep(1.0)
            for name, (proc, log_file, t0, fh) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                fh.close()
                del running[name]
                if name in gpu_of:
                    free_gpus.append(gpu_of.pop(name))
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





@dataclass
class AvailableRuns:
    """What `ensure_available_runs` found and made."""

    folders: list[Path]  # every spec's run folder, in the specs' order
    status: list[dict[str, Any]]  # plan.describe's rows as they were before anything was made
    log: list[str]  # every progress line, reused runs included
    made: int  # runs that were not complete before


def ensure_available_runs(cfg: ExperimentConfig, specs: Sequence[RunSpec], *, allow_training: bool = True,
                          log: Callable[[str], None] = print) -> AvailableRuns:
    """Every spec's run folder complete: reused when it is, made (teacher rationales first) when allowed, else a
    RuntimeError naming each run that is missing and why, before anything is trained. Lines about reused runs go
    to the returned log only, so a notebook shows only what it made."""
    from mmkp_lib.experiment.plan import describe

    eff = cfg.effective()
    status = describe(specs)
    todo = [r for r in status if r["status"] != "complete"]
    if todo and not allow_training:
        raise RuntimeError(
            f"allow_training=False, but {len(todo)} of {len(specs)} runs in {eff.runs_dir} are not "
            "complete: " + "; ".join(f"{r['run']} ({r['status']}: {r['why']})" for r in todo)
            + ". Make them with `-p allow_training True` (or `python -m mmkp_lib.experiment --plan report` for the "
            "default settings), or point work_dir/seeds/max_steps ... at the runs you have.")
    lines: list[str] = []

    def record(message: str) -> None:
        lines.append(message)
        if ": reused (" not in message:
            log(message)

    if todo:
        ensure_teacher(cfg, log=record)
    folders = ensure_runs(specs, workers=eff.workers, log=record)
    return AvailableRuns(folders=folders, status=status, log=lines, made=len(todo))
