"""The run folder: what one training (or zero-shot) run leaves on disk, and helpers to read it back.

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
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


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


def write_config(run: str | os.PathLike, params: dict[str, Any], *, kind: str, seed: int,
                 extra: dict[str, Any] | None = None) -> Path:
    """config.json: the parameters plus provenance (git commit, seed, versions, time)."""
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


def list_runs(root: str | os.PathLike = "runs") -> list[Path]:
    """Run folders (those with a config.json) under root, by name."""
    root = Path(root)
    return sorted(p.parent for p in root.glob(f"*/{CONFIG}")) if root.is_dir() else []


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
