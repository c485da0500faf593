"""The report's figures, drawn from the DataFrames of `mmkp_lib.analysis`; each function returns a Figure.

Figures are built with `matplotlib.figure.Figure`, not pyplot, so they need no
GUI backend (Agg, papermill, CI) and a notebook cell shows each exactly once
(as its last expression) instead of twice.

    from mmkp_lib import analysis as A, plots
    plots.main_table_bars(A.main_table(runs, scores))
    plots.learning_curves(A.learning_curves(runs), metric="f1@M")
    plots.gamma_sweep(A.gamma_sweep(runs, scores))
    plots.think_tokens(tables.posts); plots.frequency_buckets(A.f1_by_bucket(tables))
    plots.paired_tests(A.paired_tests(runs, scores, [("sft", "cot")], metrics=("f1@M",)))
    plots.loss_curves(A.loss_curves(runs)); plots.reasoned_share_curves(A.learning_curves(runs))
    plots.dyncot_decisions(A.decisions_table(dyncot_run), gamma)
    plots.warmup_variant_curves(warmup_variants.variant_curves(warmup_variants.load_variants()))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from mmkp_lib.analysis.report_tables import pair_names
from mmkp_lib.analysis.runset import STRATEGY_NAMES, STRATEGY_ORDER, display_label

GROUP_TITLES = {"all": "all keyphrases", "absent": "absent", "present": "present", "unseen": "unseen", "seen": "seen"}


def _figure(ncols: int, width: float = 4.2, height: float = 3.4) -> tuple[Figure, list]:
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: the table lacks column(s) {', '.join(missing)}; build it with mmkp_lib.analysis")
    if df.empty:
        raise ValueError(f"{what}: the table is empty (no runs, or no rows for this selection)")


def _with_display(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(display=[display_label(x) for x in df["label"]]) if "display" not in df.columns else df


def palette(displays) -> dict[str, tuple]:
    """A colour per displayed label, the same in every figure: the paper's strategies keep fixed colours,
    other labels (gamma settings ...) take the next ones in order."""
    colours = sns.color_palette("colorblind", 10)
    fixed = {STRATEGY_NAMES[s]: colours[i] for i, s in enumerate(STRATEGY_ORDER)}
    out, spare = {}, len(STRATEGY_ORDER)
    for d in dict.fromkeys(displays):
        if d in fixed:
            out[d] = fixed[d]
        else:
            out[d] = colours[spare % len(colours)]
            spare += 1
    return out


def _legend_outside(fig: Figure, ax) -> None:
    """Move an axes' legend to the figure's right edge, so it never hides data."""
    legend = ax.get_legend()
    if legend is not None:  # seaborn's legends hold proxy artists that get_legend_handles_labels misses
        handles, labels = list(legend.legend_handles), [t.get_text() for t in legend.get_texts()]
        legend.remove()
    else:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)


def main_table_bars(table: pd.DataFrame, metrics: Sequence[str] = ("f1@1", "f1@M"),
                    groups: Sequence[str] | None = None, percent: bool = True) -> Figure:
    """Bars of the seed-mean per strategy and group, one panel per metric, with bootstrap CI error bars."""
    _require(table, ["label", "group", "metric", "mean", "low", "high"], "main_table_bars")
    t = _with_display(table)
    groups = list(groups) if groups is not None else list(dict.fromkeys(t["group"]))
    labels = list(dict.fromkeys(t["display"]))
    scale = 100.0 if percent else 1.0
    colours = palette(labels)
    fig, axes = _figure(len(metrics), width=max(4.2, 1.1 * len(groups) + 0.35 * len(labels)))
    width = 0.8 / len(labels)
    x = np.arange(len(groups))
    for ax, metric in zip(axes, metrics):
        for i, label in enumerate(labels):
            rows = t[(t["metric"] == metric) & (t["display"] == label)].set_index("group").reindex(groups)
            mean, low, high = (scale * rows[c].to_numpy(dtype=float) for c in ("mean", "low", "high"))
            err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
            ax.bar(x + (i - (len(labels) - 1) / 2) * width, mean, width, yerr=err, capsize=2, color=colours[label],
                   label=label, error_kw={"elinewidth": 0.8})
        ax.set_xticks(x, [GROUP_TITLES.get(g, g) for g in groups])
        ax.set_title(metric.upper())
        ax.set_ylabel(f"{metric.upper()}{' (%)' if percent else ''}")
        ax.grid(axis="y", alpha=0.3)
    _legend_outside(fig, axes[0])
    fig.suptitle("Mean over seeds; bars: 95% bootstrap interval over test posts", fontsize=9)
    return fig


def learning_curves(curves: pd.DataFrame, metric: str = "f1@M", groups: Sequence[str] = ("all", "absent", "unseen"),
                    labels: Sequence[str] | None = None, percent: bool = True) -> Figure:
    """Validation `metric` against step, a panel per group, a line per label (band: sd over seeds)."""
    _require(curves, ["label", "step", "metric", "group", "value"], "learning_curves")
    c = curves[(curves["metric"] == metric) & curves["group"].isin(groups)]
    if labels is not None:
        c = c[c["label"].isin(labels)]
    _require(c, ["value"], f"learning_curves({metric!r})")
    c = _with_display(c).assign(value=lambda d: d["value"] * (100.0 if percent else 1.0))
    fig, axes = _figure(len(groups))
    hue_order = list(dict.fromkeys(c["display"]))
    for i, (ax, g) in enumerate(zip(axes, groups)):
        sns.lineplot(data=c[c["group"] == g], x="step", y="value", hue="display", hue_order=hue_order,
                     errorbar="sd", marker="o", markersize=4, ax=ax, legend=(i == len(groups) - 1),
                     palette=palette(hue_order))
        ax.set_title(f"validation {metric.upper()}, {GROUP_TITLES.get(g, g)}")
        ax.set_ylabel(f"{metric.upper()}{' (%)' if percent else ''}")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    _legend_outside(fig, axes[-1])
    return fig


def gamma_sweep(sweep: pd.DataFrame, metric: str = "f1@M", percent: bool = True) -> Figure:
    """Dynamic CoT against gamma: F1 on all / unseen; mean think tokens; share switched (train) and reasoned (test).

    Gammas are categories in sweep order (loss thresholds ascending, then quantile
    settings), so a quantile run sits beside the fixed thresholds; points are
    means over seeds, bars their sd.
    """
    cols = [f"{metric}_all", f"{metric}_unseen", "think_tokens", "share_switched", "reasoned_share"]
    _require(sweep, ["gamma"] + cols, "gamma_sweep")
    order = list(dict.fromkeys(sweep["gamma"]))
    scale = 100.0 if percent else 1.0
    f1 = sweep.melt(id_vars=["gamma", "seed"], value_vars=cols[:2], var_name="group", value_name="value")
    f1 = f1.assign(value=f1["value"] * scale, group=f1["group"].str.split("_").str[-1])
    shares = sweep.melt(id_vars=["gamma", "seed"], value_vars=["share_switched", "reasoned_share"],
                        var_name="share", value_name="value")
    shares["share"] = shares["share"].map({"share_switched": "switched to CoT (training)",
                                           "reasoned_share": "reasoned (test posts)"})
    fig, axes = _figure(3)
    kw = {"order": order, "errorbar": "sd", "markersize": 5, "capsize": 0.1, "palette": "colorblind"}
    sns.pointplot(data=f1, x="gamma", y="value", hue="group", ax=axes[0], **kw)
    axes[0].set_ylabel(f"{metric.upper()}{' (%)' if percent else ''}")
    axes[0].set_title(f"{metric.upper()} against gamma")
    sns.pointplot(data=sweep, x="gamma", y="think_tokens", order=order, errorbar="sd", markersize=5, capsize=0.1,
                  color="C2", ax=axes[1])
    axes[1].set_ylabel("think tokens per test post")
    axes[1].set_title("reasoning cost")
    sns.pointplot(data=shares, x="gamma", y="value", hue="share", ax=axes[2], **kw)
    axes[2].set_ylabel("share")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_title("how often CoT is used")
    for ax in axes:
        ax.set_xlabel("gamma")
        ax.grid(alpha=0.3)
        if ax.get_legend() is not None:
            ax.legend(fontsize=8, title=None)
    return fig


def think_tokens(posts: pd.DataFrame, labels: Sequence[str] | None = None, reasoned_only: bool = True) -> Figure:
    """Distributions of think tokens per prediction (histogram per label) and of generation seconds per post (ECDF)."""
    _require(posts, ["label", "think_tokens", "generation_s", "reasoned"], "think_tokens")
    p = posts if labels is None else posts[posts["label"].isin(labels)]
    p = _with_display(p)
    tokens = p[p["reasoned"].astype(bool)] if reasoned_only else p
    fig, axes = _figure(2)
    if tokens.empty:
        axes[0].text(0.5, 0.5, "no prediction holds reasoning", ha="center", va="center", transform=axes[0].transAxes)
    else:
        sns.histplot(data=tokens, x="think_tokens", hue="display", element="step", stat="density", common_norm=False,
                     ax=axes[0], palette=palette(tokens["display"]), legend=False)
    axes[0].set_xlabel("think tokens" + (" (predictions that reason)" if reasoned_only else " per prediction"))
    axes[0].set_title("reasoning length")
    # An ECDF, not a box plot: seaborn 0.13's boxplot passes matplotlib 3.11 a deprecated argument.
    sns.ecdfplot(data=p, x="generation_s", hue="display", ax=axes[1], palette=palette(p["display"]))
    axes[1].set_xlabel("generation seconds per post")
    axes[1].set_ylabel("share of posts")
    axes[1].set_title("generation time")
    for ax in axes:
        ax.grid(alpha=0.3)
    _legend_outside(fig, axes[1])
    return fig


def frequency_buckets(buckets: pd.DataFrame, value: str = "f1", percent: bool = True) -> Figure:
    """F1 (or precision / recall) per training-frequency bucket of the gold keyphrase, a bar per label (sd over seeds)."""
    _require(buckets, ["label", "freq_bucket", value], "frequency_buckets")
    b = _with_display(buckets).assign(value=lambda d: d[value] * (100.0 if percent else 1.0))
    fig, axes = _figure(1, width=7.0)
    order = list(b["freq_bucket"].cat.categories) if hasattr(b["freq_bucket"], "cat") else None
    sns.barplot(data=b, x="freq_bucket", y="value", hue="display", order=order, errorbar="sd", ax=axes[0],
                palette=palette(b["display"]), err_kws={"linewidth": 0.8}, capsize=0.1)
    k = b["k"].iloc[0] if "k" in b.columns else "M"
    axes[0].set_xlabel("training frequency of the gold keyphrase (0 = unseen)")
    axes[0].set_ylabel(f"{value.upper()}@{k}{' (%)' if percent else ''}")
    axes[0].grid(axis="y", alpha=0.3)
    _legend_outside(fig, axes[0])
    return fig


def reasoning_shares(shares: pd.DataFrame, labels: Sequence[str] | None = None) -> Figure:
    """Share of test posts reasoned on, for seen vs unseen and present vs absent posts (sd over seeds)."""
    _require(shares, ["label", "dimension", "group", "share"], "reasoning_shares")
    s = shares if labels is None else shares[shares["label"].isin(labels)]
    s = _with_display(s)
    dims = list(dict.fromkeys(s["dimension"]))
    fig, axes = _figure(len(dims))
    for i, (ax, d) in enumerate(zip(axes, dims)):
        sns.barplot(data=s[s["dimension"] == d], x="group", y="share", hue="display", errorbar="sd", ax=ax,
                    palette=palette(s["display"]), capsize=0.1, err_kws={"linewidth": 0.8},
                    legend=(i == len(dims) - 1))
        ax.set_ylim(0, 1)
        ax.set_xlabel("")
        ax.set_ylabel("share of posts with reasoning")
        ax.set_title(f"by {d}")
        ax.grid(axis="y", alpha=0.3)
    _legend_outside(fig, axes[-1])
    return fig


def reasoning_cost(cost: pd.DataFrame, labels: Sequence[str] | None = None) -> Figure:
    """Mean think tokens and generation seconds per post, a bar per label (sd over seeds)."""
    _require(cost, ["label", "think_tokens", "generation_s"], "reasoning_cost")
    c = cost if labels is None else cost[cost["label"].isin(labels)]
    c = _with_display(c)
    fig, axes = _figure(2)
    for ax, col, name in ((axes[0], "think_tokens", "think tokens per post"),
                          (axes[1], "generation_s", "generation seconds per post")):
        sns.barplot(data=c, x="display", y=col, hue="display", errorbar="sd", ax=ax, capsize=0.1,
                    palette=palette(c["display"]), err_kws={"linewidth": 0.8}, legend=False)
        ax.set_xlabel("")
        ax.set_ylabel(name)
        ax.tick_params(axis="x", labelrotation=20)
        ax.grid(axis="y", alpha=0.3)
    return fig


def paired_tests(tests: pd.DataFrame, metric: str = "f1@M") -> Figure:
    """Each pair's difference (b - a) with its 95% paired bootstrap interval, a row per pair, a colour per group."""
    _require(tests, ["a", "b", "group", "metric", "delta", "low", "high"], "paired_tests")
    shown = tests[tests["metric"] == metric]
    _require(shown, ["delta"], f"paired_tests({metric!r})")
    shown = shown.assign(pair=pair_names(shown))
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots()
    pairs = list(dict.fromkeys(shown["pair"]))
    groups = list(dict.fromkeys(shown["group"]))
    colours = sns.color_palette("colorblind", len(groups))
    for j, g in enumerate(groups):
        d = shown[shown["group"] == g].set_index("pair").reindex(pairs)
        y = np.arange(len(pairs)) + (j - (len(groups) - 1) / 2) * 0.18  # the groups of a pair side by side
        ax.errorbar(100 * d["delta"], y, xerr=[100 * (d["delta"] - d["low"]), 100 * (d["high"] - d["delta"])],
                    fmt="o", ms=4, capsize=2, color=colours[j], label=g)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(np.arange(len(pairs)), pairs)
    ax.invert_yaxis()
    ax.set(xlabel=f"difference in {metric.upper()} (points), 95% paired bootstrap interval")
    fig.legend(title="keyphrases", fontsize=8, loc="outside right upper", frameon=False)
    ax.grid(alpha=0.3)
    return fig


