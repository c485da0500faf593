"""What notebooks 03, 04 and 05 show, built by mmkp_lib.analysis: how numbers are written (wording), the answer
paragraphs (answers), the sections' sentences (findings), the shown tables (report_tables), and the reasoning
and warm-up helpers behind them. Inputs are hand-made (tests/_analysis_data.py); expected numbers by hand."""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from _analysis_data import DYN0, SFT0, COT0, _records, gold, make_runs, runs, tables, train  # noqa: F401 (fixtures)
from mmkp_lib import analysis as A
from mmkp_lib.analysis import findings

N_BOOT = 50
LABELS = {"zero-shot": "zero-shot", "baseline": "baseline", "sft": "sft", "cot": "cot", "multitask": "multitask", "dyncot": "dyncot-g0.4"}
F1_SFT0 = 2 * .7 * .6 / 1.3  # SFT0's F1@M on all keyphrases (macro P .7, R .6; see test_analysis)


def table_rows(**cells) -> pd.DataFrame:
    """A main_table-shaped frame: cells = {label: (mean, low, high, sd, n_seeds)} on group all, F1@M."""
    return pd.DataFrame([{"label": k, "group": "all", "metric": "f1@M", "mean": m, "low": lo, "high": hi, "sd": sd,
                          "n_seeds": n} for k, (m, lo, hi, sd, n) in cells.items()])


def paired(a, b, delta, low, high, p, group="all") -> dict:
    return {"a": a, "b": b, "group": group, "metric": "f1@M", "mean_a": 0.5, "mean_b": 0.5 + delta, "delta": delta,
            "low": low, "high": high, "p_value": p}


# ---------------------------------------------------------------- wording: one cell / delta / versus for 03, 04, 05

def test_cell_shows_the_seed_sd_only_with_several_seeds():
    table = table_rows(sft=(0.412, 0.38, 0.445, 0.013, 3), cot=(0.5, 0.4, 0.6, float("nan"), 1))
    assert A.cell(table, "sft", "all") == "41.2 ±1.3 [38.0, 44.5]"
    assert A.cell(table, "cot", "all") == "50.0 [40.0, 60.0]"
    with pytest.raises(KeyError, match="main table: no row with label='dyncot', group='all'"):
        A.cell(table, "dyncot", "all")


def test_delta_and_versus_write_b_against_a():
    tests = pd.DataFrame([paired("sft", "cot", 0.031, 0.004, 0.059, 0.02),
                          paired("sft", "multitask", -0.12, -0.2, -0.05, 0.001),
                          paired("cot", "dyncot-g0.4", 0.0, 0.0, 0.0, 1.0)])
    assert A.delta(tests, "sft", "cot", "all") == "+3.1 points [+0.4, +5.9], p = 0.020"
    assert A.delta(tests, "sft", "multitask", "all") == "-12.0 points [-20.0, -5.0], p = 0.001"
    assert A.versus(tests, "sft", "cot", "all") == "3.1 points above SFT, p = 0.020"
    assert A.versus(tests, "sft", "multitask", "all", p_name="paired bootstrap p") == \
        "12.0 points below SFT, paired bootstrap p = 0.001"
    assert A.versus(tests, "cot", "dyncot-g0.4", "all") == "equal to Fine-tune-CoT"
    with pytest.raises(KeyError, match="paired tests: no row with a='sft', b='cot', group='unseen'"):
        A.versus(tests, "sft", "cot", "unseen")
    assert (A.more_or_fewer(0.3848), A.more_or_fewer(-0.12), A.more_or_fewer(0.5, "less")) == \
        ("38.5% fewer", "12.0% more", "50.0% less")


# ---------------------------------------------------------------- the answers

def one_seed_runs(gold, strategies=("sft", "cot", "multitask")) -> list[A.Run]:
    """Zero-shot finding nothing, SFT0, COT0 (50 think tokens per post) and a perfect multi-task, seed 0."""
    preds = {"sft": (SFT0, None), "cot": (COT0, dict.fromkeys(SFT0, 50)), "multitask": (DYN0, None)}
    runs = [A.Run("zero-shot-tiny", _records({p.id: ["nothing"] for p in gold}), strategy="zero-shot")]
    return runs + [A.Run(f"{s}-seed0", _records(*preds[s]), strategy=s, seed=0) for s in strategies]


