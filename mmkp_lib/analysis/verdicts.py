"""The report's verdicts on the paper's claims (Ma et al. 2025): reproduced, not reproduced or inconclusive.

The claims, as notebook 05 tests them on F1@M with paired bootstrap tests over test posts:

1. SFT is far above zero-shot (all keyphrases).
2. Fine-tune-CoT, and Dynamic CoT, are above SFT on unseen keyphrases.
3. Dynamic CoT is close to Fine-tune-CoT (all keyphrases) while writing fewer reasoning tokens.
4. The traditional baseline fails on unseen keyphrases (SFT is above it there).

The rules, one place for each:

- "b above a" is *reproduced* when the test gives p < alpha with b ahead, *not reproduced* when
  p < alpha with b behind or when the difference is exactly 0 (identical scores cannot support
  "above"), and *inconclusive* otherwise.
- "b close to a" is read as non-inferiority: *reproduced* when the whole 95% interval of b - a lies
  at or above -margin, *not reproduced* when it lies wholly below -margin, *inconclusive* when it
  reaches below -margin from above it (or is undefined).

    from mmkp_lib.analysis import paired_tests
    from mmkp_lib.analysis.verdicts import claim_pairs, claim_verdicts
    tests = paired_tests(runs, scores, claim_pairs(labels), metrics=("f1@M",))
    claim_verdicts(tests, labels, close_margin=0.02)   # {"sft_above_zero_shot": "reproduced", ...}

`labels` maps the paper's rows ("zero-shot", "baseline", "sft", "cot", "multitask", "dyncot") to run labels
("dyncot" -> "dyncot-g0.4"), as `mmkp_lib.experiment.main_labels` returns them.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from mmkp_lib.analysis.wording import paired_row

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
ALPHA = 0.05  # significance level of every "above" claim

# The paired tests the claims need, as (a, b) pairs of the paper's rows: b is tested against a.
CLAIM_PAIRS = (("zero-shot", "sft"), ("sft", "cot"), ("sft", "dyncot"), ("cot", "dyncot"), ("baseline", "sft"))
# claim -> (a, b, group, rule): which test decides it, and how.
CLAIMS = {
    "sft_above_zero_shot": ("zero-shot", "sft", "all", "above"),
    "cot_above_sft_unseen": ("sft", "cot", "unseen", "above"),
    "dyncot_above_sft_unseen": ("sft", "dyncot", "unseen", "above"),
    "dyncot_close_to_cot": ("cot", "dyncot", "all", "close"),
    # the traditional baseline fails on unseen keyphrases: SFT, the plainest VLM, is above it there
    "baseline_fails_unseen": ("baseline", "sft", "unseen", "above"),
}


def claim_pairs(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (a, b) run-label pairs to pass to paired_tests so that every claim can be decided."""
    return [(_label(labels, a), _label(labels, b)) for a, b in CLAIM_PAIRS]


def _label(labels: Mapping[str, str], row: str) -> str:
    if row not in labels:
        raise KeyError(f"labels has no {row!r} row (the paper's rows: zero-shot, baseline, sft, cot, multitask, "
                       f"dyncot); "
                       f"it has {', '.join(labels)}")
    return labels[row]


def above(test: Mapping, alpha: float = ALPHA) -> str:
    """Verdict on "b above a" from one paired_tests row (delta = b - a, p_value two-sided)."""
    if test["p_value"] < alpha:
        return REPRODUCED if test["delta"] > 0 else NOT_REPRODUCED
    return NOT_REPRODUCED if test["delta"] == 0 else INCONCLUSIVE


def close(test: Mapping, margin: float) -> str:
    """Verdict on "b close to a" (non-inferiority by `margin`, an F1 fraction) from one paired_tests row."""
    if not 0 < margin < 1:
        raise ValueError(f"close margin must be an F1 difference in (0, 1), e.g. 0.02 = 2 points; got {margin!r}")
    if test["low"] >= -margin:
        return REPRODUCED
    if test["high"] < -margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def claim_verdicts(tests: pd.DataFrame, labels: Mapping[str, str], close_margin: float,
                   alpha: float = ALPHA, metric: str = "f1@M") -> dict[str, str]:
    """{claim: verdict} for every claim in CLAIMS, from paired_tests over claim_pairs(labels)."""
    out = {}
    for claim, (a, b, group, rule) in CLAIMS.items():
        row = paired_row(tests, _label(labels, a), _label(labels, b), group, metric)
        out[claim] = above(row, alpha) if rule == "above" else close(row, close_margin)
    return out


# ---------------------------------------------------------------- learning pace

PACE_FLOOR = 2.0  # F1 points: a gap between learning curves below this (or below twice the seed sd) is noise
HOW_FAST, HOW_FAR, NO_SEPARATION = "how fast", "how far", "no separation"


def pace(gap_mid: float, gap_end: float, seed_sd: float, mid: int, last: int) -> str:
    """Do the strategies' validation curves differ in how fast they learn, how far, or not beyond noise?

    gap_mid / gap_end: the spread (max - min over strategies, F1 points) at the middle and the last logged
    step; seed_sd: the median seed sd at the last step (NaN with one seed). A gap counts when it exceeds
    PACE_FLOOR and twice the seed sd. "how fast": a gap at the middle that has closed by the end;
    "how far": a gap at the end.
    """
    floor = max(2 * seed_sd, PACE_FLOOR) if seed_sd == seed_sd else PACE_FLOOR
    if gap_end <= floor and gap_mid > floor and mid != last:
        return HOW_FAST
    if gap_end > floor:
        return HOW_FAR
    return NO_SEPARATION
