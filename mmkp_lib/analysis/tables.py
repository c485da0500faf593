"""Per-keyphrase and per-post tables of one or several runs, and the scores computed from them.

`build_tables(gold, runs, train)` makes four pandas DataFrames with the
evaluator's rules (`mmkp_lib.metrics`: lower-case, Porter stems, predictions
deduplicated and invalid ones dropped, targets deduplicated after stemming):

- `gold`: one row per test post and unique gold keyphrase: id, keyphrase,
  key (stemmed), present (its stems run contiguously in the post text), seen
  (its exact string is a training keyphrase), train_freq (training posts
  holding it), freq_bucket, role (from meta["synth"]["roles"] when the post
  has it), post_absent / post_unseen (the post has an absent / unseen target).
- `correctness`: `gold` once per run, with that run's predictions ("; "
  joined), matched (a prediction equals it after stemming) and match_rank.
- `predictions`: one row per run and cleaned prediction: rank, prediction,
  correct, matched_gold, present, and seen / train_freq / freq_bucket (a hit
  takes its target's values, a miss its own string's: the evaluator's rule).
- `posts`: one row per run and post: reasoned, think/generated tokens,
  generation seconds, how many targets were found, perfect (the cleaned
  predictions equal the targets as sets).

    from mmkp_lib.analysis import build_tables, group_scores
    t = build_tables(test_posts, runs, train_posts)
    group_scores(t, "freq_bucket")        # F1@M per training-frequency bucket, per run
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from mmkp_lib.analysis.runset import Run, check_runs
from mmkp_lib.metrics import align_predictions, clean_predictions, unique_targets
from mmkp_lib.normalize import Stemmer, default_stemmer
from mmkp_lib.overlap import keyphrase_counts
from mmkp_lib.records import Post

# Training-frequency buckets of a keyphrase (inclusive bounds, None = open); "0" is exactly the unseen ones.
FREQUENCY_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2-5", 2, 5), ("6-20", 6, 20), (">20", 21, None))
RUN_COLUMNS = ["run", "label", "strategy", "seed"]
# Columns `group_scores` can split by: defined for targets and for predictions alike.
SCORABLE = ("present", "seen", "freq_bucket")


def frequency_bucket(count: int, buckets=FREQUENCY_BUCKETS) -> str:
    """The bucket name of a training frequency: 0 -> "0", 3 -> "2-5", 40 -> ">20"."""
    for name, low, high in buckets:
        if count >= low and (high is None or count <= high):
            return name
    raise ValueError(f"training frequency {count} falls in no bucket of {buckets}")


def post_roles(post: Post) -> dict[str, str]:
    """keyphrase -> role ("topic", "object", "scene") from the embedded benchmark's meta; {} for other data."""
    synth = post.meta.get("synth") if isinstance(post.meta, dict) else None
    roles = (synth or {}).get("roles") if isinstance(synth, dict) else None
    return roles if isinstance(roles, dict) else {}


@dataclass
class Tables:
    gold: pd.DataFrame
    correctness: pd.DataFrame
    predictions: pd.DataFrame
    posts: pd.DataFrame
    buckets: tuple = FREQUENCY_BUCKETS

    @property
    def bucket_names(self) -> list[str]:
        return [b[0] for b in self.buckets]


def training_frequencies(train: Iterable[Post] | None) -> Counter | None:
    """Training posts per exact keyphrase string (the evaluator's seen test), None without training posts."""
    return None if train is None else keyphrase_counts(list(train))


