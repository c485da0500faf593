# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Breakdowns: where reasoning helps, what it costs, and what the models get wrong
#
# **Question:** over several training seeds, do the paper's three claims (Ma et al. 2025) hold on the
# embedded benchmark? (1) A fine-tuned VLM (SFT) is far above zero-shot; (2) Fine-tune-CoT and Dynamic CoT
# are above SFT on *unseen* keyphrases; (3) Dynamic CoT stays close to Fine-tune-CoT while writing fewer
# reasoning tokens (the paper: 38.48% less). And beyond the headline: how the strategies learn, how the
# Dynamic CoT threshold gamma trades F1 for reasoning, where each model reasons, whether reasoning
# "overthinks" easy posts, and which keyphrases each model gets wrong.
#
# **Answer:** the paragraph right after the setup cells, generated from this run's numbers (it always
# states what this run measured, with its intervals); every section below restates its own finding the
# same way. Terms (F1@k, absent, unseen, gamma ...) are defined in the glossary at the end.
#
# Run it: `papermill notebooks/05_breakdowns.ipynb out.ipynb` (3 seeds, trains what notebooks 03 and 04
# have not), `-p allow_training False` to only read existing runs, `-p seeds 1` for the seed-0 runs alone.

# %% tags=["parameters"]
preset = "report"  # named settings (mmkp_lib.experiment.PRESETS): report | smoke | qwen2.5-vl-3b-lora
# Every parameter below left at None takes the preset's value (`python -m mmkp_lib.experiment --show-preset report`
# lists them); a value given here or with `-p NAME VALUE` overrides it.
seed = 0  # first training seed: runs <strategy>-seed<seed>, -seed<seed+1>, ...
seeds = 0  # training seeds per strategy (0: 3, or 1 when smoke); each number is their mean and spread
gamma = None  # Dynamic CoT threshold of the main row (nats/token, or "qX"); the sweep adds the others
data = None  # benchmark folder (train/valid/test .jsonl); `mmkp synth --out data/synth`
work_dir = None  # where cache/ (teacher rationales, models) and runs/ live
model = None  # student: tiny | smol | hub id | local folder
lora = None  # LoRA on the language model instead of full fine-tuning (the GPU setting for 3B/7B models)
max_pixels = None  # downscale larger images first (Qwen2.5-VL on GPU: e.g. 401408)
teacher_backend = None  # whose rationales: oracle (written here) | openai | hf (notebook 02 writes them)
zero_shot_model = None  # zero-shot row: "auto" means smol when installed (`make smol`), else the untrained student
max_steps = None  # optimizer steps per run, the same for every strategy (as notebooks 03/04, so their runs are reused)
batch_size = None  # posts per optimizer step
lr = None  # peak learning rate (AdamW, cosine decay)
eval_every = None  # steps between validation F1 points of the learning curves (0: off)
max_new_tokens = None  # generation budget per post (reasoning + answer)
allow_training = True  # True: train and predict missing runs; False: read existing runs only (fail if one is missing)
workers = None  # runs trained at once, one process and one thread each (1: one after another)
n_boot = 1000  # bootstrap draws over test posts, for every interval and paired test
close_margin = 0.02  # F1@M (fraction) Dynamic CoT may fall below Fine-tune-CoT and still count as "close"
gallery_posts = 8  # posts shown in the static gallery (what the HTML report shows of the explorer)
smoke = None  # True: test-sized model, a few steps and posts, one seed (CI)

# %%
# %matplotlib inline
import time

import pandas as pd
from IPython.display import HTML, Markdown, display

from mmkp_lib.experiment import ensure_available_runs, main_labels, report_plan, run_times
from mmkp_lib.notebook import BreakdownSettings, experiment_config, notebook_parameters, settings_summary
from mmkp_lib.paths import display_path

