"""The sentences under notebook 05's sections: what this run's tables show, written from their numbers.

Each function takes the section's table(s) from `mmkp_lib.analysis` and returns Markdown text;
`labels` are run labels (e.g. "sft", "cot", "dyncot-g0.4").

    from mmkp_lib.analysis import findings
    findings.pace(curves, eval_samples=64, n_seeds=3)          # how fast or how far the strategies differ
    findings.gamma_sweep(sweep, main_label="dyncot-g0.4", n_seeds=3)
    findings.reasoning_cost(cost, runs, cot="cot", dyn="dyncot-g0.4", max_new_tokens=400)
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from mmkp_lib.analysis import verdicts
from mmkp_lib.analysis.answers import PAPER_REDUCTION
from mmkp_lib.analysis.reasoning import reduction
from mmkp_lib.analysis.runset import Run, display_label
from mmkp_lib.analysis.wording import more_or_fewer

PACE_GROUPS = ("all", "unseen")


# ---------------------------------------------------------------- learning curves

def _pace_points(curves: pd.DataFrame, group: str) -> tuple[int, int, pd.DataFrame]:
    """The middle and the last logged step, and the seed mean and sd (points) per label at both."""
    c = curves[(curves["metric"] == "f1@M") & (curves["group"] == group)]
    if c.empty:
        raise ValueError(f"learning curves: no validation F1@M points for group {group!r}")
    steps = sorted(c["step"].unique())
    mid = min(steps, key=lambda s: abs(s - steps[-1] / 2))
    at = c[c["step"].isin([mid, steps[-1]])].groupby(["label", "step"])["value"].agg(["mean", "std"]) * 100
    return mid, steps[-1], at


def _at_step(means: pd.DataFrame, step: int) -> str:
    return ", ".join(f"{display_label(label)} {means.loc[label, step]:.1f}" for label in means.index)


def pace(curves: pd.DataFrame, eval_samples: int, n_seeds: int, groups: Sequence[str] = PACE_GROUPS) -> str:
    """Per group: the strategies' validation F1@M at the middle and the last step, and verdicts.pace on them."""
    if curves.empty:
        return "No learning curves to compare (eval_every = 0)."
    lines = []
    for group in groups:
        mid, last, at = _pace_points(curves, group)
        means = at["mean"].unstack("step")
        gap_mid, gap_end = means[mid].max() - means[mid].min(), means[last].max() - means[last].min()
        noise = at["std"].xs(last, level="step").median()  # NaN with one seed
        kind = verdicts.pace(gap_mid, gap_end, noise, mid, last)
        if kind == verdicts.HOW_FAST:
            verdict = "they differ in **how fast**, not how far: the gap closes by the last step"
        elif kind == verdicts.HOW_FAR:
            leader = display_label(means[last].idxmax())
            verdict = f"they differ in **how far**: {leader} is still ahead at the last step"
        else:
            verdict = "the curves do **not** separate beyond noise at either point"
        sd = f"; seed sd at step {last}: {noise:.1f} points (median over strategies)" if noise == noise else ""
        lines.append(f"- **{group}** keyphrases: at step {mid}: {_at_step(means, mid)} (spread {gap_mid:.1f} points); "
                     f"at step {last}: {_at_step(means, last)} (spread {gap_end:.1f}{sd}); {verdict}.")
    return ("\n".join(lines) + f"\n\nValidation F1@M on {eval_samples} posts"
            + ("" if n_seeds > 1 else ", one seed (no seed spread)")
            + f"; a gap counts when it exceeds {verdicts.PACE_FLOOR:g} points and twice the seed sd.")


# ---------------------------------------------------------------- the gamma sweep

