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


def test_prose_rationale_says_what_the_text_and_image_show_and_why_each_keyphrase():
    post = hand_post(distractor={"colour": "blue", "shape": "square", "size": 12, "x": 10, "y": 10})
    think = write_rationale(post, image_size=64, style="prose")
    assert "vintage bicycle" in think  # the text's topic
    assert "red circle" in think and "beach" in think  # the image's object and scene
    for kp in post.keyphrases:
        assert f'"{kp}"' in think  # each keyphrase is explained by name
    assert validate_output(cot_target(think, post.keyphrases), post.keyphrases).ok


def test_prose_is_deterministic_per_seed_and_post_id():
    post = hand_post()
    assert write_rationale(post, seed=0, style="prose") == write_rationale(post, seed=0, style="prose")
    variants = {write_rationale(hand_post(pid=f"p{i}"), seed=0, style="prose") for i in range(30)}
    assert len(variants) >= 25  # same latents, other ids: the wording changes
    assert len({write_rationale(post, seed=s, style="prose") for s in range(10)}) >= 8


def test_facts_state_the_quoted_topic_and_colour_shape_scene_as_separate_words():
    """The default style: the facts the answer is built from, before it; the colour and the shape stand apart
    (never as the "red circle" pair the answer composes from them), in one of a handful of templates."""
    post = hand_post(keyphrases=("vintage bicycle", "red circle"))
    think = write_rationale(post)
    assert think == write_rationale(post, style="facts")
    assert '"fixed my vintage bicycle <url>"' in think  # the quoted span: the topic, two words either side
    words = think.split()
    assert {"red", "circle", "beach"} <= set(words) and "red circle" not in think
    assert validate_output(cot_target(think, post.keyphrases), post.keyphrases).ok
    templates = {write_rationale(hand_post(pid=f"p{i}")).split()[0] for i in range(40)}
    assert 3 <= len(templates) <= 6  # a handful, learnable by a small model
    assert write_rationale(post, seed=0) == write_rationale(post, seed=0)


def test_unknown_style_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="oracle style 'bullet': one of facts, prose"):
        write_rationale(hand_post(), style="bullet")
    with pytest.raises(ValueError, match="facts, prose"):
        OracleBackend(style="Facts")


def test_backend_name_and_default_cache_file_carry_the_style():
    """Two styles never share a cache key or, by default, a cache file (training refuses mixed teachers)."""
    from mmkp_lib.cli.teacher import ORACLE_STYLES
    from mmkp_lib.teacher import default_cache_path
    from mmkp_lib.teacher.oracle import STYLES

    assert ORACLE_STYLES == STYLES
    assert OracleBackend().model == "synth-oracle-facts-v1-seed0"
    assert OracleBackend(style="prose").request_params()["style"] == "prose"
    assert default_cache_path("data/synth", "oracle", style="prose").name == "oracle-prose.jsonl"
    assert default_cache_path("data/synth", "openai", style="facts").name == "openai.jsonl"


def test_refuses_posts_without_latents_with_a_clear_message():
    with pytest.raises(OracleError, match=r"no generator latents.*--backend openai"):
        OracleBackend().check_posts([hand_post(), Post(id="x", text="t", keyphrases=["k"])])
    post = hand_post()
    del post.meta["synth"]["topic"]
    with pytest.raises(OracleError, match=r"lacks \['topic'\]"):
        write_rationale(post)
    with pytest.raises(OracleError, match="no role"):
        write_rationale(hand_post(keyphrases=("vintage bicycle", "sunset")))


@pytest.mark.parametrize("style", ["prose", "facts"])
def test_every_generated_post_is_accepted(tmp_path, style):
    from mmkp_lib.synth import SynthConfig, generate

    generate(SynthConfig(n_train=300, n_valid=60, n_test=60, image_size=32), tmp_path / "synth", progress=False)
    from mmkp_lib.formats import load_posts

    posts = [p for split in ("train", "valid", "test") for p in load_posts(tmp_path / "synth", split=split)]
    cache = tmp_path / "oracle.jsonl"
    summary = generate_rationales(posts, OracleBackend(style=style), cache, progress=False)
    assert summary.accepted == len(posts) == 420 and summary.rejected == 0 and summary.attempts == 420
    thinks = load_rationales(cache, posts)
    assert len(thinks) == 420
    words = [len(t.split()) for t in thinks.values()]
    if style == "facts":  # short and regular: the lengths notebook 02 reports
        assert 10 <= min(words) and max(words) <= 35 and 18 <= statistics.mean(words) <= 28
        return
    assert len(set(thinks.values())) == 420
    assert 20 <= min(words) and max(words) <= 300
    assert statistics.pstdev(words) / statistics.mean(words) > 0.2  # lengths spread like an LLM's, not fixed
    openers = {t.split(".")[0].split(":")[0] for t in thinks.values()}
    assert len(openers) >= 6