def test_sft_vs_cot_answer(gold, train):
    runs = one_seed_runs(gold)
    scores = A.score_runs(gold, runs, train)
    table = A.main_table(runs, scores, n_boot=N_BOOT)
    tests = A.paired_tests(runs, scores, [("sft", "cot"), ("sft", "multitask")], groups=("all", "absent", "unseen"),
                           metrics=("f1@M",), n_boot=N_BOOT)
    cost = A.reasoning_cost(A.build_tables(gold, runs, train))
    times = pd.DataFrame([{"run": r.name, "strategy": r.strategy, "train_s": 10.0 * i} for i, r in enumerate(runs)])
    text = A.sft_vs_cot_answer(runs, table, tests, cost, times, n_train=len(train), steps=37, batch=2, seed=0,
                               model="tiny", threads=1, workers=2, smoke=True)
    assert text.startswith("After **37 optimizer steps of 2 posts** (2.0 epochs of SFT data; seed 0; model `tiny`)")
    assert "zero-shot (`zero-shot-tiny`) 0.0 [0.0, 0.0], SFT 64.6 [" in text
    assert "multi-task 100.0 [100.0, 100.0] (95% bootstrap intervals)" in text
    assert re.search(r"multi-task 100\.0 \[100\.0, 100\.0\] \(\d+\.\d points above SFT, paired bootstrap p = 0\.\d{3}\)"
                     r"\. Over all keyphrases Fine-tune-CoT is \d+\.\d points below SFT", text)
    assert "Fine-tune-CoT writes 50 reasoning tokens per test post (multi-task 0, SFT 0)" in text
    assert "Training wall time per run: sft 10 s, cot 20 s, multitask 30 s (1 thread(s) per run, 2 at a time)." in text
    # every output parsed ("nothing" is a keyphrase), yet F1 is 0: the answer says so plainly
    assert ("Zero-shot (`zero-shot-tiny`) is prompted with the instruction alone and read by a lenient parser "
            "(commas, newlines, #tags); it gave a readable keyphrase in 100% of its outputs and still scores near "
            "zero") in text
    assert text.endswith("**Smoke run: these numbers test the plumbing, not the strategies.**")
    with pytest.raises(KeyError, match="no zero-shot run"):
        A.sft_vs_cot_answer(runs[1:], table, tests, cost, times, n_train=37, steps=1, batch=1, seed=0, model="m",
                            threads=1, workers=1)


def dyncot_world(gold, train, dyn_think, decisions):
    runs = one_seed_runs(gold, ("sft", "cot"))[1:]
    runs.append(A.Run("dyncot-g0.4-seed0", _records(DYN0, dyn_think), strategy="dyncot", seed=0, gamma="0.4",
                      decisions=decisions))
    scores = A.score_runs(gold, runs, train)
    table = A.main_table(runs, scores, groups=("all", "absent", "unseen", "seen"), n_boot=N_BOOT)
    tests = A.paired_tests(runs, scores, [("sft", "dyncot-g0.4"), ("cot", "dyncot-g0.4")],
                           groups=("all", "absent", "unseen"), metrics=("f1@M",), n_boot=N_BOOT)
    return runs[-1], table, tests, A.reasoning_cost(A.build_tables(gold, runs, train))


def test_dyncot_answer_switched_share_and_reduction(gold, train):
    dyn, table, tests, cost = dyncot_world(gold, train, {"p2": 20, "p3": 40},
                                           [{"cot": True}] + [{"cot": False}] * 3)
    text = A.dyncot_answer(dyn, table, tests, cost, gamma="0.4", scoring="online", steps=40, batch=8)
    assert text.startswith("With **γ = 0.4** (online scoring), Dynamic CoT trained 25.0% of its sample visits")
    assert re.search(r"Dynamic CoT 100\.0 \[100\.0, 100\.0\] \(\d+\.\d points above SFT, p = 0\.\d{3}; "
                     r"\d+\.\d points above Fine-tune-CoT, p = 0\.\d{3}\)", text)
    # Dynamic CoT reasons on p2 (20 tokens) and p3 (40): 12 per post against 50, 1 - 12/50 = 76% fewer.
    assert ("reasons on 40% of posts and writes 12.0 reasoning tokens per post against Fine-tune-CoT's 50.0: "
            "**76.0% fewer** reasoning tokens than Fine-tune-CoT (the paper: 38.48% less reasoning compute).") in text
    assert "No training sample" not in text and "Smoke run" not in text


