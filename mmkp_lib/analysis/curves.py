"""Learning curves from the runs' train_log.jsonl, as tidy DataFrames.

The trainer (`mmkp_lib.training.trainer`) logs the periodic validation as
{"event": "valid", "step", "epoch", "valid_f1@1_all", "valid_f1@M_unseen", ...,
"valid_reasoned_share", "valid_mean_think_tokens"} and the training loss as
{"event": "train", "step", "loss", "lr", "cot_share" (dyncot) ...}.

    from mmkp_lib.analysis import learning_curves, loss_curves
    curves = learning_curves(runs)   # run, label, strategy, seed, step, epoch, metric, group, value
    curves[(curves.metric == "f1@M") & (curves.group == "unseen")]
"""
from __future__ import annotations

import re
from typing import Sequence

import pandas as pd

from mmkp_lib.analysis.runset import Run, check_runs

_VALID_KEY = re.compile(r"^valid_(?P<metric>f1@\w+|p@\w+|r@\w+|map@5)_(?P<group>all|present|absent|seen|unseen)$")
_VALID_EXTRA = {"valid_reasoned_share": "reasoned_share", "valid_mean_think_tokens": "mean_think_tokens"}
CURVE_COLUMNS = ["run", "label", "strategy", "seed", "step", "epoch", "metric", "group", "value"]


def learning_curves(runs: Sequence[Run]) -> pd.DataFrame:
    """Validation scores against training step: a row per run x validation x metric x group.

    F1 keys become metric "f1@M" with group "unseen" etc.; the reasoned share and
    mean think tokens become metrics "reasoned_share" / "mean_think_tokens"
    with group "all". Runs without a train log (zero-shot) contribute nothing.
    """
    rows = []
    for run in check_runs(runs):
        for entry in run.train_log or []:
            if entry.get("event") != "valid":
                continue
            base = {"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed,
                    "step": entry.get("step"), "epoch": entry.get("epoch")}
            for key, value in entry.items():
                m = _VALID_KEY.match(key)
                if m and value is not None:
                    rows.append({**base, "metric": m.group("metric"), "group": m.group("group"), "value": value})
                elif key in _VALID_EXTRA and value is not None:
                    rows.append({**base, "metric": _VALID_EXTRA[key], "group": "all", "value": value})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def loss_curves(runs: Sequence[Run]) -> pd.DataFrame:
    """Training loss (and Dynamic CoT's share switched in the window, when logged) against step."""
    rows = []
    for run in check_runs(runs):
        for entry in run.train_log or []:
            if entry.get("event") == "train" and entry.get("loss") is not None:
                rows.append({"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed,
                             "step": entry.get("step"), "epoch": entry.get("epoch"), "loss": entry["loss"],
                             "cot_share": entry.get("cot_share")})
    return pd.DataFrame(rows, columns=["run", "label", "strategy", "seed", "step", "epoch", "loss", "cot_share"])
