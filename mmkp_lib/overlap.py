"""How much a benchmark's test keyphrases overlap its training keyphrases.

The paper's first finding: 97.32% of MMKP's unique test keyphrases also occur
in its training set (production data: about 45%), so MMKP mostly rewards
remembering training hashtags. The numbers here:

- unique overlap: |unique test keyphrases found among train keyphrases| /
  |unique test keyphrases|, on the exact keyphrase strings (the definition that
  gives 97.32% on MMKP); instance overlap: the same over keyphrase occurrences;
  and both again on stemmed keyphrases;
- sizes, keyphrases per post, the share of present test keyphrases (stemmed
  contiguous run in the post text, as in `mmkp_lib.metrics`), the share of
  test posts with an absent keyphrase and with an unseen keyphrase;
- the present/absent x seen/unseen composition of test keyphrases, and the
  test keyphrases by training-frequency bucket (bucket "0" is the unseen ones).

    mmkp overlap --train data/synth/train.jsonl --test data/synth/test.jsonl
    mmkp overlap --train-keyphrases data/mmkp/train_keyphrases.txt --test data/mmkp/test_src.txt --format cmkp

    from mmkp_lib.overlap import overlap_stats, read_keyphrase_list
    overlap_stats(train_posts, test_posts)["unique_overlap"]
    overlap_stats(read_keyphrase_list("data/mmkp/train_keyphrases.txt"), test_posts)

The training side may be its posts or only its list of distinct keyphrases (`KeyphraseList`; the public MMKP
copy here has no training posts). Every figure over the test keyphrases needs only to know which strings
occur in training, so unique and instance overlap (instance: over the test occurrences), present / absent and
the unseen shares come out the same either way. What needs the training posts is left out and named in
`stats["left_out"]`: how many training posts carry each keyphrase (the frequency buckets above "0") and the
training split's size and keyphrases per post.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mmkp_lib.eval_io import load_gold
from mmkp_lib.metrics import unique_targets
from mmkp_lib.normalize import Stemmer, default_stemmer
from mmkp_lib.records import DataError, Post

# Training-frequency buckets (inclusive bounds; None = no upper bound), bucket "0" = unseen.
FREQUENCY_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2-4", 2, 4), ("5-9", 5, 9), ("10-49", 10, 49), ("50+", 50, None))


def keyphrase_counts(posts: Sequence[Post]) -> Counter:
    """Occurrences of each exact keyphrase string (a post counts a repeated keyphrase once)."""
    counts: Counter = Counter()
    for post in posts:
        counts.update(post_keyphrases(post))
    return counts


def post_keyphrases(post: Post) -> list[str]:
    """A post's keyphrase strings, stripped, each once, in order."""
    return list(dict.fromkeys(k.strip() for k in post.keyphrases))


def unique_overlap(train: Sequence[Post], test: Sequence[Post]) -> float:
    """Share of unique test keyphrase strings that occur among the training keyphrases."""
    train_set = set(keyphrase_counts(train))
    test_set = set(keyphrase_counts(test))
    return len(test_set & train_set) / len(test_set) if test_set else 0.0


@dataclass(frozen=True)
class KeyphraseList:
    """A training split known only by its distinct keyphrase strings (no posts, so no counts)."""

    keyphrases: tuple[str, ...]
    source: str = ""  # where the list was read from, for messages

    def __len__(self) -> int:
        return len(self.keyphrases)


# What overlap_stats cannot compute from a KeyphraseList, and why (shown by format_overlap and notebook 01).
NEEDS_TRAIN_POSTS = {
    "by_train_frequency": "test keyphrases by training frequency: how many training posts carry each keyphrase",
    "train_sizes": "the training split's posts and keyphrases per post",
}


def read_keyphrase_list(path: str | os.PathLike) -> KeyphraseList:
    """A training keyphrase list: one keyphrase per line (stripped, blank lines skipped), each once.

    A line holding '<sep>' is a post, not a keyphrase: such a file is refused with the flag to pass it to.
    """
    from mmkp_lib.records import BadRecords, read_lines_utf8

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such keyphrase list")
    seen: dict[str, int] = {}
    for line, text in read_lines_utf8(path, BadRecords("raise")):
        k = text.strip()
        if not k:
            continue
        if "<sep>" in k or "\t" in k:
            raise DataError(path, line, "not-a-keyphrase-list",
                            "this line is a post (it holds '<sep>' or a tab), not a keyphrase; a keyphrase list "
                            "has one keyphrase per line (pass posts with --train)")
        if k in seen:
            raise DataError(path, line, "duplicate-keyphrase",
                            f"keyphrase {k!r} already on line {seen[k]}; a keyphrase list names each keyphrase once")
        seen[k] = line
    if not seen:
        raise DataError(path, None, "empty", "the keyphrase list holds no keyphrase")
    return KeyphraseList(tuple(seen), str(path))


