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
# # 04 · Dynamic CoT: reason only where the model already knows the answer
#
# **Question:** Dynamic CoT (Ma et al. 2025) supervises a training sample with the teacher's rationale
# only when the student's loss on the plain answer is already below a threshold gamma, and with the plain
# answer otherwise. Does that keep Fine-tune-CoT's F1, on all, absent and unseen keyphrases, while the
# trained model writes fewer reasoning tokens (the paper: 38.48% less reasoning compute)? And how many
# samples does a given gamma switch, and when in training? **Answer:** computed from this run's numbers and
# shown under "The answer" below the results table; the loss distribution with the gamma line, the share
# switched per step and epoch, and the reasoning cost follow. Run it with another threshold:
# `papermill notebooks/04_dyncot.ipynb out.ipynb -p gamma 0.8`, or a quantile: `-p gamma q0.3` (switch the
# 30% lowest-loss samples of each batch, the adaptive threshold the paper leaves as future work).

# %% tags=["parameters"]
preset = "report"  # named settings (mmkp_lib.experiment.PRESETS): report | smoke | qwen2.5-vl-3b-lora
# Every parameter below left at None takes the preset's value (`python -m mmkp_lib.experiment --show-preset report`
# lists them); a value given here or with `-p NAME VALUE` overrides it.
seed = 0  # training seed: runs are named <label>-seed<seed>
gamma = None  # threshold on the SFT answer loss (nats/token), or "qX": the X share of lowest losses per batch
scoring = None  # online: L_sft from an extra no-grad forward each step (exact) | lagged: from the last SFT visit
data = None  # benchmark folder (train/valid/test .jsonl); `mmkp synth --out data/synth`
work_dir = None  # where cache/ (teacher rationales, models) and runs/ live
model = None  # student: tiny | smol | hub id | local folder
lora = None  # LoRA on the language model instead of full fine-tuning (the GPU setting for 3B/7B models)
max_pixels = None  # downscale larger images first (Qwen2.5-VL on GPU: e.g. 401408)
teacher_backend = None  # whose rationales: oracle (written here) | openai | hf (notebook 02 writes them)
max_steps = None  # optimizer steps per run, the same for SFT, Fine-tune-CoT and Dynamic CoT
batch_size = None  # posts per optimizer step
lr = None  # peak learning rate (AdamW, cosine decay)
eval_every = None  # steps between validation F1 points (0: off)
max_new_tokens = None  # generation budget per post (reasoning + answer)
workers = None  # runs trained at once, one process and one thread each (1: one after another)
smoke = None  # True: test-sized model, a few steps and posts (CI)

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from mmkp_lib.experiment import describe, ensure_runs, ensure_teacher, run_times, train_spec
from mmkp_lib.notebook import experiment_config, notebook_parameters, settings_summary

cfg = experiment_config(notebook_parameters(globals(), "04_dyncot"))  # a misspelt -p name fails here
eff = cfg.effective()
g = cfg.train.gamma  # a Gamma: a loss threshold or a quantile
# SFT and Fine-tune-CoT are notebook 03's runs with the same settings: reused when they exist.
specs = [train_spec(cfg, "sft", seed), train_spec(cfg, "cot", seed), train_spec(cfg, "dyncot", seed)]
dyn_name = specs[2].name
print(f"Dynamic CoT γ = {g} ({'quantile of each batch' if g.kind == 'quantile' else 'loss threshold, nats/token'}), "
      f"{eff.train.scoring} scoring; " + settings_summary(cfg))
display(pd.DataFrame(describe(specs)))

# %% [markdown]
# ## Train and predict (or reuse)

# %%
ensure_teacher(cfg)
folders = ensure_runs(specs, workers=eff.workers)
times = pd.DataFrame(run_times(folders))
display(times)

# %% [markdown]
# ## F1 beside SFT and Fine-tune-CoT
#
# F1@1 and F1@M with 95% bootstrap intervals over test posts, and paired bootstrap tests of Dynamic CoT
# against each baseline (delta = Dynamic CoT minus the baseline).