params = notebook_parameters(globals(), "05_breakdowns")  # a misspelt -p name fails here
shown = BreakdownSettings.from_parameters(params)  # seeds, allow_training, n_boot, close_margin, gallery_posts
cfg = experiment_config(params, n_seeds=shown.n_seeds)
n_seeds = shown.n_seeds
eff = cfg.effective()  # smoke sizes applied, paths resolved
specs = report_plan(cfg, seeds=cfg.seeds)  # zero-shot, 4 strategies x seeds, the gamma sweep on the first seed
LABELS = main_labels(cfg)  # the paper's rows -> run labels ("dyncot" -> "dyncot-g0.4")
ZS, SFT, COT, MT, DYN = (LABELS[k] for k in ("zero-shot", "sft", "cot", "multitask", "dyncot"))
print(f"{len(specs)} runs: gamma sweep {[str(g) for g in eff.sweep_gammas]} on seed {cfg.seeds[0]}; "
      + settings_summary(cfg))

# %%
# Reuse every finished run; train the missing ones only when allowed (else stop, naming each missing run).
# Reused runs are listed in the appendix ("The runs"), so the page goes on to its answer; progress prints here.
t0 = time.perf_counter()
available = ensure_available_runs(cfg, specs, allow_training=shown.allow_training)
folders, run_log, status = available.folders, available.log, pd.DataFrame(available.status)
print(f"{len(specs) - available.made} runs reused, {available.made} made in {time.perf_counter() - t0:.0f} s")

# %%
# Everything the answer and the sections need, computed once by mmkp_lib.analysis.
from mmkp_lib import analysis as A
from mmkp_lib import plots
from mmkp_lib.experiment import evaluation_posts

test, train = evaluation_posts(cfg)  # the posts the runs predicted and trained on
run_list = A.load_runs(folders)
main_runs = [r for r in run_list if r.label in LABELS.values()]
scores = A.score_runs(test, run_list, train)
table = A.main_table(main_runs, scores, n_boot=n_boot)
tests = A.paired_tests(main_runs, scores, [(ZS, SFT), (SFT, COT), (SFT, DYN), (COT, DYN)], metrics=("f1@M",),
                       n_boot=n_boot)
tables = A.build_tables(test, run_list, train)
cost = A.reasoning_cost(tables)


def cell(label, group, metric="f1@M"):
    """'41.2 ±1.3 [38.0, 44.5]': seed mean, sd over seeds (several seeds), 95% bootstrap interval, in F1 points."""
    r = table[(table.label == label) & (table.group == group) & (table.metric == metric)].iloc[0]
    sd = f" ±{100 * r['sd']:.1f}" if r["n_seeds"] > 1 else ""
    return f"{100 * r['mean']:.1f}{sd} [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def test_row(a, b, group, metric="f1@M"):
    return tests[(tests.a == a) & (tests.b == b) & (tests.group == group) & (tests.metric == metric)].iloc[0]


def delta(a, b, group):
    """'+3.1 points [0.4, 5.9], p = 0.020' for label b minus label a."""
    t = test_row(a, b, group)
    return (f"{100 * t['delta']:+.1f} points [{100 * t['low']:+.1f}, {100 * t['high']:+.1f}], "
            f"p = {t['p_value']:.3f}")


def above(a, b, group, alpha=0.05):
    """Is b above a: 'yes' (significant), 'no' (significantly below, or equal) or 'inconclusive'."""
    t = test_row(a, b, group)
    if t["p_value"] < alpha:
        return "yes" if t["delta"] > 0 else "no"
    return "no" if t["delta"] == 0 else "inconclusive"


def think_per_seed(a, b, column="think_tokens"):
    """Relative reduction 1 - b / a of a cost column, per seed both labels share (NaN where a is 0)."""
    c = cost[cost["label"].isin([a, b])].pivot_table(index="seed", columns="label", values=column)
    c = c.dropna()
    return (1 - c[b] / c[a].where(c[a] > 0)) if len(c) else pd.Series(dtype=float)


main_cost = cost[cost["label"].isin([COT, DYN])]
think = main_cost.groupby("label")["think_tokens"].mean()
reduction = A.relative_reduction(main_cost, COT, DYN) if think.get(COT, 0) > 0 else float("nan")
reduction_by_seed = think_per_seed(COT, DYN)