def frequency_bucket(count: int) -> str:
    for name, low, high in FREQUENCY_BUCKETS:
        if count >= low and (high is None or count <= high):
            return name
    raise ValueError(f"negative count {count}")


def overlap_stats(train: Sequence[Post] | KeyphraseList, test: Sequence[Post], valid: Sequence[Post] | None = None,
                  stemmer: Stemmer | None = None) -> dict:
    """Every overlap number of one train/test pair (see the module docstring), as a JSON-ready dict.

    Shares are fractions in [0, 1]. Present/absent uses each post's keyphrases
    deduplicated after stemming, as the evaluator does. `train` may be a KeyphraseList: then the figures of
    NEEDS_TRAIN_POSTS are None and named in "left_out".
    """
    if not test:
        raise ValueError("the test set is empty: nothing to measure")
    stemmer = stemmer or default_stemmer()
    as_list = isinstance(train, KeyphraseList)
    train_counts = Counter(train.keyphrases) if as_list else keyphrase_counts(train)  # a list: membership only
    test_counts = keyphrase_counts(test)
    n_instances = sum(test_counts.values())
    seen_unique = [k for k in test_counts if k in train_counts]
    seen_instances = sum(test_counts[k] for k in seen_unique)

    train_stemmed = {stemmer.key(k) for k in train_counts}
    test_stemmed = Counter()
    for k, c in test_counts.items():
        test_stemmed[stemmer.key(k)] += c
    seen_stemmed = [s for s in test_stemmed if s in train_stemmed]

    # Per-post composition: present/absent by stemmed run in the text, seen/unseen by exact string.
    composition = Counter()
    n_present = n_kept = posts_with_absent = posts_with_unseen = 0
    for post in test:
        kept = unique_targets(post.keyphrases, stemmer)  # dedup after stemming, first string kept
        text_key = stemmer.masked_text_key(post.text, stemmer.prefixes(kept))
        any_absent = False
        for key, k in kept.items():
            present = stemmer.is_present(key, text_key)
            seen = k in train_counts
            composition[("present" if present else "absent", "seen" if seen else "unseen")] += 1
            n_present += present
            any_absent |= not present
        n_kept += len(kept)
        any_unseen = any(k not in train_counts for k in post_keyphrases(post))
        posts_with_absent += any_absent
        posts_with_unseen += any_unseen

    buckets = {name: {"unique": 0, "instances": 0} for name, _, _ in FREQUENCY_BUCKETS}
    for k, c in test_counts.items():
        b = buckets[frequency_bucket(train_counts.get(k, 0))]
        b["unique"] += 1
        b["instances"] += c
    n_unique = len(test_counts)
    for b in buckets.values():
        b["unique_share"] = b["unique"] / n_unique
        b["instance_share"] = b["instances"] / n_instances

    sizes = {"test": len(test)} if as_list else {"train": len(train), "test": len(test)}
    per_post = {"test": _mean_keyphrases(test)} if as_list else {"train": _mean_keyphrases(train),
                                                                   "test": _mean_keyphrases(test)}
    if valid is not None:
        sizes["valid"] = len(valid)
        per_post["valid"] = _mean_keyphrases(valid)
    return {
        "train_side": "keyphrase list" if as_list else "posts",
        "left_out": dict(NEEDS_TRAIN_POSTS) if as_list else {},
        "unique_overlap": len(seen_unique) / n_unique,
        "instance_overlap": seen_instances / n_instances,
        "unique_overlap_stemmed": len(seen_stemmed) / len(test_stemmed),
        "instance_overlap_stemmed": sum(test_stemmed[s] for s in seen_stemmed) / n_instances,
        "present_ratio": n_present / n_kept if n_kept else 0.0,
        "posts_with_absent": posts_with_absent / len(test),
        "posts_with_unseen": posts_with_unseen / len(test),
        "n_test_unique_keyphrases": n_unique,
        "n_test_keyphrase_instances": n_instances,
        "n_train_unique_keyphrases": len(train_counts),
        "n_posts": sizes,
        "keyphrases_per_post": per_post,
        "composition": {f"{p}_{s}": composition[(p, s)] for p in ("present", "absent") for s in ("seen", "unseen")},
        "by_train_frequency": None if as_list else buckets,
    }


