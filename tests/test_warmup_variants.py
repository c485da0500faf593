"""The language warm-up probe's figures as notebook 03 shows them (mmkp_lib.analysis.warmup_variants)."""
from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure

from mmkp_lib import plots
from mmkp_lib.analysis import warmup_variants as W


def _run(all_, unseen, curve):
    return {"f1m": {"all": all_, "present": 0.9, "absent": 0.8, "seen": 0.85, "unseen": unseen},
            "final_curve_gain": 0.015, "train_s": 200.0, "predict_s": 5.0,
            "valid_curve": [{"step": s, "f1m_all": v, "f1m_present": v + 0.05} for s, v in curve]}


def _probe():
    warm = {"config": {"lm_warmup_steps": 300}, "lm_loss_end": 0.59, "lm_train_s": 60.0}
    return {"seed": 0, "steps": 400, "variants": {
        "default": {"knobs": {}, "warmup": warm, "runs": {"sft": _run(0.80, 0.70, [(100, 0.5), (200, 0.8)]),
                                                          "cot": _run(0.85, 0.90, [(100, 0.3), (200, 0.85)])}},
        "text": {"knobs": {"lm_warmup_corpus": "text"}, "warmup": warm,
                 "runs": {"sft": _run(0.75, 0.72, [(100, 0.4), (200, 0.75)])}},
        "none": {"knobs": {"lm_warmup_steps": 0}, "warmup": {"config": {"lm_warmup_steps": 0}},
                 "runs": {"sft": _run(0.40, 0.10, [(100, 0.1), (200, 0.4)])}}}}


def test_table_has_a_row_per_variant_and_run_in_percent():
    table = W.variants_table(_probe())
    assert list(table.index) == [(W.VARIANT_TITLES["default"], "SFT"), (W.VARIANT_TITLES["default"], "Fine-tune-CoT"),
                                 (W.VARIANT_TITLES["text"], "SFT"), (W.VARIANT_TITLES["none"], "SFT")]
    row = table.loc[(W.VARIANT_TITLES["text"], "SFT")]
    assert row["all"] == 75.0 and row["unseen"] == 72.0 and row["gain"] == 1.5 and row["LM loss"] == 0.59
    # no warm-up trained: no LM loss to show, not the default's
    assert table.loc[(W.VARIANT_TITLES["none"], "SFT")].isna()["LM loss"]


def test_text_gives_each_variant_its_difference_from_the_default_per_strategy():
    text = W.variants_text(_probe())
    assert "SFT -5.0 (unseen +2.0)" in text and "SFT -40.0 (unseen -60.0)" in text
    assert "Fine-tune-CoT" not in text  # no other variant trained CoT: nothing to compare
    assert "no 'other' variant" in W.variants_text(_probe(), baseline="other")


def test_curves_long_form_and_figure():
    curves = W.variant_curves(_probe())
    assert len(curves) == 4 * 2 * 2  # four runs, two points, two groups
    sft = curves[(curves["corpus"] == W.VARIANT_TITLES["text"]) & (curves["group"] == "present")]
    assert list(sft["value"]) == pytest.approx([0.45, 0.80])
    assert isinstance(plots.warmup_variant_curves(curves), Figure)


def test_load_missing_malformed_and_committed(tmp_path):
    assert W.load_variants(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="bad.json: not a probe_lm_warmup.py file"):
        W.load_variants(bad)
    committed = W.load_variants()  # reports/lm_warmup_variants.json, read by notebook 03
    assert committed is not None and {"default", "text", "topics-all", "none"} <= set(committed["variants"])
    assert not W.variants_table(committed).empty