# %% tags=["answer"]
VERDICT = {"yes": "**reproduced**", "no": "**not reproduced**", "inconclusive": "**inconclusive** (not significant)"}
dyn_vs_cot = test_row(COT, DYN, "all")
# "Close" read as non-inferiority: the whole 95% interval of (Dynamic CoT - Fine-tune-CoT) lies above -close_margin.
interval = f"[{100 * dyn_vs_cot['low']:+.1f}, {100 * dyn_vs_cot['high']:+.1f}] points"
if dyn_vs_cot["low"] >= -close_margin:
    close_text = f"**reproduced** (the 95% interval of the difference, {interval}, lies above −{100 * close_margin:g})"
elif dyn_vs_cot["high"] < -close_margin:
    close_text = f"**not reproduced** (the 95% interval of the difference, {interval}, lies below −{100 * close_margin:g})"
else:
    close_text = (f"**inconclusive** (the 95% interval of the difference, {interval}, reaches below "
                  f"−{100 * close_margin:g})")
if reduction == reduction:
    spread = (f", per seed {100 * reduction_by_seed.min():.1f}% to {100 * reduction_by_seed.max():.1f}%"
              if len(reduction_by_seed) > 1 else "")
    cost_text = (f"it writes {think[DYN]:.1f} reasoning tokens per test post against Fine-tune-CoT's "
                 f"{think[COT]:.1f}, **{abs(100 * reduction):.1f}% {'fewer' if reduction >= 0 else 'more'}**{spread} (the paper: 38.48%)")
else:
    cost_text = "Fine-tune-CoT wrote no reasoning tokens at test time, so no reduction can be measured (the paper: 38.48%)"
dyn_switched = float(pd.Series([A.share_switched(r) for r in main_runs if r.label == DYN]).mean())
dyn_reasoned = float(main_cost[main_cost["label"] == DYN]["reasoned_share"].mean())
caveat = ""
if dyn_reasoned == 0:  # then Dynamic CoT is SFT up to a few samples: say so rather than credit the method
    caveat = (f"\n\n**Caveat.** Dynamic CoT never reasons at test time: it switched {100 * dyn_switched:.1f}% of its "
              f"training samples to the CoT target (almost no SFT answer loss fell below γ = {cfg.train.gamma}), so at this γ "
              f"it trained as SFT up to those samples. Its verdicts in claims 2 and 3 compare SFT-like models, not "
              f"reasoning; the γ sweep below shows what larger γ do.")
Markdown(
    f"**Answer.** On {len(test)} test posts of `{display_path(eff.data)}` (student `{eff.train.model}`, {eff.train.max_steps} steps x "
    f"{eff.train.batch_size} posts, {n_seeds} seed(s) per strategy; F1@M in points, ± = sd over seeds, [ ] = 95% "
    f"bootstrap interval over test posts, p = paired bootstrap test):\n\n"
    f"1. *SFT far above zero-shot:* {VERDICT[above(ZS, SFT, 'all')]}. SFT {cell(SFT, 'all')} against zero-shot "
    f"{cell(ZS, 'all')} on all keyphrases ({delta(ZS, SFT, 'all')}).\n"
    f"2. *Reasoning above SFT on unseen keyphrases:* Fine-tune-CoT {VERDICT[above(SFT, COT, 'unseen')]}, "
    f"Dynamic CoT {VERDICT[above(SFT, DYN, 'unseen')]}. Unseen F1@M: SFT {cell(SFT, 'unseen')}, Fine-tune-CoT "
    f"{cell(COT, 'unseen')} ({delta(SFT, COT, 'unseen')}), Dynamic CoT {cell(DYN, 'unseen')} "
    f"({delta(SFT, DYN, 'unseen')}).\n"
    f"3. *Dynamic CoT close to Fine-tune-CoT with fewer reasoning tokens:* close {close_text}: Dynamic CoT "
    f"{cell(DYN, 'all')} against {cell(COT, 'all')} on all keyphrases (p = {dyn_vs_cot['p_value']:.3f}); "
    f"{cost_text}.\n\n"
    "The intervals resample test posts (the seeds' models held fixed); the ± shows how much a new training "
    "seed moves a number. Both matter: a difference can be significant over posts yet smaller than the seed spread."
    + caveat
    + ("\n\n**Smoke run: these numbers test the plumbing, not the methods.**" if eff.smoke else "")
)

