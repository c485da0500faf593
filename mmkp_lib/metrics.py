"""Keyphrase metrics, compatible with the MMKP evaluation of the CMKP code (Wang et al. 2020).

    mmkp evaluate --gold data/synth/test.jsonl --pred runs/sft/predictions.jsonl --train data/synth/train.jsonl

    from mmkp_lib.metrics import evaluate
    result = evaluate(gold_posts, {"test-000000": ["red circle", "beach"], ...}, train_keyphrases=train_posts)
    result["all"]["f1@M"], result["absent"]["r@5"], result["unseen"]["f1@1"]

The rules (CMKP's, which later MMKP papers reuse unchanged):

- Every text, target and prediction is lower-cased, split on whitespace and
  Porter-stemmed (`mmkp_lib.normalize`). Two keyphrases match when their stemmed
  token sequences are equal.
- Predictions keep the model's order; a prediction is dropped when it repeats an
  earlier one after stemming, or is invalid: empty, or holding a `,`, `.` or
  `<unk>` token. Targets are deduplicated after stemming.
- Per post and cut-off k: P@k = matches among the first k predictions /
  min(k, #predictions); R@k = the same matches / #unique targets; both 0 with no
  predictions. k is 1, 3, 5, M (all predictions) or O (as many as the post has
  targets).
- F1@k is the harmonic mean of the macro-averaged P@k and macro-averaged R@k
  (not the mean of per-post F1). MAP@5 is the mean over posts of
  sum_{i<=5, prediction i correct} P@i / #unique targets.
- Present/absent: a keyphrase is present when its stemmed tokens occur as a
  contiguous run in the stemmed post text. The present (absent) scores keep only
  present (absent) targets and predictions and average only over posts with at
  least one present (absent) target.
- Seen/unseen (given training keyphrases): a target is seen when its keyphrase
  string occurs among the training keyphrases. A prediction that matches a
  target belongs to that target's group (so a hit is never split from its
  target); any other prediction is seen when its string occurs in training.
  Scores are computed like the absent ones over posts with a seen (unseen) target.

Variant "aimkp" (the AimKP code's numbers, used by published VLM work): per-post
P@k = matches / k (a short prediction list is padded with wrong ones; k = all
predictions for M, #targets for O), F1@k = the mean of per-post F1, and
MAP@5 = mean over posts of (sum_{i<=L} P@i) / L with L = min(5, #predictions).
Both variants share the normalisation, filtering and grouping above.

The work is split in two: `score_posts` reduces each post to a few counts
(the only per-post Python loop), and `aggregate` / `aggregate_weighted` turn the
counts into numbers with numpy, for one evaluation or for a thousand bootstrap
resamples at once (`mmkp_lib.stats`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from mmkp_lib.normalize import EMPTY_KEY, Stemmer, default_stemmer
from mmkp_lib.records import BadRecords, DataError, Post, check_keyphrases, read_lines_utf8

K_CUTOFFS = ("1", "3", "5", "M", "O")
GROUPS = ("all", "present", "absent", "seen", "unseen")
VARIANTS = ("cmkp", "aimkp")
# Tokens that make a prediction invalid (CMKP: `<unk>` from the decoder, punctuation tokens).
INVALID_TOKENS = frozenset({",", ".", "<unk>"})
# The metric names of every group, in the order of the JSON output.
METRIC_NAMES = tuple([f"f1@{k}" for k in K_CUTOFFS]
                     + [name for k in K_CUTOFFS for name in (f"p@{k}", f"r@{k}")] + ["map@5"])
_N_HITS = 5  # match flags kept per post: enough for the 1, 3, 5 cut-offs and MAP@5


# ---------------------------------------------------------------- normalising one post's lists

def is_valid_prediction(key: str) -> bool:
    """A prediction key is valid unless empty or holding a `,`, `.` or `<unk>` token."""
    return key != EMPTY_KEY and not any(f" {t} " in key for t in INVALID_TOKENS)


def clean_predictions(keyphrases: Iterable[str], stemmer: Stemmer) -> dict[str, str]:
    """Prediction keys in model order without invalid ones and repeats -> the string of each.

    >>> list(clean_predictions(["Cats", "cat", "", "a , b", "dogs"], Stemmer()))
    [' cat ', ' dog ']
    """
    cleaned: dict[str, str] = {}
    for kp in keyphrases:
        k = stemmer.key(kp)
        if k not in cleaned and is_valid_prediction(k):
            cleaned[k] = kp.strip()
    return cleaned


def unique_targets(keyphrases: Iterable[str], stemmer: Stemmer) -> dict[str, str]:
    """Target keys without repeats (first kept) -> the string of each kept one."""
    targets: dict[str, str] = {}
    for kp in keyphrases:
        targets.setdefault(stemmer.key(kp), kp.strip())
    return targets


# ---------------------------------------------------------------- per-post counts

# Columns of a group's per-post count table, one row per post.
_COLUMNS = ("n_pred", "n_target", "hit1", "hit2", "hit3", "hit4", "hit5", "matches_all", "matches_o")
_PAD = [(False,) * (_N_HITS - i) for i in range(_N_HITS + 1)]


def _count_row(flags: list[bool], n_target: int) -> tuple:
    """One post's counts for one group, given the match flag of each prediction in order."""
    head = flags[:_N_HITS]
    return (len(flags), n_target, *head, *_PAD[len(head)], sum(flags), sum(flags[:n_target]))


