"""The oracle teacher: grounded in the latents, accepted by the validator, varied, deterministic, strict."""
import statistics

import pytest

from mmkp_lib.prompts import cot_target
from mmkp_lib.records import Post
from mmkp_lib.teacher import OracleBackend, OracleError, generate_rationales, load_rationales, validate_output
from mmkp_lib.teacher.oracle import write_rationale


def hand_post(pid="train-000007", keyphrases=("vintage bicycle", "red circle", "beach"), text=None, **synth):
    latents = {"scene": "beach", "object": {"colour": "red", "shape": "circle", "size": 40, "x": 32, "y": 30},
               "distractor": None, "topic": "vintage bicycle", "scene_in_text": False,
               "roles": {"vintage bicycle": "topic", "red circle": "object", "beach": "scene"}}
    latents.update(synth)
    return Post(id=pid, text=text or "finally fixed my vintage bicycle <url>", keyphrases=list(keyphrases),
                meta={"synth": latents})


def test_rationale_says_what_the_text_and_image_show_and_why_each_keyphrase():
    post = hand_post(distractor={"colour": "blue", "shape": "square", "size": 12, "x": 10, "y": 10})
    think = write_rationale(post, image_size=64)
    assert "vintage bicycle" in think  # the text's topic
    assert "red circle" in think and "beach" in think  # the image's object and scene
    for kp in post.keyphrases:
        assert f'"{kp}"' in think  # each keyphrase is explained by name
    assert validate_output(cot_target(think, post.keyphrases), post.keyphrases).ok


def test_deterministic_per_seed_and_post_id():
    post = hand_post()
    assert write_rationale(post, seed=0) == write_rationale(post, seed=0)
    variants = {write_rationale(hand_post(pid=f"p{i}"), seed=0) for i in range(30)}
    assert len(variants) >= 25  # same latents, other ids: the wording changes
    assert len({write_rationale(post, seed=s) for s in range(10)}) >= 8


def test_refuses_posts_without_latents_with_a_clear_message():
    with pytest.raises(OracleError, match=r"no generator latents.*--backend openai"):
        OracleBackend().check_posts([hand_post(), Post(id="x", text="t", keyphrases=["k"])])
    post = hand_post()
    del post.meta["synth"]["topic"]
    with pytest.raises(OracleError, match=r"lacks \['topic'\]"):
        write_rationale(post)
    with pytest.raises(OracleError, match="no role"):
        write_rationale(hand_post(keyphrases=("vintage bicycle", "sunset")))


def test_every_generated_post_is_accepted_with_varied_lengths(tmp_path):
    from mmkp_lib.synth import SynthConfig, generate

    generate(SynthConfig(n_train=300, n_valid=60, n_test=60, image_size=32), tmp_path / "synth", progress=False)
    from mmkp_lib.formats import load_posts

    posts = [p for split in ("train", "valid", "test") for p in load_posts(tmp_path / "synth", split=split)]
    cache = tmp_path / "oracle.jsonl"
    summary = generate_rationales(posts, OracleBackend(), cache, progress=False)
    assert summary.accepted == len(posts) == 420 and summary.rejected == 0 and summary.attempts == 420
    thinks = load_rationales(cache, posts)
    assert len(thinks) == 420 and len(set(thinks.values())) == 420
    words = [len(t.split()) for t in thinks.values()]
    assert 20 <= min(words) and max(words) <= 300
    assert statistics.pstdev(words) / statistics.mean(words) > 0.2  # lengths spread like an LLM's, not fixed
    openers = {t.split(".")[0].split(":")[0] for t in thinks.values()}
    assert len(openers) >= 6