def test_dyncot_answer_says_when_nothing_switched(gold, train):
    dyn, table, tests, cost = dyncot_world(gold, train, None, [{"cot": False}] * 4)
    text = A.dyncot_answer(dyn, table, tests, cost, gamma="0.4", scoring="lagged", steps=40, batch=8, smoke=True)
    assert "trained 0.0% of its sample visits" in text
    assert "No training sample's SFT answer loss fell below γ = 0.4, so this run trained exactly as SFT" in text
    assert text.endswith("**Smoke run: these numbers test the plumbing, not the method.**")
    cost = cost.assign(think_tokens=0.0)  # Fine-tune-CoT wrote nothing: no reduction to state
    assert "no comparison of reasoning tokens (Fine-tune-CoT wrote none)" in A.dyncot_answer(
        dyn, table, tests, cost, gamma="0.4", scoring="online", steps=40, batch=8)


def breakdowns_world(gold, train, dyn_think):
    """Zero-shot, SFT and Fine-tune-CoT (50 think tokens per post) on seeds 0 and 1, multi-task and a perfect
    Dynamic CoT with dyn_think[seed] think tokens."""
    runs = one_seed_runs(gold) + [A.Run("baseline", _records({p.id: ["nothing"] for p in gold}), strategy="baseline")]
    runs += [A.Run("sft-seed1", _records(SFT0), strategy="sft", seed=1),
             A.Run("cot-seed1", _records(COT0, dict.fromkeys(SFT0, 50)), strategy="cot", seed=1)]
    runs += [A.Run(f"dyncot-g0.4-seed{s}", _records(DYN0, think), strategy="dyncot", seed=s, gamma="0.4",
                   decisions=[{"cot": True}, {"cot": False}, {"cot": False}, {"cot": False}])
             for s, think in enumerate(dyn_think)]
    scores = A.score_runs(gold, runs, train)
    table = A.main_table(runs, scores, n_boot=N_BOOT)
    tests = A.paired_tests(runs, scores, A.claim_pairs(LABELS), metrics=("f1@M",), n_boot=N_BOOT)
    return runs, table, tests, A.reasoning_cost(A.build_tables(gold, runs, train))


