"""mmkp_lib.analysis on hand-built posts and runs (tests/_analysis_data.py); expected numbers computed by hand."""
from __future__ import annotations

import math

import pytest

from _analysis_data import gold, make_runs, runs, tables, train  # noqa: F401 (fixtures)
from mmkp_lib import analysis as A
from mmkp_lib import runs as run_files
from mmkp_lib.metrics import evaluate
from mmkp_lib.stats import bootstrap_ci, paired_bootstrap_test

N_BOOT = 200  # enough to compare with mmkp_lib.stats draw for draw; small to keep the tests fast


@pytest.fixture(scope="module")
def scores(gold, runs, train):
    return A.score_runs(gold, runs, train)


# ---------------------------------------------------------------- runs and labels

def test_labels_and_seeds_come_from_the_name_or_the_config():
    assert (A.Run("sft-seed3", []).label, A.Run("sft-seed3", []).seed, A.Run("sft-seed3", []).strategy) == ("sft", 3, "sft")
    r = A.Run("my-run", [], strategy="dyncot", seed=1, gamma="q0.3")
    assert (r.label, r.display) == ("dyncot-gq0.3", "Dynamic CoT γ=q0.3")
    assert A.display_label("dyncot-g0.4") == "Dynamic CoT γ=0.4" and A.display_label("my-label") == "my-label"
    assert A.Run("cot", [], strategy="cot").display == "Fine-tune-CoT"
    assert A.Run("dyncot-g0.4-seed2", []).strategy == "dyncot"


def test_check_runs_orders_like_the_paper_and_rejects_a_repeated_seed():
    names = [r.name for r in A.check_runs([A.Run("dyncot-seed0", [], strategy="dyncot"),
                                           A.Run("sft-seed1", []), A.Run("zero-shot", [], strategy="zero-shot"),
                                           A.Run("sft-seed0", [])])]
    assert names == ["zero-shot", "sft-seed0", "sft-seed1", "dyncot-seed0"]
    with pytest.raises(ValueError, match="share label 'sft' and seed 0"):
        A.check_runs([A.Run("sft-seed0", []), A.Run("other", [], strategy="sft", seed=0, label="sft")])


def test_load_runs_reads_run_folders(tmp_path, runs):
    for run, params in ((runs[0], {"strategy": "sft", "seed": 0}),
                        (runs[3], {"strategy": "dyncot", "gamma": 0.4, "seed": 0})):
        folder = tmp_path / ("dyncot-a" if run.strategy == "dyncot" else run.name)
        run_files.write_config(folder, params, kind="train", seed=params["seed"])
        run_files.append_jsonl(folder / run_files.PREDICTIONS, run.predictions)
        run_files.append_jsonl(folder / run_files.TRAIN_LOG, [{"event": "valid", "step": 5, "valid_f1@M_all": 0.5}])
    run_files.append_jsonl(tmp_path / "dyncot-a" / run_files.DECISIONS, [{"cot": True}, {"cot": False}, {"cot": False}])
    (tmp_path / "not-a-run").mkdir()
    loaded = A.load_runs(tmp_path)
    assert [(r.name, r.label, r.strategy, r.seed, r.gamma) for r in loaded] == [
        ("sft-seed0", "sft", "sft", 0, None), ("dyncot-a", "dyncot-g0.4", "dyncot", 0, "0.4")]
    assert loaded[1].predictions == runs[3].predictions
    assert A.share_switched(loaded[1]) == pytest.approx(1 / 3)
    with pytest.raises(FileNotFoundError, match="no run folder holds predictions.jsonl"):
        A.load_runs(tmp_path / "not-a-run")


# ---------------------------------------------------------------- tables