# %% [markdown]
# ## The main table
#
# Laid out like the paper's: a row per strategy, F1@1 (the first prediction) and F1@M (all predictions)
# on all, absent, unseen and seen keyphrases. Each cell: mean over seeds, ±sd over seeds, [95% bootstrap
# interval of the seed mean over test posts]. Zero-shot is one run (no training seed).

# %%
display(A.main_table_wide(table))
plots.main_table_bars(table)

# %% [markdown]
# ### Paired tests
#
# Paired bootstrap over test posts (every seed on the same draw), F1@M, delta = second minus first, in points.
# Dynamic CoT against SFT and against Fine-tune-CoT; Fine-tune-CoT against SFT and SFT against zero-shot for
# reference.

# %%
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

shown = tests.assign(pair=[f"{A.display_label(b)} − {A.display_label(a)}" for a, b in zip(tests.a, tests.b)])
display(shown.set_index(["pair", "group"])[["mean_a", "mean_b", "delta", "low", "high", "p_value"]]
        .mul([100, 100, 100, 100, 100, 1]).round(3))
fig = Figure(figsize=(8, 3.2), layout="constrained")
ax = fig.subplots()
pairs = list(dict.fromkeys(shown["pair"]))
groups = list(dict.fromkeys(shown["group"]))
colours = sns.color_palette("colorblind", len(groups))
for j, g in enumerate(groups):
    d = shown[shown["group"] == g].set_index("pair").reindex(pairs)
    y = np.arange(len(pairs)) + (j - (len(groups) - 1) / 2) * 0.18
    ax.errorbar(100 * d["delta"], y, xerr=[100 * (d["delta"] - d["low"]), 100 * (d["high"] - d["delta"])],
                fmt="o", ms=4, capsize=2, color=colours[j], label=g)
ax.axvline(0, color="k", lw=0.8)
ax.set_yticks(np.arange(len(pairs)), pairs)
ax.invert_yaxis()
ax.set(xlabel="difference in F1@M (points), 95% paired bootstrap interval")
fig.legend(title="keyphrases", fontsize=8, loc="outside right upper", frameon=False)
ax.grid(alpha=0.3)
fig

# %% [markdown]
# ## Learning curves: how fast, and how far
#
# Validation F1@M (generation on a fixed subset of the validation split) every `eval_every` steps, for SFT,
# Fine-tune-CoT and Dynamic CoT; the band is the sd over seeds. Prototypes suggested that CoT learns to copy
# unseen topics sooner while SFT catches up later, so the strategies may differ in pace rather than in the
# end point; the sentence under the figure says which this run shows.

# %%
curve_runs = [r for r in main_runs if r.label in (SFT, COT, DYN)]
curves = A.learning_curves(curve_runs)
fig = None
if curves.empty:
    print("no validation points were logged (eval_every = 0): no learning curves")
else:
    fig = plots.learning_curves(curves, metric="f1@M", groups=("all", "absent", "unseen"))
fig

# %%
def pace(group):
    """Seed-mean validation F1@M (points) per label at the middle and the last logged step, and the seed sd."""
    c = curves[(curves["metric"] == "f1@M") & (curves["group"] == group)]
    steps = sorted(c["step"].unique())
    mid = min(steps, key=lambda s: abs(s - steps[-1] / 2))
    at = c[c["step"].isin([mid, steps[-1]])].groupby(["label", "step"])["value"].agg(["mean", "std"]) * 100
    return mid, steps[-1], at


def at_step(means, step):
    return ", ".join(f"{A.display_label(label)} {means.loc[label, step]:.1f}" for label in means.index)


if curves.empty:
    out = Markdown("No learning curves to compare (eval_every = 0).")
