"""Speed of `mmkp_lib.metrics.evaluate` and `mmkp_lib.overlap.overlap_stats` on MMKP-sized data.

    .venv/bin/python benchmarks/bench_eval.py                 # MMKP test size + the 360k-sized set
    .venv/bin/python benchmarks/bench_eval.py --no-large      # MMKP test size only (about 15 s)

Two synthetic sets made from random word lists (Zipf-distributed words and
keyphrases, some keyphrases written into the text, some words with English
suffixes so that stemming has work to do):

1. MMKP-sized: 5,372 test posts (and 42,959 training posts for seen/unseen).
   `evaluate` is timed against `reference_evaluate` below, a straightforward
   evaluator written the way the CMKP script does it (stem every token of every
   post every time, per-post loops, per-post numpy arrays). Both must give the
   same numbers; the script prints the largest difference and the speed ratio.
   The target: at least 20x faster than the CMKP script (about 5 s here).
2. MMKP-360k-sized: 330,000 train and 37,000 test posts; `overlap_stats` and
   `evaluate` (with seen/unseen) must each take a few seconds.

Every library timing starts from a cold stem cache (a new Stemmer), so the
ratio includes stemming every distinct token once.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmkp_lib.metrics import K_CUTOFFS, METRIC_NAMES, evaluate  # noqa: E402
from mmkp_lib.normalize import Stemmer  # noqa: E402
from mmkp_lib.overlap import overlap_stats  # noqa: E402
from mmkp_lib.records import Post  # noqa: E402

SUFFIXES = ("", "", "", "s", "ing", "ed", "ly", "ness", "ation", "ies", "er")


# ---------------------------------------------------------------- synthetic data

def make_words(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: dict[str, None] = {}
    while len(words) < n:
        stem = "".join(rng.choice(letters, size=int(rng.integers(3, 9))))
        words[stem + SUFFIXES[int(rng.integers(len(SUFFIXES)))]] = None
    return list(words)


def zipf_sampler(rng: np.random.Generator, n: int, exponent: float):
    p = 1.0 / np.arange(1, n + 1) ** exponent
    cdf = np.cumsum(p / p.sum())
    return lambda size: np.minimum(np.searchsorted(cdf, rng.random(size)), n - 1)


def make_sets(n_train: int, n_test: int, seed: int = 0, n_words: int = 60_000, n_keyphrases: int = 40_000):
    """(train posts, test posts, test predictions) with MMKP-like shapes."""
    rng = np.random.default_rng(seed)
    words = make_words(rng, n_words)
    word_at = zipf_sampler(rng, n_words, 1.05)
    kp_lengths = rng.choice([1, 2, 3], size=n_keyphrases, p=[0.45, 0.4, 0.15])
    keyphrases = list(dict.fromkeys(" ".join(words[i] for i in word_at(int(m))) for m in kp_lengths))
    kp_at = zipf_sampler(rng, len(keyphrases), 0.9)

    def posts(n: int, prefix: str) -> list[Post]:
        out = []
        # MMKP's shape (measured on the cmkp_tiny lines): 27.8 tokens and 1.33 keyphrases a post
        n_kps = rng.choice([1, 2, 3], size=n, p=[0.75, 0.2, 0.05])
        lengths = rng.poisson(24, size=n) + 3
        for i in range(n):
            kps = list(dict.fromkeys(keyphrases[j] for j in kp_at(int(n_kps[i]))))
            tokens = [words[j] for j in word_at(int(lengths[i]))]
            for kp in kps:
                if rng.random() < 0.45:  # a present keyphrase: written into the text
                    at = int(rng.integers(len(tokens) + 1))
                    tokens[at:at] = kp.split()
            out.append(Post(f"{prefix}-{i:06d}", " ".join(tokens), kps))
        return out

    train, test = posts(n_train, "train"), posts(n_test, "test")
    preds = {}
    for post in test:
        tokens = post.text.split()
        cand = []
        for kp in post.keyphrases:
            r = rng.random()
            if r < 0.35:
                cand.append(kp)
            elif r < 0.45:
                cand.append(kp + "s")  # matches only through stemming, sometimes
        for _ in range(int(rng.integers(0, 4))):
            r = rng.random()
            if r < 0.5:
                cand.append(keyphrases[int(kp_at(1)[0])])
            elif r < 0.85:
                at = int(rng.integers(len(tokens)))
                cand.append(" ".join(tokens[at:at + int(rng.integers(1, 3))]))
            elif r < 0.92:
                cand.append("<unk> " + words[int(word_at(1)[0])])  # invalid
            else:
                cand.append(cand[0] if cand else "")  # a repeat, or an empty one
        order = rng.permutation(len(cand))
        preds[post.id] = [cand[i] for i in order] if rng.random() > 0.05 else []
    return train, test, preds


# ---------------------------------------------------------------- the reference evaluator

def _dcg(gains: np.ndarray, k: int) -> float:
    gains = gains[:k]
    return float(np.sum(gains / np.log2(np.arange(2, gains.size + 2)))) if gains.size else 0.0


def _ranking_scores(targets: list, preds: list, is_match: np.ndarray, alpha: float = 0.5) -> list[float]:
    """NDCG@k and alpha-NDCG@k for k = 1, 3, 5, which the CMKP script computes for every post and group
    (mmkp reports neither; this only gives the reference the script's workload)."""
    out = []
    # substring relevance matrix [targets x predictions], as the script builds it
    sub = np.array([[" ".join(p) in " ".join(t) for p in preds] for t in targets], dtype=float).reshape(
        len(targets), len(preds))
    for k in (1, 3, 5):
        ideal = _dcg(np.sort(is_match.astype(float))[::-1], k)
        out.append(_dcg(is_match.astype(float), k) / ideal if ideal > 0 else 0.0)
        if sub.shape[1] == 0:
            out.append(0.0)
            continue

        def alpha_dcg(order):
            seen = np.zeros(sub.shape[0])
            gains = []
            for j in order[:k]:
                gains.append(float(np.dot(sub[:, j], (1 - alpha) ** seen)))
                seen += sub[:, j]
            return _dcg(np.array(gains), k)

        greedy, seen = [], np.zeros(sub.shape[0])
        for _ in range(min(k, sub.shape[1])):  # the ideal ranking, chosen greedily
            gains = [-1.0 if j in greedy else float(np.dot(sub[:, j], (1 - alpha) ** seen))
                     for j in range(sub.shape[1])]
            best = int(np.argmax(gains))
            greedy.append(best)
            seen += sub[:, best]
        ideal = alpha_dcg(greedy)
        out.append(alpha_dcg(list(range(sub.shape[1]))) / ideal if ideal > 0 else 0.0)
    return out


def reference_evaluate(gold: list[Post], predictions: dict[str, list[str]], ranking: bool = False) -> dict:
    """All/present/absent numbers computed the way the CMKP script does: slow on purpose, for comparison.

    Per post it stems every token again, deduplicates and filters with loops,
    finds present keyphrases by sliding over the source tokens, and fills a
    dict of per-post scores that are averaged at the end with sum() / len().
    With `ranking`, it also computes the NDCG and alpha-NDCG the script computes
    for every post (and discards them), to time the script's whole workload.
    """
    from nltk.stem.porter import PorterStemmer

    stemmer = PorterStemmer()

    def stem_words(words):
        return [stemmer.stem(w.strip().lower()) for w in words]

    def is_present(src, phrase):
        if len(phrase) == 0:
            return False
        for start in range(len(src) - len(phrase) + 1):
            match = True
            for i, w in enumerate(phrase):
                if src[start + i] != w:
                    match = False
                    break
            if match:
                return True
        return False

    def score(targets, preds, tag, scores):
        n_t, n_p = len(targets), len(preds)
        is_match = np.zeros(n_p, dtype=bool)
        for i, p in enumerate(preds):
            for t in targets:
                if " ".join(p) == " ".join(t):
                    is_match[i] = True
                    break
        cum = np.cumsum(is_match)
        for k in K_CUTOFFS:
            kk = n_p if k == "M" else n_t if k == "O" else int(k)
            if n_p == 0:
                p_k = r_k = 0.0
            else:
                n_at_k = min(kk, n_p)
                m = cum[n_at_k - 1] if n_at_k > 0 else 0
                p_k = m / n_at_k if n_at_k > 0 else 0.0
                r_k = m / n_t if n_t > 0 else 0.0
            scores[f"p@{k}_{tag}"].append(p_k)
            scores[f"r@{k}_{tag}"].append(r_k)
        if n_p == 0 or n_t == 0:
            ap = 0.0
        else:
            r = is_match[:5]
            c = np.cumsum(r)
            ap = sum(c[i] / (i + 1) for i in range(len(r)) if r[i]) / n_t
        scores[f"map@5_{tag}"].append(ap)
        if ranking:
            scores[f"ranking_{tag}"].append(_ranking_scores(targets, preds, is_match))

    scores = defaultdict(list)
    for post in gold:
        src = stem_words(post.text.split())
        trg = [stem_words(k.split()) for k in post.keyphrases]
        prd = [stem_words(k.split()) for k in predictions[post.id]]
        seen, kept = set(), []
        for p in prd:  # unique and valid, in order
            key = "_".join(p)
            valid = len(p) > 0 and all(w not in (",", ".", "<unk>") for w in p)
            if key not in seen and valid:
                kept.append(p)
            seen.add(key)
        seen, targets = set(), []
        for t in trg:
            if "_".join(t) not in seen:
                targets.append(t)
            seen.add("_".join(t))
        present_t = [t for t in targets if is_present(src, t)]
        absent_t = [t for t in targets if not is_present(src, t)]
        present_p = [p for p in kept if is_present(src, p)]
        absent_p = [p for p in kept if not is_present(src, p)]
        score(targets, kept, "all", scores)
        if present_t:
            score(present_t, present_p, "present", scores)
        if absent_t:
            score(absent_t, absent_p, "absent", scores)

    out = {"n": len(gold)}
    for tag in ("all", "present", "absent"):
        group = {}
        for k in K_CUTOFFS:
            ps, rs = scores[f"p@{k}_{tag}"], scores[f"r@{k}_{tag}"]
            p, r = sum(ps) / len(ps), sum(rs) / len(rs)
            group[f"p@{k}"], group[f"r@{k}"] = p, r
            group[f"f1@{k}"] = 2 * p * r / (p + r) if p + r > 0 else 0.0
        group["map@5"] = sum(scores[f"map@5_{tag}"]) / len(scores[f"map@5_{tag}"])
        out[tag] = group
    return out


def max_difference(a: dict, b: dict) -> float:
    return max(abs(a[g][m] - b[g][m]) for g in ("all", "present", "absent") for m in METRIC_NAMES)


def timed(fn, repeat: int = 1):
    """(best seconds of `repeat` runs, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-large", action="store_true", help="skip the 330k/37k set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    train, test, preds = make_sets(42_959, 5_372, args.seed)
    print(f"MMKP-sized set: {len(train)} train / {len(test)} test posts "
          f"(made in {time.perf_counter() - t0:.1f} s)")
    Stemmer()  # import nltk before timing anything
    t_lib, lib = timed(lambda: evaluate(test, preds, stemmer=Stemmer()), repeat=3)
    t_ref, ref = timed(lambda: reference_evaluate(test, preds))
    t_full, full = timed(lambda: reference_evaluate(test, preds, ranking=True))
    diff = max(max_difference(lib, ref), max_difference(lib, full))
    same = all(round(lib[g][m], 10) == round(r[g][m], 10) for r in (ref, full)
               for g in ("all", "present", "absent") for m in METRIC_NAMES)
    print(f"  mmkp_lib.metrics.evaluate (cold stem cache): {t_lib:7.3f} s")
    print(f"  reference, the same metrics, CMKP style:     {t_ref:7.3f} s   -> library {t_ref / t_lib:5.1f}x faster")
    print(f"  reference + the script's NDCG/alpha-NDCG:    {t_full:7.3f} s   -> library {t_full / t_lib:5.1f}x faster")
    print(f"  identical numbers: {same} (largest difference {diff:.2e}); "
          f"F1@1 {lib['all']['f1@1']:.4f}, F1@M {lib['all']['f1@M']:.4f}, absent R@5 {lib['absent']['r@5']:.4f}")
    t_seen, _ = timed(lambda: evaluate(test, preds, train_keyphrases=train, stemmer=Stemmer()))
    print(f"  evaluate with seen/unseen:                   {t_seen:7.3f} s")
    t_ov, ov = timed(lambda: overlap_stats(train, test, stemmer=Stemmer()))
    print(f"  overlap_stats:                               {t_ov:7.3f} s   (unique overlap {ov['unique_overlap']:.4f})")
    if not same:
        print("error: the library and the reference disagree", file=sys.stderr)
        return 1

    if not args.no_large:
        t0 = time.perf_counter()
        train, test, preds = make_sets(330_000, 37_000, args.seed + 1)
        print(f"MMKP-360k-sized set: {len(train)} train / {len(test)} test posts "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        t_ov, ov = timed(lambda: overlap_stats(train, test, stemmer=Stemmer()))
        print(f"  overlap_stats:                               {t_ov:7.3f} s   (unique overlap {ov['unique_overlap']:.4f})")
        t_ev, res = timed(lambda: evaluate(test, preds, train_keyphrases=train, stemmer=Stemmer()))
        print(f"  evaluate with seen/unseen:                   {t_ev:7.3f} s   (F1@M {res['all']['f1@M']:.4f}, "
              f"unseen F1@M {res['unseen']['f1@M']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
