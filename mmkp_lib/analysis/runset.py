"""Runs as the analysis sees them: a name, a group label, a strategy, a seed and the prediction records.

A *label* groups the runs that differ only in their seed; every table of the
analysis reports one row per run and, where it averages, one row per label
(mean over seeds with the spread). The label comes from the run's name when it
ends in `-seed<k>` ("sft-seed1" -> label "sft", seed 1; "dyncot-g0.4-seed2" ->
"dyncot-g0.4"), otherwise from config.json: the strategy, with the gamma for
Dynamic CoT ("dyncot-g0.4"). Two runs with the same label and seed are an
error, since their numbers would be averaged as if they were two seeds.

    from mmkp_lib.analysis import load_runs
    runs = load_runs("runs")                      # every run folder with predictions.jsonl
    runs = load_runs(["runs/sft-seed0", "runs/cot-seed0"])
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from mmkp_lib import runs as run_files
from mmkp_lib.training.config import GAMMA_KINDS, ConfigError, parse_gamma

# The paper's rows, in its order; anything else sorts after them.
STRATEGY_ORDER = ("zero-shot", "baseline", "sft", "cot", "multitask", "dyncot")
STRATEGY_NAMES = {"zero-shot": "Zero-shot", "baseline": "Traditional baseline", "sft": "SFT", "cot": "Fine-tune-CoT",
                  "multitask": "Multi-task", "dyncot": "Dynamic CoT"}
_SEED_SUFFIX = re.compile(r"^(?P<label>.+)-seed(?P<seed>\d+)$")
_GAMMA_LABEL = re.compile(r"^dyncot-g([qr]?\d*\.?\d+)$")


@dataclass
class Run:
    """One run's predictions and what the analysis needs to know about it.

    `predictions` are inference records (`mmkp_lib.inference.generate_predictions`):
    at least "id" and "keyphrases"; "raw", "reasoned", "think_tokens",
    "generated_tokens" and "generation_s" feed the reasoning tables.
    """

    name: str
    predictions: list[dict[str, Any]]
    strategy: str = "unknown"
    seed: int | None = None
    label: str = ""  # "" = derived from the name (see the module docstring)
    gamma: str | None = None  # Dynamic CoT threshold as written in the config ("0.4", "q0.3")
    config: dict[str, Any] = field(default_factory=dict)
    train_log: list[dict[str, Any]] | None = None
    decisions: list[dict[str, Any]] | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        m = _SEED_SUFFIX.match(self.name)
        if not self.label:
            if m:
                self.label = m.group("label")
            elif self.strategy == "dyncot" and self.gamma is not None:
                self.label = f"dyncot-g{self.gamma}"
            elif self.strategy != "unknown":
                self.label = self.strategy
            else:
                self.label = self.name
        if self.seed is None and m:
            self.seed = int(m.group("seed"))
        if self.strategy == "unknown":
            first = self.label.split("-g")[0]
            if first in STRATEGY_ORDER:
                self.strategy = first

    @property
    def display(self) -> str:
        """The label as the report prints it: "SFT", "Fine-tune-CoT", or the label itself."""
        return display_label(self.label)


def display_label(label: str) -> str:
    """"cot" -> "Fine-tune-CoT", "dyncot-g0.4" -> "Dynamic CoT γ=0.4", "dyncot-gr0.3" -> "Thought dropout (CoT
    share 0.3)"; any other label stays as it is."""
    if label in STRATEGY_NAMES:
        return STRATEGY_NAMES[label]
    m = _GAMMA_LABEL.match(label)
    if m and m.group(1).startswith("r"):  # a random share of CoT visits: TON's thought dropout, the gate's control
        return f"Thought dropout (CoT share {m.group(1)[1:]})"
    return f"{STRATEGY_NAMES['dyncot']} γ={m.group(1)}" if m else label


def _gamma_text(gamma: Any) -> str | None:
    """config.json's gamma (0.4 or "q0.3") as run names spell it ("0.4", "q0.3"): str of the parsed Gamma."""
    return None if gamma is None else str(parse_gamma(gamma))