else:
    lines = []
    for group in ("all", "unseen"):
        mid, last, at = pace(group)
        means = at["mean"].unstack("step")
        gap_mid, gap_end = means[mid].max() - means[mid].min(), means[last].max() - means[last].min()
        noise = at["std"].xs(last, level="step").median()  # NaN with one seed
        floor = max(2 * noise, 2.0) if noise == noise else 2.0  # smaller gaps are noise
        leader = A.display_label(means[last].idxmax())
        if gap_end <= floor and gap_mid > floor and mid != last:
            verdict = "they differ in **how fast**, not how far: the gap closes by the last step"
        elif gap_end > floor:
            verdict = f"they differ in **how far**: {leader} is still ahead at the last step"
        else:
            verdict = "the curves do **not** separate beyond noise at either point"
        sd = f"; seed sd at step {last}: {noise:.1f} points (median over strategies)" if noise == noise else ""
        lines.append(f"- **{group}** keyphrases: at step {mid}: {at_step(means, mid)} (spread {gap_mid:.1f} points); "
                     f"at step {last}: {at_step(means, last)} (spread {gap_end:.1f}{sd}); {verdict}.")
    out = Markdown("\n".join(lines) + f"\n\nValidation F1@M on {eff.train.eval_samples} posts"
                   + ("" if n_seeds > 1 else ", one seed (no seed spread)")
                   + "; a gap counts when it exceeds 2 points and twice the seed sd.")
out

# %% [markdown]
# ## The gamma sweep
#
# Dynamic CoT trains a sample on its CoT target when the model's loss on the plain answer is below gamma
# (nats/token), so a larger gamma switches more samples to reasoning. `qX` instead switches the X share of
# lowest-loss samples in every batch. The sweep runs on the first seed; the main gamma has every seed (its
# points show the mean and the bars the seed sd), so compare differences with that spread.

# %%
sweep = A.gamma_sweep(run_list, scores)
display(sweep.set_index(["gamma", "seed"])[["f1@M_all", "f1@M_unseen", "think_tokens", "reasoned_share",
                                           "share_switched"]].round(3))
plots.gamma_sweep(sweep)

# %%
by_gamma = sweep.groupby("gamma", sort=False)[["f1@M_all", "f1@M_unseen", "think_tokens", "share_switched"]].mean()
loss_g = sweep[sweep["gamma_kind"] == "loss"]["gamma"].unique()
quant_g = sweep[sweep["gamma_kind"] == "quantile"]["gamma"].unique()
main_sd = 100 * sweep[sweep["label"] == DYN]["f1@M_unseen"].std() if n_seeds > 1 else float("nan")
best = by_gamma["f1@M_unseen"].idxmax()
low_f1, high_f1 = 100 * by_gamma["f1@M_unseen"].min(), 100 * by_gamma["f1@M_unseen"].max()
noise_text = (f", against a seed sd of {main_sd:.1f} points at γ = {DYN.split('-g')[-1]}" if main_sd == main_sd
              else " (one seed: no spread to compare with)")
if high_f1 == low_f1:
    parts = [f"Unseen F1@M is {high_f1:.1f} at every γ of the sweep{noise_text}."]
else:
    parts = [f"Unseen F1@M is highest at γ = {best} ({high_f1:.1f}); over the sweep it spans {low_f1:.1f} to "
             f"{high_f1:.1f} points{noise_text}."]
if len(loss_g) > 1:
    lo, hi = loss_g[0], loss_g[-1]
    parts.append(f"From γ = {lo} to γ = {hi} the share of training samples switched to CoT goes from "
                 f"{100 * by_gamma.loc[lo, 'share_switched']:.0f}% to {100 * by_gamma.loc[hi, 'share_switched']:.0f}% "
                 f"and the reasoning tokens per test post from {by_gamma.loc[lo, 'think_tokens']:.1f} to "
                 f"{by_gamma.loc[hi, 'think_tokens']:.1f}.")
for q in quant_g:
    parts.append(f"The quantile setting γ = {q} switched {100 * by_gamma.loc[q, 'share_switched']:.0f}% of samples, "
                 f"F1@M {100 * by_gamma.loc[q, 'f1@M_all']:.1f} (all) / {100 * by_gamma.loc[q, 'f1@M_unseen']:.1f} "
                 f"(unseen), {by_gamma.loc[q, 'think_tokens']:.1f} reasoning tokens per post.")
Markdown(" ".join(parts))

# %% [markdown]
# ## Reasoning cost
#
# Reasoning (think) tokens per test prediction (0 when the model answers directly) and generation seconds
# per post, for Fine-tune-CoT and Dynamic CoT over seeds (bars: sd over seeds). Generation is batched, so
# a post's seconds are its batch's time divided by the batch size: a batch lasts as long as its longest
# output, which dilutes Dynamic CoT's time saving when reasoned and direct posts share a batch. Times are
# wall-clock on this machine (shared, noisy); tokens are the hardware-independent measure.