def test_breakdowns_answer_states_every_claim_with_its_numbers(gold, train):
    runs, table, tests, cost = breakdowns_world(gold, train, [{"p2": 20, "p3": 40}, {"p2": 30}])
    text = A.breakdowns_answer(table, tests, cost, runs, LABELS, close_margin=0.02, gamma=0.4, posts=len(gold),
                               data="data/x", model="tiny", steps=40, batch=8, n_seeds=2)
    assert text.startswith("**Answer.** On 5 test posts of `data/x` (student `tiny`, 40 steps x 8 posts, 2 seed(s) "
                           "per strategy;")
    # SFT (64.6 on both seeds, so sd 0.0) far above a zero-shot that finds nothing: significant.
    assert re.search(r"1\. \*SFT far above zero-shot:\* \*\*reproduced\*\*\. SFT 64\.6 ±0\.0 \[[\d.]+, [\d.]+\] "
                     r"against zero-shot 0\.0 \[0\.0, 0\.0\] on all keyphrases \(\+64\.6 points", text)
    assert "2. *Reasoning above SFT on unseen keyphrases:* Fine-tune-CoT **" in text
    assert "Zero-shot (`zero-shot-tiny`) is prompted with the instruction alone" in text
    # Dynamic CoT is perfect, so its interval against Fine-tune-CoT lies above 0: "close" holds.
    assert "3. *Dynamic CoT close to Fine-tune-CoT with fewer reasoning tokens:* close **reproduced** (the 95%" in text
    # 12 and 6 think tokens per post against 50 on both seeds: 82% fewer overall, 76% and 88% per seed.
    assert ("it writes 9.0 reasoning tokens per test post against Fine-tune-CoT's 50.0, **82.0% fewer**, per seed "
            "76.0% to 88.0% (the paper: 38.48%).") in text
    # the baseline finds nothing; SFT finds the one post's unseen keyphrase: too few posts to be significant
    assert ("4. *The traditional baseline fails on unseen keyphrases:* **inconclusive** (not significant). Unseen "
            "F1@M: baseline 0.0 [0.0, 0.0] against SFT 50.0 ±0.0") in text
    assert "Caveat" not in text and "Smoke run" not in text and "What changed" not in text
    # against an earlier report's figures, each number moves from then to now
    previous = dict(A.answers.PREVIOUS_REPORT, setup="an old setup")
    changed = A.breakdowns_answer(table, tests, cost, runs, LABELS, close_margin=0.02, gamma=0.4, posts=len(gold),
                                  data="data/x", model="tiny", steps=40, batch=8, n_seeds=2, previous=previous)
    assert changed.startswith(text)
    assert re.search(r"\*\*What changed from the previous report\*\* \(an old setup\): F1@M on all keyphrases "
                     r"SFT 30\.2 -> 64\.6 \(unseen 8\.1 -> 50\.0\); Fine-tune-CoT 20\.0 -> [\d.]+", changed)
    assert "writes 0.0 -> 9.0 reasoning tokens per test post (Fine-tune-CoT 246.8 -> 50.0)" in changed
    assert A.previous_report("data/synth", smoke=False) is A.answers.PREVIOUS_REPORT
    assert A.previous_report("data/synth", smoke=True) is None and A.previous_report("data/mmkp", False) is None


def test_breakdowns_answer_caveat_when_dynamic_cot_never_reasons(gold, train):
    runs, table, tests, cost = breakdowns_world(gold, train, [None, None])
    text = A.breakdowns_answer(table, tests, cost, runs, LABELS, close_margin=0.02, gamma=0.4, posts=5, data="d",
                               model="m", steps=1, batch=1, n_seeds=2, smoke=True)
    assert ("**Caveat.** Dynamic CoT never reasons at test time: it switched 25.0% of its training samples to the "
            "CoT target (almost no SFT answer loss fell below γ = 0.4)") in text
    assert "it writes 0.0 reasoning tokens per test post against Fine-tune-CoT's 50.0, **100.0% fewer**" in text
    assert text.endswith("**Smoke run: these numbers test the plumbing, not the methods.**")


def test_close_text_names_the_deciding_interval():
    tests = pd.DataFrame([paired("cot", "dyncot-g0.4", -0.01, -0.05, 0.031, 0.5)])
    assert A.answers.close_text(tests, LABELS, 0.02) == (
        "**inconclusive** (the 95% interval of the difference, [-5.0, +3.1] points, reaches below −2)")
    tests = pd.DataFrame([paired("cot", "dyncot-g0.4", -0.1, -0.15, -0.05, 0.001)])
    assert A.answers.close_text(tests, LABELS, 0.025).startswith("**not reproduced** (the 95% interval of the "
                                                                  "difference, [-15.0, -5.0] points, lies below −2.5)")


# ---------------------------------------------------------------- the sections' findings

def curve_rows(values: dict, seeds=(0,)) -> pd.DataFrame:
    """learning_curves-shaped rows: values = {(group, step): {label: F1}} for every seed."""
    return pd.DataFrame([{"run": f"{label}-seed{s}", "label": label, "seed": s, "step": step, "metric": "f1@M",
                          "group": group, "value": v + 0.01 * s}
                         for (group, step), by_label in values.items() for label, v in by_label.items()
                         for s in seeds])


PACE = {("all", 10): {"sft": 0.1, "cot": 0.1, "dyncot-g0.4": 0.1}, ("all", 20): {"sft": 0.2, "cot": 0.4, "dyncot-g0.4": 0.3},
        ("all", 40): {"sft": 0.6, "cot": 0.6, "dyncot-g0.4": 0.6}, ("unseen", 10): {"sft": 0.1, "cot": 0.1, "dyncot-g0.4": 0.1},
        ("unseen", 20): {"sft": 0.1, "cot": 0.1, "dyncot-g0.4": 0.1}, ("unseen", 40): {"sft": 0.3, "cot": 0.5, "dyncot-g0.4": 0.3}}