def test_gold_table_flags(tables):
    g = tables.gold.set_index("keyphrase")
    assert g.loc["vintage bicycle", ["present", "seen", "train_freq", "freq_bucket", "role"]].tolist() == [
        True, True, 2, "2-5", "topic"]
    assert g.loc["sunset", ["present", "seen", "train_freq", "freq_bucket"]].tolist() == [False, True, 25, ">20"]
    assert g.loc["cat toy", ["present", "seen", "freq_bucket"]].tolist() == [True, False, "0"]
    assert g.loc["dog", "freq_bucket"] == "6-20" and g.loc["forest", "freq_bucket"] == "1"
    by_post = tables.gold.groupby("id")[["post_absent", "post_unseen"]].first()
    assert by_post["post_absent"].to_dict() == {"p1": False, "p2": True, "p3": True, "p4": False, "p5": False}
    assert by_post["post_unseen"].to_dict() == {"p1": False, "p2": False, "p3": True, "p4": True, "p5": False}


def test_correctness_and_prediction_tables(tables):
    c = tables.correctness
    assert len(c) == 4 * 8  # 4 runs x 8 unique gold keyphrases
    sft = c[c["run"] == "sft-seed0"].set_index("keyphrase")
    assert sft["matched"].to_dict() == {"vintage bicycle": True, "beach": True, "red circle": True, "sunset": False,
                                        "cat toy": True, "dog": False, "tiny koala": False, "forest": True}
    assert sft.loc["beach", "match_rank"] == 2 and sft.loc["cat toy", "predicted"] == "cat toy; sunset"
    p = tables.predictions.set_index(["run", "id", "prediction"])
    # A miss is judged by its own string: "sunset" on p3 is a seen, >20 prediction; "koala" an unseen one.
    assert p.loc[("sft-seed0", "p3", "sunset"), ["correct", "seen", "freq_bucket", "present"]].tolist() == [
        False, True, ">20", False]
    assert p.loc[("sft-seed0", "p4", "koala"), ["correct", "seen", "freq_bucket", "present"]].tolist() == [
        False, False, "0", True]
    assert p.loc[("cot-seed0", "p2", "lake"), "rank"] == 3


def test_group_scores_equal_the_evaluator(gold, runs, train, tables):
    """present=False is the evaluator's absent group, seen=False its unseen group, for every run and cut-off."""
    by = {(column, k): A.group_scores(tables, column, k) for column in ("present", "seen") for k in (1, 3, "M")}
    for run in runs:
        ev = evaluate(gold, {r["id"]: r["keyphrases"] for r in run.predictions}, train)
        for k in (1, 3, "M"):
            for column, value, group in (("present", False, "absent"), ("present", True, "present"),
                                         ("seen", False, "unseen"), ("seen", True, "seen")):
                s = by[(column, k)]
                got = s[(s["run"] == run.name) & (s[column] == value)]["f1"].item()
                assert got == pytest.approx(ev[group][f"f1@{k}"], abs=1e-12), (run.name, k, group)


def test_f1_by_frequency_bucket_by_hand(tables):
    b = A.f1_by_bucket(tables)
    sft0 = b[b["run"] == "sft-seed0"].set_index("freq_bucket")
    # "0": p3 finds cat toy (P 1, R 1), p4 predicts unseen "koala" (P 0, R 0): F1 .5.
    # ">20": p2's sunset is missed and p2 predicts nothing in that bucket: 0.  "6-20": dog missed: 0.
    assert sft0["f1"].to_dict() == pytest.approx({"0": 0.5, "1": 1.0, "2-5": 1.0, "6-20": 0.0, ">20": 0.0})
    assert sft0["posts"].to_dict() == {"0": 2, "1": 1, "2-5": 2, "6-20": 1, ">20": 1}
    assert list(sft0.index) == ["0", "1", "2-5", "6-20", ">20"]
    sft1 = b[b["run"] == "sft-seed1"].set_index("freq_bucket")
    assert sft1.loc["0", "f1"] == pytest.approx(1.0)
    seeds = A.over_seeds(b[b["label"] == "sft"], ["f1"], ["label", "freq_bucket"]).set_index("freq_bucket")
    assert seeds.loc["0", ["n_seeds", "f1_mean", "f1_min", "f1_max"]].tolist() == pytest.approx([2, 0.75, 0.5, 1.0])
    assert seeds.loc["0", "f1_sd"] == pytest.approx(0.5 / math.sqrt(2))


