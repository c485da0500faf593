"""Re-split a pool of posts so that test keyphrases overlap training as much as asked (MMKP-V2 style).

MMKP's random split leaves 97.32% of unique test keyphrases in training;
production data sees about 45%. MMKP-V2 rebuilds the split to 44.92%. This
module does the same for any pool: it picks a test set of the asked size whose
unique overlap (exact strings, as `mmkp_lib.overlap`) is within a tolerance of
the target, then a validation set that leaves the test overlap unchanged, and
the rest is training data. The same pool in the same order and the same seed
give the same split.

    mmkp resplit --pool data/synth/train.jsonl data/synth/valid.jsonl data/synth/test.jsonl \\
        --target 0.45 --out data/synth_v2

    from mmkp_lib.resplit import resplit
    r = resplit(posts, target_overlap=0.45, n_test=1000, n_valid=1000, seed=0)
    r.achieved, r.train, r.valid, r.test

How: a test keyphrase is unseen exactly when every pool post that carries it is
in test. The test set grows one step at a time. While its overlap is above the
target it takes a whole keyphrase "group" (every remaining post of one
keyphrase), which makes that keyphrase unseen: of a window of random candidate
keyphrases whose group fits, the one that brings the overlap closest to the
target. Otherwise it takes one random post whose keyphrases all keep a post
outside test, which adds only seen keyphrases. Random choices keep the test
set's keyphrase distribution near the pool's. Valid posts are then drawn at random
without taking the last training post of a seen test keyphrase. A target the
pool cannot reach (say 0.99 when most keyphrases occur once) raises
`ResplitError` saying why.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mmkp_lib.overlap import keyphrase_counts, post_keyphrases, unique_overlap
from mmkp_lib.records import Post


# Candidate keyphrases weighed at each "make one unseen" step: more finds better groups, costs more time.
GROUP_WINDOW = 64


class ResplitError(ValueError):
    """The asked split cannot be built from this pool; the message says why and what to change."""


@dataclass
class Resplit:
    train: list[Post]
    valid: list[Post]
    test: list[Post]
    asked: float  # the target unique overlap
    achieved: float  # the unique overlap of test with train, measured on the result
    tolerance: float
    seed: int
    report: dict = field(default_factory=dict)  # sizes, before/after figures (JSON-ready)


class _TestBuilder:
    """The growing test set and its overlap counts, updated in O(keyphrases of a post) per step."""

    def __init__(self, post_kps: list[list[int]], freq: np.ndarray):
        self.post_kps = post_kps
        self.freq = freq
        self.in_test_count = np.zeros(len(freq), dtype=np.int64)  # a[k]: k's posts already in test
        self.in_test = np.zeros(len(post_kps), dtype=bool)
        self.members: list[int] = []
        self.n_unique = 0  # distinct keyphrases in test
        self.n_seen = 0  # of which some post stays outside test

    @property
    def overlap(self) -> float:
        return self.n_seen / self.n_unique if self.n_unique else 0.0

    def add(self, p: int) -> None:
        self.in_test[p] = True
        self.members.append(p)
        for k in self.post_kps[p]:
            before = self.in_test_count[k]
            after = self.in_test_count[k] = before + 1
            if before == 0:
                self.n_unique += 1
                self.n_seen += after < self.freq[k]
            elif after == self.freq[k]:  # its last outside post came in: now unseen
                self.n_seen -= 1

    def overlap_with(self, posts: list[int]) -> float:
        """The overlap test would have after adding `posts` (not added)."""
        added: dict[int, int] = {}
        for p in posts:
            for k in self.post_kps[p]:
                added[k] = added.get(k, 0) + 1
        n_unique, n_seen = self.n_unique, self.n_seen
        for k, c in added.items():
            before = self.in_test_count[k]
            after = before + c
            n_unique += before == 0
            n_seen += int(after < self.freq[k]) - int(0 < before < self.freq[k])
        return n_seen / n_unique if n_unique else 0.0

    def keeps_all_seen(self, p: int) -> bool:
        """Adding p leaves every keyphrase of p with a post outside test."""
        return all(self.freq[k] - self.in_test_count[k] >= 2 for k in self.post_kps[p])


def resplit(pool: Sequence[Post], target_overlap: float, n_test: int | None = None, n_valid: int | None = None,
            tolerance: float = 0.01, seed: int = 0) -> Resplit:
    """Split `pool` into train/valid/test with unique test-keyphrase overlap `target_overlap` +- `tolerance`.

    `n_test` / `n_valid` default to the pool's current test / valid sizes (by
    each post's `split` field). Raises ResplitError when the target cannot be
    reached, ValueError on bad arguments.
    """
    pool = list(pool)
    if not 0.0 <= target_overlap <= 1.0:
        raise ValueError(f"target overlap must be a fraction in [0, 1], got {target_overlap}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be a fraction in [0, 1), got {tolerance}")
    original = {s: [p for p in pool if p.split == s] for s in ("train", "valid", "test")}
    if n_test is None:
        n_test = len(original["test"])
        if n_test == 0:
            raise ValueError("no post of the pool has split 'test', so the test size is unknown: give n_test")
    if n_valid is None:
        n_valid = len(original["valid"])
    if n_test < 1 or n_valid < 0:
        raise ValueError(f"n_test must be >= 1 and n_valid >= 0, got {n_test} and {n_valid}")
    if n_test + n_valid >= len(pool):
        raise ValueError(f"a pool of {len(pool)} posts cannot hold {n_test} test + {n_valid} valid posts "
                         "and a training set")
    ids = [p.id for p in pool]
    if len(set(ids)) != len(ids):
        raise ValueError("the pool has duplicate post ids; each post must occur once")

    # Keyphrase ids in first-seen order (not set order, which varies between runs).
    kp_id: dict[str, int] = {}
    post_kps = [[kp_id.setdefault(k, len(kp_id)) for k in post_keyphrases(p)] for p in pool]
    kp_posts: list[list[int]] = [[] for _ in kp_id]
    for i, kps in enumerate(post_kps):
        for k in kps:
            kp_posts[k].append(i)
    freq = np.array([len(ps) for ps in kp_posts], dtype=np.int64)

    rng = np.random.default_rng(seed)
    post_order = rng.permutation(len(pool)).tolist()
    kp_order = rng.permutation(len(kp_id)).tolist()
    test = _TestBuilder(post_kps, freq)
    fill_at = group_at = 0

    def next_filler() -> int | None:
        nonlocal fill_at
        while fill_at < len(post_order):
            p = post_order[fill_at]
            fill_at += 1
            if not test.in_test[p] and test.keeps_all_seen(p):  # a skipped post never becomes eligible
                return p
        return None

    window: list[int] = []  # candidate keyphrases for the next group, drawn in kp_order

    def next_group(room: int) -> list[int] | None:
        """Of up to GROUP_WINDOW candidate keyphrases, the group that lowers the overlap most per post it takes.

        Per post, so small groups of rare keyphrases win and the test set keeps many distinct keyphrases;
        a group that would overshoot the target is taken only when none fits, the closest first.
        """
        nonlocal group_at, window
        best, best_rank, kept = None, None, []
        while group_at < len(kp_order) and len(window) < GROUP_WINDOW:
            window.append(kp_order[group_at])
            group_at += 1
        now = test.overlap
        for k in window:
            rest = [p for p in kp_posts[k] if not test.in_test[p]]
            if not rest or len(rest) > room:  # already unseen, or too large for good (room only shrinks)
                continue
            kept.append(k)
            after = test.overlap_with(rest)
            if after < now and after >= target_overlap - tolerance / 2:
                rank = (0, (after - now) / len(rest))  # lowers the overlap most per post it takes
            else:
                rank = (1, abs(after - target_overlap))  # would overshoot (or not help): closest
            if best is None or rank < best_rank:
                best, best_rank = (k, rest), rank
        window = [k for k in kept if best is None or k != best[0]]
        return best[1] if best else None

    while len(test.members) < n_test:
        room = n_test - len(test.members)
        want_unseen = (test.n_unique == 0 and target_overlap < 1.0) or test.overlap > target_overlap
        step = (next_group(room) if want_unseen else _single(next_filler()))
        if step is None:  # the preferred move is exhausted: fill with the other one
            step = (_single(next_filler()) if want_unseen else next_group(room))
        if step is None:
            break
        for p in step:
            test.add(p)

    # Valid: random non-test posts that keep at least one training post for every seen test keyphrase.
    outside = freq - test.in_test_count  # posts of each keyphrase not in test (train + valid so far)
    in_valid = np.zeros(len(pool), dtype=bool)
    n_valid_got = 0
    for p in rng.permutation(len(pool)).tolist():
        if n_valid_got == n_valid:
            break
        if test.in_test[p]:
            continue
        kps = post_kps[p]
        if all(test.in_test_count[k] == 0 or outside[k] >= 2 for k in kps):
            in_valid[p] = True
            n_valid_got += 1
            for k in kps:
                outside[k] -= 1

    def with_split(i: int, split: str) -> Post:
        return dataclasses.replace(pool[i], split=split)

    test_posts = [with_split(i, "test") for i in sorted(test.members)]
    valid_posts = [with_split(i, "valid") for i in range(len(pool)) if in_valid[i]]
    train_posts = [with_split(i, "train") for i in range(len(pool)) if not in_valid[i] and not test.in_test[i]]
    achieved = unique_overlap(train_posts, test_posts)

    report = {
        "asked_overlap": target_overlap,
        "achieved_overlap": achieved,
        "tolerance": tolerance,
        "seed": seed,
        "n_pool": len(pool),
        "asked_sizes": {"test": n_test, "valid": n_valid},
        "sizes": {"train": len(train_posts), "valid": len(valid_posts), "test": len(test_posts)},
        "pool_keyphrases_once": int((freq == 1).sum()),
        "pool_unique_keyphrases": len(kp_id),
        "keyphrases_per_post": {"pool": _per_post(pool), "test_before": _per_post(original["test"]),
                                "test_after": _per_post(test_posts)},
        "overlap_before": (unique_overlap(original["train"], original["test"])
                           if original["train"] and original["test"] else None),
        "test_unique_keyphrases_after": len(keyphrase_counts(test_posts)),
    }
    if abs(achieved - target_overlap) > tolerance + 1e-12:
        raise ResplitError(_why(achieved, target_overlap, tolerance, len(test_posts), n_test, report))
    if len(test_posts) < n_test:
        raise ResplitError(f"could fill only {len(test_posts)} of {n_test} test posts at overlap {achieved:.4f}; "
                           "ask for a smaller test set")
    return Resplit(train_posts, valid_posts, test_posts, target_overlap, achieved, tolerance, seed, report)


def _single(p: int | None) -> list[int] | None:
    return None if p is None else [p]


def _per_post(posts: Sequence[Post]) -> float | None:
    return sum(len(post_keyphrases(p)) for p in posts) / len(posts) if posts else None


def _why(achieved: float, target: float, tol: float, got: int, n_test: int, report: dict) -> str:
    head = (f"cannot reach a unique test-keyphrase overlap of {target:.4f} +- {tol:.4f} "
            f"with {n_test} test posts: the closest this re-split reached is {achieved:.4f}")
    once, unique = report["pool_keyphrases_once"], report["pool_unique_keyphrases"]
    if achieved < target:
        return (f"{head}. {once} of the pool's {unique} keyphrases occur on one post only, and such a keyphrase "
                "is unseen whenever it is in test; there are too few posts whose keyphrases all occur elsewhere "
                "to fill the test set. Ask for a lower target or a smaller test set.")
    return (f"{head}. Making a keyphrase unseen puts all its posts in test, and these bring other keyphrases "
            "that stay seen; too few keyphrase groups fit in the test set. Ask for a higher target or a larger "
            "test set.")


def random_split(pool: Sequence[Post], n_test: int, n_valid: int = 0, seed: int = 0
                 ) -> tuple[list[Post], list[Post], list[Post]]:
    """(train, valid, test) drawn uniformly at random: how MMKP was split, for comparison with `resplit`."""
    if n_test + n_valid >= len(pool):
        raise ValueError(f"a pool of {len(pool)} posts cannot hold {n_test} test + {n_valid} valid posts "
                         "and a training set")
    order = np.random.default_rng(seed).permutation(len(pool))
    test = sorted(order[:n_test].tolist())
    valid = sorted(order[n_test:n_test + n_valid].tolist())
    train = sorted(order[n_test + n_valid:].tolist())
    return ([dataclasses.replace(pool[i], split="train") for i in train],
            [dataclasses.replace(pool[i], split="valid") for i in valid],
            [dataclasses.replace(pool[i], split="test") for i in test])
