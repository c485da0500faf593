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
summary_path = ""  # write the experiment's machine-readable summary here (make report: reports/summary.json); "": none
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
# The paired tests the claims are decided on (ZS-SFT, SFT-CoT, SFT-DynCoT, CoT-DynCoT), F1@M.
tests = A.paired_tests(main_runs, scores, A.claim_pairs(LABELS), metrics=("f1@M",), n_boot=n_boot)
tables = A.build_tables(test, run_list, train)
cost = A.reasoning_cost(tables)

# %% tags=["answer"]
# The verdict rules (reproduced / not reproduced / inconclusive) are in mmkp_lib.analysis.verdicts.
Markdown(A.breakdowns_answer(table, tests, cost, main_runs, LABELS, close_margin=close_margin, gamma=cfg.train.gamma,
                             posts=len(test), data=display_path(eff.data), model=eff.train.model,
                             steps=eff.train.max_steps, batch=eff.train.batch_size, n_seeds=n_seeds, smoke=eff.smoke,
                             previous=A.previous_report(eff.data, eff.smoke),
                             zero_shot_probe=A.zero_shot_probe(eff.data, eff.smoke)))

# %%
# The machine-readable summary (`make report` adds the pipeline's wall time): every run, its cost, the claims.
from mmkp_lib.analysis.summary import build_summary, write_summary

summary = build_summary(run_list, scores, tests, cost, LABELS, close_margin=close_margin, settings=cfg.settings())
if shown.summary_path:
    print(f"summary of {len(summary['runs'])} runs written to {write_summary(shown.summary_path, summary)}")
print("claims:", summary["claims"])

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
display(A.paired_tests_table(tests))
plots.paired_tests(tests)

# %% [markdown]
# ## Learning curves: how fast, and how far
#
# Validation F1@M (generation on a fixed subset of the validation split) every `eval_every` steps, for SFT,
# Fine-tune-CoT and Dynamic CoT; the band is the sd over seeds. Prototypes suggested that CoT learns to copy
# unseen topics sooner while SFT catches up later, so the strategies may differ in pace rather than in the
# end point; the sentence under the figure says which this run shows.

# %%
curves = A.learning_curves([r for r in main_runs if r.label in (SFT, COT, DYN)])
if curves.empty:
    print("no validation points were logged (eval_every = 0): no learning curves")
fig = None if curves.empty else plots.learning_curves(curves, metric="f1@M", groups=("all", "absent", "unseen"))
fig

# %%
Markdown(A.findings.pace(curves, eval_samples=eff.train.eval_samples, n_seeds=n_seeds))

# %% [markdown]
# ## The gamma sweep
#
# Dynamic CoT trains a sample on its CoT target when the model's loss on the plain answer is below gamma
# (nats/token), so a larger gamma switches more samples to reasoning. `qX` instead switches the X share of
# lowest-loss samples in every batch. The sweep runs on the first seed; the main gamma has every seed (its
# points show the mean and the bars the seed sd), so compare differences with that spread.

# %%
sweep = A.gamma_sweep(run_list, scores)
display(A.sweep_table(sweep))
plots.gamma_sweep(sweep)

# %%
Markdown(A.findings.gamma_sweep(sweep, main_label=DYN, n_seeds=n_seeds))

# %% [markdown]
# ## Reasoning cost
#
# Reasoning (think) tokens per test prediction (0 when the model answers directly) and generation seconds
# per post, for Fine-tune-CoT and Dynamic CoT over seeds (bars: sd over seeds). Generation is batched, so
# a post's seconds are its batch's time divided by the batch size: a batch lasts as long as its longest
# output, which dilutes Dynamic CoT's time saving when reasoned and direct posts share a batch. Times are
# wall-clock on this machine (shared, noisy); tokens are the hardware-independent measure.

# %%
display(A.cost_over_seeds_table(cost, [SFT, COT, MT, DYN]))
plots.reasoning_cost(cost, labels=[COT, DYN])

# %%
Markdown(A.findings.reasoning_cost(cost, main_runs, cot=COT, dyn=DYN, max_new_tokens=eff.train.max_new_tokens))

# %% [markdown]
# ### When does each model reason?
#
# The share of test posts on which the model writes a `<think>` span, for posts whose keyphrases are all
# seen in training versus posts with an unseen one, and posts whose keyphrases all appear in the text
# (present) versus posts with an absent one. Fine-tune-CoT is trained to reason on every post; Dynamic CoT
# learned from its switch when reasoning was used in training.

# %%
shares = A.reasoning_shares(tables, labels=[COT, DYN])
display(A.shares_table(shares))
plots.reasoning_shares(shares)

# %%
Markdown(A.findings.reasoning_shares(shares, dyn=DYN, n_seeds=n_seeds))

# %% [markdown]
# ## Overthinking
#
# On *easy* keyphrases (present in the post text, so copying would find them): how often does the
# reasoning model miss one that SFT (same seed) finds, and how often does it predict a *more general*
# keyphrase instead (its stemmed words a proper suffix of the gold's: "bicycle" for "vintage bicycle")?
# Counts are summed over seeds; the table lists each seed.

# %%
over = {label: A.overthinking(tables, cot=label, reference=SFT) for label in (COT, DYN)}  # (counts, cases)
display(A.overthinking_table(over))

# %%
Markdown(A.findings.overthinking(over))

# %%
examples = A.overthinking_examples(over)
if examples.empty:
    print("no easy keyphrase was missed by a reasoning model where SFT found it or generalised: no examples")
else:
    display(examples)

# %% [markdown]
# ## Error analysis
#
# The most frequent wrong predictions of each strategy (pooled over seeds; *seen* = the string is a
# training keyphrase, so the model fell back on something it memorised), and F1@M per training frequency
# of the gold keyphrase (bucket 0 = unseen).

# %%
errors = A.frequent_errors(tables, top=5, labels=LABELS.values())
if errors.empty:
    print("no wrong predictions")
else:
    display(A.frequent_errors_table(errors, LABELS.values()))

# %%
buckets = A.f1_by_bucket(tables, labels=LABELS.values())
plots.frequency_buckets(buckets)

# %%
Markdown(A.findings.frequency_buckets(buckets, errors, tables.bucket_names, LABELS.values()))

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