@dataclass
class GroupCounts:
    """What the metrics of one group (all, present, ...) need from each post, as arrays over posts."""

    included: np.ndarray  # (n,) bool: the post counts in this group's averages
    n_pred: np.ndarray  # (n,) int: cleaned predictions in the group
    n_target: np.ndarray  # (n,) int: unique targets in the group
    hits: np.ndarray  # (n, 5) bool: whether each of the first five predictions matches a target
    matches_all: np.ndarray  # (n,) int: matches among all predictions (cut-off M)
    matches_o: np.ndarray  # (n,) int: matches among the first n_target predictions (cut-off O)

    @classmethod
    def from_rows(cls, rows: list[tuple], everyone: bool) -> "GroupCounts":
        """From `_count_row` rows; posts are included when they have a target in the group, or all if `everyone`."""
        table = np.array(rows, dtype=np.int64).reshape(-1, len(_COLUMNS))
        n_target = table[:, 1]
        return cls(included=np.ones(len(table), dtype=bool) if everyone else n_target > 0,
                   n_pred=table[:, 0], n_target=n_target, hits=table[:, 2:7].astype(bool),
                   matches_all=table[:, 7], matches_o=table[:, 8])


@dataclass
class PostScores:
    """Per-post counts of an evaluation; `aggregate` turns them into the reported numbers."""

    ids: list[str]
    groups: dict[str, GroupCounts]  # "seen"/"unseen" only when training keyphrases were given

    @property
    def n(self) -> int:
        return len(self.ids)


def training_keyphrase_set(train: Iterable[str] | Iterable[Post]) -> frozenset[str]:
    """The set of training keyphrase strings, from strings or from training Posts."""
    out: set[str] = set()
    for item in train:
        if isinstance(item, Post):
            out.update(k.strip() for k in item.keyphrases)
        else:
            out.add(item.strip())
    return frozenset(out)