def test_recall_by_role(tables):
    r = A.recall_by(tables, "role")
    cot = r[r["run"] == "cot-seed0"].set_index("role")
    # cot finds beach (scene), red circle (object), sunset (scene), tiny koala (topic); misses the rest.
    assert cot["found"].to_dict() == {"topic": 1, "scene": 2, "object": 1}
    assert cot["targets"].to_dict() == {"topic": 3, "scene": 3, "object": 2}


def test_frequent_errors(tables):
    e = A.frequent_errors(tables, top=2)
    cot = e[e["label"] == "cot"]
    assert cot[["prediction", "count"]].values.tolist() == [["lake", 2], ["bicycle", 1]]
    assert cot.iloc[0][["share", "posts_share", "seen"]].tolist() == [0.5, 0.4, False]
    assert e[e["label"] == "dyncot"].empty  # dyncot makes no wrong prediction


# ---------------------------------------------------------------- main table and tests

def test_main_table_means_over_seeds_by_hand(runs, scores):
    t = A.main_table(runs, scores, n_boot=N_BOOT)
    sft = t[(t["label"] == "sft") & (t["group"] == "all") & (t["metric"] == "f1@M")].iloc[0]
    # seed 0: macro P .7, R .6; seed 1 (p4 right): P .9, R .8.
    f0, f1 = 2 * .7 * .6 / 1.3, 2 * .9 * .8 / 1.7
    assert sft["mean"] == pytest.approx((f0 + f1) / 2)
    assert sft["sd"] == pytest.approx(abs(f1 - f0) / math.sqrt(2))
    assert (sft["min"], sft["max"], sft["n_seeds"], sft["runs"]) == (pytest.approx(f0), pytest.approx(f1), 2,
                                                                     ["sft-seed0", "sft-seed1"])
    assert sft["low"] <= sft["mean"] <= sft["high"]
    assert list(dict.fromkeys(t["label"])) == ["sft", "cot", "dyncot"]
    assert set(t["group"]) == {"all", "absent", "unseen", "seen"}
    assert t[(t["label"] == "cot")]["sd"].isna().all()  # one seed: no spread
    dyn = t[(t["label"] == "dyncot") & (t["metric"] == "f1@M")].set_index("group")
    assert dyn["mean"].to_dict() == pytest.approx({"all": 1.0, "absent": 1.0, "unseen": 1.0, "seen": 1.0})
    wide = A.main_table_wide(t)
    assert list(wide.index) == ["SFT", "Fine-tune-CoT", "Dynamic CoT"]
    assert wide.loc["SFT", ("all", "f1@M")].startswith(f"{100 * (f0 + f1) / 2:.1f} ±{100 * abs(f1 - f0) / math.sqrt(2):.1f} [")
    assert wide.loc["Dynamic CoT", ("unseen", "f1@1")] == "100.0 [100.0, 100.0]"


def test_one_seed_interval_and_paired_test_equal_mmkp_lib_stats(runs, scores):
    t = A.main_table(runs, scores, n_boot=N_BOOT, seed=7)
    cot = t[(t["label"] == "cot") & (t["group"] == "absent") & (t["metric"] == "f1@1")].iloc[0]
    ci = bootstrap_ci(scores["cot-seed0"], "f1@1", group="absent", n_boot=N_BOOT, seed=7)
    assert (cot["mean"], cot["low"], cot["high"]) == pytest.approx((ci.point, ci.low, ci.high))
    got = A.paired_test(runs, scores, "cot", "dyncot", metric="f1@M", group="all", n_boot=N_BOOT, seed=3)
    ref = paired_bootstrap_test(scores["cot-seed0"], scores["dyncot-seed0"], "f1@M", group="all", n_boot=N_BOOT, seed=3)
    assert (got["delta"], got["p_value"], got["low"], got["high"]) == pytest.approx(
        (ref.delta, ref.p_value, ref.low, ref.high))


