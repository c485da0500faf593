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
# # 02 · Teacher rationales for Fine-tune-CoT and Dynamic CoT
#
# **Question:** can a teacher write a valid `<think>…</think><answer>…</answer>` rationale for every
# training post (text + image + gold keyphrases), resumably and at a known cost, and how alike are the
# rationales of posts that share a keyphrase? **Answer:** on the embedded benchmark the offline oracle
# teacher (it reads the generator's latents) writes rationales that pass the strict validator for all 8,000
# training posts in seconds (100% accepted). Its default `facts` style states the answer's facts in one of
# four templates (reasoning median 25 words, p10–p90 16–28); the earlier `prose` style, varied like an LLM's,
# is kept as an option (median 79 words, p10–p90 53–112), and both are shown below. Rationales share much of
# their wording whatever the post (facts: token Jaccard 0.26 between unrelated posts, 0.36 within a shared
# keyphrase), but their *content* words are shared almost only between posts with a common keyphrase
# (content-token Jaccard 0.27 vs 0.01, driven by topic keyphrases): the paper's "content redundancy", which
# Dynamic CoT exploits by supervising samples the student already handles with the short SFT target. The
# last cell restates this with the numbers of the run at hand. An LLM teacher (GPT-4o, a local Qwen2.5-VL) goes
# through the same prompt, validator and cache: set `backend`, `model` and `base_url`.

# %% tags=["parameters"]
data = "data/synth"  # dataset folder (or file) whose split gets rationales
split = "train"  # split to explain
backend = "oracle"  # oracle | openai | hf
model = ""  # openai: model name (or env MMKP_TEACHER_MODEL); hf: hub id or folder
base_url = ""  # openai: endpoint, e.g. http://localhost:8000/v1 (or env OPENAI_BASE_URL)
workers = 4  # openai: concurrent requests
limit = 0  # first N posts only (0: all)
max_attempts = 3  # tries per post until its rationale validates
max_think_words = 300  # reasoning length cap, in whitespace words
cache = ""  # cache file; empty: <work_dir>/cache/teacher/<dataset folder>/<backend>.jsonl
work_dir = "."  # where cache/ lives
smoke = False  # at most 200 posts (CI)
seed = 0  # oracle wording seed; also the sampling seed of the tables below
style = "facts"  # oracle: facts (the answer's facts: quoted topic span, colour, shape, scene) | prose (varied)

# %%
from mmkp_lib.notebook import notebook_parameters
from mmkp_lib.teacher import TeacherRunConfig

cfg = TeacherRunConfig(**notebook_parameters(globals(), "02_teacher_cot")).validated()  # refuses misspelt -p
cache_path = cfg.cache_path()
posts = cfg.load_posts()
print(f"{len(posts)} {split} posts from {data}; backend {backend}; cache {cache_path}")

# %% [markdown]
# ## The teacher prompt
#
# One template, versioned; its hash is part of every cache key, so rationales written for another wording
# are never mixed in. The teacher sees the post *and* its gold keyphrases and must explain how the text and
# the image lead to them, then repeat them in the tag format. (The oracle does not read the prompt: it
# writes what an ideal teacher would, from the generator's latents.)

# %%
from mmkp_lib.teacher.prompt import PROMPT_HASH, PROMPT_VERSION, SYSTEM, render_prompt

print(f"prompt {PROMPT_VERSION} #{PROMPT_HASH}, for post {posts[0].id}\n")
print("[system]", SYSTEM, "\n")
print("[user] <image>")
print(render_prompt(posts[0], max_think_words))

# %% [markdown]
# ## Generate (or resume)
#
# Every response is appended to the cache as one line at once; running this cell again asks only for the
# posts that have no accepted (or rejected) rationale yet. `mmkp teacher` does the same from a shell.

# %%
from mmkp_lib.teacher import generate_rationales

summary = generate_rationales(posts, cfg.make_backend(), cache_path, max_attempts=max_attempts,
                              max_think_words=max_think_words, workers=workers, progress=False)
