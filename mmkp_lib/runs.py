"""The run folder: what one training (or zero-shot) run leaves on disk, and helpers to read it back.

    runs/<name>/.mmkp-run               the marker: this folder was made by mmkp as a run (only such folders
                                        are ever deleted, by `mmkp train --overwrite` or a re-run experiment)
    runs/<name>/config.json             every parameter, the git commit, the seed, library versions
    runs/<name>/train_log.jsonl         one line per log step: step, loss, lr, samples/s, peak memory ...
    runs/<name>/dyncot_decisions.jsonl  dyncot only: per sample and visit, its SFT loss and the choice
    runs/<name>/checkpoint-<step>/      resumable Trainer checkpoints
    runs/<name>/model/                  the final weights (or LoRA adapter) and the processor
    runs/<name>/predictions.jsonl       test split: id, raw output, keyphrases, reasoned, think/answer tokens, time
    runs/<name>/metrics.json            test split: the evaluator's output and the generation summary
    runs/<name>/predictions-<split>.jsonl, metrics-<split>.json   the same for another split (e.g. valid)

    from mmkp_lib import runs
    log = runs.read_jsonl(runs.path("runs/sft", runs.TRAIN_LOG))
    metrics = runs.read_metrics("runs/sft")
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterable

CONFIG = "config.json"
TRAIN_LOG = "train_log.jsonl"
DECISIONS = "dyncot_decisions.jsonl"
PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
MODEL_DIR = "model"
RUN_MARKER = ".mmkp-run"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What makes a Trainer checkpoint resumable: its state and weights (full weights, or a LoRA adapter).
CHECKPOINT_STATE = "trainer_state.json"
_CHECKPOINT_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
                       "pytorch_model.bin", "pytorch_model.bin.index.json")


class RunFolderError(ValueError):
    """A folder that cannot serve as (or be replaced by) a run folder; the message says why and what to do."""


def path(run: str | os.PathLike, name: str) -> Path:
    return Path(run) / name


def prediction_files(split: str = "test") -> tuple[str, str]:
    """(predictions, metrics) file names for a split: the test split's are the run's headline files."""
    if split == "test":
        return PREDICTIONS, METRICS
    return f"predictions-{split}.jsonl", f"metrics-{split}.json"


def git_commit(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None} of the repository holding this library."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_json(file: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (temp file, then rename), so a killed run never leaves half a file."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, file)
    return file


def read_json(file: str | os.PathLike) -> Any:
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file (has this run finished that stage?)")
    return json.loads(file.read_text(encoding="utf-8"))


# ---- which folders are runs, and the one rule for deleting one ------------------------------------------------

def is_run(run: str | os.PathLike) -> bool:
    """True for a folder this project made as a run (it holds the RUN_MARKER file)."""
    return (Path(run) / RUN_MARKER).is_file()


def check_writable_run(out: str | os.PathLike, kind: str, what: str) -> Path:
    """`out` as a Path when a run of `kind` may be written there: new, empty, or already a `kind` run. A run of
    another kind, or a folder with files mmkp did not make, is refused (RunFolderError naming it); `what` is
    the thing that would be written ("zero-shot predictions", "the baseline")."""
    out = check_out_folder(out)
    if path(out, CONFIG).is_file() and read_config(out).get("kind") not in (kind, None):
        raise RunFolderError(f"{out}: holds a {read_config(out).get('kind')!r} run; {what} would replace its "
                             f"config.json: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_run(out):
        raise RunFolderError(f"{out}: holds files but is not a run folder made by mmkp (no {RUN_MARKER}); "
                             f"choose a new or empty --out")
    return out


def check_out_folder(run: str | os.PathLike, flag: str = "--out") -> Path:
    """`run` as a Path, or RunFolderError when it exists and is not a folder (a file cannot hold a run)."""
    run = Path(run)
    if run.exists() and not run.is_dir():
        raise RunFolderError(f"{flag} {run}: is a file, not a folder; a run needs a folder of its own "
                             f"(pass a new name, e.g. {flag} runs/NAME)")
    return run


def mark_run(run: str | os.PathLike, kind: str) -> Path:
    """Create the run folder (if needed) and its marker; a folder holding other files must already be a run."""
    run = check_out_folder(run)
    if run.is_dir() and any(run.iterdir()) and not is_run(run):
        raise RunFolderError(f"{run}: holds files but is not a run folder made by mmkp (no {RUN_MARKER}); "
                             f"refusing to write a run into it: choose a new or empty folder")
    run.mkdir(parents=True, exist_ok=True)
    marker = run / RUN_MARKER
    if not marker.is_file():
        write_json(marker, {"kind": kind, "created": _dt.datetime.now().isoformat(timespec="seconds")})
    return run


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def check_removable(run: str | os.PathLike, keep: Iterable[str | os.PathLike | None] = (),
                    why: str = "to start again") -> bool:
    """Whether `run` holds anything to delete (False: absent or empty); RunFolderError when it may not be deleted.

    The rule every command follows: only a folder this project made as a run (its RUN_MARKER) is deleted, and
    never one that holds an input of the new run (`keep`: its data, teacher cache, model cache). Call it before
    any work, delete (remove_run) only after the new run's inputs are read and checked.
    """
    run = check_out_folder(run)
    if not run.exists() or not any(run.iterdir()):
        return False
    if not is_run(run):
        raise RunFolderError(f"{run}: not a run folder made by mmkp (it has no {RUN_MARKER} marker), so it is not "
                             f"deleted {why}; choose another folder, or move its files away yourself")
    for path in keep:
        if path is not None and _inside(path, run):
            raise RunFolderError(f"{run}: holds {path}, an input of the new run; deleting the folder would delete it "
                                 f"too: move it out of {run} or choose another folder")
    return True


def remove_run(run: str | os.PathLike, keep: Iterable[str | os.PathLike | None] = ()) -> None:
    """Delete a run folder, under check_removable's rule (raises RunFolderError, deleting nothing, otherwise)."""
    import shutil

    if check_removable(run, keep):
        shutil.rmtree(run)