def build_tables(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None,
                 stemmer: Stemmer | None = None, buckets=FREQUENCY_BUCKETS) -> Tables:
    """The four tables of the module docstring (seen, train_freq and freq_bucket are missing values without `train`)."""
    stemmer = stemmer or default_stemmer()
    runs = check_runs(runs)
    freq = training_frequencies(train)

    def seen_freq(s: str) -> tuple:
        if freq is None:
            return None, np.nan, None
        n = freq.get(s, 0)
        return n > 0, n, frequency_bucket(n, buckets)

    gold_rows, targets_of, text_keys = [], {}, {}
    for post in gold:
        targets = unique_targets(post.keyphrases, stemmer)
        text_key = stemmer.text_key(post.text)
        targets_of[post.id], text_keys[post.id] = targets, text_key
        roles = post_roles(post)
        rows = []
        for key, kp in targets.items():
            seen, n, bucket = seen_freq(kp)
            rows.append({"id": post.id, "keyphrase": kp, "key": key.strip(), "present": stemmer.is_present(key, text_key),
                         "seen": seen, "train_freq": n, "freq_bucket": bucket, "role": roles.get(kp)})
        post_absent = any(not r["present"] for r in rows)
        post_unseen = None if freq is None else any(not r["seen"] for r in rows)
        for r in rows:
            r.update(post_absent=post_absent, post_unseen=post_unseen)
        gold_rows += rows
    gold_df = pd.DataFrame(gold_rows, columns=["id", "keyphrase", "key", "present", "seen", "train_freq", "freq_bucket",
                                               "role", "post_absent", "post_unseen"])

    corr_rows, pred_rows, post_rows = [], [], []
    gold_by_id = {}
    for r in gold_rows:
        gold_by_id.setdefault(r["id"], []).append(r)
    for run in runs:
        meta = {"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed}
        records = {}
        for rec in run.predictions:
            records.setdefault(rec["id"], rec)
        preds = align_predictions(gold, {i: rec.get("keyphrases") or [] for i, rec in records.items()},
                                  source=run.path / "predictions.jsonl" if run.path else run.name)
        for post, pred_list in zip(gold, preds):
            targets = targets_of[post.id]
            cleaned = clean_predictions(pred_list, stemmer)
            rank_of = {k: i + 1 for i, k in enumerate(cleaned)}
            joined = "; ".join(cleaned.values())
            g_rows = gold_by_id.get(post.id, [])
            g_by_key = {" " + g["key"] + " ": g for g in g_rows}
            n_matched = 0
            for key, g in g_by_key.items():
                rank = rank_of.get(key)
                n_matched += rank is not None
                corr_rows.append({**meta, **g, "predicted": joined, "matched": rank is not None,
                                  "match_rank": rank if rank is not None else np.nan})
            for rank, (key, s) in enumerate(cleaned.items(), 1):
                hit = key in targets
                if hit:
                    g = g_by_key[key]
                    seen, n, bucket = g["seen"], g["train_freq"], g["freq_bucket"]
                else:
                    seen, n, bucket = seen_freq(s)
                pred_rows.append({**meta, "id": post.id, "rank": rank, "prediction": s, "key": key.strip(),
                                  "correct": hit, "matched_gold": targets[key] if hit else None,
                                  "present": stemmer.is_present(key, text_keys[post.id]),
                                  "seen": seen, "train_freq": n, "freq_bucket": bucket})
            rec = records[post.id]
            post_rows.append({**meta, "id": post.id, "n_targets": len(targets), "n_predictions": len(cleaned),
                              "n_matched": n_matched, "perfect": set(cleaned) == set(targets),
                              "post_absent": g_rows[0]["post_absent"] if g_rows else False,
                              "post_unseen": g_rows[0]["post_unseen"] if g_rows else (None if freq is None else False),
                              "reasoned": bool(rec.get("reasoned", False)),
                              "think_tokens": rec.get("think_tokens", np.nan),
                              "answer_tokens": rec.get("answer_tokens", np.nan),
                              "generated_tokens": rec.get("generated_tokens", np.nan),
                              "generation_s": rec.get("generation_s", np.nan)})
    corr_df = pd.DataFrame(corr_rows, columns=RUN_COLUMNS + list(gold_df.columns) + ["predicted", "matched", "match_rank"])
    pred_df = pd.DataFrame(pred_rows, columns=RUN_COLUMNS + ["id", "rank", "prediction", "key", "correct", "matched_gold",
                                                             "present", "seen", "train_freq", "freq_bucket"])
    post_df = pd.DataFrame(post_rows, columns=RUN_COLUMNS + [
        "id", "n_targets", "n_predictions", "n_matched", "perfect", "post_absent", "post_unseen", "reasoned",
        "think_tokens", "answer_tokens", "generated_tokens", "generation_s"])
    return Tables(gold_df, corr_df, pred_df, post_df, tuple(buckets))


def correctness_table(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None) -> pd.DataFrame:
    """One row per run x post x unique gold keyphrase (see the module docstring)."""
    return build_tables(gold, runs, train).correctness


# ---------------------------------------------------------------- scores per group

def group_scores(tables: Tables, column: str, k: int | str = "M") -> pd.DataFrame:
    """P@k, R@k and F1@k per run and value of `column`, with the evaluator's (CMKP) rules.

    For each value v: a post counts when it has a target with v; its P is the
    hits among its first k predictions with v over min(k, #predictions with v)
    (0 with none), its R those hits over its targets with v; P and R are
    averaged over the counted posts and F1 is their harmonic mean. With
    column="present" the False row is the evaluator's "absent" score; with
    "seen" the False row is "unseen"; "freq_bucket" gives F1 per training
    frequency (bucket "0" equals "unseen").
    """
    if column not in SCORABLE:
        raise ValueError(f"cannot score by {column!r}: predictions only carry {', '.join(SCORABLE)} "
                         "(use recall_by for target-only columns such as 'role')")
    if k != "M" and not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be 'M' (all predictions) or an integer >= 1, got {k!r}")
    corr, preds = tables.correctness, tables.predictions
    if corr[column].isna().all() and len(corr):
        raise ValueError(f"column {column!r} is empty: seen/unseen and frequency need the training posts")
    keys = ["run", "id", column]
    targets = corr.groupby(keys, dropna=False).size().rename("n_target")
    p = preds.sort_values(["run", "id", "rank"])
    p = p.assign(group_rank=p.groupby(keys, dropna=False).cumcount())
    within = p if k == "M" else p[p["group_rank"] < k]
    hits = within.groupby(keys, dropna=False)["correct"].sum().rename("hits")
    n_pred = p.groupby(keys, dropna=False).size().rename("n_pred")
    df = pd.concat([targets, hits, n_pred], axis=1).fillna(0).reset_index()
    df = df[df["n_target"] > 0]
    shown = df["n_pred"] if k == "M" else np.minimum(k, df["n_pred"])
    df["p"] = np.where(shown > 0, df["hits"] / shown.where(shown > 0, 1), 0.0)
    df["r"] = df["hits"] / df["n_target"]
    out = df.groupby(["run", column]).agg(posts=("id", "size"), targets=("n_target", "sum"), hits=("hits", "sum"),
                                          precision=("p", "mean"), recall=("r", "mean")).reset_index()
    denom = out["precision"] + out["recall"]
    out["f1"] = np.where(denom > 0, 2 * out["precision"] * out["recall"] / denom.where(denom > 0, 1), 0.0)
    out["k"] = str(k)
    runs = corr[RUN_COLUMNS].drop_duplicates("run")
    out = runs.merge(out, on="run")
    if column == "freq_bucket":
        out[column] = pd.Categorical(out[column], categories=tables.bucket_names, ordered=True)
    order = {r: i for i, r in enumerate(runs["run"])}
    return out.sort_values(["run", column], key=lambda s: s.map(order) if s.name == "run" else s).reset_index(drop=True)


def f1_by_bucket(tables: Tables, k: int | str = "M", labels: Iterable[str] | None = None) -> pd.DataFrame:
    """F1@k per run and training-frequency bucket of the gold keyphrase (0 = unseen, 1, 2-5, 6-20, >20);
    only the runs of `labels` when given."""
    out = group_scores(tables, "freq_bucket", k)
    return out if labels is None else out[out["label"].isin(list(labels))]


def recall_by(tables: Tables, column: str = "role") -> pd.DataFrame:
    """Share of gold keyphrases found (any rank) per run and value of a target column, e.g. role or present."""
    corr = tables.correctness
    if column not in corr.columns:
        raise ValueError(f"no column {column!r}; have {', '.join(corr.columns)}")
    out = (corr.groupby(RUN_COLUMNS + [column], dropna=False, sort=False)
           .agg(targets=("matched", "size"), found=("matched", "sum")).reset_index())
    out["recall"] = out["found"] / out["targets"]
    return out


def over_seeds(df: pd.DataFrame, values: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Mean, sample sd (NaN for one seed), min and max of `values` over the runs of each `by` group, with n_seeds."""
    grouped = df.groupby(list(by), sort=False, observed=True)
    parts = [grouped.size().rename("n_seeds")]
    for v in values:
        parts += [grouped[v].mean().rename(f"{v}_mean"), grouped[v].std(ddof=1).rename(f"{v}_sd"),
                  grouped[v].min().rename(f"{v}_min"), grouped[v].max().rename(f"{v}_max")]
    return pd.concat(parts, axis=1).reset_index()


# ---------------------------------------------------------------- errors

def frequent_errors(tables: Tables, top: int = 10, by: str = "label", labels: Iterable[str] | None = None
                    ) -> pd.DataFrame:
    """The most frequent wrong predictions per `by` ("label" pools the seeds, "run" keeps them apart), of the
    runs of `labels` when given.

    Wrong predictions are grouped by their stemmed key and shown by their most
    common string; count = how often predicted wrongly, share = of all wrong
    predictions of that group, posts_share = of the group's posts x runs;
    seen = the string is a training keyphrase.
    """
    preds = tables.predictions
    wrong = preds[~preds["correct"].astype(bool)]
    n_wrong = wrong.groupby(by, sort=False).size()
    n_posts = tables.posts.groupby(by, sort=False).size()
    rows = []
    for group, g in wrong.groupby(by, sort=False):
        counts = g.groupby("key").agg(count=("prediction", "size"),
                                      prediction=("prediction", lambda s: s.value_counts().index[0]),
                                      seen=("seen", "first"), train_freq=("train_freq", "first"))
        counts = counts.sort_values(["count", "prediction"], ascending=[False, True]).head(top).reset_index()
        for i, r in enumerate(counts.itertuples(index=False), 1):
            rows.append({by: group, "rank": i, "prediction": r.prediction, "count": int(r.count),
                         "share": r.count / n_wrong[group], "posts_share": r.count / n_posts[group],
                         "seen": r.seen, "train_freq": r.train_freq})
    out = pd.DataFrame(rows, columns=[by, "rank", "prediction", "count", "share", "posts_share", "seen", "train_freq"])
    if labels is None:
        return out
    keep = set(labels) if by == "label" else set(tables.posts[tables.posts["label"].isin(list(labels))]["run"])
    return out[out[by].isin(keep)]
