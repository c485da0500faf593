"""mmkp_lib.analysis.verdicts: every claim's three outcomes from hand-made paired tests, and end to end from runs."""
from __future__ import annotations

import pandas as pd
import pytest

from _analysis_data import _records, gold_posts, train_posts
from mmkp_lib import analysis as A
from mmkp_lib.analysis import verdicts as V

LABELS = {"zero-shot": "zero-shot", "baseline": "baseline", "sft": "sft", "cot": "cot", "multitask": "multitask", "dyncot": "dyncot-g0.4"}
# A test row per claim pair, as paired_tests writes them; the defaults decide every claim "reproduced".
REPRODUCING = {("zero-shot", "sft", "all"): {"delta": 0.40, "low": 0.30, "high": 0.50, "p_value": 0.005},
               ("sft", "cot", "unseen"): {"delta": 0.10, "low": 0.02, "high": 0.18, "p_value": 0.010},
               ("sft", "dyncot-g0.4", "unseen"): {"delta": 0.08, "low": 0.01, "high": 0.15, "p_value": 0.030},
               ("cot", "dyncot-g0.4", "all"): {"delta": 0.01, "low": -0.01, "high": 0.03, "p_value": 0.400},
               ("baseline", "sft", "unseen"): {"delta": 0.30, "low": 0.20, "high": 0.40, "p_value": 0.002}}
ABOVE = {"reproduced": {"delta": 0.05, "low": 0.01, "high": 0.09, "p_value": 0.01},
         "not reproduced": {"delta": -0.05, "low": -0.09, "high": -0.01, "p_value": 0.01},
         "inconclusive": {"delta": 0.03, "low": -0.02, "high": 0.08, "p_value": 0.20}}
# close_margin 0.02: the whole interval above -0.02 / wholly below it / reaching below it from above.
CLOSE = {"reproduced": {"delta": 0.00, "low": -0.015, "high": 0.02, "p_value": 0.9},
         "not reproduced": {"delta": -0.10, "low": -0.15, "high": -0.05, "p_value": 0.001},
         "inconclusive": {"delta": -0.01, "low": -0.05, "high": 0.03, "p_value": 0.6}}
CLAIM_KEYS = {"sft_above_zero_shot": ("zero-shot", "sft", "all"), "cot_above_sft_unseen": ("sft", "cot", "unseen"),
              "dyncot_above_sft_unseen": ("sft", "dyncot-g0.4", "unseen"),
              "dyncot_close_to_cot": ("cot", "dyncot-g0.4", "all"),
              "baseline_fails_unseen": ("baseline", "sft", "unseen")}


def paired_rows(**changed: dict) -> pd.DataFrame:
    """paired_tests-shaped rows for the claim pairs; changed = {claim: row values replacing the reproducing ones}."""
    rows = {key: dict(values) for key, values in REPRODUCING.items()}
    for claim, values in changed.items():
        rows[CLAIM_KEYS[claim]] = values
    return pd.DataFrame([{"a": a, "b": b, "group": g, "metric": "f1@M", **v} for (a, b, g), v in rows.items()])


def test_claim_pairs_are_the_paired_tests_the_claims_need():
    assert V.claim_pairs(LABELS) == [("zero-shot", "sft"), ("sft", "cot"), ("sft", "dyncot-g0.4"),
                                     ("cot", "dyncot-g0.4"), ("baseline", "sft")]
    with pytest.raises(KeyError, match="no 'dyncot' row"):
        V.claim_pairs({"zero-shot": "zs", "sft": "sft", "cot": "cot"})


def test_default_rows_reproduce_every_claim():
    assert V.claim_verdicts(paired_rows(), LABELS, close_margin=0.02) == dict.fromkeys(V.CLAIMS, "reproduced")


@pytest.mark.parametrize("outcome", ["reproduced", "not reproduced", "inconclusive"])
@pytest.mark.parametrize("claim", ["sft_above_zero_shot", "cot_above_sft_unseen", "dyncot_above_sft_unseen",
                                   "baseline_fails_unseen"])