def score_posts(gold: Sequence[Post], predictions: Mapping[str, Sequence[str]] | Sequence[Sequence[str]],
                train_keyphrases: Iterable[str] | Iterable[Post] | None = None,
                stemmer: Stemmer | None = None, source: str | os.PathLike | None = None) -> PostScores:
    """Reduce every post to the counts the metrics need (the only per-post loop of an evaluation).

    `predictions` maps post id -> keyphrases in model order, or is a list aligned
    with `gold`; ids or lengths that do not match raise `DataError` (naming
    `source` when given) saying how many are missing and extra.
    """
    stemmer = stemmer or default_stemmer()
    preds = align_predictions(gold, predictions, source)
    train = training_keyphrase_set(train_keyphrases) if train_keyphrases is not None else None
    rows: dict[str, list[tuple]] = {g: [] for g in (GROUPS if train is not None else GROUPS[:3])}

    for post, pred_list in zip(gold, preds):
        targets = unique_targets(post.keyphrases, stemmer)  # key -> string
        cleaned = clean_predictions(pred_list, stemmer)  # key -> string, in model order
        text_key = stemmer.masked_text_key(post.text, stemmer.prefixes([*targets, *cleaned]))
        flags = [k in targets for k in cleaned]
        rows["all"].append(_count_row(flags, len(targets)))

        # An empty key never occurs in a text key (single spaces only), so `in` is the presence test.
        t_present = [k in text_key for k in targets]
        p_present = [k in text_key for k in cleaned]
        _split_rows(rows["present"], rows["absent"], flags, t_present, p_present)

        if train is not None:
            t_seen = {k: s in train for k, s in targets.items()}
            # A hit joins its target's group; a miss is judged by its own string.
            p_seen = [t_seen[k] if hit else s in train for (k, s), hit in zip(cleaned.items(), flags)]
            _split_rows(rows["seen"], rows["unseen"], flags, list(t_seen.values()), p_seen)

    groups = {g: GroupCounts.from_rows(r, everyone=(g == "all")) for g, r in rows.items()}
    return PostScores(ids=[p.id for p in gold], groups=groups)


def _split_rows(yes: list, no: list, flags: list[bool], t_in: list[bool], p_in: list[bool]) -> None:
    """Add one post's rows to a pair of complementary groups (present/absent, seen/unseen)."""
    n_yes = sum(t_in)
    yes.append(_count_row([f for f, inside in zip(flags, p_in) if inside], n_yes))
    no.append(_count_row([f for f, inside in zip(flags, p_in) if not inside], len(t_in) - n_yes))


# ---------------------------------------------------------------- aggregation (vectorised)