# %%
from mmkp_lib import analysis as A
from mmkp_lib import plots
from mmkp_lib.experiment import evaluation_posts

test, train = evaluation_posts(cfg)  # the posts the runs predicted and trained on
run_list = A.load_runs(folders)
dyn = next(r for r in run_list if r.strategy == "dyncot")
scores = A.score_runs(test, run_list, train)
table = A.main_table(run_list, scores, groups=("all", "absent", "unseen", "seen"))
display(A.main_table_wide(table))
tests = A.paired_tests(run_list, scores, [("sft", dyn.label), ("cot", dyn.label)], groups=("all", "absent", "unseen"),
                       metrics=("f1@M",))
display(tests[["a", "b", "group", "metric", "mean_a", "mean_b", "delta", "low", "high", "p_value"]].round(4))
plots.main_table_bars(table, groups=("all", "absent", "unseen"))

# %% [markdown]
# ## The answer

# %% tags=["answer"]
tables = A.build_tables(test, run_list, train)
cost = A.reasoning_cost(tables)
think = cost.set_index("label")["think_tokens"]
reasoned = cost.set_index("label")["reasoned_share"]
switched = A.share_switched(dyn)
reduction = A.relative_reduction(cost, "cot", dyn.label) if think.get("cot", 0) > 0 else float("nan")


def cell(label, group, metric="f1@M"):
    r = table[(table.label == label) & (table.group == group) & (table.metric == metric)].iloc[0]
    return f"{100 * r['mean']:.1f} [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def versus(a, group):
    t = tests[(tests.a == a) & (tests.group == group)].iloc[0]
    if t["delta"] == 0:
        return f"equal to {A.display_label(a)}"
    return (f"{100 * abs(t['delta']):.1f} points {'above' if t['delta'] > 0 else 'below'} {A.display_label(a)}, "
            f"p = {t['p_value']:.3f}")


more_or_fewer = "fewer" if reduction >= 0 else "more"  # a small gamma can make the model reason *more*
reduction_text = (f"**{abs(100 * reduction):.1f}% {more_or_fewer}** reasoning tokens than Fine-tune-CoT"
                  if reduction == reduction else "no comparison of reasoning tokens (Fine-tune-CoT wrote none)")
Markdown(
    f"With **γ = {g}** ({scoring} scoring), Dynamic CoT trained {100 * switched:.1f}% of its sample visits on the "
    f"CoT target over {eff.train.max_steps} steps of {eff.train.batch_size} posts (the same steps and batch as the baselines). "
    f"F1@M on all test keyphrases: Dynamic CoT {cell(dyn.label, 'all')} ({versus('sft', 'all')}; "
    f"{versus('cot', 'all')}), SFT {cell('sft', 'all')}, Fine-tune-CoT {cell('cot', 'all')}. On absent "
    f"keyphrases: Dynamic CoT {cell(dyn.label, 'absent')}, SFT {cell('sft', 'absent')}, Fine-tune-CoT "
    f"{cell('cot', 'absent')}. On unseen keyphrases: Dynamic CoT {cell(dyn.label, 'unseen')} "
    f"({versus('sft', 'unseen')}; {versus('cot', 'unseen')}), SFT {cell('sft', 'unseen')}, Fine-tune-CoT "
    f"{cell('cot', 'unseen')}. At test time the Dynamic CoT model reasons on {100 * reasoned.get(dyn.label, 0):.0f}% "
    f"of posts and writes {think.get(dyn.label, 0):.1f} reasoning tokens per post against Fine-tune-CoT's "
    f"{think.get('cot', 0):.1f}: {reduction_text} (the paper: 38.48% less reasoning compute)."
    + (f" No training sample's SFT answer loss fell below γ = {g}, so this run trained exactly as SFT (the same "
       f"seed gives the same numbers) and its 'fewer reasoning tokens' is trivial; try a larger γ "
       f"(`-p gamma 1.6`) or a quantile (`-p gamma q0.3`)." if switched == 0 else "")
    + (" **Smoke run: these numbers test the plumbing, not the method.**" if eff.smoke else "")
)

