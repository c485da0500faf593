"""Which language warm-up: the committed figures of benchmarks/probe_lm_warmup.py as a table and as curves.

The probe rebuilds the default `tiny` model with one language warm-up setting
changed at a time and trains the report's seed-0 SFT and Fine-tune-CoT on each;
its JSON (reports/lm_warmup_variants.json) is committed, since the probe costs
about half an hour after the report and notebook 03 only reads it.

    from mmkp_lib.analysis.warmup_variants import load_variants, variants_table, variant_curves
    probe = load_variants()                       # None when the file is missing
    variants_table(probe)                         # a row per (variant, run): test F1@M per group, warm-up cost
    plots.warmup_variant_curves(variant_curves(probe))
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from mmkp_lib.analysis.runset import STRATEGY_NAMES
from mmkp_lib.metrics import GROUPS
from mmkp_lib.report import default_out

VARIANTS_FILE = default_out(smoke=False) / "lm_warmup_variants.json"
VARIANT_TITLES = {  # what each variant's warm-up corpus holds (benchmarks/probe_lm_warmup.py VARIANTS)
    "default": "text + rationale, seen topics (default)",
    "text": "post text only",
    "topics-all": "text + rationale, all topics",
    "none": "no language warm-up",
}


def load_variants(path: str | os.PathLike = VARIANTS_FILE) -> dict | None:
    """The probe's JSON, or None when it is missing (a clone without the committed file)."""
    path = Path(path)
    if not path.is_file():
        return None
    probe = json.loads(path.read_text())
    if not isinstance(probe.get("variants"), dict):
        raise ValueError(f"{path}: not a probe_lm_warmup.py file (no 'variants' object); rerun "
                         f"`benchmarks/probe_lm_warmup.py --json {path}`")
    return probe


def _title(variant: str) -> str:
    return VARIANT_TITLES.get(variant, variant)


def variants_table(probe: dict) -> pd.DataFrame:
    """A row per (warm-up variant, strategy): test F1@M in percent per group, `gain` (validation F1@M all at the
    last point minus at 75% of the steps, points: under 2 is a plateau), the warm-up's final LM loss and seconds,
    and the run's training seconds."""
    rows = []
    for variant, v in probe["variants"].items():
        warm = v.get("warmup") or {}
        for strategy, run in v["runs"].items():
            f1m, gain = run["f1m"], run.get("final_curve_gain")
            rows.append({"warm-up corpus": _title(variant), "run": STRATEGY_NAMES.get(strategy, strategy),
                         **{g: None if f1m.get(g) is None else 100 * f1m[g] for g in GROUPS},
                         "gain": None if gain is None else 100 * gain,
                         "LM loss": warm.get("lm_loss_end") if (warm.get("config") or {}).get("lm_warmup_steps")
                         else None,
                         "warm-up s": warm.get("lm_train_s"), "train s": run.get("train_s")})
    table = pd.DataFrame(rows).set_index(["warm-up corpus", "run"]).astype(float)
    return table.round({**{g: 1 for g in GROUPS}, "gain": 1, "LM loss": 3, "warm-up s": 0, "train s": 0})


def variant_curves(probe: dict) -> pd.DataFrame:
    """The runs' validation F1@M (all, present) against step, long form: a row per (run, step, group), labelled
    "<strategy> · <warm-up corpus>" with the two parts in `run` and `corpus` (`plots.warmup_variant_curves`)."""
    rows = []
    for variant, v in probe["variants"].items():
        for strategy, run in v["runs"].items():
            label = f"{STRATEGY_NAMES.get(strategy, strategy)} · {_title(variant)}"
            for point in run.get("valid_curve") or []:
                for group in ("all", "present"):
                    value = point.get(f"f1m_{group}")
                    if value is not None:
                        rows.append({"label": label, "corpus": _title(variant),
                                     "run": STRATEGY_NAMES.get(strategy, strategy), "step": point["step"],
                                     "metric": "f1@M", "group": group, "value": value})
    return pd.DataFrame(rows, columns=["label", "corpus", "run", "step", "metric", "group", "value"])


def variants_text(probe: dict, baseline: str = "default") -> str:
    """One sentence per variant: its test F1@M (all, unseen) minus the `baseline` variant's, in points, per strategy
    both trained (Markdown)."""
    base = probe["variants"].get(baseline)
    if base is None:
        return f"The probe has no {baseline!r} variant to compare with."
    parts = []
    for variant, v in probe["variants"].items():
        if variant == baseline:
            continue
        cells = []
        for strategy, run in v["runs"].items():
            ref = base["runs"].get(strategy)
            if ref is None:
                continue
            d = {g: 100 * (run["f1m"][g] - ref["f1m"][g]) for g in ("all", "unseen")}
            cells.append(f"{STRATEGY_NAMES.get(strategy, strategy)} {d['all']:+.1f} (unseen {d['unseen']:+.1f})")
        if cells:
            parts.append(f"**{_title(variant)}**: " + ", ".join(cells))
    return (f"Test F1@M against the {_title(baseline)!r} warm-up, in points, seed 0: "
            + "; ".join(parts) + ".")