print(summary.format())

# %% [markdown]
# ## Acceptance and rejection reasons
#
# Over every post of the split, from the whole cache (this run and earlier ones). A rationale is accepted
# when its tags parse strictly, its reasoning is non-empty and under the cap, and its answer equals the
# gold set after the metrics' normalisation. The student's CoT data uses accepted rationales only.

# %%
import pandas as pd
from IPython.display import display

from mmkp_lib.teacher import load_rationales, read_cache
from mmkp_lib.teacher.analysis import length_stats, post_outcomes, reason_counts, records_for

teacher_model = summary.model
records = records_for(read_cache(cache_path), posts, backend, teacher_model)
outcomes = post_outcomes(records, posts, backend, teacher_model)
status_counts = outcomes["status"].value_counts()
decided = int(status_counts.get("accepted", 0) + status_counts.get("rejected", 0))
acceptance = status_counts.get("accepted", 0) / decided if decided else float("nan")
print(f"acceptance: {acceptance:.1%} of {decided} decided posts "
      f"({int(outcomes['responses'].sum())} responses for {len(posts)} posts)")
display(status_counts.rename("posts").to_frame())
reasons = reason_counts(records)
display(pd.DataFrame(reasons).fillna(0).astype(int) if any(reasons.values())
        else pd.DataFrame({"reason": ["(none: every response was valid)"]}))

# %% [markdown]
# ## How long are the rationales?
#
# Length of the accepted reasoning in whitespace words (the tiny student's tokenizer makes each word one
# token; quotes, line breaks and tags add a few). An LLM's rationale lengths spread roughly log-normally; the
# oracle's prose style imitates that, its facts style is short and regular.

# %%
import matplotlib.pyplot as plt

thinks = load_rationales(cache_path, posts, backend=backend, model=teacher_model)
words = [len(t.split()) for t in thinks.values()]
stats = length_stats(words)
print({k: round(v, 1) for k, v in stats.items()})
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(words, bins=40, color="tab:blue")
ax.axvline(stats["median"], color="k", ls="--", label=f"median {stats['median']:.0f}")
ax.set_xlabel("reasoning length (words)")
ax.set_ylabel("posts")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Two oracle styles: the answer's facts, or varied prose
#
# The student here is trained from scratch, so it must learn the rationale's language itself. The default
# `facts` style states what the answer is built from, before it, in one of four templates: the quoted text
# span with the topic, the main object's colour and its shape as separate words, and the scene. The `prose`
# style is the earlier default, varied like an LLM's reasoning (prose, numbered steps, labelled sections).
# Both are written below for the same posts (in memory; the cache holds the `style` chosen above). The
# hypothesis notebook 05 tests: stating colour and shape apart lets CoT compose colour-shape pairs it never
# saw in training.

# %%
from mmkp_lib.teacher.analysis import style_lengths
from mmkp_lib.teacher.oracle import write_rationale

if backend == "oracle":
    by_style = style_lengths(posts, seed=seed, max_words=max_think_words)
    display(pd.DataFrame({s: length_stats(w) for s, w in by_style.items()}).T.round(1))
    fig, ax = plt.subplots(figsize=(6, 3))
    for s, w in by_style.items():
        ax.hist(w, bins=range(0, max(max(v) for v in by_style.values()) + 5, 4), alpha=0.6, label=s)
    ax.set_xlabel("reasoning length (words)")
    ax.set_ylabel("posts")
    ax.legend(title="oracle style")
    plt.tight_layout()
    plt.show()
    for s in by_style:
        print(f"[{s}]", write_rationale(posts[0], seed=seed, style=s), "\n")
else:
    print(f"backend {backend!r}: the styles are the oracle's; an LLM teacher writes its own")

# %% [markdown]
# ## A few rationales beside their posts

# %%
from IPython.display import HTML

from mmkp_lib.teacher.analysis import examples_html

HTML(examples_html(posts, thinks, n=4, seed=seed))

