"""mmkp_lib.plots: every figure function draws from the analysis tables and renders to PNG under Agg."""
from __future__ import annotations

import io

import matplotlib
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