# %%
cost_table = A.cost_over_seeds(cost[cost["label"].isin([SFT, COT, MT, DYN])])
cost_columns = ["n_seeds", "reasoned_share_mean", "think_tokens_mean", "think_tokens_sd", "think_tokens_when_reasoned_mean",
                "generated_tokens_mean", "generation_s_mean", "generation_s_sd"]
display(cost_table.assign(label=cost_table["label"].map(A.display_label)).set_index("label")[cost_columns].round(4))
plots.reasoning_cost(cost, labels=[COT, DYN])

# %%
time_by_seed = think_per_seed(COT, DYN, "generation_s")
time_cut = time_by_seed.mean() if len(time_by_seed) else float("nan")
secs = main_cost.groupby("label")["generation_s"].mean()
if reduction == reduction:
    text = (f"Dynamic CoT writes **{abs(100 * reduction):.1f}% {'fewer' if reduction >= 0 else 'more'}** reasoning tokens per post than Fine-tune-CoT "
            f"({think[DYN]:.1f} against {think[COT]:.1f}"
            + (f"; per seed {', '.join(f'{100 * v:.1f}%' for v in reduction_by_seed)}" if len(reduction_by_seed) > 1
               else "") + "); the paper reports 38.48%. ")
else:
    text = "Fine-tune-CoT wrote no reasoning tokens at test time, so no reduction can be measured. "
change = (f"{100 * abs(time_cut):.1f}% {'less' if time_cut >= 0 else 'more'}" if time_cut == time_cut
          else "no per-seed comparison")
text += (f"Generation takes {1000 * secs.get(DYN, float('nan')):.1f} ms per post against Fine-tune-CoT's "
         f"{1000 * secs.get(COT, float('nan')):.1f} ms ({change}, mean of the per-seed changes; batched, on a shared CPU).")
# A generation that never reached a stop token ran out of the max_new_tokens budget: its answer is cut or missing.
unfinished = {}
for label in (COT, DYN):
    preds = [p for r in main_runs if r.label == label for p in r.predictions]  # all seeds pooled
    unfinished[label] = sum(not p.get("stopped", True) for p in preds) / max(len(preds), 1)
cut = [f"{A.display_label(label)} {100 * share:.0f}%" for label, share in unfinished.items() if share > 0]
if cut:
    text += (f" **Budget:** share of test generations that hit the {eff.train.max_new_tokens}-token limit before finishing "
             f"(answer cut or missing, reasoning tokens capped): {', '.join(cut)}; their F1 and token counts "
             "understate what a larger budget would give.")
Markdown(text)

# %% [markdown]
# ### When does each model reason?
#
# The share of test posts on which the model writes a `<think>` span, for posts whose keyphrases are all
# seen in training versus posts with an unseen one, and posts whose keyphrases all appear in the text
# (present) versus posts with an absent one. Fine-tune-CoT is trained to reason on every post; Dynamic CoT
# learned from its switch when reasoning was used in training.

# %%
shares = A.reasoning_shares(tables, labels=[COT, DYN])
display(shares.assign(model=shares["label"].map(A.display_label))
        .groupby(["model", "dimension", "group"], sort=False)[["posts", "reasoned", "share"]].mean().round(3))
plots.reasoning_shares(shares)

# %%
dyn_shares = shares[shares["label"] == DYN].groupby("group")[["reasoned", "posts", "share"]].mean()


def share_text(g):
    if g not in dyn_shares.index:
        return f"no {g} posts"
    return f"{100 * dyn_shares.loc[g, 'share']:.0f}% of {dyn_shares.loc[g, 'posts']:.0f} {g} posts"


Markdown(f"Dynamic CoT reasons on {share_text('unseen')} against {share_text('seen')}, and on {share_text('absent')} "
         f"against {share_text('present')} (means over {n_seeds} seed(s)). With few posts in a group (see the "
         "counts above) a share moves by several points from one post.")

