"""The embedded benchmark (mmkp_lib.synth): its promises measured on small generated sets.

Each generation here is 300/50/50 posts at 32 px (well under a second). Figures
are recomputed from the written files, not taken from the generator's stats.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmkp_lib.cli import main as mmkp_main
from mmkp_lib.records import read_posts
from mmkp_lib.synth import (ADJECTIVES, COLOUR_RGB, COLOURS, NOUNS, SCENES, SHAPES, SynthConfig, check_word_lists,
                            draw_image, generate, keyphrase_present, sample_object, save_sample_grid, shape_polygon,
                            vocabulary)

SMALL = dict(n_train=300, n_valid=50, n_test=50, image_size=32)
SPLITS = ("train", "valid", "test")


def _load(folder: Path) -> dict:
    return {s: read_posts(folder / f"{s}.jsonl") for s in SPLITS}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    stats = generate(SynthConfig(**SMALL), out, progress=False)
    return out, stats, _load(out)


def _pair(obj: dict) -> str:
    return f"{obj['colour']} {obj['shape']}"


# ---- word lists ------------------------------------------------------------------------------------

def test_word_lists_keep_colour_shape_and_scene_words_out_of_topics_and_templates():
    check_word_lists()  # raises on a violation
    forbidden = set(COLOURS) | set(SHAPES) | set(SCENES)
    assert not forbidden & (set(ADJECTIVES) | set(NOUNS))
    assert len(ADJECTIVES) >= 130 and len(NOUNS) >= 140  # thousands of phrases: a closed list cannot be memorised


# ---- determinism -----------------------------------------------------------------------------------

def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path, small):
    out_a, _, _ = small
    out_b, out_c = tmp_path / "b", tmp_path / "c"
    generate(SynthConfig(**SMALL), out_b, progress=False)
    generate(SynthConfig(**SMALL, seed=1), out_c, progress=False)
    a, b, c = _files(out_a), _files(out_b), _files(out_c)
    assert len(a) == 3 + 1 + 400  # 3 jsonl, stats.json, 400 images
    assert a == b
    assert a["test.jsonl"] != c["test.jsonl"]
    assert a["images/train-000000.png"] != c["images/train-000000.png"]


# ---- text and keyphrases ---------------------------------------------------------------------------

def test_text_never_names_a_colour_or_shape(small):
    _, _, splits = small
    for post in (p for s in SPLITS for p in splits[s]):
        words = set(post.text.split())
        assert not words & set(COLOURS), post.text
        assert not words & set(SHAPES), post.text
        lat = post.meta["synth"]
        assert lat["object"]["colour"] not in words and lat["object"]["shape"] not in words


def test_topic_is_always_in_the_text_verbatim_and_scene_only_when_flagged(small):
    _, _, splits = small
    for post in (p for s in SPLITS for p in splits[s]):
        lat = post.meta["synth"]
        assert post.keyphrases[0] == lat["topic"]
        assert f" {lat['topic']} " in f" {post.text} "
        assert (lat["scene"] in post.text.split()) == lat["scene_in_text"]
        assert post.text == post.text.lower()


def test_keyphrases_follow_the_latents(small):
    _, _, splits = small
    n_object = 0
    for post in (p for s in SPLITS for p in splits[s]):
        lat = post.meta["synth"]
        assert 1 <= len(post.keyphrases) <= 3
        assert list(lat["roles"]) == post.keyphrases
        for kp, role in lat["roles"].items():
            if role == "object":
                n_object += 1
                assert kp == _pair(lat["object"])
                assert not keyphrase_present(kp, post.text)  # absent: only the image tells
            elif role == "scene":
                assert kp == lat["scene"]
            else:
                assert role == "topic" and kp == lat["topic"]
    assert n_object > 300  # usually present (object_keyphrase_prob 0.9 of 400 posts)


def test_vocabulary_covers_every_text_and_keyphrase_token(small):
    _, _, splits = small
    vocab = set(vocabulary())
    for post in (p for s in SPLITS for p in splits[s]):
        missing = [w for w in post.text.split() + " ".join(post.keyphrases).split() if w not in vocab]
        assert not missing, (post.id, missing)
    assert {"<user>", "<url>", "<number>"} <= vocab


# ---- overlap and unseen keyphrases ------------------------------------------------------------------

def _unique_overlap(train, posts) -> float:
    seen = {k for p in train for k in p.keyphrases}
    unique = {k for p in posts for k in p.keyphrases}
    return len(unique & seen) / len(unique)


@pytest.mark.parametrize("target", [0.3, 0.7])
def test_achieved_overlap_is_within_tolerance_and_reported(tmp_path, target):
    # 200 held-out posts: with 50, the ~36 always-seen pairs and scenes alone keep the overlap above ~0.36.
    sizes = {**SMALL, "n_valid": 200, "n_test": 200}
    stats = generate(SynthConfig(**sizes, target_overlap=target), tmp_path, progress=False)
    splits = _load(tmp_path)
    for split in ("valid", "test"):
        achieved = _unique_overlap(splits["train"], splits[split])
        assert abs(achieved - target) <= 0.02, (split, achieved)
        assert stats["control"][split]["achieved_overlap"] == pytest.approx(achieved, abs=1e-4)
        assert stats[split]["unique_overlap"] == pytest.approx(achieved, abs=1e-4)
    saved = json.loads((tmp_path / "stats.json").read_text())
    assert saved["config"]["target_overlap"] == target and saved["config"]["seed"] == 0


def test_unreachable_target_is_reported_not_hidden(tmp_path):
    # 50 test posts hold about 30 seen colour-shape pairs and scenes: 5% overlap cannot be reached.
    stats = generate(SynthConfig(**SMALL, target_overlap=0.05), tmp_path, progress=False)
    assert stats["control"]["test"]["within_tolerance"] is False
    assert stats["test"]["unique_overlap"] > 0.07


def test_full_overlap_gives_held_out_pairs_back(tmp_path):
    stats = generate(SynthConfig(**SMALL, target_overlap=1.0), tmp_path, progress=False)
    splits = _load(tmp_path)
    assert _unique_overlap(splits["train"], splits["test"]) >= 0.98
    assert stats["control"]["test"]["held_out_pairs_given_back"]


def test_unseen_topics_are_made_of_words_seen_in_training_text(small):
    _, _, splits = small
    train_kps = {k for p in splits["train"] for k in p.keyphrases}
    train_words = {w for p in splits["train"] for w in p.text.split()}
    unseen = {p.meta["synth"]["topic"] for p in splits["test"]} - train_kps
    assert len(unseen) >= 10
    for topic in unseen:
        assert all(w in train_words for w in topic.split()), topic
    valid_unseen = {p.meta["synth"]["topic"] for p in splits["valid"]} - train_kps
    assert not unseen & valid_unseen  # valid's unseen topics are its own


def test_held_out_colour_shape_pairs_appear_only_in_valid_and_test_images(small):
    _, stats, splits = small
    held = set(stats["control"]["held_out_pairs"])
    assert len(held) == 4
    train_pairs = {_pair(p.meta["synth"]["object"]) for p in splits["train"]}
    train_pairs |= {_pair(p.meta["synth"]["distractor"]) for p in splits["train"] if p.meta["synth"]["distractor"]}
    assert not held & train_pairs
    test_pairs = {_pair(p.meta["synth"]["object"]) for p in splits["test"]}
    assert held & test_pairs
    # Every colour and shape is still seen in train: an unseen pair is a new composition, not a new word.
    assert {p.split()[0] for p in train_pairs} == set(COLOURS)
    assert {p.split()[1] for p in train_pairs} == set(SHAPES[:4])


def test_long_tail_of_topics(small):
    _, _, splits = small
    counts = Counter(p.meta["synth"]["topic"] for p in splits["train"])
    once = sum(c == 1 for c in counts.values())
    assert len(counts) >= 0.3 * len(splits["train"])  # many distinct phrases
    assert once / len(counts) >= 0.5  # most seen once
    assert counts.most_common(1)[0][1] >= 5  # and a head


def test_stats_match_the_files(small):
    _, stats, splits = small
    for split in SPLITS:
        inst = [(k, p.text) for p in splits[split] for k in p.keyphrases]
        present = sum(f" {k} " in f" {t} " for k, t in inst)  # texts are space-tokenised
        assert stats[split]["present_share"] == pytest.approx(present / len(inst), abs=1e-4)
        assert stats[split]["posts"] == len(splits[split])
    seen = {k for p in splits["train"] for k in p.keyphrases}
    unseen_posts = sum(any(k not in seen for k in p.keyphrases) for p in splits["test"])
    assert stats["test"]["unseen_post_share"] == pytest.approx(unseen_posts / 50, abs=1e-4)


# ---- images ----------------------------------------------------------------------------------------

def test_images_are_pngs_whose_centre_shows_the_object_colour(small):
    _, _, splits = small
    for post in (p for s in SPLITS for p in splits[s]):
        assert Path(post.image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(post.image) as im:
            assert im.format == "PNG" and im.size == (32, 32) and im.mode == "RGB"
            pixel = np.asarray(im)[post.meta["synth"]["object"]["y"], post.meta["synth"]["object"]["x"]].astype(float)
        dist = {c: np.linalg.norm(pixel - np.array(rgb)) for c, rgb in COLOUR_RGB.items()}
        colour = post.meta["synth"]["object"]["colour"]
        assert min(dist, key=dist.get) == colour, (post.id, pixel, colour)
        assert dist[colour] < 70


def test_objects_are_large_and_stay_inside_the_image():
    rng = np.random.default_rng(0)
    for _ in range(200):
        obj = sample_object(rng, 64)
        assert 64 / 3 <= obj["size"] <= 45
        xs, ys = zip(*shape_polygon(obj["shape"], obj["size"], obj["x"] + 0.5, obj["y"] + 0.5, obj["rotation"]))
        assert min(xs) >= -0.5 and max(xs) <= 64.5 and min(ys) >= -0.5 and max(ys) <= 64.5


def test_draw_image_shows_the_scene_and_the_shape():
    obj = {"colour": "red", "shape": "square", "size": 40, "x": 32, "y": 32, "rotation": 0.0}
    square = np.asarray(draw_image({"scene": "snow", "object": obj, "distractor": None}, 64, noise=0.0,
                                   colour_jitter=0))
    circle = np.asarray(draw_image({"scene": "snow", "object": {**obj, "shape": "circle"}, "distractor": None}, 64,
                                   noise=0.0, colour_jitter=0))
    red = lambda a: (a[..., 0] > 180) & (a[..., 1] < 80)  # noqa: E731
    # A square of side 40 at 45 degrees (corners on the unit circle) covers about half its bounding circle's area
    # (2 r^2 = 800 px); the circle (radius 0.92 r) covers more (about 1060 px).
    assert 650 < red(square).sum() < 900 and 950 < red(circle).sum() < 1150
    top_row = np.median(square[0].astype(int), axis=0)  # the snow background, away from its drifts
    assert tuple(top_row) == pytest.approx((236, 240, 246), abs=10)
    with pytest.raises(ValueError, match="unknown scene"):
        draw_image({"scene": "mars", "object": obj, "distractor": None})


# ---- parameters, CLI, sample grid ------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (dict(target_overlap=1.5), "target_overlap must be in \\[0, 1\\]"),
    (dict(target_overlap=-0.1), "target_overlap"),
    (dict(n_shapes=7), "n_shapes must be in 1..6"),
    (dict(image_size=8), "image_size must be at least 16"),
    (dict(min_object_frac=0.2), "at least a third"),
    (dict(n_train=0), "n_train must be a positive integer"),
    (dict(n_shapes=4, n_unseen_pairs=5), "n_unseen_pairs must be in 0..4"),
])
def test_bad_parameters_are_rejected_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**bad)


def test_cli_writes_the_folder_and_prints_the_stats(tmp_path, capsys):
    out = tmp_path / "synth"
    rc = mmkp_main(["synth", "--out", str(out), "--n-train", "300", "--n-valid", "50", "--n-test", "50",
                    "--image-size", "32", "--quiet", "--sample-grid", str(tmp_path / "grid.png")])
    printed = capsys.readouterr().out
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"train.jsonl", "valid.jsonl", "test.jsonl", "stats.json", "images"}
    stats = json.loads((out / "stats.json").read_text())
    assert "unique overlap with train" in printed and "present share" in printed
    assert f"{100 * stats['test']['unique_overlap']:.1f}%" in printed
    assert str(stats["train"]["unique_keyphrases"]) in printed
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size[0] == 4 * 300 and im.size[1] > 2 * 128


def test_cli_rejects_bad_parameters(tmp_path, capsys):
    rc = mmkp_main(["synth", "--out", str(tmp_path / "x"), "--target-overlap", "1.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "target_overlap must be in [0, 1], got 1.5" in err
    assert not (tmp_path / "x").exists()


def test_sample_grid_draws_the_requested_posts(small, tmp_path):
    out, _, _ = small
    path = save_sample_grid(out, tmp_path / "docs" / "samples.png", n=3, cols=3)
    with Image.open(path) as im:
        assert im.size[0] == 3 * 300
        # Each cell starts with a post image: its top-left pixel is the image's (upscaled) pixel, not white.
        assert im.getpixel((8 + 300, 8)) != (255, 255, 255)


def test_the_package_names_stay_functions_whichever_is_loaded_first():
    """`from mmkp_lib.synth import generate` is the function even after another name of its submodule was loaded
    first (importing mmkp_lib.synth.generate binds the package attribute `generate` to the submodule)."""
    import subprocess
    import sys

    code = ("from mmkp_lib.synth import build_posts\nfrom mmkp_lib.synth import generate\n"
            "import sys\nassert callable(generate) and generate is sys.modules['mmkp_lib.synth.generate'].generate")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
