"""The main results table: F1@1 and F1@M on all / absent / unseen / seen, a row per strategy, averaged over seeds.

Each cell is the mean over a label's seeds (runs named "<label>-seed<k>")
with its 95% bootstrap interval over test posts and the spread over seeds
(sd, min, max). The interval resamples posts once per bootstrap draw and
applies the same draw to every seed, so it is the interval of the seed mean
and, for one seed, exactly `mmkp_lib.stats.bootstrap_ci`. The paired test
between two labels works the same way on the difference of their seed means
and, for one seed each, equals `mmkp_lib.stats.paired_bootstrap_test`.

    from mmkp_lib.analysis import score_runs, main_table, main_table_wide, paired_tests
    scores = score_runs(test_posts, runs, train_posts)
    table = main_table(runs, scores)                  # tidy: label, group, metric, mean, low, high, sd ...
    main_table_wide(table)                            # the paper's layout, in percent
    paired_tests(runs, scores, [("sft", "dyncot"), ("cot", "dyncot")])
"""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from mmkp_lib.analysis.runset import Run, by_label, check_runs, display_label
from mmkp_lib.metrics import PostScores, aggregate_weighted, group_sizes, score_posts
from mmkp_lib.records import Post
from mmkp_lib.stats import resample_weights

MAIN_GROUPS = ("all", "absent", "unseen", "seen")
MAIN_METRICS = ("f1@1", "f1@M")


def score_runs(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None) -> dict[str, PostScores]:
    """{run name: the evaluator's per-post counts} (seen/unseen groups only with training posts)."""
    train = list(train) if train is not None else None
    out = {}
    for run in check_runs(runs):
        preds = {r["id"]: r.get("keyphrases") or [] for r in run.predictions}
        out[run.name] = score_posts(gold, preds, train_keyphrases=train,
                                    source=(run.path / "predictions.jsonl") if run.path else run.name)
    return out


def _check_same_posts(scores: Sequence[PostScores], what: str) -> None:
    ids = scores[0].ids
    for s in scores[1:]:
        if s.ids != ids:
            raise ValueError(f"{what}: the runs were scored on different posts (or orders); score every run "
                             "against the same gold set")


def _point(scores: PostScores, variant: str) -> dict[str, dict[str, float]]:
    full = aggregate_weighted(scores, variant, np.ones((1, scores.n)))
    return {g: {m: float(v[0]) for m, v in ms.items()} for g, ms in full.items()}