def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _harmonic(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """2pr / (p + r), 0 where both are 0 (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * p * r / (p + r)
    return np.where((p + r) == 0, 0.0, f)


def per_post_values(counts: GroupCounts, variant: str = "cmkp") -> dict[str, np.ndarray]:
    """Per-post P@k, R@k, per-post F1@k and AP@5 of one group, each an (n,) array.

    (For posts outside the group the values are meaningless; `counts.included` says which.)
    """
    _check_variant(variant)
    cum = np.cumsum(counts.hits, axis=1)  # (n, 5): matches among the first 1..5 predictions
    n_pred, n_target = counts.n_pred, counts.n_target
    matches = {"1": cum[:, 0], "3": cum[:, 2], "5": cum[:, 4], "M": counts.matches_all, "O": counts.matches_o}
    k_of = {"1": 1, "3": 3, "5": 5, "M": n_pred, "O": n_target}
    out: dict[str, np.ndarray] = {}
    for k in K_CUTOFFS:
        if variant == "cmkp":
            shown = np.minimum(k_of[k], n_pred)  # predictions actually inside the cut-off
        else:
            shown = np.broadcast_to(k_of[k], n_pred.shape)  # AimKP pads a short list with wrong ones
        p = _div(matches[k], shown)
        r = _div(matches[k], n_target)
        out[f"p@{k}"], out[f"r@{k}"], out[f"f1@{k}"] = p, r, _harmonic(p, r)

    rank = np.arange(1, _N_HITS + 1)
    precision_at_rank = cum / rank  # (n, 5): P@i for i = 1..5
    if variant == "cmkp":
        # Sum of P@i at the correct ranks, over #targets (hits beyond the list are False).
        out["map@5"] = _div((precision_at_rank * counts.hits).sum(axis=1), n_target)
    else:
        # AimKP: mean of P@i over the first L = min(5, #predictions) ranks.
        length = np.minimum(n_pred, _N_HITS)
        within = rank[None, :] <= length[:, None]
        out["map@5"] = _div((precision_at_rank * within).sum(axis=1), length)
    return out


def aggregate_weighted(scores: PostScores, variant: str, weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Every group's numbers under post weights: weights (b, n) -> {group: {metric: (b,) array}}.

    One row of ones is the plain evaluation; rows of bootstrap counts are
    resamples. A group with no (weighted) posts gives NaN.
    """
    _check_variant(variant)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if weights.shape[1] != scores.n:
        raise ValueError(f"weights have {weights.shape[1]} columns, the scores {scores.n} posts")
    result = {}
    for group, counts in scores.groups.items():
        values = per_post_values(counts, variant)
        names = list(values)
        table = np.stack([values[m] for m in names], axis=1)  # (n, metrics)
        w = weights * counts.included  # (b, n): posts outside the group weigh 0
        total = w.sum(axis=1)  # (b,)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (w @ table) / total[:, None]  # (b, metrics), NaN where total is 0
        group_out = dict(zip(names, means.T))
        if variant == "cmkp":  # F1 of the macro P and R, not the macro F1
            for k in K_CUTOFFS:
                group_out[f"f1@{k}"] = _harmonic(group_out[f"p@{k}"], group_out[f"r@{k}"])
        result[group] = {m: group_out[m] for m in METRIC_NAMES}
    return result


def aggregate(scores: PostScores, variant: str = "cmkp") -> dict:
    """The evaluation result: {"n": posts, group: {metric: fraction or None}}.

    A group without posts (e.g. no absent targets at all) gives None values.
    """
    arrays = aggregate_weighted(scores, variant, np.ones((1, scores.n)))
    out: dict = {"n": scores.n}
    for group in GROUPS:
        if group in arrays:
            out[group] = {m: (None if np.isnan(v[0]) else float(v[0])) for m, v in arrays[group].items()}
    return out


def group_sizes(scores: PostScores) -> dict[str, int]:
    """How many posts each group averages over."""
    return {g: int(c.included.sum()) for g, c in scores.groups.items()}


def evaluate(gold: Sequence[Post], predictions: Mapping[str, Sequence[str]] | Sequence[Sequence[str]],
             train_keyphrases: Iterable[str] | Iterable[Post] | None = None, variant: str = "cmkp",
             stemmer: Stemmer | None = None) -> dict:
    """Score predictions against gold posts: `score_posts` then `aggregate` (see the module docstring)."""
    _check_variant(variant)
    return aggregate(score_posts(gold, predictions, train_keyphrases, stemmer), variant)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown metric variant {variant!r}; choose one of {', '.join(VARIANTS)}")


# ---------------------------------------------------------------- inputs

def align_predictions(gold: Sequence[Post], predictions: Mapping[str, Sequence[str]] | Sequence[Sequence[str]],
                      source: str | os.PathLike | None = None) -> list[list[str]]:
    """Predictions in gold order; raise DataError when the ids (or the count) do not match the gold set."""
    if isinstance(predictions, Mapping):
        gold_ids = [p.id for p in gold]
        gold_set = set(gold_ids)
        missing = [i for i in gold_ids if i not in predictions]
        extra = [i for i in predictions if i not in gold_set]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} gold post(s) have no prediction (first: {missing[0]!r})")
            if extra:
                parts.append(f"{len(extra)} prediction id(s) are not in the gold set (first: {extra[0]!r})")
            raise DataError(source, None, "id-mismatch",
                            f"predictions do not match the {len(gold_ids)} gold posts: " + "; ".join(parts))
        return [list(predictions[i]) for i in gold_ids]
    for i, p in enumerate(predictions):
        if isinstance(p, str):
            raise TypeError(f"prediction {i} is a string, expected a list of keyphrases: {p!r}")
    preds = [list(p) for p in predictions]
    if len(preds) != len(gold):
        diff = len(preds) - len(gold)
        what = f"{diff} extra" if diff > 0 else f"{-diff} missing"
        raise DataError(source, None, "count-mismatch",
                        f"{len(preds)} predictions for {len(gold)} gold posts ({what}); "
                        "a prediction list must have one entry per gold post, in gold order")
    return preds


