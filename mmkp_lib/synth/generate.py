"""Generate the embedded benchmark: latents for every split, the overlap control, texts, images, stats.

    mmkp synth --out data/synth                       # 8000/1000/1000 posts, 64 px, seed 0
    python -c "from mmkp_lib.synth import SynthConfig, generate; generate(SynthConfig(n_train=300), 'tmp/s')"

Order of work (each step has its own seeded random stream, so changing one
knob does not reshuffle unrelated parts and the output is byte-identical for a
seed):

1. hold out `n_unseen_pairs` colour-shape pairs (distinct colours, distinct
   shapes, so every colour and every shape is still seen in train);
2. image latents per post: scene, main object (train: seen pairs only;
   valid/test: a held-out pair with probability `unseen_pair_share`), an
   optional smaller distractor of another colour, and which keyphrases it gets;
3. train topics from the Zipf law, then train texts;
4. valid/test topics from the Zipf law restricted to train topics, then the
   overlap control swaps some posts to fresh topics (never in train, words all
   in training text) until the unique overlap is nearest `target_overlap`; if
   even no swap is below the target, held-out pairs are given back seen pairs
   first;
5. texts, then images (one rng per post, seeded by split and index), JSONL and
   stats.json.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmkp_lib.records import Post, write_posts
from mmkp_lib.synth.config import SynthConfig
from mmkp_lib.synth.draw import draw_image, sample_object
from mmkp_lib.synth.stats import dataset_stats
from mmkp_lib.synth.text import compose_text
from mmkp_lib.synth.topics import TopicSampler, control_overlap, fresh_topic_pool, unique_overlap
from mmkp_lib.synth.words import SCENES, tokens

SPLITS = ("train", "valid", "test")
# Independent random streams: np.random.default_rng([seed, STREAM, ...]).
_RANKING, _PAIRS, _LATENTS, _TOPICS, _CONTROL, _TEXT, _PIXELS = range(7)


def _rng(config: SynthConfig, *stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *stream])


def held_out_pairs(config: SynthConfig) -> list[tuple[str, str]]:
    """The colour-shape pairs that occur only in valid/test images (distinct colours and shapes)."""
    rng = _rng(config, _PAIRS)
    colours = [config.colours[i] for i in rng.permutation(len(config.colours))]
    shapes = [config.shapes[i] for i in rng.permutation(len(config.shapes))]
    return sorted(zip(colours[: config.n_unseen_pairs], shapes[: config.n_unseen_pairs]))


def _image_latents(rng: np.random.Generator, config: SynthConfig, pairs: list[tuple[str, str]],
                   distractor_pairs: list[tuple[str, str]]) -> dict[str, Any]:
    S = config.image_size
    obj = sample_object(rng, S, min_frac=config.min_object_frac, max_frac=config.max_object_frac, pairs=pairs)
    distractor = None
    # Another colour than the main object's, so "the colour" of the post is unambiguous.
    others = [p for p in distractor_pairs if p[0] != obj["colour"]]
    if rng.random() < config.distractor_prob and others:
        distractor = sample_object(rng, S, min_frac=config.min_distractor_frac,
                                   max_frac=config.max_distractor_frac, pairs=others)
        # Keep it off the main object's centre where a few tries allow; it is drawn underneath anyway.
        for _ in range(8):
            if np.hypot(distractor["x"] - obj["x"], distractor["y"] - obj["y"]) >= (obj["size"] + distractor["size"]) / 2.5:
                break
            distractor.update({k: v for k, v in sample_object(
                rng, S, min_frac=config.min_distractor_frac, max_frac=config.max_distractor_frac,
                pairs=[(distractor["colour"], distractor["shape"])]).items() if k in ("x", "y")})
    return {
        "scene": SCENES[int(rng.integers(len(SCENES)))],
        "object": obj,
        "distractor": distractor,
        "scene_in_text": bool(rng.random() < config.scene_in_text_prob),
        # Which keyphrases the post gets; the topic always.
        "_object_kp": bool(rng.random() < config.object_keyphrase_prob),
        "_scene_kp": bool(rng.random() < config.scene_keyphrase_prob),
    }


def _keyphrases(lat: dict[str, Any]) -> list[str]:
    kps = [lat["topic"]]
    if lat["_object_kp"]:
        kps.append(f"{lat['object']['colour']} {lat['object']['shape']}")
    if lat["_scene_kp"]:
        kps.append(lat["scene"])
    return kps


def _finish(lat: dict[str, Any], rng: np.random.Generator, config: SynthConfig) -> tuple[str, list[str], dict]:
    """Text, keyphrases and the public latents (meta["synth"]) of one post."""
    text, template = compose_text(rng, lat["topic"], lat["scene"], lat["scene_in_text"],
                                  config.filler_prob, config.prefix_prob, config.suffix_prob)
    kps = _keyphrases(lat)
    roles = {kps[0]: "topic"}
    if lat["_object_kp"]:
        roles[kps[1]] = "object"
    if lat["_scene_kp"]:
        roles[lat["scene"]] = "scene"
    meta = {"scene": lat["scene"], "object": lat["object"], "distractor": lat["distractor"], "topic": lat["topic"],
            "scene_in_text": lat["scene_in_text"], "template": template, "roles": roles}
    return text, kps, meta


def build_posts(config: SynthConfig, out_dir: str | os.PathLike) -> tuple[dict[str, list[Post]], dict[str, Any]]:
    """All posts (text, keyphrases, latents; image paths under out_dir/images, not yet drawn) and control info."""
    out_dir = Path(out_dir)
    held = held_out_pairs(config)
    all_pairs = [(c, s) for c in config.colours for s in config.shapes]
    seen_pairs = [p for p in all_pairs if p not in held]
    sampler = TopicSampler(_rng(config, _RANKING), config.topic_zipf_exponent, config.topic_zipf_offset)
    sizes = {"train": config.n_train, "valid": config.n_valid, "test": config.n_test}

    latents: dict[str, list[dict]] = {}
    for si, split in enumerate(SPLITS):
        rng = _rng(config, _LATENTS, si)
        lats = []
        for _ in range(sizes[split]):
            if split == "train" or not held or rng.random() >= config.unseen_pair_share:
                pairs = seen_pairs
            else:
                pairs = held
            # Train images never show a held-out pair, not even as a distractor.
            lats.append(_image_latents(rng, config, pairs, seen_pairs if split == "train" else all_pairs))
        latents[split] = lats

    # Train: topics from the full Zipf law, then texts (valid/test's unseen topics need train's words).
    posts: dict[str, list[Post]] = {}
    for lat, topic in zip(latents["train"], sampler.sample(_rng(config, _TOPICS, 0), config.n_train)):
        lat["topic"] = topic
    posts["train"] = _make_posts("train", latents["train"], config, out_dir)
    train_kps = {k for p in posts["train"] for k in p.keyphrases}
    train_topics = {p.meta["synth"]["topic"] for p in posts["train"]}
    train_words = {w for p in posts["train"] for w in tokens(p.text)}

    fresh = fresh_topic_pool(_rng(config, _TOPICS, 99), train_topics, train_words)
    need = config.n_valid + config.n_test
    if len(fresh) < need:
        raise ValueError(f"only {len(fresh)} unseen topics are possible with n_train={config.n_train}, "
                         f"but valid+test may need {need}; lower n_valid/n_test or raise n_train")
    fresh_for = {"test": fresh[: config.n_test], "valid": fresh[config.n_test: need]}  # disjoint pools

    control: dict[str, Any] = {"target_overlap": config.target_overlap, "tolerance": config.overlap_tolerance,
                               "held_out_pairs": [f"{c} {s}" for c, s in held]}
    for si, split in ((1, "valid"), (2, "test")):
        lats = latents[split]
        for lat, topic in zip(lats, sampler.sample_among(_rng(config, _TOPICS, si), len(lats), train_topics)):
            lat["topic"] = topic
        rng = _rng(config, _CONTROL, si)
        restored = _restore_held_pairs(lats, train_kps, seen_pairs, config, rng)
        kps = [_keyphrases(lat) for lat in lats]
        order = [int(i) for i in rng.permutation(len(lats))]
        k, achieved = control_overlap(train_kps, kps, [0] * len(lats), fresh_for[split], order, config.target_overlap)
        for step, j in enumerate(order[:k]):
            lats[j]["topic"] = fresh_for[split][step]
        posts[split] = _make_posts(split, lats, config, out_dir)
        measured = unique_overlap(train_kps, [p.keyphrases for p in posts[split]])
        assert abs(measured - achieved) < 1e-9, "overlap control and the written posts disagree"
        control[split] = {"achieved_overlap": round(achieved, 4), "unseen_topic_posts": k,
                          "held_out_pairs_given_back": restored,
                          "within_tolerance": abs(achieved - config.target_overlap) <= config.overlap_tolerance}
    return posts, control


def _restore_held_pairs(lats: list[dict], train_kps: set[str], seen_pairs: list[tuple[str, str]],
                        config: SynthConfig, rng: np.random.Generator) -> list[str]:
    """For high targets: give posts with a held-out pair a seen pair instead, one pair at a time,
    while even no unseen topic leaves the overlap below the target. Returns the pairs given back."""
    restored = []
    while unique_overlap(train_kps, [_keyphrases(lat) for lat in lats]) < config.target_overlap:
        seen_names = {f"{c} {s}" for c, s in seen_pairs}
        used = sorted({f"{lat['object']['colour']} {lat['object']['shape']}" for lat in lats} - seen_names)
        if not used:
            break
        pair = used[0]
        for lat in lats:
            if f"{lat['object']['colour']} {lat['object']['shape']}" == pair:
                c, s = seen_pairs[int(rng.integers(len(seen_pairs)))]
                lat["object"] = {**lat["object"], "colour": c, "shape": s}
                if lat["distractor"] and lat["distractor"]["colour"] == c:
                    lat["distractor"] = None  # keep the main object's colour unique in its image
        restored.append(pair)
    return restored


def _make_posts(split: str, lats: list[dict], config: SynthConfig, out_dir: Path) -> list[Post]:
    rng = _rng(config, _TEXT, SPLITS.index(split))
    posts = []
    for i, lat in enumerate(lats):
        text, kps, meta = _finish(lat, rng, config)
        pid = f"{split}-{i:06d}"
        posts.append(Post(id=pid, text=text, keyphrases=kps, image=str(out_dir / "images" / f"{pid}.png"),
                          split=split, meta={"synth": meta}))
    return posts


def render_post_image(post: Post, config: SynthConfig) -> "Image.Image":  # noqa: F821 (PIL type)
    """The image of a generated post, from its latents and its own seeded rng (split, index)."""
    split, index = post.id.rsplit("-", 1)
    rng = _rng(config, _PIXELS, SPLITS.index(split), int(index))
    return draw_image(post.meta["synth"], config.image_size, config.noise, rng, config.colour_jitter)


_OUR_IMAGE = re.compile(r"^(train|valid|test)-\d{6}\.png$")


def generate(config: SynthConfig, out_dir: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Write the dataset folder (train/valid/test.jsonl, images/, stats.json) and return the stats."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    posts, control = build_posts(config, out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    wanted = {Path(p.image).name for split in SPLITS for p in posts[split]}
    for stale in image_dir.iterdir():  # images of an earlier, larger run would mislead; only ours are removed
        if _OUR_IMAGE.match(stale.name) and stale.name not in wanted:
            stale.unlink()
    total = sum(len(v) for v in posts.values())
    done = 0
    for split in SPLITS:
        for post in posts[split]:
            # compress_level fixed so PNG bytes do not depend on a Pillow default
            render_post_image(post, config).save(post.image, format="PNG", compress_level=6)
            done += 1
            if progress and (done % 2000 == 0 or done == total):
                print(f"  images {done}/{total}  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        write_posts(posts[split], out_dir / f"{split}.jsonl")
    stats = dataset_stats(posts)
    stats["control"] = control
    stats["config"] = config.to_dict()
    tmp = out_dir / "stats.json.tmp"
    tmp.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "stats.json")
    return stats