def _seed_mean_draws(scores: Sequence[PostScores], variant: str, n_boot: int, seed: int
                     ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """Per chunk of bootstrap draws: {group: {metric: (b,) mean over the seeds}}, every seed on the same draw."""
    for w in resample_weights(scores[0].n, n_boot, seed):
        per_seed = [aggregate_weighted(s, variant, w) for s in scores]
        yield {g: {m: np.mean([p[g][m] for p in per_seed], axis=0) for m in ms} for g, ms in per_seed[0].items()}


def _percentiles(v: np.ndarray, confidence: float) -> tuple[float, float]:
    v = v[~np.isnan(v)]  # a draw may hold no post of a small group
    if not v.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(v, [tail, 100 - tail])
    return float(low), float(high)


def main_table(runs: Sequence[Run], scores: Mapping[str, PostScores], groups: Sequence[str] = MAIN_GROUPS,
               metrics: Sequence[str] = MAIN_METRICS, variant: str = "cmkp", n_boot: int = 1000,
               confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Tidy main table: one row per label x group x metric.

    Columns: label, display, strategy, group, metric, mean (over seeds), low /
    high (bootstrap interval of the seed mean over posts), sd / min / max over
    seeds (sd NaN for one seed), n_seeds, seeds, runs, posts (in the group).
    Groups missing from the scores (seen/unseen without training posts) are skipped.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rows = []
    for label, members in by_label(check_runs(runs)).items():
        missing = [r.name for r in members if r.name not in scores]
        if missing:
            raise KeyError(f"no scores for run {missing[0]!r}; build them with score_runs(gold, runs, train)")
        sc = [scores[r.name] for r in members]
        _check_same_posts(sc, f"label {label!r}")
        present = [g for g in groups if g in sc[0].groups]
        points = [_point(s, variant) for s in sc]
        draws: dict[tuple[str, str], list[np.ndarray]] = {(g, m): [] for g in present for m in metrics}
        for chunk in _seed_mean_draws(sc, variant, n_boot, seed):
            for g, m in draws:
                draws[(g, m)].append(chunk[g][m])
        sizes = group_sizes(sc[0])
        for g in present:
            for m in metrics:
                values = np.array([p[g][m] for p in points])
                low, high = _percentiles(np.concatenate(draws[(g, m)]), confidence)
                rows.append({"label": label, "display": display_label(label), "strategy": members[0].strategy,
                             "group": g, "metric": m, "mean": float(np.mean(values)), "low": low, "high": high,
                             "sd": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
                             "min": float(values.min()), "max": float(values.max()), "n_seeds": len(members),
                             "seeds": [r.seed for r in members], "runs": [r.name for r in members],
                             "posts": sizes[g]})
    return pd.DataFrame(rows)


def main_table_wide(table: pd.DataFrame, percent: bool = True, digits: int = 1, spread: bool = True) -> pd.DataFrame:
    """The paper's layout: a row per strategy, columns (group, metric); cells "mean ±sd [low, high]".

    ±sd (over seeds) is shown only where a label has several seeds and `spread` is set.
    """
    scale = 100.0 if percent else 1.0

    def cell(r) -> str:
        if np.isnan(r["mean"]):
            return "-"
        text = f"{scale * r['mean']:.{digits}f}"
        if spread and r["n_seeds"] > 1:
            text += f" ±{scale * r['sd']:.{digits}f}"
        if not np.isnan(r["low"]):
            text += f" [{scale * r['low']:.{digits}f}, {scale * r['high']:.{digits}f}]"
        return text

    t = table.assign(cell=table.apply(cell, axis=1))
    labels = list(dict.fromkeys(t["display"]))
    groups = list(dict.fromkeys(t["group"]))
    metrics = list(dict.fromkeys(t["metric"]))
    wide = t.pivot(index="display", columns=["group", "metric"], values="cell")
    cols = [(g, m) for g in groups for m in metrics if (g, m) in wide.columns]
    wide = wide.reindex(index=labels, columns=pd.MultiIndex.from_tuples(cols, names=["group", "metric"]))
    wide.index.name = "strategy"
    return wide


def _paired(runs: Sequence[Run], scores: Mapping[str, PostScores], a: str, b: str,
            cells: Sequence[tuple[str, str]], variant: str, n_boot: int, confidence: float, seed: int) -> list[dict]:
    """paired_test for several (group, metric) cells of one pair, from one pass over the bootstrap draws."""
    groups = by_label(check_runs(runs))
    for name in (a, b):
        if name not in groups:
            raise KeyError(f"no runs with label {name!r}; labels: {', '.join(groups)}")
    sa = [scores[r.name] for r in groups[a]]
    sb = [scores[r.name] for r in groups[b]]
    _check_same_posts(sa + sb, f"{a} vs {b}")
    for g, m in cells:
        if g not in sa[0].groups:
            raise ValueError(f"no group {g!r} in these scores; have {', '.join(sa[0].groups)}")
    pa = [_point(s, variant) for s in sa]
    pb = [_point(s, variant) for s in sb]
    diffs: dict[tuple[str, str], list[np.ndarray]] = {c: [] for c in cells}
    for da, db in zip(_seed_mean_draws(sa, variant, n_boot, seed), _seed_mean_draws(sb, variant, n_boot, seed)):
        for g, m in cells:
            diffs[(g, m)].append(db[g][m] - da[g][m])
    out = []
    for g, m in cells:
        mean_a = float(np.mean([p[g][m] for p in pa]))
        mean_b = float(np.mean([p[g][m] for p in pb]))
        delta = mean_b - mean_a
        d = np.concatenate(diffs[(g, m)])
        d = d[~np.isnan(d)]
        # The shifted null of stats.paired_bootstrap_test: how often do draws centred on 0 reach |delta|?
        extreme = int(np.sum(np.abs(d - delta) >= abs(delta) - 1e-12))
        low, high = _percentiles(d, confidence)
        out.append({"a": a, "b": b, "group": g, "metric": m, "mean_a": mean_a, "mean_b": mean_b, "delta": delta,
                    "low": low, "high": high, "p_value": min(1.0, (extreme + 1) / (d.size + 1)),
                    "n_boot": int(d.size), "seeds_a": len(sa), "seeds_b": len(sb)})
    return out


def paired_test(runs: Sequence[Run], scores: Mapping[str, PostScores], a: str, b: str, metric: str = "f1@M",
                group: str = "all", variant: str = "cmkp", n_boot: int = 1000, confidence: float = 0.95,
                seed: int = 0) -> dict:
    """Is label b's seed-mean `metric` different from label a's? Paired bootstrap over posts, two-sided.

    Returns {a, b, group, metric, mean_a, mean_b, delta (b - a), low, high (interval of delta), p_value, n_boot,
    seeds_a, seeds_b}; p_value is the shifted-null p of `mmkp_lib.stats.paired_bootstrap_test`.
    """
    return _paired(runs, scores, a, b, [(group, metric)], variant, n_boot, confidence, seed)[0]


def paired_tests(runs: Sequence[Run], scores: Mapping[str, PostScores], pairs: Sequence[tuple[str, str]],
                 groups: Sequence[str] = MAIN_GROUPS, metrics: Sequence[str] = MAIN_METRICS, variant: str = "cmkp",
                 n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """`paired_test` for each (a, b) pair, group and metric (groups absent from the scores skipped), as a DataFrame."""
    first = next(iter(scores.values()))
    cells = [(g, m) for g in groups if g in first.groups for m in metrics]
    rows = [row for a, b in pairs for row in _paired(runs, scores, a, b, cells, variant, n_boot, confidence, seed)]
    return pd.DataFrame(rows)