def load_run(folder: str | os.PathLike, split: str = "test", label: str = "") -> Run:
    """Read one run folder: its predictions for `split`, config.json, and (when present) the train log and decisions."""
    folder = Path(folder)
    preds = run_files.read_predictions(folder, split)  # raises FileNotFoundError naming the file
    config = run_files.read_config(folder) if run_files.path(folder, run_files.CONFIG).is_file() else {}
    params = config.get("params") or {}
    strategy = params.get("strategy") or (config.get("kind") if config.get("kind") in ("zero-shot", "baseline")
                                          else "unknown")
    seed = config.get("seed", params.get("seed"))
    log_file = run_files.path(folder, run_files.TRAIN_LOG)
    decisions_file = run_files.path(folder, run_files.DECISIONS)
    return Run(name=folder.name, predictions=preds, strategy=strategy, seed=None if seed is None else int(seed),
               label=label, gamma=_gamma_text(params.get("gamma")) if strategy == "dyncot" else None,
               config=config, train_log=run_files.read_jsonl(log_file) if log_file.is_file() else None,
               decisions=run_files.read_jsonl(decisions_file) if decisions_file.is_file() else None, path=folder)


def load_runs(where: str | os.PathLike | Iterable[str | os.PathLike], split: str = "test") -> list[Run]:
    """Runs from a root folder (every subfolder holding this split's predictions) or from a list of folders."""
    pred_name = run_files.prediction_files(split)[0]
    if isinstance(where, (str, os.PathLike)):
        root = Path(where)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such runs folder")
        folders = sorted(p.parent for p in root.glob(f"*/{pred_name}"))
        if not folders:
            raise FileNotFoundError(f"{root}: no run folder holds {pred_name} (run `mmkp predict` first)")
    else:
        folders = [Path(p) for p in where]
    return check_runs([load_run(f, split) for f in folders])


def check_runs(runs: Sequence[Run]) -> list[Run]:
    """Runs sorted into the report's order; raises ValueError on duplicate names or a label with a repeated seed."""
    names = [r.name for r in runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two runs are named {dup[0]!r}; run names must be unique")
    seen: dict[tuple[str, int | None], str] = {}
    for r in runs:
        key = (r.label, r.seed)
        if key in seen:
            raise ValueError(f"runs {seen[key]!r} and {r.name!r} share label {r.label!r} and seed {r.seed}: they would "
                             "be averaged as two seeds. Name runs '<label>-seed<k>' (e.g. 'sft-lr1e-4-seed0') "
                             "or pass Run(label=...) to tell them apart")
        seen[key] = r.name
    return sorted(runs, key=run_order)


def run_order(run: Run) -> tuple:
    """Sort key: the paper's strategy order, then gamma, then label and seed."""
    return (*label_order(run.label, run.strategy, run.gamma), run.seed if run.seed is not None else -1, run.name)


def label_order(label: str, strategy: str, gamma: str | None = None) -> tuple:
    s = STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return (s, *gamma_sort_key(gamma), label)


def gamma_sort_key(gamma: str | None) -> tuple[int, float]:
    """Loss thresholds ascending, then quantile settings ("q0.3"), then random shares ("r0.3"), each ascending;
    None first, unparseable last."""
    if gamma is None:
        return (0, 0.0)
    try:
        g = parse_gamma(gamma)
    except ConfigError:
        return (1 + len(GAMMA_KINDS), 0.0)
    return (1 + GAMMA_KINDS.index(g.kind), g.value)


def labels_in_order(runs: Sequence[Run]) -> list[str]:
    """Distinct labels in the report's order."""
    out: list[str] = []
    for r in sorted(runs, key=run_order):
        if r.label not in out:
            out.append(r.label)
    return out


def by_label(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """{label: its runs by seed}, labels in the report's order."""
    out: dict[str, list[Run]] = {label: [] for label in labels_in_order(runs)}
    for r in sorted(runs, key=run_order):
        out[r.label].append(r)
    return out
