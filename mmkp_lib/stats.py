"""Bootstrap confidence intervals over posts, and a paired bootstrap test between two systems.

A resample draws n posts with replacement; every number of the evaluation
(any group, any metric, either variant) is recomputed on it from the per-post
counts of `mmkp_lib.metrics.score_posts`, a thousand resamples at a time as one
matrix product. Everything is seeded: the same seed gives the same interval.

    from mmkp_lib.metrics import score_posts
    from mmkp_lib.stats import bootstrap_ci, paired_bootstrap_test
    a = score_posts(gold, preds_a); b = score_posts(gold, preds_b)
    bootstrap_ci(a, "f1@M", group="absent")             # Interval(point=.., low=.., high=..)
    paired_bootstrap_test(a, b, "f1@1").p_value

The paired test resamples the same posts for both systems and asks how often
the resampled difference strays from the observed one by at least the observed
difference itself (the shifted-null paired bootstrap of Berg-Kirkpatrick et al.
2012, two-sided): identical systems give p = 1, a clearly better one p near 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from mmkp_lib.metrics import METRIC_NAMES, PostScores, aggregate_weighted

_CHUNK_CELLS = 4_000_000  # resamples x posts per weight matrix (32 MB of float64)


@dataclass(frozen=True)
class Interval:
    point: float  # the number on all posts
    low: float
    high: float
    confidence: float = 0.95


@dataclass(frozen=True)
class PairedTest:
    delta: float  # metric(b) - metric(a) on all posts
    p_value: float  # two-sided: chance of a difference at least this large if the systems were equal
    low: float  # bootstrap interval of the difference
    high: float
    n_boot: int


def resample_weights(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples as post counts, (chunk, n) arrays summing to n per row; deterministic by seed."""
    if n <= 0:
        raise ValueError("cannot bootstrap an evaluation with no posts")
    if n_boot <= 0:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        draws = rng.integers(0, n, size=(b, n))
        flat = (draws + np.arange(b)[:, None] * n).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def _check(group: str, metric: str, scores: PostScores) -> None:
    if group not in scores.groups:
        hint = " (seen/unseen need training keyphrases)" if group in ("seen", "unseen") else ""
        raise ValueError(f"no group {group!r} in these scores{hint}; have {', '.join(scores.groups)}")
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_NAMES)}")


def _point(scores: PostScores, variant: str) -> dict[str, dict[str, float]]:
    full = aggregate_weighted(scores, variant, np.ones((1, scores.n)))
    return {g: {m: float(v[0]) for m, v in ms.items()} for g, ms in full.items()}


def bootstrap_all(scores: PostScores, variant: str = "cmkp", n_boot: int = 1000, confidence: float = 0.95,
                  seed: int = 0) -> dict[str, dict[str, Interval]]:
    """Percentile intervals for every group and metric: {group: {metric: Interval}}."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    samples: dict[str, dict[str, list[np.ndarray]]] = {}
    for w in resample_weights(scores.n, n_boot, seed):
        for g, ms in aggregate_weighted(scores, variant, w).items():
            for m, v in ms.items():
                samples.setdefault(g, {}).setdefault(m, []).append(v)
    point = _point(scores, variant)
    tail = 100 * (1 - confidence) / 2
    out: dict[str, dict[str, Interval]] = {}
    for g, ms in samples.items():
        out[g] = {}
        for m, parts in ms.items():
            v = np.concatenate(parts)
            v = v[~np.isnan(v)]  # a resample may hold no post of a small group
            low, high = (np.percentile(v, [tail, 100 - tail]) if v.size else (np.nan, np.nan))
            out[g][m] = Interval(point[g][m], float(low), float(high), confidence)
    return out


def bootstrap_ci(scores: PostScores, metric: str = "f1@M", group: str = "all", variant: str = "cmkp",
                 n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of one number, e.g. `bootstrap_ci(s, "f1@1", group="unseen")`."""
    _check(group, metric, scores)
    return bootstrap_all(scores, variant, n_boot, confidence, seed)[group][metric]


def paired_bootstrap_test(scores_a: PostScores, scores_b: PostScores, metric: str = "f1@M", group: str = "all",
                          variant: str = "cmkp", n_boot: int = 1000, confidence: float = 0.95,
                          seed: int = 0) -> PairedTest:
    """Is system b's `metric` different from system a's on the same posts? Resamples posts jointly."""
    _check(group, metric, scores_a)
    _check(group, metric, scores_b)
    if scores_a.ids != scores_b.ids:
        raise ValueError("the two evaluations cover different posts (or a different order); "
                         "score both prediction files against the same gold set")
    delta = _point(scores_b, variant)[group][metric] - _point(scores_a, variant)[group][metric]
    diffs = []
    for w in resample_weights(scores_a.n, n_boot, seed):
        a = aggregate_weighted(scores_a, variant, w)[group][metric]
        b = aggregate_weighted(scores_b, variant, w)[group][metric]
        diffs.append(b - a)
    d = np.concatenate(diffs)
    d = d[~np.isnan(d)]
    # Shifted null: the resampled differences centred on 0 reach |delta| how often?
    extreme = int(np.sum(np.abs(d - delta) >= abs(delta) - 1e-12))
    p_value = (extreme + 1) / (d.size + 1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(d, [tail, 100 - tail]) if d.size else (np.nan, np.nan)
    return PairedTest(float(delta), float(min(1.0, p_value)), float(low), float(high), int(d.size))