def test_paired_tests_identical_gives_p_one(gold, train):
    same = make_runs()[:2]
    twins = [A.Run("a-seed0", same[0].predictions), A.Run("b-seed0", same[0].predictions)]
    sc = A.score_runs(gold, twins, train)
    df = A.paired_tests(twins, sc, [("a", "b")], n_boot=N_BOOT)
    assert len(df) == 8 and (df["delta"] == 0).all() and (df["p_value"] == 1.0).all()


def test_score_runs_names_a_run_with_missing_posts(gold, train):
    bad = A.Run("sft-seed9", [{"id": "p1", "keyphrases": ["beach"]}])
    with pytest.raises(ValueError, match="sft-seed9.*4 gold post"):
        A.score_runs(gold, [bad], train)


# ---------------------------------------------------------------- reasoning

def test_reasoning_cost_and_reduction(tables):
    cost = A.reasoning_cost(tables).set_index("run")
    assert cost.loc["dyncot-seed0", ["reasoned_share", "think_tokens", "think_tokens_when_reasoned"]].tolist() == \
        pytest.approx([0.4, 12.0, 30.0])
    assert cost.loc["dyncot-seed0", "generation_s"] == pytest.approx(1.1 / 5)
    assert cost.loc["cot-seed0", "think_tokens"] == 50 and math.isnan(cost.loc["sft-seed0", "think_tokens_when_reasoned"])
    assert A.relative_reduction(cost.reset_index(), "cot", "dyncot") == pytest.approx(1 - 12 / 50)
    seeds = A.cost_over_seeds(cost.reset_index()).set_index("label")
    assert seeds.loc["sft", "n_seeds"] == 2 and seeds.loc["sft", "think_tokens_mean"] == 0


def test_reasoning_shares_by_hand(tables):
    s = A.reasoning_shares(tables, labels=["dyncot"]).set_index("group")
    # dyncot reasons on p2 and p3: unseen posts p3, p4; absent posts p2, p3.
    assert s["share"].to_dict() == pytest.approx({"seen": 1 / 3, "unseen": 0.5, "present": 0.0, "absent": 1.0})
    assert s["posts"].to_dict() == {"seen": 3, "unseen": 2, "present": 3, "absent": 2}


def test_gamma_sweep_reads_gamma_shares_and_scores(gold, train):
    base = make_runs()[3]
    log = [{"event": "epoch", "cot_share": 0.2, "samples": 100}, {"event": "epoch", "cot_share": 0.6, "samples": 300}]
    sweep_runs = [
        A.Run("dyncot-gq0.3-seed0", base.predictions, strategy="dyncot", seed=0, gamma="q0.3",
              decisions=[{"cot": True}, {"cot": True}, {"cot": False}, {"cot": False}]),
        A.Run("dyncot-g0.8-seed0", base.predictions, strategy="dyncot", seed=0, gamma="0.8", train_log=log),
        A.Run("dyncot-g0.1-seed0", make_runs()[0].predictions, strategy="dyncot", seed=0, gamma="0.1",
              config={"result": {"dyncot_epoch_shares": {"0": 0.1, "1": 0.3}}}),
        make_runs()[0],  # not dyncot: left out
    ]
    sc = A.score_runs(gold, sweep_runs, train)
    s = A.gamma_sweep(sweep_runs, sc)
    assert s["gamma"].tolist() == ["0.1", "0.8", "q0.3"]
    assert s["share_switched"].tolist() == pytest.approx([0.2, 0.5, 0.5])
    assert s["gamma_kind"].tolist() == ["loss", "loss", "quantile"]
    assert s.loc[1, ["f1@M_all", "f1@M_unseen", "think_tokens", "reasoned_share"]].tolist() == pytest.approx(
        [1.0, 1.0, 12.0, 0.4])
    assert s.loc[0, "f1@M_all"] == pytest.approx(2 * .7 * .6 / 1.3)


# ---------------------------------------------------------------- overthinking

