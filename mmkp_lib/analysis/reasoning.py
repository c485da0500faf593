"""Reasoning cost and when a model reasons: think tokens, generation time, shares reasoned, the gamma sweep.

    from mmkp_lib.analysis import reasoning_cost, reasoning_shares, relative_reduction, gamma_sweep
    cost = reasoning_cost(tables)                     # a row per run: think tokens per post, seconds per post ...
    relative_reduction(cost, "cot", "dyncot")         # 1 - dyncot / cot mean think tokens (paper: 0.3848)
    reduction(cost, "cot", "dyncot")                  # the same, with each label's mean and the change per seed
    reasoning_shares(tables)                          # reasoned share on seen vs unseen, present vs absent posts
    gamma_sweep(runs, scores)                         # a row per Dynamic CoT run: gamma, F1, think tokens, share switched
    switched_by_epoch(decisions_table(run))           # Dynamic CoT's share of sample visits switched to CoT per epoch

A post is "unseen" when one of its gold keyphrases is not a training
keyphrase and "absent" when one of them does not occur in its text (so
"seen" posts have only seen keyphrases, "present" posts only present ones).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmkp_lib.analysis.runset import Run, check_runs, gamma_sort_key
from mmkp_lib.analysis.tables import RUN_COLUMNS, Tables, over_seeds
from mmkp_lib.metrics import PostScores, aggregate
from mmkp_lib.training.config import GAMMA_KINDS

COST_COLUMNS = ("reasoned_share", "think_tokens", "think_tokens_when_reasoned", "generated_tokens", "generation_s")


def reasoning_cost(tables: Tables) -> pd.DataFrame:
    """A row per run: posts, reasoned_share, think_tokens (mean per post, 0 for posts without reasoning),
    think_tokens_when_reasoned, generated_tokens and generation_s (mean per post), generation_s_total."""
    p = tables.posts
    g = p.groupby("run", sort=False)
    out = pd.DataFrame({
        "posts": g.size(),
        "reasoned_share": g["reasoned"].mean(),
        "think_tokens": g["think_tokens"].mean(),
        "think_tokens_when_reasoned": p[p["reasoned"]].groupby("run", sort=False)["think_tokens"].mean(),
        "generated_tokens": g["generated_tokens"].mean(),
        "generation_s": g["generation_s"].mean(),
        "generation_s_total": g["generation_s"].sum(min_count=1),
    })
    runs = p[RUN_COLUMNS].drop_duplicates("run").set_index("run")
    return runs.join(out).reset_index()


def cost_over_seeds(cost: pd.DataFrame) -> pd.DataFrame:
    """reasoning_cost averaged per label: <column>_mean, _sd, _min, _max and n_seeds."""
    return over_seeds(cost, COST_COLUMNS, ["label", "strategy"])


def relative_reduction(cost: pd.DataFrame, base: str, other: str, column: str = "think_tokens") -> float:
    """1 - mean(other) / mean(base) of a cost column over each label's seeds (0.3848 = 38.48% fewer)."""
    means = cost.groupby("label")[column].mean()
    for label in (base, other):
        if label not in means.index:
            raise KeyError(f"no runs with label {label!r} in the cost table; labels: {', '.join(means.index)}")
    if not means[base] > 0:
        raise ValueError(f"{base!r} has mean {column} {means[base]}: no reduction can be relative to it")
    return float(1.0 - means[other] / means[base])


@dataclass
class Reduction:
    """How much less of a cost column (think tokens, generation seconds) label `other` spends than label `base`."""

    base: str
    other: str
    column: str
    base_mean: float  # mean over base's seeds (NaN when absent)
    other_mean: float
    overall: float  # 1 - other_mean / base_mean (0.3848 = 38.48% fewer); NaN when base spends nothing
    per_seed: pd.Series  # 1 - other / base per seed both labels have (NaN where base spends nothing)

    @property
    def measured(self) -> bool:
        return self.overall == self.overall


def reduction_per_seed(cost: pd.DataFrame, base: str, other: str, column: str = "think_tokens") -> pd.Series:
    """1 - other / base of a cost column, per seed both labels share, indexed by seed (NaN where base is 0)."""
    c = cost[cost["label"].isin([base, other])].pivot_table(index="seed", columns="label", values=column).dropna()
    if not len(c) or base not in c.columns or other not in c.columns:
        return pd.Series(dtype=float)
    return 1 - c[other] / c[base].where(c[base] > 0)


def reduction(cost: pd.DataFrame, base: str, other: str, column: str = "think_tokens") -> Reduction:
    """relative_reduction with both means and the per-seed changes; NaN (not an error) when base spends nothing."""
    means = cost[cost["label"].isin([base, other])].groupby("label")[column].mean()
    overall = relative_reduction(cost, base, other, column) if means.get(base, 0) > 0 else float("nan")
    return Reduction(base, other, column, float(means.get(base, float("nan"))),
                     float(means.get(other, float("nan"))), overall, reduction_per_seed(cost, base, other, column))