def test_pace_findings_how_fast_and_how_far():
    text = findings.pace(curve_rows(PACE), eval_samples=16, n_seeds=1)
    assert text.splitlines()[0] == (
        "- **all** keyphrases: at step 20: Fine-tune-CoT 40.0, Dynamic CoT γ=0.4 30.0, SFT 20.0 (spread 20.0 points); "
        "at step 40: Fine-tune-CoT 60.0, Dynamic CoT γ=0.4 60.0, SFT 60.0 (spread 0.0); they differ in **how fast**, "
        "not how far: the gap closes by the last step.")
    assert "they differ in **how far**: Fine-tune-CoT is still ahead at the last step." in text.splitlines()[1]
    assert text.endswith("Validation F1@M on 16 posts, one seed (no seed spread); a gap counts when it exceeds 2 points "
                         "and twice the seed sd.")
    two = findings.pace(curve_rows(PACE, seeds=(0, 1)), eval_samples=16, n_seeds=2)
    assert "seed sd at step 40: 0.7 points (median over strategies)" in two and "one seed" not in two
    assert findings.pace(curve_rows({}), eval_samples=16, n_seeds=1) == "No learning curves to compare (eval_every = 0)."


def test_gamma_sweep_findings():
    sweep = pd.DataFrame({"gamma": ["0.1", "0.4", "q0.3"], "label": ["dyncot-g0.1", "dyncot-g0.4", "dyncot-gq0.3"],
                          "seed": 0, "gamma_kind": ["loss", "loss", "quantile"], "f1@M_all": [0.4, 0.8, 0.55],
                          "f1@M_unseen": [0.5, 0.7, 0.6], "think_tokens": [2.0, 8.0, 5.0],
                          "share_switched": [0.1, 0.5, 0.3]})
    assert findings.gamma_sweep(sweep, "dyncot-g0.4", n_seeds=1) == (
        "Unseen F1@M is highest at γ = 0.4 (70.0); over the sweep it spans 50.0 to 70.0 points (one seed: no spread "
        "to compare with). From γ = 0.1 to γ = 0.4 the share of training samples switched to CoT goes from 10% to "
        "50% and the reasoning tokens per test post from 2.0 to 8.0. The quantile setting γ = q0.3 switched 30% of "
        "samples, F1@M 55.0 (all) / 60.0 (unseen), 5.0 reasoning tokens per post.")
    flat = sweep.assign(**{"f1@M_unseen": 0.5})
    assert findings.gamma_sweep(flat, "dyncot-g0.4", n_seeds=1).startswith("Unseen F1@M is 50.0 at every γ of the sweep")


def test_reasoning_cost_findings(gold, train):
    runs = make_runs()
    runs[2] = A.Run("cot-seed0", [dict(r, stopped=r["id"] != "p1") for r in runs[2].predictions], strategy="cot",
                    seed=0)  # one of five generations hit the budget
    cost = A.reasoning_cost(A.build_tables(gold, runs, train))
    text = findings.reasoning_cost(cost, runs, cot="cot", dyn="dyncot", max_new_tokens=100)
    # Seconds per post: 0.1 + think / 100, so Fine-tune-CoT 0.6 s and Dynamic CoT (0.3 + 0.3 + 0.5) / 5 = 0.22 s.
    assert text == (
        "Dynamic CoT writes **76.0% fewer** reasoning tokens per post than Fine-tune-CoT (12.0 against 50.0); the "
        "paper reports 38.48%. Generation takes 220.0 ms per post against Fine-tune-CoT's 600.0 ms (63.3% less, mean "
        "of the per-seed changes; batched, on a shared CPU). **Budget:** share of test generations that hit the "
        "100-token limit before finishing (answer cut or missing, reasoning tokens capped): Fine-tune-CoT 20%; their "
        "F1 and token counts understate what a larger budget would give.")
    none = findings.reasoning_cost(cost.assign(think_tokens=0.0), make_runs(), "cot", "dyncot", 100)
    assert none.startswith("Fine-tune-CoT wrote no reasoning tokens at test time, so no reduction can be measured. ")
    assert "Budget" not in none


