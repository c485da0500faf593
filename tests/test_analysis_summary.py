"""reports/summary.json: every run's record and the four claims, from hand-made runs; the report's additions."""
from __future__ import annotations

import json

import pytest

from _analysis_data import gold, train  # noqa: F401 (fixtures)
from mmkp_lib import analysis as A
from mmkp_lib.analysis.summary import (SUMMARY_CLAIMS, SUMMARY_GROUPS, build_summary, fewer_tokens_verdict,
                                       final_curve_gain, write_summary)
from test_analysis_report import LABELS, N_BOOT, breakdowns_world


def curve(*points):
    return [{"event": "valid", "step": s, "valid_f1@M_all": v} for s, v in points]


def test_final_curve_gain_is_the_last_point_minus_the_one_at_three_quarters():
    run = A.Run("sft-seed0", [], strategy="sft", seed=0, train_log=curve((100, 0.5), (300, 0.80), (400, 0.83)))
    assert final_curve_gain(run) == pytest.approx(0.03)
    assert final_curve_gain(A.Run("x", [], train_log=curve((400, 0.9)))) is None  # one point: nothing to compare
    assert final_curve_gain(A.Run("zero-shot", [])) is None


def test_summary_holds_every_run_and_the_four_claims(gold, train, tmp_path):
    runs, table, tests, cost = breakdowns_world(gold, train, [{"p2": 20, "p3": 40}, {"p2": 30}])
    runs[1].train_log = curve((30, 0.4), (40, 0.5)) + [{"event": "train", "step": 40, "peak_rss_mb": 812.5}]
    runs[1].config = {"result": {"global_step": 40}, "experiment": {"train_wall_s": 12.0, "predict_wall_s": 1.5}}
    scores = A.score_runs(gold, runs, train)
    summary = build_summary(runs, scores, tests, cost, LABELS, close_margin=0.02, settings={"max_steps": 40})
    assert set(summary["claims"]) == set(SUMMARY_CLAIMS)
    assert summary["claims"]["sft_above_zero_shot"] == "reproduced"
    assert summary["claims"]["dyncot_close_to_cot_fewer_tokens"] == "reproduced"  # close, and 9 vs 50 tokens
    by = {r["name"]: r for r in summary["runs"]}
    assert set(by) == {r.name for r in runs}
    sft = by[runs[1].name]
    assert (sft["strategy"], sft["steps"], sft["train_s"], sft["predict_s"], sft["peak_rss_mb"]) == (
        "sft", 40, 12.0, 1.5, 812.5)
    assert sft["final_curve_gain"] == pytest.approx(0.1) and sft["gamma"] is None and sft["cot_visit_share"] is None
    assert set(sft["f1m"]) == set(SUMMARY_GROUPS) and 0 <= sft["f1m"]["all"] <= 1
    dyn = by["dyncot-g0.4-seed0"]
    assert dyn["gamma"] == "0.4" and dyn["cot_visit_share"] == 0.25 and dyn["reasoning_tokens_per_post"] > 0
    assert by["baseline"]["f1m"]["unseen"] == 0.0
    path = write_summary(tmp_path / "s" / "summary.json", summary, wall_minutes=3.5)
    saved = json.loads(path.read_text())
    assert saved["wall_minutes"] == 3.5 and saved["claims"] == summary["claims"]


def test_more_reasoning_tokens_refute_the_fewer_tokens_claim(gold, train):
    runs, table, tests, cost = breakdowns_world(gold, train, [{"p2": 20, "p3": 40}, {"p2": 30}])
    assert fewer_tokens_verdict("reproduced", cost, "cot", "dyncot-g0.4") == "reproduced"
    assert fewer_tokens_verdict("reproduced", cost.assign(think_tokens=60.0), "cot", "dyncot-g0.4") == "not reproduced"
    assert fewer_tokens_verdict("inconclusive", cost, "cot", "dyncot-g0.4") == "inconclusive"
    assert fewer_tokens_verdict("reproduced", cost, "cot", "dyncot-g9") == "inconclusive"  # no such run
