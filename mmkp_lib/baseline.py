"""The traditional baseline: a linear classifier over the training keyphrases, from bag-of-words features.

MMKP's earlier systems (MM-MKP, the classifier half of CMKP) treat keyphrase prediction as classification over
the training split's keyphrase vocabulary. This is the simplest such model, for real posts or the embedded
benchmark alike:

- features: the words of the post text, its OCR text and its image attributes (CMKP's "image wordings";
  attributes get their own feature names, `img:dog`), binary, weighted by inverse document frequency, each
  post's vector L2-normalised; words seen in fewer than `min_count` training posts are dropped;
- labels: every distinct training keyphrase string;
- model: a linear layer whose weights are the label centroids (Rocchio): each label's column is the sum of its
  training posts' vectors, L2-normalised, so a post scores each label by cosine similarity. It is fitted in
  closed form (one sparse product, seconds on CPU); a softmax regression trained with Adam over the same
  features scored lower here (F1@1 0.17 against 0.26 on MMKP valid -> test after 60 full-batch steps) and
  took minutes;
- prediction: the labels in order of score, at most `max_predictions`, keeping those scoring at least
  `keep_ratio` x the best (always the first), so F1@1 scores the top label and F1@M the kept list.

By construction it can only predict keyphrases it saw in training: its unseen-keyphrase recall is 0, which is
the point of showing it beside an overlap study.

    from mmkp_lib.baseline import BaselineConfig, train_baseline
    model = train_baseline(train_posts, BaselineConfig(min_count=2))
    predictions = model.predict(test_posts)           # {post id: [keyphrase, ...]}
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mmkp_lib.overlap import post_keyphrases
from mmkp_lib.records import Post


@dataclass(frozen=True)
class BaselineConfig:
    min_count: int = 2  # a word must occur in this many training posts to become a feature
    max_predictions: int = 5
    keep_ratio: float = 0.9  # keep predictions after the first only when scoring >= this x the first's score


def post_words(post: Post) -> list[str]:
    """The feature words of a post: text and OCR words, then its image attributes as `img:WORD`."""
    ocr = post.meta.get("ocr") or ""
    attributes = post.meta.get("attributes") or []
    return (post.text.lower().split() + str(ocr).lower().split()
            + [f"img:{a.lower()}" for a in attributes])


class KeyphraseClassifier:
    """A fitted baseline: feature vocabulary with idf weights, label vocabulary, and the (features x labels)
    centroid weights."""

    def __init__(self, features: dict[str, int], idf: np.ndarray, labels: list[str], weight, config: BaselineConfig):
        self.features, self.idf, self.labels, self.weight, self.config = features, idf, labels, weight, config

    def scores(self, posts: Sequence[Post]):
        """(posts x labels) cosine scores, a torch tensor."""
        import torch

        return torch.sparse.mm(_features(posts, self.features, self.idf), self.weight)

    def predict(self, posts: Sequence[Post]) -> dict[str, list[str]]:
        """{post id: ranked keyphrases} by the rule of the module docstring."""
        import torch

        c = self.config
        values, indices = torch.topk(self.scores(posts), min(c.max_predictions, len(self.labels)), dim=1)
        out = {}
        for post, vals, idx in zip(posts, values.tolist(), indices.tolist()):
            out[post.id] = [self.labels[j] for i, (v, j) in enumerate(zip(vals, idx))
                            if i == 0 or v >= c.keep_ratio * vals[0] > 0]
        return out


def _features(posts: Sequence[Post], vocab: dict[str, int], idf: np.ndarray):
    """Sparse (posts x features) tf-idf rows, L2-normalised (a post with no known word is a zero row)."""
    import torch

    rows, cols, values = [], [], []
    for i, post in enumerate(posts):
        ids = sorted({vocab[w] for w in post_words(post) if w in vocab})
        if ids:
            w = idf[ids] / np.linalg.norm(idf[ids])
            rows += [i] * len(ids)
            cols += ids
            values += w.tolist()
    index = torch.tensor([rows, cols], dtype=torch.int64).reshape(2, -1)
    return torch.sparse_coo_tensor(index, torch.tensor(values, dtype=torch.float32), (len(posts), len(vocab)),
                                   check_invariants=False).coalesce()


def train_baseline(train: Sequence[Post], config: BaselineConfig | None = None) -> KeyphraseClassifier:
    """Fit the classifier on training posts (their keyphrases are the label vocabulary)."""
    import torch

    config = config or BaselineConfig()
    if not train:
        raise ValueError("the baseline needs training posts; there are none")
    doc_freq = Counter(w for post in train for w in set(post_words(post)))
    features = {w: i for i, w in enumerate(sorted(w for w, n in doc_freq.items() if n >= config.min_count))}
    idf = (np.log(len(train) / np.array([doc_freq[w] for w in features], dtype=np.float64)) + 1.0).astype(np.float32)
    labels = list(dict.fromkeys(k for post in train for k in post_keyphrases(post)))
    label_id = {k: i for i, k in enumerate(labels)}
    target = torch.zeros(len(train), len(labels))
    for i, post in enumerate(train):
        target[i, [label_id[k] for k in post_keyphrases(post)]] = 1.0
    x = _features(train, features, idf)
    weight = torch.sparse.mm(x.t().coalesce(), target)  # each label's column: the sum of its posts' vectors
    weight /= weight.norm(dim=0, keepdim=True).clamp_min(1e-12)
    return KeyphraseClassifier(features, idf, labels, weight, config)


def predict_baseline_run(data: str, out, *, split: str = "test", train_split: str = "train",
                         config: BaselineConfig | None = None, limit: int | None = None,
                         limit_train: int | None = None) -> dict:
    """Fit the baseline on `train_split` of `data`, predict `split`, and write a run folder like any other row's
    (config.json kind "baseline", predictions.jsonl, metrics.json), so the evaluator, `mmkp evaluate` and the
    analysis read it unchanged. Returns the metrics.

        mmkp baseline --data data/synth --out runs/baseline
        mmkp baseline --data data/mmkp --out runs/mmkp-baseline    # MMKP: text + OCR + image attributes
    """
    import dataclasses
    import time

    from mmkp_lib import runs
    from mmkp_lib.formats import load_posts
    from mmkp_lib.inference import write_predictions
    from mmkp_lib.records import first_posts

    config = config or BaselineConfig()
    out = runs.check_writable_run(out, "baseline", "the baseline")
    train = first_posts(load_posts(data, split=train_split), limit_train, "limit_train")
    posts = first_posts(load_posts(data, split=split), limit, "limit")
    if not posts:
        raise ValueError(f"{data}: the {split!r} split is empty: nothing to predict")
    t0 = time.perf_counter()
    model = train_baseline(train, config)
    t_fit = time.perf_counter() - t0
    predicted = model.predict(posts)
    t_predict = time.perf_counter() - t0 - t_fit
    runs.write_config(out, {"strategy": "baseline", "data": data, "split": split, "train_split": train_split,
                            **dataclasses.asdict(config)}, kind="baseline", seed=0,
                      extra={"result": {"train_seconds": round(t_fit, 3), "predict_seconds": round(t_predict, 3),
                                        "features": len(model.features), "labels": len(model.labels)}})
    per_post = t_predict / len(posts)
    records = [{"id": p.id, "raw": "; ".join(predicted[p.id]), "keyphrases": predicted[p.id], "reasoned": False,
                "think_tokens": 0, "answer_tokens": 0, "generated_tokens": 0, "stopped": True, "parse_error": None,
                "generation_s": round(per_post, 6)} for p in posts]
    return write_predictions(out, posts, records, split=split, train_posts=train,
                             predicted_with={"data": data, "limit_train": limit_train,
                                             "baseline": dataclasses.asdict(config)})
