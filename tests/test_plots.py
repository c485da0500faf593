"""mmkp_lib.plots: every figure function draws from the analysis tables and renders to PNG under Agg."""
from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from _analysis_data import gold_posts, make_runs, train_posts
from mmkp_lib import analysis as A
from mmkp_lib import plots

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    gold, runs, train = gold_posts(), make_runs(), train_posts()
    for r in runs:  # two validations per run so the curves have lines
        r.train_log = [{"event": "valid", "step": s, "valid_f1@M_all": 0.1 * s, "valid_f1@M_absent": 0.05 * s,
                        "valid_f1@M_unseen": 0.02 * s} for s in (1, 2)]
    scores = A.score_runs(gold, runs, train)
    tables = A.build_tables(gold, runs, train)
    sweep_runs = [A.Run(f"dyncot-g{g}-seed0", runs[3].predictions, strategy="dyncot", seed=0, gamma=g,
                        decisions=[{"cot": True}, {"cot": False}]) for g in ("0.1", "0.4", "q0.3")]
    return {"runs": runs, "scores": scores, "tables": tables,
            "sweep": A.gamma_sweep(sweep_runs, A.score_runs(gold, sweep_runs, train))}


def rendered(fig) -> bytes:
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return data


def test_main_table_bars_draw_one_bar_per_label_group_metric(data):
    table = A.main_table(data["runs"], data["scores"], n_boot=50)
    fig = plots.main_table_bars(table)
    rendered(fig)
    bars = [p for ax in fig.axes for p in ax.patches]
    assert len(bars) == 3 * 4 * 2  # labels x groups x metrics
    heights = sorted(round(b.get_height(), 6) for b in fig.axes[1].patches)
    assert heights[-1] == pytest.approx(100.0)  # dyncot is perfect everywhere


def test_learning_curves_one_line_per_label_and_panel(data):
    fig = plots.learning_curves(A.learning_curves(data["runs"]))
    rendered(fig)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].get_lines()) >= 3  # sft, cot, dyncot
    with pytest.raises(ValueError, match="empty"):
        plots.learning_curves(A.learning_curves(data["runs"]), metric="f1@3")


def test_gamma_sweep_think_tokens_buckets_shares_cost(data):
    t = data["tables"]
    figs = [plots.gamma_sweep(data["sweep"]), plots.think_tokens(t.posts), plots.frequency_buckets(A.f1_by_bucket(t)),
            plots.reasoning_shares(A.reasoning_shares(t)), plots.reasoning_cost(A.reasoning_cost(t))]
    for fig in figs:
        rendered(fig)
    assert [tick.get_text() for tick in figs[0].axes[0].get_xticklabels()] == ["0.1", "0.4", "q0.3"]
    assert [tick.get_text() for tick in figs[2].axes[0].get_xticklabels()] == ["0", "1", "2-5", "6-20", ">20"]


def test_plots_name_a_missing_column():
    import pandas as pd

    with pytest.raises(ValueError, match="lacks column.*low"):
        plots.main_table_bars(pd.DataFrame({"label": ["sft"], "group": ["all"], "metric": ["f1@M"], "mean": [0.5]}))


def test_paired_tests_one_point_per_pair_and_group(data):
    tests = A.paired_tests(data["runs"], data["scores"], [("sft", "cot"), ("sft", "dyncot")],
                           groups=("all", "unseen"), metrics=("f1@M",), n_boot=50)
    fig = plots.paired_tests(tests)
    rendered(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Fine-tune-CoT − SFT", "Dynamic CoT − SFT"]
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(points) == 2  # one errorbar series per group, a point per pair in each
    all_x = points[0].get_xdata()
    assert all_x == pytest.approx(100 * tests[tests["group"] == "all"]["delta"].to_numpy())
    with pytest.raises(ValueError, match="empty"):
        plots.paired_tests(tests, metric="f1@1")


def test_loss_curves_log_scale_or_a_note(data):
    runs = [A.Run(r.name, r.predictions, strategy=r.strategy, seed=r.seed,
                  train_log=[{"event": "train", "step": s, "loss": 2.0 / s} for s in (1, 2, 3)]) for r in data["runs"]]
    fig = plots.loss_curves(A.loss_curves(runs))
    rendered(fig)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].get_lines()) >= 3
    empty = plots.loss_curves(A.loss_curves(data["runs"]))  # the data's runs log validations only
    rendered(empty)
    assert [t.get_text() for t in empty.axes[0].texts] == ["no training loss logged"]


def _decisions(n_steps=30):
    return pd.DataFrame([{"step": s, "epoch": s // 10, "sft_loss": 0.1 + (s * 7 + i) % 10 / 5, "cot": (s + i) % 3 == 0}
                         for s in range(1, n_steps + 1) for i in range(4)])


def test_dyncot_decisions_draw_the_gamma_line():
    from mmkp_lib.training import parse_gamma

    fig = plots.dyncot_decisions(_decisions(), parse_gamma(0.4))
    rendered(fig)
    loss_ax, share_ax = fig.axes
    dashed = [line for line in loss_ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == pytest.approx(np.log10(0.4))
    assert loss_ax.get_legend().get_texts()[-1].get_text() == "γ = 0.4"
    assert len(share_ax.get_lines()[0].get_xdata()) == 30  # a point per step
    quantile = plots.dyncot_decisions(_decisions(), parse_gamma("q0.3"))
    assert quantile.axes[0].get_legend().get_texts()[-1].get_text() == "γ = q0.3 (median threshold)"
    empty = plots.dyncot_decisions(pd.DataFrame(), parse_gamma(0.4))
    assert [t.get_text() for t in empty.axes[0].texts] == ["no decisions recorded"]


def test_reasoned_share_curves(data):
    runs = [A.Run(r.name, r.predictions, strategy=r.strategy, seed=r.seed,
                  train_log=[{"event": "valid", "step": s, "valid_reasoned_share": 0.2 * s} for s in (1, 2)])
            for r in data["runs"]]
    fig = plots.reasoned_share_curves(A.learning_curves(runs))
    rendered(fig)
    assert fig.axes[0].get_ylim() == pytest.approx((-0.02, 1.02)) and len(fig.axes[0].get_lines()) >= 3
    none = plots.reasoned_share_curves(A.learning_curves(data["runs"]))  # F1 points only
    assert [t.get_text() for t in none.axes[0].texts] == ["no reasoned share logged"]
