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
Markdown(A.dyncot_answer(dyn, table, tests, cost, gamma=g, scoring=eff.train.scoring, steps=eff.train.max_steps,
                         batch=eff.train.batch_size, smoke=eff.smoke))

# %% [markdown]
# ## The per-sample SFT loss and the gamma line
#
# Every training sample visit records its L_sft (the mean loss over its answer tokens under the current
# parameters) and the choice made (`dyncot_decisions.jsonl`). Samples left of the line were trained on
# their CoT target. Early in training every loss is high and nothing switches; as the model learns,
# the samples it already answers well move left. For a quantile gamma there is no fixed line: each
# batch switches its lowest-loss share, so the dashed line is the median of the per-step thresholds.

# %%
dec = A.decisions_table(dyn)  # a row per sample visit: step, epoch, sft_loss, cot
plots.dyncot_decisions(dec, g)

# %% [markdown]
# ## Share switched per epoch
#
# From the decisions file: every visit of an epoch (one cut short by `max_steps` counts the visits it made).

# %%
display(A.switched_by_epoch(dec).round(4))

# %% [markdown]
# ## Reasoning cost
#
# Think tokens per test prediction (0 when the model answers directly) and how often each model chooses
# to reason on seen versus unseen and present versus absent posts.

# %%
display(A.cost_table(cost))
shares = A.reasoning_shares(tables, labels=["cot", dyn.label])
display(A.shares_by_group(shares))
plots.reasoning_shares(shares)

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
plots.reasoned_share_curves(curves) if not curves.empty else None