def load_gold(path: str | os.PathLike, format: str | None = None, split: str | None = None,
              folder_split: str = "test") -> list[Post]:
    """Posts to score or measure, from a file or a dataset folder in any readable format.

    Only text and keyphrases matter here, so images are neither required nor
    opened (MMKP's images are partly gone). A folder gives its `split` file
    (default `folder_split`); a file keeps its own split unless `split` is given.

        load_gold("data/synth")                                   # data/synth/test.jsonl
        load_gold("../shared/data/cmkp_tiny/train_src.txt")
    """
    import warnings

    from mmkp_lib import records
    from mmkp_lib.formats import detect_format, find_split_file, load_posts

    path = Path(path)
    if path.is_dir():
        split = split or folder_split
        path, format = find_split_file(path, split, format)
    format = format or detect_format(path)
    if format == "jsonl":  # the canonical reader, without opening every image file
        return records.read_posts(path, check_images=False)
    with warnings.catch_warnings():  # "kept without their image" notices are noise here
        warnings.filterwarnings("ignore", message=".*kept without their image.*")
        return load_posts(path, format=format, split=split, missing_images="none")


def detect_prediction_format(path: str | os.PathLike) -> str:
    """'jsonl' for .jsonl/.json files or a first line that is a JSON object, else 'cmkp' (one line per post)."""
    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    with open(path, "rb") as f:
        first = f.readline().strip()
    return "jsonl" if first.startswith(b"{") else "cmkp"


def read_predictions(path: str | os.PathLike, gold: Sequence[Post], format: str | None = None) -> list[list[str]]:
    """Read a prediction file and align it with the gold posts.

    Formats: "jsonl", one `{"id": ..., "keyphrases": [...]}` object a line (other
    fields, such as a run's raw output, are ignored); "cmkp", one line per gold
    post in gold order, keyphrases separated by ';' (an empty line is a post
    with no predictions). None detects the format. Ids or line counts that do
    not match the gold set raise DataError saying how many are missing or extra.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    format = format or detect_prediction_format(path)
    bad = BadRecords("raise")
    if format == "cmkp":
        lines = [text for _, text in read_lines_utf8(path, bad)]
        return align_predictions(gold, [[kp.strip() for kp in line.split(";")] for line in lines], path)
    if format != "jsonl":
        raise ValueError(f"unknown prediction format {format!r}; choose 'jsonl' or 'cmkp'")
    preds: dict[str, list[str]] = {}
    for lineno, text in read_lines_utf8(path, bad):
        if not text.strip():
            continue
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, lineno, "bad-json", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not isinstance(d.get("keyphrases"), list):
            raise DataError(path, lineno, "bad-field",
                            'expected {"id": "<post id>", "keyphrases": ["kp1", ...]}')
        if d["id"] in preds:
            raise DataError(path, lineno, "duplicate-id", f"second prediction for post {d['id']!r}")
        preds[d["id"]] = check_keyphrases(d["keyphrases"], path, lineno, d["id"])
    return align_predictions(gold, preds, path)


# ---------------------------------------------------------------- a readable table

def format_table(result: dict, sizes: dict[str, int] | None = None, variant: str = "cmkp") -> str:
    """The evaluation result as two small tables (in percent): F1 and MAP, then P and R."""
    groups = [g for g in GROUPS if g in result]

    def cell(v: float | None) -> str:
        return f"{100 * v:6.2f}" if v is not None else "     -"

    how = ("F1 = harmonic mean of macro P and macro R" if variant == "cmkp"
           else "F1 = mean of per-post F1, P = correct / k")
    lines = [f"{result['n']} posts, variant {variant} ({how}), values in %"]
    head = "".join(f"{name:>8}" for name in [f"F1@{k}" for k in K_CUTOFFS] + ["MAP@5"])
    lines.append(f"{'group':<9}{'posts':>6}" + head)
    for g in groups:
        n = f"{sizes[g]:>6}" if sizes and g in sizes else " " * 6
        row = [result[g][f"f1@{k}"] for k in K_CUTOFFS] + [result[g]["map@5"]]
        lines.append(f"{g:<9}{n}" + "".join(f"{cell(v):>8}" for v in row))
    lines.append("")
    lines.append(f"{'group':<9}" + "".join(f"{f'P@{k}':>8}{f'R@{k}':>8}" for k in K_CUTOFFS))
    for g in groups:
        lines.append(f"{g:<9}" + "".join(f"{cell(result[g][f'p@{k}']):>8}{cell(result[g][f'r@{k}']):>8}"
                                         for k in K_CUTOFFS))
    return "\n".join(lines)