def reasoning_shares(tables: Tables, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """How often each run reasons, by post group: a row per run x dimension ("seen"/"present") x group.

    group is "seen"/"unseen" (dimension "seen") or "present"/"absent" (dimension
    "present"); posts, reasoned (how many) and share = reasoned / posts.
    Runs that never reason (SFT) give shares of 0; pass `labels` to keep some.
    """
    p = tables.posts
    if labels is not None:
        p = p[p["label"].isin(labels)]
    rows = []
    for dimension, column, names in (("seen", "post_unseen", ("seen", "unseen")),
                                     ("present", "post_absent", ("present", "absent"))):
        if p[column].isna().all():
            continue  # no training posts: no seen/unseen split
        for (run, flag), g in p.groupby(["run", column], sort=False):
            first = g.iloc[0]
            rows.append({"run": run, "label": first["label"], "strategy": first["strategy"], "seed": first["seed"],
                         "dimension": dimension, "group": names[int(bool(flag))], "posts": len(g),
                         "reasoned": int(g["reasoned"].sum()), "share": float(g["reasoned"].mean())})
    out = pd.DataFrame(rows, columns=RUN_COLUMNS + ["dimension", "group", "posts", "reasoned", "share"])
    order = {r: i for i, r in enumerate(p["run"].drop_duplicates())}
    group_order = {"seen": 0, "unseen": 1, "present": 2, "absent": 3}
    return (out.assign(_r=out["run"].map(order), _g=out["group"].map(group_order))
            .sort_values(["_r", "_g"]).drop(columns=["_r", "_g"]).reset_index(drop=True))


def share_switched(run: Run) -> float:
    """Share of training samples Dynamic CoT switched to the CoT target, over all its decisions.

    From dyncot_decisions.jsonl when present, else the train log's per-epoch
    shares (weighted by samples), else config.json's result; NaN when none is there.
    """
    if run.decisions:
        return float(np.mean([bool(d.get("cot")) for d in run.decisions]))
    epochs = [e for e in (run.train_log or []) if e.get("event") == "epoch" and "cot_share" in e]
    if epochs:
        w = np.array([e.get("samples", 1) for e in epochs], dtype=float)
        return float(np.average([e["cot_share"] for e in epochs], weights=w))
    shares = ((run.config.get("result") or {}).get("dyncot_epoch_shares") or {})
    if shares:
        return float(np.mean(list(shares.values())))
    return float("nan")


def gamma_sweep(runs: Sequence[Run], scores: Mapping[str, PostScores], metrics: Sequence[str] = ("f1@1", "f1@M"),
                groups: Sequence[str] = ("all", "unseen")) -> pd.DataFrame:
    """A row per Dynamic CoT run (strategy "dyncot" with a gamma): gamma (as configured), gamma_kind
    ("loss"/"quantile"/"random"), gamma_value, "<metric>_<group>" F1 columns, mean think tokens per post, the share
    of test posts reasoned on, and share_switched (training samples given the CoT target)."""
    rows = []
    for run in check_runs(runs):
        if run.strategy != "dyncot" or run.gamma is None:
            continue
        if run.name not in scores:
            raise KeyError(f"no scores for run {run.name!r}; build them with score_runs(gold, runs, train)")
        result = aggregate(scores[run.name])
        kind, value = gamma_sort_key(run.gamma)
        row = {"run": run.name, "label": run.label, "seed": run.seed, "gamma": run.gamma,
               "gamma_kind": GAMMA_KINDS[kind - 1] if kind <= len(GAMMA_KINDS) else "loss", "gamma_value": value}
        for g in groups:
            for m in metrics:
                row[f"{m}_{g}"] = result[g][m] if g in result and result[g][m] is not None else float("nan")
        preds = run.predictions
        row["think_tokens"] = float(np.mean([r.get("think_tokens", 0) or 0 for r in preds])) if preds else float("nan")
        row["reasoned_share"] = float(np.mean([bool(r.get("reasoned")) for r in preds])) if preds else float("nan")
        row["share_switched"] = share_switched(run)
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values(["gamma_kind", "gamma_value", "seed"], key=lambda s: s.map(GAMMA_KINDS.index)
                           if s.name == "gamma_kind" else s).reset_index(drop=True)


def decisions_table(run: Run) -> pd.DataFrame:
    """Dynamic CoT's recorded decisions (dyncot_decisions.jsonl) as a DataFrame: a row per sample visit with
    an SFT loss (step, epoch, sft_loss, cot ...); empty when the run recorded none."""
    dec = pd.DataFrame(run.decisions or [])
    if dec.empty:
        return dec
    if "sft_loss" not in dec.columns:
        raise ValueError(f"run {run.name!r}: its decisions lack 'sft_loss'; they come from a Dynamic CoT run's "
                         "dyncot_decisions.jsonl")
    return dec[dec["sft_loss"].notna()]


def switched_by_epoch(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per epoch of a decisions_table: visits, cot_share (switched to CoT) and median_sft_loss (empty for none)."""
    if decisions.empty:
        return pd.DataFrame()
    return decisions.groupby("epoch").agg(visits=("cot", "size"), cot_share=("cot", "mean"),
                                          median_sft_loss=("sft_loss", "median"))