def gamma_sweep(sweep: pd.DataFrame, main_label: str, n_seeds: int) -> str:
    """Where unseen F1@M peaks over the sweep (against the main gamma's seed sd), and what larger gammas switch."""
    columns = ["f1@M_all", "f1@M_unseen", "think_tokens", "share_switched"]
    by_gamma = sweep.groupby("gamma", sort=False)[columns].mean()
    loss_g = sweep[sweep["gamma_kind"] == "loss"]["gamma"].unique()
    quant_g = sweep[sweep["gamma_kind"] == "quantile"]["gamma"].unique()
    main_sd = 100 * sweep[sweep["label"] == main_label]["f1@M_unseen"].std() if n_seeds > 1 else float("nan")
    best = by_gamma["f1@M_unseen"].idxmax()
    low_f1, high_f1 = 100 * by_gamma["f1@M_unseen"].min(), 100 * by_gamma["f1@M_unseen"].max()
    noise_text = (f", against a seed sd of {main_sd:.1f} points at γ = {main_label.split('-g')[-1]}"
                  if main_sd == main_sd else " (one seed: no spread to compare with)")
    if high_f1 == low_f1:
        parts = [f"Unseen F1@M is {high_f1:.1f} at every γ of the sweep{noise_text}."]
    else:
        parts = [f"Unseen F1@M is highest at γ = {best} ({high_f1:.1f}); over the sweep it spans {low_f1:.1f} to "
                 f"{high_f1:.1f} points{noise_text}."]
    if len(loss_g) > 1:
        lo, hi = loss_g[0], loss_g[-1]
        parts.append(f"From γ = {lo} to γ = {hi} the share of training samples switched to CoT goes from "
                     f"{100 * by_gamma.loc[lo, 'share_switched']:.0f}% to "
                     f"{100 * by_gamma.loc[hi, 'share_switched']:.0f}% and the reasoning tokens per test post from "
                     f"{by_gamma.loc[lo, 'think_tokens']:.1f} to {by_gamma.loc[hi, 'think_tokens']:.1f}.")
    for q in quant_g:
        parts.append(f"The quantile setting γ = {q} switched {100 * by_gamma.loc[q, 'share_switched']:.0f}% of "
                     f"samples, F1@M {100 * by_gamma.loc[q, 'f1@M_all']:.1f} (all) / {100 * by_gamma.loc[q, 'f1@M_unseen']:.1f} "
                     f"(unseen), {by_gamma.loc[q, 'think_tokens']:.1f} reasoning tokens per post.")
    return " ".join(parts)


# ---------------------------------------------------------------- reasoning cost

def unfinished_shares(runs: Sequence[Run], labels: Sequence[str]) -> dict[str, float]:
    """Per label, the share of test generations (seeds pooled) that never reached a stop token: they ran out
    of the max_new_tokens budget, so their answer is cut or missing."""
    out = {}
    for label in labels:
        preds = [p for r in runs if r.label == label for p in r.predictions]
        out[label] = sum(not p.get("stopped", True) for p in preds) / max(len(preds), 1)
    return out


def reasoning_cost(cost: pd.DataFrame, runs: Sequence[Run], cot: str, dyn: str, max_new_tokens: int) -> str:
    """Dynamic CoT's reasoning tokens and generation time against Fine-tune-CoT's, and any generation budget hit."""
    tokens = reduction(cost, cot, dyn)
    seconds = reduction(cost, cot, dyn, "generation_s")
    if tokens.measured:
        text = (f"Dynamic CoT writes **{more_or_fewer(tokens.overall)}** reasoning tokens per post than Fine-tune-CoT "
                f"({tokens.other_mean:.1f} against {tokens.base_mean:.1f}"
                + (f"; per seed {', '.join(f'{100 * v:.1f}%' for v in tokens.per_seed)}" if len(tokens.per_seed) > 1
                   else "") + f"); the paper reports {PAPER_REDUCTION}. ")
    else:
        text = "Fine-tune-CoT wrote no reasoning tokens at test time, so no reduction can be measured. "
    time_cut = seconds.per_seed.mean() if len(seconds.per_seed) else float("nan")
    change = more_or_fewer(time_cut, "less", "more") if time_cut == time_cut else "no per-seed comparison"
    text += (f"Generation takes {1000 * seconds.other_mean:.1f} ms per post against Fine-tune-CoT's "
             f"{1000 * seconds.base_mean:.1f} ms ({change}, mean of the per-seed changes; batched, on a shared CPU).")
    cut = [f"{display_label(label)} {100 * share:.0f}%"
           for label, share in unfinished_shares(runs, (cot, dyn)).items() if share > 0]
    if cut:
        text += (f" **Budget:** share of test generations that hit the {max_new_tokens}-token limit before finishing "
                 f"(answer cut or missing, reasoning tokens capped): {', '.join(cut)}; their F1 and token counts "
                 "understate what a larger budget would give.")
    return text