# %% [markdown]
# ## Overthinking
#
# On *easy* keyphrases (present in the post text, so copying would find them): how often does the
# reasoning model miss one that SFT (same seed) finds, and how often does it predict a *more general*
# keyphrase instead (its stemmed words a proper suffix of the gold's: "bicycle" for "vintage bicycle")?
# Counts are summed over seeds; the table lists each seed.

# %%
over = [(label, *A.overthinking(tables, cot=label, reference=SFT)) for label in (COT, DYN)]
COUNT_NAMES = {"easy": "easy keyphrases", "cot_right": "found", "reference_right": "found by SFT",
               "cot_wrong_reference_right": "missed, SFT found", "generalised": "more general predicted",
               "generalised_reference_right": "more general, SFT found"}
display(pd.concat([counts.assign(model=A.display_label(label)) for label, counts, _ in over])
        .set_index(["model", "seed"])[list(COUNT_NAMES)].rename(columns=COUNT_NAMES))

# %%
lines = []
for label, counts, cases in over:
    c = counts[["easy", "cot_right", "reference_right", "cot_wrong_reference_right", "generalised",
                "generalised_reference_right"]].sum()
    lines.append(f"- **{A.display_label(label)}**: of {c['easy']} easy keyphrases it found {c['cot_right']} (SFT "
                 f"{c['reference_right']}); it missed **{c['cot_wrong_reference_right']}** that SFT found, and "
                 f"predicted a more general keyphrase for **{c['generalised']}** "
                 f"({c['generalised_reference_right']} of them where SFT was right).")
Markdown("\n".join(lines))

# %%
examples = pd.concat([cases.assign(model=A.display_label(label)) for label, _, cases in over], ignore_index=True)
if examples.empty:
    print("no easy keyphrase was missed by a reasoning model where SFT found it or generalised: no examples")
else:
    examples = examples.sort_values(["kind", "model"], key=lambda s: s.map({"more general": 0, "wrong": 1})
                                    if s.name == "kind" else s)
    display(examples[["model", "seed", "id", "gold", "kind", "cot_general", "cot_predicted", "reference_right"]]
            .head(12).reset_index(drop=True))

# %% [markdown]
# ## Error analysis
#
# The most frequent wrong predictions of each strategy (pooled over seeds; *seen* = the string is a
# training keyphrase, so the model fell back on something it memorised), and F1@M per training frequency
# of the gold keyphrase (bucket 0 = unseen).

# %%
errors = A.frequent_errors(tables, top=5)
errors = errors[errors["label"].isin(LABELS.values())]
if errors.empty:
    print("no wrong predictions")
else:
    short = [p if len(p) <= 40 else p[:39] + "…" for p in errors["prediction"]]  # degenerate outputs run long
    errors = errors.assign(cell=[f"{p} ({c}{', seen' if s else ''})" for p, c, s in
                                 zip(short, errors["count"], errors["seen"])])
    display(errors.pivot(index="rank", columns="label", values="cell")
            .reindex(columns=[l for l in LABELS.values() if l in set(errors["label"])])
            .rename(columns=A.display_label).fillna(""))

# %%
buckets = A.f1_by_bucket(tables)
buckets = buckets[buckets["label"].isin(LABELS.values())]
plots.frequency_buckets(buckets)

# %%
b = buckets.groupby(["label", "freq_bucket"], observed=True)[["f1", "posts"]].mean()
present_buckets = [n for n in tables.bucket_names if n in set(buckets["freq_bucket"].astype(str))]
lo, hi = present_buckets[0], present_buckets[-1]
worst = errors.groupby("label")["share"].max() if not errors.empty else pd.Series(dtype=float)
Markdown(
    f"F1@M on gold keyphrases never seen in training (bucket {lo}) against the most frequent ones (bucket {hi}): "
    + "; ".join(f"{A.display_label(l)} {100 * b.loc[(l, lo), 'f1']:.1f} vs {100 * b.loc[(l, hi), 'f1']:.1f}"
                for l in LABELS.values() if (l, lo) in b.index and (l, hi) in b.index)
    + f" (about {b.xs(lo, level='freq_bucket')['posts'].mean():.0f} and {b.xs(hi, level='freq_bucket')['posts'].mean():.0f} "
      "posts per bucket: small buckets give wide intervals). "
    + ("The single most frequent wrong prediction takes " + ", ".join(
        f"{100 * v:.0f}% ({A.display_label(l)})" for l, v in worst.items()) + " of a strategy's wrong predictions."
       if len(worst) else "")
)