# %% [markdown]
# ## The per-sample SFT loss and the gamma line
#
# Every training sample visit records its L_sft (the mean loss over its answer tokens under the current
# parameters) and the choice made (`dyncot_decisions.jsonl`). Samples left of the line were trained on
# their CoT target. Early in training every loss is high and nothing switches; as the model learns,
# the samples it already answers well move left. For a quantile gamma there is no fixed line: each
# batch switches its lowest-loss share, so the dashed line is the median of the per-step thresholds.

# %%
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

dec = pd.DataFrame(dyn.decisions or [])
dec = dec[dec["sft_loss"].notna()] if not dec.empty else dec
fig = Figure(figsize=(11, 3.4), layout="constrained")
ax, ax2 = fig.subplots(1, 2)
if dec.empty:
    ax.text(0.5, 0.5, "no decisions recorded", ha="center", transform=ax.transAxes)
else:
    thirds = pd.cut(dec["step"], bins=3, labels=["first third of steps", "middle third", "last third"])
    dec = dec.assign(phase=thirds, log_loss=np.log10(dec["sft_loss"].clip(lower=1e-4)))
    sns.histplot(data=dec, x="log_loss", hue="phase", element="step", stat="density", common_norm=False, ax=ax)
    line = g.value if g.kind == "loss" else dec[dec["cot"]].groupby("step")["sft_loss"].max().median()
    if line == line:  # NaN when a quantile switched nothing
        ax.axvline(np.log10(line), color="k", ls="--", label=f"γ = {g}" + (" (median threshold)" if g.kind == "quantile" else ""))
        ax.legend(loc="upper right", fontsize=8)
    ax.set(xlabel="log10 L_sft (nats/token, answer tokens)", ylabel="density", title="per-sample SFT loss")
    by_step = dec.groupby("step")["cot"].mean()
    ax2.plot(by_step.index, by_step.values, color="C2", lw=1)
    ax2.set(xlabel="optimizer step", ylabel="share switched to CoT", ylim=(-0.02, 1.02),
            title="share of each step's samples switched")
for a in (ax, ax2):
    a.grid(alpha=0.3)
fig

# %% [markdown]
# ## Share switched per epoch
#
# From the decisions file: every visit of an epoch (one cut short by `max_steps` counts the visits it made).

# %%
shares = dec.groupby("epoch").agg(visits=("cot", "size"), cot_share=("cot", "mean"),
                                  median_sft_loss=("sft_loss", "median")) if not dec.empty else pd.DataFrame()
display(shares.round(4))

# %% [markdown]
# ## Reasoning cost
#
# Think tokens per test prediction (0 when the model answers directly) and how often each model chooses
# to reason on seen versus unseen and present versus absent posts.

# %%
cols = ["label", "reasoned_share", "think_tokens", "think_tokens_when_reasoned", "generated_tokens", "generation_s"]
display(cost[cols].set_index("label").round(3))
shares_by_group = A.reasoning_shares(tables, labels=["cot", dyn.label])
display(shares_by_group.pivot_table(index="label", columns="group", values="share").round(3))
plots.reasoning_shares(shares_by_group)

# %%
plots.think_tokens(tables.posts, labels=["cot", dyn.label])

# %% [markdown]
# ## Learning curves
#
# Validation F1@M every `eval_every` steps, and how much of the validation subset each model reasons on.

# %%
curves = A.learning_curves(run_list)
fig = plots.learning_curves(curves, metric="f1@M", groups=("all", "absent", "unseen")) if not curves.empty else None
fig

# %%
fig = None
if not curves.empty:
    shares_curve = curves[curves["metric"] == "reasoned_share"].assign(
        strategy=lambda d: [A.display_label(x) for x in d["label"]])
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    sns.lineplot(data=shares_curve, x="step", y="value", hue="strategy", marker="o", ax=ax,
                 palette=plots.palette(shares_curve["strategy"]))
    ax.set(xlabel="optimizer step", ylabel="validation posts reasoned on", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
fig