def test_above_claims_each_outcome(claim, outcome):
    got = V.claim_verdicts(paired_rows(**{claim: ABOVE[outcome]}), LABELS, close_margin=0.02)
    assert got[claim] == outcome
    assert all(v == "reproduced" for c, v in got.items() if c != claim)  # each claim reads its own test


@pytest.mark.parametrize("outcome", ["reproduced", "not reproduced", "inconclusive"])
def test_close_claim_each_outcome(outcome):
    got = V.claim_verdicts(paired_rows(dyncot_close_to_cot=CLOSE[outcome]), LABELS, close_margin=0.02)
    assert got["dyncot_close_to_cot"] == outcome
    assert all(v == "reproduced" for c, v in got.items() if c != "dyncot_close_to_cot")


def test_above_rule_edges():
    # Identical scores (delta exactly 0) cannot support "above", whatever the p-value.
    assert V.above({"delta": 0.0, "p_value": 1.0}) == "not reproduced"
    assert V.above({"delta": 0.0, "p_value": 0.01}) == "not reproduced"
    assert V.above({"delta": 0.2, "p_value": 0.05}) == "inconclusive"  # p must be below alpha
    assert V.above({"delta": 0.2, "p_value": 0.05}, alpha=0.1) == "reproduced"


def test_close_rule_edges():
    assert V.close({"low": -0.02, "high": 0.0}, margin=0.02) == "reproduced"  # the interval may touch -margin
    assert V.close({"low": -0.03, "high": -0.02}, margin=0.02) == "inconclusive"  # high == -margin: not wholly below
    assert V.close({"low": float("nan"), "high": float("nan")}, margin=0.02) == "inconclusive"
    assert V.close({"low": -0.05, "high": 0.01}, margin=0.1) == "reproduced"  # a wider margin accepts more
    with pytest.raises(ValueError, match="close margin"):
        V.close({"low": 0.0, "high": 0.0}, margin=2)


def test_claim_verdicts_names_a_missing_test():
    with pytest.raises(KeyError, match="paired tests: no row with a='cot', b='dyncot-g0.4', group='all'"):
        V.claim_verdicts(paired_rows().iloc[:3], LABELS, close_margin=0.02)


@pytest.mark.parametrize("gaps, expected", [
    ((10.0, 1.0, float("nan"), 20, 40), "how fast"),      # a gap at mid-training that has closed by the end
    ((10.0, 5.0, float("nan"), 20, 40), "how far"),       # still apart at the end
    ((1.0, 1.5, float("nan"), 20, 40), "no separation"),  # within the 2-point floor throughout
    ((10.0, 5.0, 3.0, 20, 40), "how fast"),               # a 5-point end gap is noise against a 3-point seed sd
    ((10.0, 1.0, float("nan"), 40, 40), "no separation"),  # one logged step: no middle to compare
])
def test_pace_verdicts(gaps, expected):
    assert V.pace(*gaps) == expected


def test_claims_end_to_end_from_runs():
    """From predictions to verdicts: a perfect SFT against a zero-shot that finds nothing reproduces claim 1;
    Fine-tune-CoT and Dynamic CoT equal to SFT do not reproduce claim 2 but are "close" (interval [0, 0])."""
    gold, train = gold_posts(), train_posts()
    perfect = {p.id: list(p.keyphrases) for p in gold}
    runs = [A.Run("zero-shot", _records({p.id: ["nothing"] for p in gold}), strategy="zero-shot"),
            A.Run("baseline", _records({p.id: ["nothing"] for p in gold}), strategy="baseline")]
    runs += [A.Run(f"{s}-seed0", _records(perfect), strategy=s, seed=0) for s in ("sft", "cot", "multitask")]
    runs += [A.Run("dyncot-g0.4-seed0", _records(perfect), strategy="dyncot", seed=0, gamma="0.4")]
    tests = A.paired_tests(runs, A.score_runs(gold, runs, train), A.claim_pairs(LABELS), metrics=("f1@M",),
                           n_boot=200)
    assert A.claim_verdicts(tests, LABELS, close_margin=0.02) == {
        "sft_above_zero_shot": "reproduced", "cot_above_sft_unseen": "not reproduced",
        "dyncot_above_sft_unseen": "not reproduced", "dyncot_close_to_cot": "reproduced",
        "baseline_fails_unseen": "reproduced"}
