"""The traditional baseline: linear classifiers over the training keyphrases, from bag-of-words and image features.

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
  `keep_ratio` x the best (always the first), so F1@1 scores the top label and F1@M the kept list;
- image features (optional, `image_features` given to train_baseline and predict): a VLM vision tower's
  mean-pooled output (mmkp_lib.image_features), standardised; a logistic regression (one sigmoid per
  keyphrase, full-batch Adam) over the keyphrases of at least `image_min_count` training posts, the ones an
  image can show (data/synth: 93 of 1,688, its colour-shape pairs and scenes); the text list is followed by
  the image keyphrases of probability >= `image_threshold`, most probable first. On data/synth valid (1,000
  posts, the tiny build's tower) F1@M all 36.8 against 21.5 from text alone, absent 35.0 against 0.0; on its
  1,000 test posts 34.6 against 19.7, absent 32.5 against 0.0 (`mmkp baseline --data data/synth --out
  runs/baseline --image-model tiny`; fitting, tower features included, 22 s on one thread).

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
    image_min_count: int = 20  # keyphrases of at least this many training posts get an image classifier
    image_threshold: float = 0.3  # image keyphrases of at least this probability follow the text's (0.5: absent 32.3 vs 35.0)
    image_steps: int = 300  # full-batch Adam steps of the image classifier (~7 s on data/synth, one thread)
    image_lr: float = 0.05


def post_words(post: Post) -> list[str]:
    """The feature words of a post: text and OCR words, then its image attributes as `img:WORD`."""
    ocr = post.meta.get("ocr") or ""
    attributes = post.meta.get("attributes") or []
    return (post.text.lower().split() + str(ocr).lower().split()
            + [f"img:{a.lower()}" for a in attributes])


@dataclass
class ImageClassifier:
    """The image half: standardisation of the tower features, and one logistic unit per visual keyphrase."""

    mean: np.ndarray
    std: np.ndarray
    labels: list[str]
    weight: object  # torch (width x labels)
    bias: object  # torch (labels,)

    def inputs(self, features: np.ndarray):
        """The classifier's input: `features` standardised with the training posts' mean and std."""
        import torch

        return torch.from_numpy(((features - self.mean) / self.std).astype(np.float32))

    def probabilities(self, features: np.ndarray):
        import torch

        return torch.sigmoid(self.inputs(features) @ self.weight + self.bias)


class KeyphraseClassifier:
    """A fitted baseline: feature vocabulary with idf weights, label vocabulary, the (features x labels)
    centroid weights, and the image classifier when it was fitted with image features."""

    def __init__(self, features: dict[str, int], idf: np.ndarray, labels: list[str], weight, config: BaselineConfig,
                 image: ImageClassifier | None = None):
        self.features, self.idf, self.labels, self.weight, self.config = features, idf, labels, weight, config
        self.image = image

    def scores(self, posts: Sequence[Post]):
        """(posts x labels) cosine scores, a torch tensor."""
        import torch

        return torch.sparse.mm(_features(posts, self.features, self.idf), self.weight)

    def predict(self, posts: Sequence[Post], image_features: np.ndarray | None = None) -> dict[str, list[str]]:
        """{post id: ranked keyphrases} by the rule of the module docstring; `image_features` (posts x width)
        are required when the classifier was fitted with them."""
        import torch

        c = self.config
        values, indices = torch.topk(self.scores(posts), min(c.max_predictions, len(self.labels)), dim=1)
        out = {}
        for post, vals, idx in zip(posts, values.tolist(), indices.tolist()):
            out[post.id] = [self.labels[j] for i, (v, j) in enumerate(zip(vals, idx))
                            if i == 0 or v >= c.keep_ratio * vals[0] > 0]
        if self.image is None:
            return out
        if image_features is None or len(image_features) != len(posts):
            raise ValueError(f"this baseline was fitted with image features: predict needs one row per post "
                             f"({len(posts)}), got {None if image_features is None else len(image_features)}")
        probs = self.image.probabilities(image_features)
        for post, p in zip(posts, probs):
            order = torch.argsort(p, descending=True).tolist()
            seen = [self.image.labels[j] for j in order if p[j] >= c.image_threshold]
            out[post.id] = list(dict.fromkeys(out[post.id] + seen))[:c.max_predictions]
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


def train_image_classifier(train: Sequence[Post], features: np.ndarray, config: BaselineConfig) -> ImageClassifier:
    """Logistic regression from standardised image features to the keyphrases of >= image_min_count posts."""
    import torch

    if len(features) != len(train):
        raise ValueError(f"image features: one row per training post ({len(train)}), got {len(features)}")
    counts = Counter(k for post in train for k in post_keyphrases(post))
    labels = [k for k, n in counts.items() if n >= config.image_min_count]  # none on a tiny split: adds nothing
    target = _multi_hot(train, labels)
    weight = torch.zeros(features.shape[1], len(labels), requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    model = ImageClassifier(features.mean(0), features.std(0) + 1e-6, labels, weight, bias)
    x = model.inputs(features)
    opt = torch.optim.Adam([weight, bias], lr=config.image_lr)
    for _ in range(config.image_steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(x @ weight + bias, target).backward()
        opt.step()
    model.weight, model.bias = weight.detach(), bias.detach()
    return model


def _multi_hot(posts: Sequence[Post], labels: list[str]):
    """(posts x labels) float tensor: 1 where the post has the label among its keyphrases (others ignored)."""
    import torch

    label_id = {k: i for i, k in enumerate(labels)}
    target = torch.zeros(len(posts), len(labels))
    for i, post in enumerate(posts):
        target[i, [label_id[k] for k in post_keyphrases(post) if k in label_id]] = 1.0
    return target


def train_baseline(train: Sequence[Post], config: BaselineConfig | None = None,
                   image_features: np.ndarray | None = None) -> KeyphraseClassifier:
    """Fit the classifier on training posts (their keyphrases are the label vocabulary); with `image_features`
    (one row per training post, mmkp_lib.image_features) the image classifier too."""
    import torch

    config = config or BaselineConfig()
    if not train:
        raise ValueError("the baseline needs training posts; there are none")
    doc_freq = Counter(w for post in train for w in set(post_words(post)))
    features = {w: i for i, w in enumerate(sorted(w for w, n in doc_freq.items() if n >= config.min_count))}
    idf = (np.log(len(train) / np.array([doc_freq[w] for w in features], dtype=np.float64)) + 1.0).astype(np.float32)
    labels = list(dict.fromkeys(k for post in train for k in post_keyphrases(post)))
    x = _features(train, features, idf)
    weight = torch.sparse.mm(x.t().coalesce(), _multi_hot(train, labels))  # each label's column: the sum of its posts' vectors
    weight /= weight.norm(dim=0, keepdim=True).clamp_min(1e-12)
    image = train_image_classifier(train, image_features, config) if image_features is not None else None
    return KeyphraseClassifier(features, idf, labels, weight, config, image)


def predict_baseline_run(data: str, out, *, split: str = "test", train_split: str = "train",
                         config: BaselineConfig | None = None, limit: int | None = None,
                         limit_train: int | None = None, image_model: str | None = None,
                         model_cache: str = "cache/models", model_seed: int = 0) -> dict:
    """Fit the baseline on `train_split` of `data`, predict `split`, and write a run folder like any other row's
    (config.json kind "baseline", predictions.jsonl, metrics.json), so the evaluator, `mmkp evaluate` and the
    analysis read it unchanged. `image_model` (e.g. "tiny"): add image features from that VLM's vision tower.
    Returns the metrics.

        mmkp baseline --data data/synth --out runs/baseline --image-model tiny
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
    train_images = test_images = None
    if image_model:  # one tower load for both splits
        from mmkp_lib.image_features import tower_features

        images = tower_features(list(train) + list(posts), image_model, seed=model_seed, cache_dir=model_cache)
        train_images, test_images = images[:len(train)], images[len(train):]
    model = train_baseline(train, config, train_images)
    t_fit = time.perf_counter() - t0
    predicted = model.predict(posts, test_images)
    t_predict = time.perf_counter() - t0 - t_fit
    runs.write_config(out, {"strategy": "baseline", "data": data, "split": split, "train_split": train_split,
                            "image_model": image_model, **dataclasses.asdict(config)}, kind="baseline", seed=0,
                      extra={"result": {"train_seconds": round(t_fit, 3), "predict_seconds": round(t_predict, 3),
                                        "features": len(model.features), "labels": len(model.labels),
                                        "image_labels": len(model.image.labels) if model.image else None}})
    per_post = t_predict / len(posts)
    records = [{"id": p.id, "raw": "; ".join(predicted[p.id]), "keyphrases": predicted[p.id], "reasoned": False,
                "think_tokens": 0, "answer_tokens": 0, "generated_tokens": 0, "stopped": True, "parse_error": None,
                "generation_s": round(per_post, 6)} for p in posts]
    return write_predictions(out, posts, records, split=split, train_posts=train,
                             predicted_with={"data": data, "limit_train": limit_train, "image_model": image_model,
                                             "baseline": dataclasses.asdict(config)})