def test_reasoning_shares_findings(tables):
    shares = A.reasoning_shares(tables, labels=["cot", "dyncot"])
    assert findings.reasoning_shares(shares, "dyncot", n_seeds=1).startswith(
        "Dynamic CoT reasons on 50% of 2 unseen posts against 33% of 3 seen posts, and on 100% of 2 absent posts "
        "against 0% of 3 present posts (means over 1 seed(s)).")
    assert "no unseen posts" in findings.reasoning_shares(shares[shares["group"] != "unseen"], "dyncot", 1)


def test_overthinking_and_frequency_findings(tables):
    over = {"cot": A.overthinking(tables, cot="cot", reference="sft")}
    assert findings.overthinking(over) == (
        "- **Fine-tune-CoT**: of 5 easy keyphrases it found 2 (SFT 4); it missed **3** that SFT found, and predicted "
        "a more general keyphrase for **2** (2 of them where SFT was right).")
    buckets = A.f1_by_bucket(tables, labels=["cot", "dyncot"])
    errors = A.frequent_errors(tables, top=2, labels=["cot", "dyncot"])
    text = findings.frequency_buckets(buckets, errors, tables.bucket_names, ["cot", "dyncot"])
    assert text.startswith("F1@M on gold keyphrases never seen in training (bucket 0) against the most frequent ones "
                           "(bucket >20): Fine-tune-CoT ")
    assert "Dynamic CoT 100.0 vs 100.0" in text  # dyncot predicts every gold keyphrase
    assert text.endswith("The single most frequent wrong prediction takes 50% (Fine-tune-CoT) of a strategy's wrong "
                         "predictions.")  # "lake", twice of cot's 4 wrong predictions


# ---------------------------------------------------------------- the shown tables

def test_label_filters_keep_the_same_rows(tables):
    assert A.f1_by_bucket(tables, labels=["cot"]).equals(
        A.f1_by_bucket(tables)[lambda d: d["label"] == "cot"])
    assert A.frequent_errors(tables, labels=["sft"]).equals(A.frequent_errors(tables)[lambda d: d["label"] == "sft"])
    by_run = A.frequent_errors(tables, by="run", labels=["sft"])
    assert set(by_run["run"]) == {"sft-seed0", "sft-seed1"}


def test_paired_tests_table_in_points():
    tests = pd.DataFrame([paired("sft", "dyncot-g0.4", 0.031, 0.004, 0.059, 0.02, group="unseen")])
    t = A.paired_tests_table(tests)
    assert t.index.tolist() == [("Dynamic CoT γ=0.4 − SFT", "unseen")]
    assert t.iloc[0].tolist() == pytest.approx([50.0, 53.1, 3.1, 0.4, 5.9, 0.02])


def test_frequent_errors_table_cuts_long_predictions():
    long = "x" * 50
    errors = pd.DataFrame({"label": ["cot", "cot", "sft"], "rank": [1, 2, 1], "prediction": [long, "lake", "dog"],
                           "count": [3, 1, 2], "seen": [False, True, True]})
    t = A.frequent_errors_table(errors, ["sft", "cot", "dyncot"])
    assert list(t.columns) == ["SFT", "Fine-tune-CoT"]  # in the labels' order; dyncot made no error
    assert t.loc[1, "Fine-tune-CoT"] == "x" * 39 + "… (3)"
    assert (t.loc[2, "Fine-tune-CoT"], t.loc[1, "SFT"], t.loc[2, "SFT"]) == ("lake (1, seen)", "dog (2, seen)", "")


def test_overthinking_tables(tables):
    over = {"cot": A.overthinking(tables, cot="cot", reference="sft")}
    counts = A.overthinking_table(over)
    assert counts.index.tolist() == [("Fine-tune-CoT", 0)]
    assert counts.loc[("Fine-tune-CoT", 0), ["easy keyphrases", "missed, SFT found"]].tolist() == [5, 3]
    ex = A.overthinking_examples(over)
    assert ex["kind"].tolist() == ["more general", "more general", "wrong"]  # generalisations first
    assert ex.columns.tolist() == ["model", "seed", "id", "gold", "kind", "cot_general", "cot_predicted",
                                   "reference_right"]
    assert len(A.overthinking_examples(over, n=1)) == 1
    perfect = {"dyncot": A.overthinking(tables, cot="dyncot", reference="sft")}
    assert A.overthinking_examples(perfect).empty