def test_is_more_general():
    assert A.is_more_general("bicycl", "vintag bicycl")
    assert not A.is_more_general("vintag", "vintag bicycl")
    assert A.is_more_general("vintag", "vintag bicycl", mode="subset")
    assert not A.is_more_general("vintag bicycl", "vintag bicycl")
    assert not A.is_more_general("", "vintag bicycl")
    assert A.is_more_general("red bike", "big red bike") and not A.is_more_general("big bike", "big red bike")


def test_overthinking_counts_and_cases_by_hand(tables):
    counts, cases = A.overthinking(tables, cot="cot", reference="sft")
    # Only seed 0 has both a cot and an sft run. Easy targets: vintage bicycle, beach, cat toy, tiny koala, forest.
    assert len(counts) == 1
    row = counts.iloc[0]
    assert (row["cot_run"], row["reference_run"]) == ("cot-seed0", "sft-seed0")
    assert row[["easy", "cot_right", "reference_right", "cot_wrong_reference_right", "generalised",
                "generalised_reference_right"]].tolist() == [5, 2, 4, 3, 2, 2]
    assert row["generalised_share"] == pytest.approx(0.4)
    got = cases.set_index("gold")[["kind", "cot_general", "reference_right"]].fillna("-")
    assert got.to_dict("index") == {
        "vintage bicycle": {"kind": "more general", "cot_general": "bicycle", "reference_right": True},
        "cat toy": {"kind": "more general", "cot_general": "toy", "reference_right": True},
        "forest": {"kind": "wrong", "cot_general": "-", "reference_right": True}}


def test_overthinking_needs_a_match_miss_and_a_common_seed(gold, train):
    base = make_runs()
    both = A.Run("cot-seed0", [dict(r, keyphrases=["vintage bicycle", "bicycle"]) if r["id"] == "p1" else r
                               for r in base[2].predictions], strategy="cot", seed=0)
    t = A.build_tables(gold, [base[0], both], train)
    counts, cases = A.overthinking(t, "cot", "sft")
    assert counts.iloc[0]["generalised"] == 1  # p1 found: its extra "bicycle" is no overthinking
    t2 = A.build_tables(gold, [base[1], base[2]], train)  # sft seed 1 vs cot seed 0
    with pytest.raises(ValueError, match="share no seed"):
        A.overthinking(t2, "cot", "sft")


# ---------------------------------------------------------------- learning curves

def test_learning_curves_from_the_trainer_log():
    log = [{"event": "train", "step": 10, "loss": 2.0, "cot_share": 0.25},
           {"event": "valid", "step": 10, "epoch": 0.5, "valid_posts": 64, "valid_f1@M_all": 0.2,
            "valid_f1@M_unseen": 0.1, "valid_f1@1_absent": None, "valid_reasoned_share": 0.3, "valid_seconds": 1.5},
           {"event": "valid", "step": 20, "epoch": 1.0, "valid_f1@M_all": 0.4}]
    c = A.learning_curves([A.Run("cot-seed0", [], strategy="cot", seed=0, train_log=log), A.Run("zero-shot", [])])
    assert sorted(zip(c["step"], c["metric"], c["group"], c["value"])) == [
        (10, "f1@M", "all", 0.2), (10, "f1@M", "unseen", 0.1), (10, "reasoned_share", "all", 0.3),
        (20, "f1@M", "all", 0.4)]
    assert set(c["label"]) == {"cot"}
    loss = A.loss_curves([A.Run("dyncot-seed0", [], train_log=log)])
    assert loss[["step", "loss", "cot_share"]].values.tolist() == [[10, 2.0, 0.25]]


def test_without_training_posts_seen_and_frequency_are_missing(gold, runs):
    t = A.build_tables(gold, runs)
    assert t.gold["seen"].isna().all() and t.gold["freq_bucket"].isna().all()
    with pytest.raises(ValueError, match="need the training posts"):
        A.group_scores(t, "seen")
    assert set(A.reasoning_shares(t)["dimension"]) == {"present"}
    table = A.main_table(runs, A.score_runs(gold, runs), n_boot=20)
    assert set(table["group"]) == {"all", "absent"}