# %% [markdown]
# ## Content redundancy: do posts that share a keyphrase get similar rationales?
#
# The paper observes that rationales of training samples sharing a keyphrase are highly similar, so
# supervising every sample with a full rationale repeats content the student already knows. We measure
# token Jaccard similarity between rationales of posts sharing a keyphrase (within) and of random posts
# sharing none (across), by the keyphrase's role, on two token sets: all tokens, and content tokens only
# (tokens found in at most 10% of the rationales, which drops the wording every rationale repeats).

# %%
from mmkp_lib.teacher.analysis import redundancy

red_all = redundancy(thinks, posts, seed=seed)
red = redundancy(thinks, posts, seed=seed, max_doc_freq=0.1)
display(pd.DataFrame({
    "all tokens": {"within (shared keyphrase)": red_all["within_mean"], "across (none shared)": red_all["across_mean"],
                   **{f"within, {r} keyphrases": v for r, v in red_all["within_by_role"].items()}},
    "content tokens": {"within (shared keyphrase)": red["within_mean"], "across (none shared)": red["across_mean"],
                       **{f"within, {r} keyphrases": v for r, v in red["within_by_role"].items()}},
}).round(3))
print(f"{red['groups']} keyphrases are shared by >= 2 posts")
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, r, title in ((axes[0], red_all, "all tokens"), (axes[1], red, "content tokens")):
    ax.hist(r["across"], bins=30, range=(0, 1), alpha=0.6, density=True, label="no shared keyphrase")
    ax.hist(r["within"], bins=30, range=(0, 1), alpha=0.6, density=True, label="shared keyphrase")
    ax.set_title(title)
    ax.set_xlabel("token Jaccard of two rationales")
axes[0].set_ylabel("density")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the table: "all tokens" is dominated by wording every rationale repeats. On content tokens the
# within-group overlap comes from topic keyphrases, whose words are rare; colour, shape and scene words come
# from small vocabularies, occur in more than 10% of the rationales and so count as common wording, which is
# why object and scene groups score low there. With an LLM teacher the same cells measure its own redundancy.

# %% [markdown]
# ## Token usage and cost
#
# Summed over every cache line of these posts (retries and failed requests included). The oracle costs
# nothing; for comparison, the estimate of asking GPT-4o once per post at list prices (no request made).

# %%
from mmkp_lib.teacher import estimate_cost

usage = outcomes[["input_tokens", "output_tokens"]].sum()
known_cost = outcomes["cost_usd"].notna().all()
total_cost = outcomes["cost_usd"].sum() if known_cost else None
n_acc = max(1, int(status_counts.get("accepted", 0)))
print(f"tokens: {int(usage['input_tokens'])} in, {int(usage['output_tokens'])} out; "
      + (f"cost ${total_cost:.4f} (${total_cost / n_acc:.6f} per accepted rationale)" if known_cost
         else "cost unknown (the model has no price: pass a price table)"))
print("GPT-4o, " + estimate_cost(posts, "openai", "gpt-4o", max_think_words=max_think_words).format())

# %% [markdown]
# ## The answer, in this run's numbers

# %% tags=["answer"]
from IPython.display import Markdown

run_note = (f"this run wrote {summary.done} in {summary.elapsed_s:.1f} s" if summary.done
            else "all were already in the cache")
Markdown(f"**{len(thinks)} of {len(posts)}** {split} posts have an accepted rationale "
         f"(acceptance {acceptance:.1%}; {run_note}). "
         f"Reasoning: median {stats['median']:.0f} words (p10 {stats['p10']}, p90 {stats['p90']}). "
         f"Rationales of posts sharing a keyphrase: content-token Jaccard {red['within_mean']:.2f} vs "
         f"{red['across_mean']:.2f} for unrelated posts (all tokens: {red_all['within_mean']:.2f} vs "
         f"{red_all['across_mean']:.2f}). Training reads them with "
         f"`load_rationales({str(cache_path)!r}, posts)`.")