def test_cost_and_share_tables(tables):
    cost = A.reasoning_cost(tables)
    shown = A.cost_table(cost)
    assert shown.loc["dyncot", "think_tokens"] == 12.0 and shown.loc["cot", "reasoned_share"] == 1.0
    seeds = A.cost_over_seeds_table(cost, ["sft", "cot"])
    assert seeds.index.tolist() == ["SFT", "Fine-tune-CoT"] and seeds.loc["SFT", "n_seeds"] == 2
    by_group = A.shares_by_group(A.reasoning_shares(tables, labels=["dyncot"]))
    assert by_group.loc["dyncot"].to_dict() == pytest.approx({"absent": 1.0, "present": 0.0, "seen": 0.333,
                                                              "unseen": 0.5})


def test_sample_predictions(gold):
    t = A.sample_predictions(gold, make_runs(), n=2)
    assert t["id"].tolist() == ["p1", "p2"]
    assert t.loc[0, ["gold", "SFT", "Fine-tune-CoT"]].tolist() == ["vintage bicycle; beach", "vintage bicycle; beach",
                                                                   "bicycle; beach"]
    with pytest.raises(KeyError, match="no run with label 'sft'"):
        A.sample_predictions(gold, make_runs()[2:])


def test_vision_warmup_table_and_note():
    info = {"vision_warmup": {"chance": {"colour": 0.125, "shape": 0.25}, "accuracy": {"colour": 0.9871, "shape": 0.8},
                              "config": {"steps": 150}, "train_seconds": 12.5, "n_eval": 300}}
    t = A.vision_warmup_table(info)
    assert t.index.tolist() == ["chance", "after warm-up"] and t.loc["after warm-up", "colour"] == 0.987
    assert A.vision_warmup_note(info, "tiny", 0) == ("vision warm-up of tiny (seed 0): 150 steps, 12.5 s; held-out "
                                                     "accuracy on 300 generated images")
    assert A.vision_warmup_table(None) is None and A.vision_warmup_table({}) is None
    assert A.vision_warmup_note({}, "smol", 1) == ("model 'smol': no vision warm-up recorded (a random tower, or a "
                                                   "pretrained one)")


# ---------------------------------------------------------------- reasoning helpers

def test_reduction_overall_and_per_seed():
    cost = pd.DataFrame({"label": ["cot", "cot", "dyn", "dyn"], "seed": [0, 1, 0, 1],
                         "think_tokens": [40.0, 60.0, 10.0, 45.0]})
    r = A.reduction(cost, "cot", "dyn")
    assert (r.base_mean, r.other_mean, r.overall, r.measured) == (50.0, 27.5, pytest.approx(0.45), True)
    assert r.per_seed.tolist() == pytest.approx([0.75, 0.25])
    zero = A.reduction(cost.assign(think_tokens=[0.0, 0.0, 1.0, 1.0]), "cot", "dyn")
    assert not zero.measured and math.isnan(zero.overall) and zero.per_seed.isna().all()
    assert A.reduction_per_seed(cost, "cot", "missing").empty
    with pytest.raises(KeyError, match="no runs with label 'missing'"):
        A.reduction(cost, "cot", "missing")


def test_decisions_table_and_share_per_epoch():
    run = A.Run("dyncot-g0.4-seed0", [], strategy="dyncot", gamma="0.4",
                decisions=[{"step": 1, "epoch": 0, "sft_loss": 0.2, "cot": True},
                           {"step": 1, "epoch": 0, "sft_loss": 0.8, "cot": False},
                           {"step": 2, "epoch": 1, "sft_loss": None, "cot": False},  # not scored: left out
                           {"step": 2, "epoch": 1, "sft_loss": 0.3, "cot": True}])
    dec = A.decisions_table(run)
    assert len(dec) == 3
    per_epoch = A.switched_by_epoch(dec)
    assert per_epoch.to_dict("index") == {0: {"visits": 2, "cot_share": 0.5, "median_sft_loss": 0.5},
                                          1: {"visits": 1, "cot_share": 1.0, "median_sft_loss": 0.3}}
    assert A.decisions_table(A.Run("sft-seed0", [])).empty and A.switched_by_epoch(pd.DataFrame()).empty
    with pytest.raises(ValueError, match="lack 'sft_loss'"):
        A.decisions_table(A.Run("x-seed0", [], decisions=[{"cot": True}]))