def loss_curves(loss: pd.DataFrame) -> Figure:
    """Training loss against step, a line per label, log scale; a note instead when no loss was logged."""
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    if loss.empty:
        ax.text(0.5, 0.5, "no training loss logged", ha="center", transform=ax.transAxes)
    else:
        _require(loss, ["label", "step", "loss"], "loss_curves")
        loss = loss.assign(strategy=[display_label(x) for x in loss["label"]])
        sns.lineplot(data=loss, x="step", y="loss", hue="strategy", ax=ax, palette=palette(loss["strategy"]))
        ax.set(yscale="log", xlabel="optimizer step", ylabel="training loss (nats/token)")
    ax.grid(alpha=0.3)
    return fig


def dyncot_decisions(decisions: pd.DataFrame, gamma) -> Figure:
    """Dynamic CoT's per-sample SFT loss by third of training with the gamma line, and the share switched per step.

    decisions: `mmkp_lib.analysis.decisions_table(run)`; gamma: the run's threshold as
    `mmkp_lib.training.parse_gamma` returns it (kind "loss" or "quantile", value). A quantile has no fixed
    line: the dashed line is then the median over steps of the largest loss switched.
    """
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    if decisions.empty:
        ax.text(0.5, 0.5, "no decisions recorded", ha="center", transform=ax.transAxes)
    else:
        _require(decisions, ["step", "sft_loss", "cot"], "dyncot_decisions")
        thirds = pd.cut(decisions["step"], bins=3, labels=["first third of steps", "middle third", "last third"])
        dec = decisions.assign(phase=thirds, log_loss=np.log10(decisions["sft_loss"].clip(lower=1e-4)))
        sns.histplot(data=dec, x="log_loss", hue="phase", element="step", stat="density", common_norm=False, ax=ax)
        if gamma.kind == "random":  # no threshold: the coin ignores the loss
            line = float("nan")
        else:
            line = gamma.value if gamma.kind == "loss" else dec[dec["cot"]].groupby("step")["sft_loss"].max().median()
        if line == line:  # NaN when a quantile switched nothing
            ax.axvline(np.log10(line), color="k", ls="--",
                       label=f"γ = {gamma}" + (" (median threshold)" if gamma.kind == "quantile" else ""))
            ax.legend(loc="upper right", fontsize=8)
        ax.set(xlabel="log10 L_sft (nats/token, answer tokens)", ylabel="density", title="per-sample SFT loss")
        by_step = dec.groupby("step")["cot"].mean()
        ax2.plot(by_step.index, by_step.values, color="C2", lw=1)
        ax2.set(xlabel="optimizer step", ylabel="share switched to CoT", ylim=(-0.02, 1.02),
                title="share of each step's samples switched")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
    return fig