# %% [markdown]
# ## Explorer
#
# Pick a run and a filter (absent, unseen, wrong ...) and step through the posts: the image, the text, the
# gold keyphrases (with present/absent and seen/unseen flags), every strategy's prediction (✓/✗) and the
# model's reasoning. It needs a live kernel (JupyterLab); the rendered HTML shows the gallery below it
# instead, precomputed: a few posts chosen where the models go wrong on unseen and absent keyphrases.

# %%
from mmkp_lib.explorer import build_views, explorer, static_gallery_html

first_seed = [r for r in main_runs if r.strategy == "zero-shot" or r.seed == cfg.seeds[0]]
views = build_views(test, first_seed, train, tables=tables)
names = [r.name for r in first_seed]
explorer(views, runs=names)

# %%
static_gallery_html(views, n=gallery_posts, runs=names,
                    title=f"{min(gallery_posts, len(views))} test posts, seed {cfg.seeds[0]}")

# %% [markdown]
# ## The runs
#
# Every run this page read: its status before this execution, and its training and prediction wall times
# (one thread per run, from each run's config.json).

# %%
display(status[["run", "strategy", "seed", "gamma", "steps", "batch", "status", "why"]]
        .astype({"seed": "Int64", "steps": "Int64", "batch": "Int64"}))
display(pd.DataFrame(run_times(folders)).set_index("run"))

# %% [markdown]
# ## Glossary
#
# - **F1@k**: the harmonic mean of precision@k and recall@k over a post's first k predictions; **F1@1**
#   scores the first prediction, **F1@M** all of them. Keyphrases are lower-cased and Porter-stemmed before
#   matching; repeated and invalid predictions are dropped (`mmkp_lib.metrics`).
# - **CMKP metric** (used here, as in the MMKP benchmark's evaluation code, Wang et al. 2020): per post
#   P@k = hits / min(k, #predictions) and R@k = hits / #gold; F1@k is the harmonic mean of the
#   *macro-averaged* P and R. **AimKP variant** (the AimKP code, used by published VLM work): P@k = hits / k
#   (short lists padded with misses) and F1@k = the mean of *per-post* F1; it gives other numbers for the
#   same predictions (`mmkp evaluate --variant aimkp`), so compare with a paper only under its variant.
# - **Present / absent**: a gold keyphrase is present when its stemmed words occur contiguously in the
#   stemmed post text, absent otherwise (here: typically the object, which only the image shows). The absent
#   score keeps only absent gold keyphrases and predictions, over posts that have one.
# - **Seen / unseen**: a gold keyphrase is seen when the same string is a training keyphrase, unseen
#   otherwise; a correct prediction takes its gold keyphrase's group. A post is "unseen" when one of its
#   gold keyphrases is.
# - **gamma (γ)**: Dynamic CoT's threshold. A training sample whose per-token SFT loss on the plain answer
#   is below γ (nats/token) is trained on the teacher's rationale + answer, otherwise on the answer alone;
#   `qX` switches the X share of lowest-loss samples in each batch instead of a fixed loss.
# - **Fine-tune-CoT**: the student learns the teacher's `<think>…</think><answer>…</answer>` for every
#   sample; **multi-task**: both targets for every sample; **SFT**: the answer alone.
# - **Intervals and tests**: [low, high] is a 95% percentile bootstrap interval over test posts (the same
#   draw for every seed, so it is the interval of the seed mean); ± is the sample sd over seeds; p is a
#   two-sided paired bootstrap test over posts.
# - **Verdicts in the answer**: a claim "X above Y" is *reproduced* when the paired test gives p < 0.05 in
#   the paper's direction, *not reproduced* when p < 0.05 the other way (or the difference is exactly 0),
#   and *inconclusive* otherwise. "Close" is read as non-inferiority: the whole 95% interval of
#   Dynamic CoT − Fine-tune-CoT lies above −`close_margin` (a reporting choice, a parameter of this page).