def test_zero_shot_text_names_the_shots_and_the_parsed_share(gold):
    table_runs = [A.Run("zero-shot-smol", _records({p.id: (["beach"] if i < 2 else []) for i, p in enumerate(gold)}),
                        strategy="zero-shot", config={"params": {"shots": 3}})]
    table = A.main_table(table_runs, A.score_runs(gold, table_runs, None), n_boot=N_BOOT)
    text = A.zero_shot_text(table_runs[0], table)
    assert "the instruction after 3 in-context example(s) (the first training posts with their keyphrases)" in text
    assert "a readable keyphrase in 40% of its outputs" in text  # 2 of the 5 posts
    assert "SmolLM2" not in text  # no probe given: nothing about it


def _zero_shot_probe_file(tmp_path):
    import json

    def shots(n, all_, unseen, formatted, copied):
        return {"posts": 1000, "f1m": {"all": all_, "unseen": unseen}, "shares": {"parsed": 1.0,
                "formatted": formatted, "copied": copied}}
    path = tmp_path / "zero_shot_smol.json"
    path.write_text(json.dumps({"model": "smol", "connector_steps": 0,
                                "shots": {"3": shots(3, 0.05, 0.018, 1.0, 0.56), "0": shots(0, 0.0, 0.0, 0.0, 0.0)}}))
    return path


def test_zero_shot_probe_only_for_the_default_benchmark_and_not_smoke(tmp_path):
    from mmkp_lib.analysis.zero_shot_probe import zero_shot_probe

    path = _zero_shot_probe_file(tmp_path)
    assert zero_shot_probe("/work/x/data/synth", False, path)["connector_steps"] == 0
    assert zero_shot_probe("/work/x/data/synth", True, path) is None  # smoke: other posts, other model
    assert zero_shot_probe("/work/x/data/mmkp", False, path) is None  # other data
    assert zero_shot_probe("/work/x/data/synth", False, tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a probe_zero_shot.py file"):
        zero_shot_probe("data/synth", False, tmp_path / "bad.json")


def test_zero_shot_text_quotes_the_pretrained_probe_unless_the_row_is_that_model(gold, tmp_path):
    from mmkp_lib.analysis.zero_shot_probe import zero_shot_probe

    probe = zero_shot_probe("data/synth", False, _zero_shot_probe_file(tmp_path))
    records = _records({p.id: [] for p in gold})
    student = A.Run("zero-shot-tiny", records, strategy="zero-shot", config={"params": {"shots": 3, "model": "tiny"}})
    table = A.main_table([student], A.score_runs(gold, [student], None), n_boot=N_BOOT)
    text = A.zero_shot_text(student, table, probe)
    # examples in order of their count, each with its figures
    assert ("0 example(s): F1@M 0.0 on all keyphrases (unseen 0.0), 0% of outputs in the \"kp1; kp2\" form, 0% of "
            "its keyphrases copied from the examples; 3 example(s): F1@M 5.0 on all keyphrases (unseen 1.8), 100% of "
            "outputs in the \"kp1; kp2\" form, 56% of its keyphrases copied from the examples.") in text
    assert "random projector" in text and "on 1000 of these test posts" in text
    assert "At its best it stays under 10 points" in text  # 5.0 at best
    probe["shots"]["3"]["f1m"]["all"] = 0.12
    assert "At its best" not in A.zero_shot_text(student, table, probe)
    smol = A.Run("zero-shot-smol", records, strategy="zero-shot", config={"params": {"shots": 3, "model": "smol"}})
    assert "SmolLM2" not in A.zero_shot_text(smol, table.rename(index={"zero-shot-tiny": "zero-shot-smol"}), probe)