def _mean_keyphrases(posts: Sequence[Post]) -> float:
    return sum(len(post_keyphrases(p)) for p in posts) / len(posts) if posts else 0.0


def format_overlap(stats: dict) -> str:
    """A readable summary of `overlap_stats` for the terminal."""
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    sizes = ", ".join(f"{k} {v}" for k, v in stats["n_posts"].items())
    per_post = ", ".join(f"{k} {v:.2f}" for k, v in stats["keyphrases_per_post"].items())
    comp = stats["composition"]
    total = sum(comp.values()) or 1
    lines = [
        f"posts: {sizes}",
        f"keyphrases per post: {per_post}",
        f"unique test keyphrases: {stats['n_test_unique_keyphrases']} "
        f"({stats['n_test_keyphrase_instances']} occurrences); unique train keyphrases: "
        f"{stats['n_train_unique_keyphrases']}",
        f"unique overlap:   {pct(stats['unique_overlap']):>8}   (stemmed {pct(stats['unique_overlap_stemmed'])})",
        f"instance overlap: {pct(stats['instance_overlap']):>8}   (stemmed {pct(stats['instance_overlap_stemmed'])})",
        f"present keyphrases: {pct(stats['present_ratio'])}; posts with an absent keyphrase: "
        f"{pct(stats['posts_with_absent'])}; posts with an unseen keyphrase: {pct(stats['posts_with_unseen'])}",
        "composition of test keyphrases: " + ", ".join(f"{k.replace('_', '/')} {pct(v / total)}"
                                                         for k, v in comp.items()),
    ]
    if stats.get("left_out"):
        lines.append(f"training side: a keyphrase list of {stats['n_train_unique_keyphrases']} keyphrases, no posts; "
                     "left out (they need the training posts): " + "; ".join(stats["left_out"].values()))
    if stats["by_train_frequency"] is not None:
        lines.append("test keyphrases by training frequency (unique / occurrences):")
        for name, b in stats["by_train_frequency"].items():
            lines.append(f"  {name:>6}: {b['unique']:>7} {pct(b['unique_share']):>8}   "
                         f"{b['instances']:>7} {pct(b['instance_share']):>8}")
    return "\n".join(lines)


