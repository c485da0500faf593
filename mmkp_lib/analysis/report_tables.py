"""The analysis tables as the report pages show them: columns picked, renamed, ordered and rounded.

Each function takes a table of `mmkp_lib.analysis` and returns the DataFrame a notebook displays;
the numbers are not changed, only selected and rounded (F1 tables in points where they say so).

    from mmkp_lib import analysis as A
    A.paired_tests_table(tests)                     # a row per pair and group, in points
    A.cost_table(cost)                              # a row per run: reasoned share, think tokens, seconds
    A.overthinking_table(over); A.overthinking_examples(over)   # over = {label: overthinking(...)}
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd

from mmkp_lib.analysis.reasoning import cost_over_seeds
from mmkp_lib.analysis.runset import Run, display_label
from mmkp_lib.records import Post

COST_TABLE_COLUMNS = ["reasoned_share", "think_tokens", "think_tokens_when_reasoned", "generated_tokens",
                      "generation_s"]
COST_OVER_SEEDS_COLUMNS = ["n_seeds", "reasoned_share_mean", "think_tokens_mean", "think_tokens_sd",
                           "think_tokens_when_reasoned_mean", "generated_tokens_mean", "generation_s_mean",
                           "generation_s_sd"]
SWEEP_COLUMNS = ["f1@M_all", "f1@M_unseen", "think_tokens", "reasoned_share", "share_switched"]
OVERTHINKING_COUNT_NAMES = {"easy": "easy keyphrases", "cot_right": "found", "reference_right": "found by SFT",
                            "cot_wrong_reference_right": "missed, SFT found", "generalised": "more general predicted",
                            "generalised_reference_right": "more general, SFT found"}
OVERTHINKING_EXAMPLE_COLUMNS = ["model", "seed", "id", "gold", "kind", "cot_general", "cot_predicted",
                                "reference_right"]


def pair_names(tests: pd.DataFrame) -> list[str]:
    """'Dynamic CoT γ=0.4 − SFT' per paired_tests row: the difference each row measures (b minus a)."""
    return [f"{display_label(b)} − {display_label(a)}" for a, b in zip(tests["a"], tests["b"])]


def paired_tests_table(tests: pd.DataFrame) -> pd.DataFrame:
    """paired_tests indexed by (pair, group): both means, the difference and its interval in points, p."""
    shown = tests.assign(pair=pair_names(tests))
    return (shown.set_index(["pair", "group"])[["mean_a", "mean_b", "delta", "low", "high", "p_value"]]
            .mul([100, 100, 100, 100, 100, 1]).round(3))


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """reasoning_cost indexed by label, one row per run (one seed per label in notebooks 03 and 04)."""
    return cost[["label"] + COST_TABLE_COLUMNS].set_index("label").round(3)


def cost_over_seeds_table(cost: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """cost_over_seeds of `labels`, indexed by their display names."""
    t = cost_over_seeds(cost[cost["label"].isin(labels)])
    return t.assign(label=t["label"].map(display_label)).set_index("label")[COST_OVER_SEEDS_COLUMNS].round(4)


def sweep_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """gamma_sweep indexed by (gamma, seed): F1@M on all and unseen, think tokens, the shares reasoned and switched."""
    return sweep.set_index(["gamma", "seed"])[SWEEP_COLUMNS].round(3)


def shares_table(shares: pd.DataFrame) -> pd.DataFrame:
    """reasoning_shares averaged over seeds, per model, dimension and group: posts, reasoned, share."""
    return (shares.assign(model=shares["label"].map(display_label))
            .groupby(["model", "dimension", "group"], sort=False)[["posts", "reasoned", "share"]].mean().round(3))


def shares_by_group(shares: pd.DataFrame) -> pd.DataFrame:
    """reasoning_shares as a label x group (seen, unseen, present, absent) table of the share reasoned."""
    return shares.pivot_table(index="label", columns="group", values="share").round(3)


def overthinking_table(over: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """The overthinking counts of each reasoning label (over = {label: overthinking(tables, label, ...)}), per seed."""
    counts = pd.concat([c.assign(model=display_label(label)) for label, (c, _) in over.items()])
    return counts.set_index(["model", "seed"])[list(OVERTHINKING_COUNT_NAMES)].rename(columns=OVERTHINKING_COUNT_NAMES)


def overthinking_examples(over: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], n: int = 12) -> pd.DataFrame:
    """Up to n overthinking cases, "more general" ones first, then by model; empty when there is none."""
    examples = pd.concat([cases.assign(model=display_label(label)) for label, (_, cases) in over.items()],
                         ignore_index=True)
    if examples.empty:
        return examples
    examples = examples.sort_values(["kind", "model"], key=lambda s: s.map({"more general": 0, "wrong": 1})
                                    if s.name == "kind" else s)
    return examples[OVERTHINKING_EXAMPLE_COLUMNS].head(n).reset_index(drop=True)


def frequent_errors_table(errors: pd.DataFrame, labels: Iterable[str], width: int = 40) -> pd.DataFrame:
    """frequent_errors as rank x strategy cells 'prediction (count, seen)', predictions cut to `width` characters
    (degenerate outputs run long); strategies in the order of `labels`."""
    short = [p if len(p) <= width else p[:width - 1] + "…" for p in errors["prediction"]]
    cells = errors.assign(cell=[f"{p} ({c}{', seen' if s else ''})" for p, c, s in
                                zip(short, errors["count"], errors["seen"])])
    present = set(cells["label"])
    return (cells.pivot(index="rank", columns="label", values="cell")
            .reindex(columns=[label for label in labels if label in present])
            .rename(columns=display_label).fillna(""))


def sample_predictions(posts: Sequence[Post], runs: Sequence[Run], n: int = 6, first: str = "sft") -> pd.DataFrame:
    """The first n test posts that label `first` predicted: text, gold and each run's keyphrases, a column per label."""
    preds = {r.label: {p["id"]: "; ".join(p["keyphrases"]) for p in r.predictions} for r in runs}
    if first not in preds:
        raise KeyError(f"no run with label {first!r}; labels: {', '.join(preds)}")
    sample = [p for p in posts if p.id in preds[first]][:n]
    return pd.DataFrame([{"id": p.id, "text": p.text, "gold": "; ".join(p.keyphrases),
                          **{display_label(k): v.get(p.id, "") for k, v in preds.items()}} for p in sample])