def reasoning_shares(shares: pd.DataFrame, dyn: str, n_seeds: int) -> str:
    """How often Dynamic CoT reasons on unseen against seen posts, and on absent against present ones."""
    dyn_shares = shares[shares["label"] == dyn].groupby("group")[["reasoned", "posts", "share"]].mean()

    def share_text(g: str) -> str:
        if g not in dyn_shares.index:
            return f"no {g} posts"
        return f"{100 * dyn_shares.loc[g, 'share']:.0f}% of {dyn_shares.loc[g, 'posts']:.0f} {g} posts"

    return (f"Dynamic CoT reasons on {share_text('unseen')} against {share_text('seen')}, and on "
            f"{share_text('absent')} against {share_text('present')} (means over {n_seeds} seed(s)). With few posts in a group (see the "
            "counts above) a share moves by several points from one post.")


# ---------------------------------------------------------------- overthinking and errors

def overthinking(over: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> str:
    """A line per reasoning label (over = {label: overthinking(tables, label, reference)}): counts over its seeds."""
    lines = []
    for label, (counts, _) in over.items():
        c = counts[["easy", "cot_right", "reference_right", "cot_wrong_reference_right", "generalised",
                    "generalised_reference_right"]].sum()
        lines.append(f"- **{display_label(label)}**: of {c['easy']} easy keyphrases it found {c['cot_right']} (SFT "
                     f"{c['reference_right']}); it missed **{c['cot_wrong_reference_right']}** that SFT found, and "
                     f"predicted a more general keyphrase for **{c['generalised']}** "
                     f"({c['generalised_reference_right']} of them where SFT was right).")
    return "\n".join(lines)


def frequency_buckets(buckets: pd.DataFrame, errors: pd.DataFrame, bucket_names: Sequence[str],
                      labels: Sequence[str]) -> str:
    """F1@M on unseen against the most frequent gold keyphrases per label, and the top wrong prediction's share.

    buckets: f1_by_bucket; errors: frequent_errors; bucket_names: tables.bucket_names (in frequency order).
    """
    b = buckets.groupby(["label", "freq_bucket"], observed=True)[["f1", "posts"]].mean()
    present = [n for n in bucket_names if n in set(buckets["freq_bucket"].astype(str))]
    if not present:
        raise ValueError("frequency buckets: the table holds no bucket; build it with f1_by_bucket(tables)")
    lo, hi = present[0], present[-1]
    worst = errors.groupby("label")["share"].max() if not errors.empty else pd.Series(dtype=float)
    return (
        f"F1@M on gold keyphrases never seen in training (bucket {lo}) against the most frequent ones (bucket {hi}): "
        + "; ".join(f"{display_label(l)} {100 * b.loc[(l, lo), 'f1']:.1f} vs {100 * b.loc[(l, hi), 'f1']:.1f}"
                    for l in labels if (l, lo) in b.index and (l, hi) in b.index)
        + f" (about {b.xs(lo, level='freq_bucket')['posts'].mean():.0f} and "
          f"{b.xs(hi, level='freq_bucket')['posts'].mean():.0f} posts per bucket: small buckets give wide intervals). "
        + ("The single most frequent wrong prediction takes " + ", ".join(
            f"{100 * v:.0f}% ({display_label(l)})" for l, v in worst.items()) + " of a strategy's wrong predictions."
           if len(worst) else "")
    )