def write_config(run: str | os.PathLike, params: dict[str, Any], *, kind: str, seed: int,
                 extra: dict[str, Any] | None = None) -> Path:
    """config.json: the parameters plus provenance (git commit, seed, versions, time). Marks the folder a run."""
    mark_run(run, kind)
    record = {"kind": kind, "params": params, "seed": seed, "git": git_commit(),
              "versions": _versions(), "created": _dt.datetime.now().isoformat(timespec="seconds")}
    record.update(extra or {})
    return write_json(path(run, CONFIG), record)


def read_config(run: str | os.PathLike) -> dict[str, Any]:
    return read_json(path(run, CONFIG))


def update_config(run: str | os.PathLike, **fields: Any) -> Path:
    """Add fields to config.json (e.g. the data report, the final step count)."""
    record = read_config(run)
    record.update(fields)
    return write_json(path(run, CONFIG), record)


def append_jsonl(file: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=float) + "\n")


def read_jsonl(file: str | os.PathLike) -> list[dict[str, Any]]:
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    out = []
    with open(file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{file}:{lineno}: not valid JSON ({exc.msg})") from None
    return out


def truncate_jsonl(file: str | os.PathLike, max_step: int) -> int:
    """Drop lines logged after `max_step` (a resumed run redoes those steps). Returns the lines kept."""
    file = Path(file)
    if not file.is_file():
        return 0
    kept = [r for r in read_jsonl(file) if r.get("step", 0) <= max_step]
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in kept:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, file)
    return len(kept)


def read_train_log(run: str | os.PathLike) -> list[dict[str, Any]]:
    return read_jsonl(path(run, TRAIN_LOG))


def read_decisions(run: str | os.PathLike) -> list[dict[str, Any]]:
    return read_jsonl(path(run, DECISIONS))


def read_predictions(run: str | os.PathLike, split: str = "test") -> list[dict[str, Any]]:
    return read_jsonl(path(run, prediction_files(split)[0]))


def read_metrics(run: str | os.PathLike, split: str = "test") -> dict[str, Any]:
    return read_json(path(run, prediction_files(split)[1]))


def checkpoints(run: str | os.PathLike) -> list[Path]:
    """checkpoint-<step> folders, by step."""
    run = Path(run)
    found = [(int(m.group(1)), p) for p in run.glob("checkpoint-*") if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def last_checkpoint(run: str | os.PathLike) -> Path | None:
    found = checkpoints(run)
    return found[-1] if found else None


def checkpoint_problem(ckpt: str | os.PathLike) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None: it can): a kill mid-save leaves one without its state."""
    ckpt = Path(ckpt)
    state = ckpt / CHECKPOINT_STATE
    if not state.is_file():
        return f"no {CHECKPOINT_STATE}"
    try:
        json.loads(state.read_text(encoding="utf-8"))["global_step"]
    except (ValueError, KeyError, TypeError):
        return f"{CHECKPOINT_STATE} is not a complete trainer state"
    if not any((ckpt / w).is_file() for w in _CHECKPOINT_WEIGHTS):
        return "no model weights"
    return None


def resumable_checkpoint(run: str | os.PathLike) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(newest checkpoint that can be resumed from or None, [(newer damaged checkpoint, what it lacks), ...])."""
    damaged = []
    for ckpt in reversed(checkpoints(run)):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return ckpt, damaged
        damaged.append((ckpt, problem))
    return None, damaged


def missing_parts(run: str | os.PathLike, predicted: bool = True) -> list[str]:
    """What a finished run folder lacks (empty when complete)."""
    run = Path(run)
    config = read_config(run) if path(run, CONFIG).is_file() else None
    need = [CONFIG]
    if config is None or config.get("kind") == "train":
        need += [TRAIN_LOG, f"{MODEL_DIR}/"]
        if config is not None and config["params"].get("strategy") == "dyncot":
            need.append(DECISIONS)
    if predicted:
        need += [PREDICTIONS, METRICS]
    return [n for n in need if not (run / n.rstrip("/")).exists()]