def reasoned_share_curves(curves: pd.DataFrame) -> Figure:
    """The share of validation posts each label reasons on, against step (from learning_curves)."""
    _require(curves, ["label", "step", "metric", "value"], "reasoned_share_curves")  # empty: no validation at all
    shares = curves[curves["metric"] == "reasoned_share"]
    shares = shares.assign(strategy=[display_label(x) for x in shares["label"]])
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    if shares.empty:
        ax.text(0.5, 0.5, "no reasoned share logged", ha="center", transform=ax.transAxes)
    else:
        sns.lineplot(data=shares, x="step", y="value", hue="strategy", marker="o", ax=ax,
                     palette=palette(shares["strategy"]))
    ax.set(xlabel="optimizer step", ylabel="validation posts reasoned on", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    return fig


def warmup_variant_curves(curves: pd.DataFrame, groups: Sequence[str] = ("all", "present")) -> Figure:
    """Validation F1@M against step for the language warm-up variants (`analysis.warmup_variants.variant_curves`):
    a colour per warm-up corpus, a line style per strategy, a panel per group."""
    _require(curves, ["corpus", "run", "step", "group", "value"], "warmup_variant_curves")
    c = curves[curves["group"].isin(groups)].assign(value=lambda d: 100 * d["value"])
    _require(c, ["value"], "warmup_variant_curves")
    fig, axes = _figure(len(groups))
    corpora = list(dict.fromkeys(c["corpus"]))
    colours = dict(zip(corpora, sns.color_palette("colorblind", len(corpora))))
    for i, (ax, g) in enumerate(zip(axes, groups)):
        sns.lineplot(data=c[c["group"] == g], x="step", y="value", hue="corpus", hue_order=corpora, style="run",
                     palette=colours, marker="o", markersize=4, ax=ax, legend=(i == len(groups) - 1))
        ax.set_title(f"validation F1@M, {GROUP_TITLES.get(g, g)}")
        ax.set_ylabel("F1@M (%)")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    _legend_outside(fig, axes[-1])
    return fig
