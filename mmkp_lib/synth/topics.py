"""Long-tailed topics and the seen/unseen control of the embedded benchmark.

Topics are 2-word phrases (adjective noun) drawn Zipf-like from a random
ranking of all ADJECTIVES x NOUNS phrases, like hashtags: a head of frequent
topics and thousands of distinct phrases, most seen once or twice. With so
many phrases a model cannot memorise a closed list; it must learn to copy the
topic from the text (with 50 topics, a tiny VLM trained on the benchmark here
learned a 50-way classifier instead).

Valid and test draw their seen topics from the same Zipf law restricted to the
topics that occur in train, and hold fresh topics (never in train, but both of
their words occur in training text) for the unseen part. `control_overlap`
then chooses how many posts take a fresh topic so that the share of unique
test keyphrases also found in train is as close as possible to the target.

    from mmkp_lib.synth.topics import TopicSampler
    sampler = TopicSampler(np.random.default_rng(0))
    sampler.sample(np.random.default_rng(1), 5)
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from mmkp_lib.synth.words import ADJECTIVES, NOUNS


def all_topics() -> list[str]:
    """Every topic phrase the generator can write, in a fixed order (adjective-major)."""
    return [f"{a} {n}" for a in ADJECTIVES for n in NOUNS]


class TopicSampler:
    """Zipf over a seeded random ranking of all topic phrases: p(rank r) ~ 1 / (r + offset) ** exponent."""

    def __init__(self, rng: np.random.Generator, exponent: float = 1.3, offset: float = 5.0):
        topics = all_topics()
        order = rng.permutation(len(topics))
        self.ranked: list[str] = [topics[i] for i in order]
        self.rank = {t: r for r, t in enumerate(self.ranked)}
        w = 1.0 / (np.arange(len(self.ranked)) + offset) ** exponent
        self.p = w / w.sum()

    def sample(self, rng: np.random.Generator, n: int) -> list[str]:
        """n topics from the full Zipf law (train)."""
        idx = rng.choice(len(self.ranked), size=n, p=self.p)
        return [self.ranked[i] for i in idx]

    def sample_among(self, rng: np.random.Generator, n: int, allowed: Iterable[str]) -> list[str]:
        """n topics from the Zipf law restricted to `allowed` (valid/test's seen topics: those in train)."""
        allowed_ranks = np.array(sorted(self.rank[t] for t in set(allowed)), dtype=np.int64)
        if len(allowed_ranks) == 0:
            raise ValueError("no allowed topics to sample from")
        p = self.p[allowed_ranks]
        idx = rng.choice(allowed_ranks, size=n, p=p / p.sum())
        return [self.ranked[i] for i in idx]


def fresh_topic_pool(rng: np.random.Generator, exclude: set[str], known_words: set[str]) -> list[str]:
    """Topics not in `exclude` whose words are all in `known_words`, shuffled.

    Used for unseen topics: the phrase never occurs in train, but each of its words does, so the
    student's tokenizer and embeddings have met the pieces it must copy.
    """
    pool = [t for t in all_topics() if t not in exclude and all(w in known_words for w in t.split())]
    return [pool[i] for i in rng.permutation(len(pool))]


def unique_overlap(train_keyphrases: set[str], post_keyphrases: Sequence[Sequence[str]]) -> float:
    """Share of the unique keyphrases (exact strings) of these posts that also occur in train."""
    unique = {k for kps in post_keyphrases for k in kps}
    return sum(k in train_keyphrases for k in unique) / len(unique) if unique else 0.0


def control_overlap(train_keyphrases: set[str], post_keyphrases: list[list[str]], topic_index: Sequence[int],
                    fresh: Sequence[str], order: Sequence[int], target: float) -> tuple[int, float]:
    """How many posts (taken in `order`) should swap their topic for a fresh, unseen one.

    post_keyphrases[i][topic_index[i]] is post i's topic, drawn among train topics. Swapping post
    order[0..k-1] to fresh[0..k-1] lowers the unique overlap step by step; this walks k = 0..len(order)
    once (incremental counts, O(n)) and returns the k whose overlap is nearest the target, and that
    overlap. The caller applies the swaps.
    """
    if len(fresh) < len(order):
        raise ValueError(f"need {len(order)} fresh topics, only {len(fresh)} available")
    counts = Counter(k for kps in post_keyphrases for k in kps)
    seen_u = sum(1 for k in counts if k in train_keyphrases)
    total_u = len(counts)
    best_k, best = 0, seen_u / total_u if total_u else 0.0
    for step, i in enumerate(order, start=1):
        old = post_keyphrases[i][topic_index[i]]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
            total_u -= 1
            seen_u -= old in train_keyphrases
        total_u += 1  # a fresh topic: new and never in train (fresh topics are distinct)
        overlap = seen_u / total_u
        if abs(overlap - target) < abs(best - target):
            best_k, best = step, overlap
    return best_k, best
