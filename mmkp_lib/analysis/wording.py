"""How the report writes a number in a sentence: a main-table cell, a paired difference, a comparison.

Notebooks 03, 04 and 05 build their answer paragraphs with these, so a number reads the same on every page.
All values are F1 fractions in the tables and F1 points (x 100) in the text.

    from mmkp_lib.analysis import main_table, paired_tests
    from mmkp_lib.analysis.wording import cell, delta, versus
    cell(table, "sft", "unseen")            # '41.2 ±1.3 [38.0, 44.5]' (± = sd over seeds, only with several)
    delta(tests, "sft", "cot", "unseen")    # '+3.1 points [+0.4, +5.9], p = 0.020' (cot minus sft)
    versus(tests, "sft", "cot", "all")      # '3.1 points above SFT, p = 0.020'
"""
from __future__ import annotations

import pandas as pd

from mmkp_lib.analysis.runset import display_label


def _one_row(df: pd.DataFrame, where: dict, what: str, built_by: str) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for column, value in where.items():
        if column not in df.columns:
            raise KeyError(f"{what}: the table lacks column {column!r}; build it with {built_by}")
        mask &= df[column] == value
    rows = df[mask]
    if rows.empty:
        wanted = ", ".join(f"{c}={v!r}" for c, v in where.items())
        raise KeyError(f"{what}: no row with {wanted}; build the table with {built_by} for these labels and groups")
    return rows.iloc[0]


def table_row(table: pd.DataFrame, label: str, group: str, metric: str = "f1@M") -> pd.Series:
    """The main_table row of one label, group and metric (a KeyError naming what is missing otherwise)."""
    return _one_row(table, {"label": label, "group": group, "metric": metric}, "main table", "main_table(...)")


def paired_row(tests: pd.DataFrame, a: str, b: str, group: str, metric: str = "f1@M") -> pd.Series:
    """The paired_tests row of b against a in one group and metric."""
    return _one_row(tests, {"a": a, "b": b, "group": group, "metric": metric}, "paired tests",
                    "paired_tests(runs, scores, pairs, ...)")


def cell(table: pd.DataFrame, label: str, group: str, metric: str = "f1@M") -> str:
    """'41.2 ±1.3 [38.0, 44.5]': seed mean, sd over seeds (several seeds only), 95% bootstrap interval, in points."""
    r = table_row(table, label, group, metric)
    sd = f" ±{100 * r['sd']:.1f}" if r["n_seeds"] > 1 else ""
    return f"{100 * r['mean']:.1f}{sd} [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def delta(tests: pd.DataFrame, a: str, b: str, group: str, metric: str = "f1@M") -> str:
    """'+3.1 points [+0.4, +5.9], p = 0.020' for label b minus label a: difference, its 95% interval, paired p."""
    t = paired_row(tests, a, b, group, metric)
    return (f"{100 * t['delta']:+.1f} points [{100 * t['low']:+.1f}, {100 * t['high']:+.1f}], "
            f"p = {t['p_value']:.3f}")


def versus(tests: pd.DataFrame, a: str, b: str, group: str, metric: str = "f1@M", p_name: str = "p") -> str:
    """'3.1 points above SFT, p = 0.020' (b against a, a named by its display label), or 'equal to SFT'."""
    t = paired_row(tests, a, b, group, metric)
    if t["delta"] == 0:
        return f"equal to {display_label(a)}"
    word = "above" if t["delta"] > 0 else "below"
    return f"{100 * abs(t['delta']):.1f} points {word} {display_label(a)}, {p_name} = {t['p_value']:.3f}"


def more_or_fewer(reduction: float, fewer: str = "fewer", more: str = "more") -> str:
    """'38.5% fewer' for a reduction of 0.385, '12.0% more' for -0.12 (a small gamma can make a model reason more)."""
    return f"{abs(100 * reduction):.1f}% {fewer if reduction >= 0 else more}"