def long_tail(posts: Sequence[Post]) -> dict:
    """How long-tailed the keyphrases of some posts are: the share seen once, what the most frequent cover."""
    counts = keyphrase_counts(posts)
    ranked = sorted(counts.values(), reverse=True)
    total = sum(ranked)
    top = max(1, len(ranked) // 100)
    return {
        "unique_keyphrases": len(ranked),
        "occurrences": total,
        "share_seen_once": sum(1 for c in ranked if c == 1) / len(ranked) if ranked else 0.0,
        "top1pct_occurrence_share": sum(ranked[:top]) / total if total else 0.0,
        "top20_occurrence_share": sum(ranked[:20]) / total if total else 0.0,
        "most_frequent": counts.most_common(5),
        "rank_frequency": ranked,  # occurrences by rank, for a log-log plot
    }


# Share rows of a side-by-side table: (label, overlap_stats key).
_SHARE_ROWS = (("unique overlap", "unique_overlap"), ("instance overlap", "instance_overlap"),
               ("present share", "present_ratio"), ("posts with an absent keyphrase", "posts_with_absent"),
               ("posts with an unseen keyphrase", "posts_with_unseen"))


def split_tables(columns: dict[str, dict]) -> tuple:
    """(shares, counts) of several `overlap_stats` results side by side: shares as fractions, counts as text
    (test and train posts, distinct test keyphrases, test keyphrases per post; "-" where a figure is unknown)."""
    import pandas as pd  # here, not at the top: `mmkp overlap` imports this module and starts fast

    shares = pd.DataFrame({name: {row: s.get(key) for row, key in _SHARE_ROWS} for name, s in columns.items()})

    def count(s: dict, what: str):
        if what == "test keyphrases per post":
            v = s.get("keyphrases_per_post", {}).get("test")
            return "-" if v is None else f"{v:.2f}"
        key = {"test posts": ("n_posts", "test"), "train posts": ("n_posts", "train")}.get(what)
        v = s.get(key[0], {}).get(key[1]) if key else s.get("n_test_unique_keyphrases")
        return "-" if v is None else v

    rows = ("test posts", "train posts", "unique test keyphrases", "test keyphrases per post")
    counts = pd.DataFrame({name: {r: count(s, r) for r in rows} for name, s in columns.items()}, dtype=object)
    return shares, counts


# ---------------------------------------------------------------- notebook 01's parameters

DATA_FORMATS = ("auto", "jsonl", "cmkp", "llava")
SMOKE_POSTS = {"train": 2000, "valid": 300, "test": 300}  # per-split caps of a smoke run


@dataclass
class OverlapStudyConfig:
    """Parameters of notebooks/01_benchmark_overlap, validated with messages that say what to pass."""

    data: str = "data/synth"  # dataset folder with train / valid / test files (jsonl, cmkp *_src.txt or llava)
    data_format: str = "auto"  # auto | jsonl | cmkp | llava
    target_overlap: float = 0.45  # unique test-keyphrase overlap of the re-split (MMKP-V2: 0.4492)
    tolerance: float = 0.01  # allowed |achieved - target|; smoke runs allow at least 0.05
    smoke: bool = False  # cap each split at SMOKE_POSTS (CI)
    seed: int = 0  # re-split and random-split seed
    mmkp_data: str = ""  # folder of the real MMKP files (`mmkp data fetch mmkp --out data/mmkp`); "" = none

    def validated(self) -> "OverlapStudyConfig":
        """Self, or ValueError listing every bad setting."""
        problems = []
        if not isinstance(self.data, (str, os.PathLike)) or not Path(self.data).is_dir():
            problems.append(f"data must be a dataset folder holding train and test files, got {self.data!r} "
                            "(the embedded benchmark: `mmkp synth --out data/synth`)")
        if self.data_format not in DATA_FORMATS:
            problems.append(f"data_format must be one of {DATA_FORMATS}, got {self.data_format!r}")
        if isinstance(self.target_overlap, bool) or not isinstance(self.target_overlap, (int, float)) \
                or not 0 <= self.target_overlap <= 1:
            problems.append(f"target_overlap must be a fraction in [0, 1] (0.45, not 45), got {self.target_overlap!r}")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) \
                or not 0 <= self.tolerance < 1:
            problems.append(f"tolerance must be a fraction in [0, 1), got {self.tolerance!r}")
        if not isinstance(self.smoke, bool):
            problems.append(f"smoke must be True or False, got {self.smoke!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            problems.append(f"seed must be an integer, got {self.seed!r}")
        from mmkp_lib.fetch import has_mmkp

        if not isinstance(self.mmkp_data, str) or (self.mmkp_data and not has_mmkp(self.mmkp_data)):
            problems.append(f"mmkp_data must be a folder holding MMKP's test_src.txt and train_src.txt or "
                            f"train_keyphrases.txt (`mmkp data fetch mmkp --out data/mmkp`), or \"\" for none; "
                            f"got {self.mmkp_data!r}")
        if problems:
            raise ValueError("bad notebook parameters:\n  " + "\n  ".join(problems))
        return self

    @property
    def effective_tolerance(self) -> float:
        return max(self.tolerance, 0.05) if self.smoke else self.tolerance

    def load_splits(self) -> dict[str, list[Post]]:
        """{"train": [...], "valid": [...], "test": [...]} from the folder (valid may be empty), capped in smoke runs."""
        from mmkp_lib.formats import find_split_file

        fmt = None if self.data_format == "auto" else self.data_format
        splits: dict[str, list[Post]] = {}
        for split in ("train", "valid", "test"):
            try:
                find_split_file(self.data, split, fmt)
            except FileNotFoundError:
                if split == "valid":
                    splits[split] = []
                    continue
                raise
            posts = load_gold(self.data, fmt, split)
            for post in posts:  # the split a post came from, whatever its file said
                post.split = split
            splits[split] = posts[:SMOKE_POSTS[split]] if self.smoke else posts
        return splits
