"""Overthinking: on easy keyphrases (present in the post text), does reasoning make the model less precise?

Definitions (on stemmed tokens, the evaluator's normalisation):

- An *easy* target is a gold keyphrase present in its post's text.
- A prediction is *more general* than a gold keyphrase when its stemmed
  tokens are a proper, non-empty suffix of the gold's: gold "vintage bicycle",
  prediction "bicycle" (English puts a phrase's head last, so dropping
  leading modifiers generalises it). `mode="subset"` loosens this to any
  proper non-empty subset of the gold's tokens ("vintage" counts too).
- The reasoning run *generalises* an easy target when none of its
  predictions matches the target and one of them is more general than it.

For each pair (reasoning run, reference run, e.g. Fine-tune-CoT vs SFT on the
same seed) the counts are: easy targets; found by each run; wrong where the
reference is right; generalised; generalised where the reference is right.

    from mmkp_lib.analysis import overthinking
    counts, cases = overthinking(tables, cot="cot", reference="sft")
"""
from __future__ import annotations

import pandas as pd

from mmkp_lib.analysis.tables import Tables

MODES = ("suffix", "subset")


def is_more_general(prediction_key: str, gold_key: str, mode: str = "suffix") -> bool:
    """Is the prediction more general than the gold keyphrase? Both given as stemmed keys ("vintag bicycl").

    >>> is_more_general("bicycl", "vintag bicycl"), is_more_general("vintag", "vintag bicycl")
    (True, False)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    p, g = prediction_key.split(), gold_key.split()
    if not p or len(p) >= len(g):
        return False
    if mode == "suffix":
        return g[-len(p):] == p
    return set(p) < set(g)


COUNT_COLUMNS = ["easy", "cot_right", "reference_right", "cot_wrong_reference_right", "generalised",
                 "generalised_reference_right"]


def _pair(tables: Tables, cot_run: str, ref_run: str, mode: str) -> tuple[dict, pd.DataFrame]:
    corr = tables.correctness
    easy = corr[(corr["run"] == cot_run) & corr["present"].astype(bool)]
    ref = corr[corr["run"] == ref_run].set_index(["id", "key"])["matched"]
    preds = tables.predictions[tables.predictions["run"] == cot_run]
    keys_by_post = {i: list(zip(g["key"], g["prediction"])) for i, g in preds.groupby("id", sort=False)}
    counts = dict.fromkeys(COUNT_COLUMNS, 0)
    cases = []
    for r in easy.itertuples(index=False):
        ref_right = bool(ref.get((r.id, r.key), False))
        general = ([s for k, s in keys_by_post.get(r.id, []) if is_more_general(k, r.key, mode)]
                   if not r.matched else [])
        counts["easy"] += 1
        counts["cot_right"] += bool(r.matched)
        counts["reference_right"] += ref_right
        counts["cot_wrong_reference_right"] += (not r.matched) and ref_right
        counts["generalised"] += bool(general)
        counts["generalised_reference_right"] += bool(general) and ref_right
        if not r.matched and (general or ref_right):
            cases.append({"id": r.id, "gold": r.keyphrase, "kind": "more general" if general else "wrong",
                          "cot_general": "; ".join(general) or None, "cot_predicted": r.predicted,
                          "reference_right": ref_right, "seen": r.seen, "role": r.role})
    return counts, pd.DataFrame(cases, columns=["id", "gold", "kind", "cot_general", "cot_predicted",
                                                "reference_right", "seen", "role"])


def overthinking(tables: Tables, cot: str = "cot", reference: str = "sft", mode: str = "suffix"
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Overthinking counts and cases of label `cot` against label `reference`, paired by seed.

    Returns (counts, cases): counts has a row per seed pair (cot_run, reference_run,
    seed and the COUNT_COLUMNS, plus generalised_share = generalised / easy and
    wrong_reference_right_share = cot_wrong_reference_right / easy); cases has a
    row per easy target the reasoning run missed while generalising it or while
    the reference found it (kind "more general" or "wrong"), with the reasoning
    run's general prediction(s) and all its predictions. A seed without a
    partner in the other label is left out; no common seed at all is an error.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    runs = tables.posts[["run", "label", "seed"]].drop_duplicates("run")
    cot_runs = runs[runs["label"] == cot]
    ref_runs = runs[runs["label"] == reference]
    for name, found in ((cot, cot_runs), (reference, ref_runs)):
        if found.empty:
            raise KeyError(f"no runs with label {name!r}; labels: {', '.join(runs['label'].unique())}")
    pairs = cot_runs.merge(ref_runs, on="seed", suffixes=("_cot", "_ref"))
    if pairs.empty:
        raise ValueError(f"labels {cot!r} (seeds {sorted(cot_runs['seed'].tolist())}) and {reference!r} "
                         f"(seeds {sorted(ref_runs['seed'].tolist())}) share no seed to pair runs by")
    count_rows, case_parts = [], []
    for p in pairs.itertuples(index=False):
        counts, cases = _pair(tables, p.run_cot, p.run_ref, mode)
        count_rows.append({"cot_run": p.run_cot, "reference_run": p.run_ref, "seed": p.seed, **counts})
        case_parts.append(cases.assign(cot_run=p.run_cot, reference_run=p.run_ref, seed=p.seed))
    counts = pd.DataFrame(count_rows)
    easy = counts["easy"].where(counts["easy"] > 0)
    counts["generalised_share"] = counts["generalised"] / easy
    counts["wrong_reference_right_share"] = counts["cot_wrong_reference_right"] / easy
    cases = pd.concat(case_parts, ignore_index=True)
    front = ["cot_run", "reference_run", "seed"]
    return counts, cases[front + [c for c in cases.columns if c not in front]]
