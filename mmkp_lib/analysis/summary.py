"""reports/summary.json: the committed experiment in machine-readable form (notebook 05 writes it, `make report`
adds the wall time of the whole pipeline).

    from mmkp_lib.analysis.summary import build_summary, write_summary
    summary = build_summary(run_list, scores, tests, cost, LABELS, close_margin=0.02)
    write_summary("reports/summary.json", summary)

Per run: its strategy, seed, gamma, steps, wall seconds of training and test prediction, peak RSS, F1@M and
F1@1 on all / present / absent / seen / unseen keyphrases (fractions), reasoning tokens per test post, the share
of test posts it reasoned on, Dynamic CoT's share of training visits on the CoT target, and how much its
validation F1@M (all) still rose over the last quarter of training (`final_curve_gain`: the last validation
point minus the one at 75% of the steps, a fraction; the convergence check of the experiment issue). The
claims are verdicts.CLAIMS' rules plus two composed ones: Dynamic CoT close to Fine-tune-CoT *and* writing
fewer reasoning tokens, and the traditional baseline failing on unseen keyphrases.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from mmkp_lib.analysis.reasoning import share_switched
from mmkp_lib.analysis.runset import Run
from mmkp_lib.analysis.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, claim_verdicts
from mmkp_lib.metrics import PostScores, aggregate

SUMMARY_GROUPS = ("all", "present", "absent", "seen", "unseen")
SUMMARY_CLAIMS = ("sft_above_zero_shot", "cot_above_sft_unseen", "dyncot_close_to_cot_fewer_tokens",
                  "baseline_fails_unseen")


def _fraction(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)


def final_curve_gain(run: Run, metric: str = "valid_f1@M_all") -> float | None:
    """The last validation point minus the one at (or just before) 75% of the last one's step; None without a
    learning curve of at least two points."""
    points = [(e["step"], e[metric]) for e in run.train_log or [] if e.get("event") == "valid" and
              e.get(metric) is not None]
    if len(points) < 2:
        return None
    last_step, last = points[-1]
    earlier = [v for s, v in points if s <= 0.75 * last_step]
    return None if not earlier else _fraction(last - earlier[-1])


def _peak_rss(run: Run) -> float | None:
    peaks = [e["peak_rss_mb"] for e in run.train_log or [] if e.get("peak_rss_mb") is not None]
    return round(max(peaks), 1) if peaks else None


def run_record(run: Run, scores: PostScores, cost: Mapping[str, Any] | None) -> dict[str, Any]:
    """One run's summary object (see the module docstring)."""
    values = aggregate(scores)
    experiment = run.config.get("experiment") or {}
    result = run.config.get("result") or {}
    cot_visits = share_switched(run) if run.strategy == "dyncot" else None
    return {
        "name": run.name, "strategy": run.strategy, "seed": run.seed,
        "gamma": run.gamma if run.strategy == "dyncot" else None,
        "steps": result.get("global_step"),
        "train_s": experiment.get("train_wall_s"), "predict_s": experiment.get("predict_wall_s"),
        "peak_rss_mb": _peak_rss(run),
        "f1m": {g: _fraction((values.get(g) or {}).get("f1@M")) for g in SUMMARY_GROUPS},
        "f1_1": {g: _fraction((values.get(g) or {}).get("f1@1")) for g in SUMMARY_GROUPS},
        "reasoning_tokens_per_post": _fraction(cost.get("think_tokens")) if cost else None,
        "reasoned_share": _fraction(cost.get("reasoned_share")) if cost else None,
        "cot_visit_share": _fraction(cot_visits),
        "final_curve_gain": final_curve_gain(run),
    }


def fewer_tokens_verdict(close_verdict: str, cost: pd.DataFrame, cot: str, dyncot: str) -> str:
    """"Dynamic CoT close to Fine-tune-CoT with fewer reasoning tokens": the closeness verdict, unless Dynamic CoT
    writes at least as many reasoning tokens per test post (seed mean) as Fine-tune-CoT, which refutes it."""
    means = cost.groupby("label")["think_tokens"].mean()
    if cot not in means.index or dyncot not in means.index:
        return INCONCLUSIVE
    return close_verdict if means[dyncot] < means[cot] else NOT_REPRODUCED


def build_summary(runs: Sequence[Run], scores: Mapping[str, PostScores], tests: pd.DataFrame, cost: pd.DataFrame,
                  labels: Mapping[str, str], *, close_margin: float, settings: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """The summary of `runs` (every run of the report), with the claims decided on `tests` (paired_tests over
    verdicts.claim_pairs(labels), F1@M) and `cost` (reasoning_cost of the same runs)."""
    by_run = {row["run"]: row for row in cost.to_dict("records")}
    verdict = claim_verdicts(tests, labels, close_margin)
    claims = {
        "sft_above_zero_shot": verdict["sft_above_zero_shot"],
        "cot_above_sft_unseen": verdict["cot_above_sft_unseen"],
        "dyncot_close_to_cot_fewer_tokens": fewer_tokens_verdict(verdict["dyncot_close_to_cot"], cost,
                                                                 labels["cot"], labels["dyncot"]),
        "baseline_fails_unseen": verdict["baseline_fails_unseen"],
    }
    return {"settings": dict(settings or {}), "close_margin": close_margin,
            "runs": [run_record(r, scores[r.name], by_run.get(r.name)) for r in runs],
            "claims": claims, "claim_details": verdict}


def write_summary(path: str | os.PathLike, summary: Mapping[str, Any], **fields: Any) -> Path:
    """Write (or update with `fields`, e.g. the pipeline's wall time) the summary file, atomically."""
    from mmkp_lib.runs import write_json

    return write_json(path, {**summary, **fields})


__all__ = ["INCONCLUSIVE", "NOT_REPRODUCED", "REPRODUCED", "SUMMARY_CLAIMS", "SUMMARY_GROUPS", "build_summary",
           "final_curve_gain", "fewer_tokens_verdict", "run_record", "write_summary"]
