"""The teacher validator and prompt: strict tags, the gold set after normalisation, the length cap."""
import pytest

from mmkp_lib.records import Post
from mmkp_lib.teacher import PROMPT_HASH, render_prompt, teacher_messages, validate_output
from mmkp_lib.teacher.validate import REASONS

GOLD = ["red circle", "beach"]


def test_accepts_the_gold_set_in_any_order_case_and_inflection():
    v = validate_output("<think>A red circle on the beach.</think><answer>Beaches; red circles</answer>", GOLD)
    assert v.ok and v.reason is None
    assert v.think == "A red circle on the beach." and v.think_words == 6
    assert v.answer == ["Beaches", "red circles"]


def test_tolerates_hashes_commas_and_spaces_in_the_answer():
    assert validate_output("<think>x y</think><answer> #red circle ,  #beach </answer>", GOLD).ok


@pytest.mark.parametrize("raw, reason", [
    ("red circle; beach", "missing-tags"),
    ("<think>a</think><think>b</think><answer>red circle; beach</answer>", "malformed-tags"),
    ("<answer>red circle; beach</answer><think>a</think>", "malformed-tags"),
    ("<think>a</think><answer>red circle; beach</answer> and more", "malformed-tags"),
    ("<think>a</think> red circle; beach", "malformed-tags"),  # no <answer> tag
    ("<think>  </think><answer>red circle; beach</answer>", "empty-reasoning"),
    ("<think>a b</think><answer> </answer>", "empty-answer"),
    ("<think>The given keyphrases are red circle and beach.</think><answer>red circle; beach</answer>",
     "mentions-given"),
    ("<think>a b</think><answer>red circle</answer>", "wrong-answer"),
    ("<think>a b</think><answer>red circle; beach; sea</answer>", "wrong-answer"),
])
def test_rejections_say_why(raw, reason):
    v = validate_output(raw, GOLD)
    assert not v.ok and v.reason == reason and v.detail
    assert reason in REASONS


def test_wrong_answer_names_what_is_missing_and_extra():
    v = validate_output("<think>a b</think><answer>red circle; sea</answer>", GOLD)
    assert v.detail == "missing ['beach'], extra ['sea']"


def test_length_cap_counts_whitespace_words():
    raw = "<think>" + " ".join(["word"] * 11) + "</think><answer>red circle; beach</answer>"
    assert validate_output(raw, GOLD, max_think_words=11).ok
    v = validate_output(raw, GOLD, max_think_words=10)
    assert v.reason == "too-long" and "11 words" in v.detail


def test_prompt_shows_text_keyphrases_and_format():
    post = Post(id="p", text="my vintage bicycle", keyphrases=["vintage bicycle", "red circle"], image="/x.png")
    text = render_prompt(post, max_words=120)
    assert "my vintage bicycle" in text and "vintage bicycle; red circle" in text
    assert "under 120 words" in text and "<think>" in text and "<answer>" in text
    assert "image is attached" in text
    msgs = teacher_messages(post)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[1]["content"][0] == {"type": "image"}
    no_image = render_prompt(Post(id="q", text="t", keyphrases=["k"]))
    assert "has no image" in no_image
    assert len(PROMPT_HASH) == 12 and int(PROMPT_HASH, 16) >= 0


def test_validator_uses_the_metrics_normalisation():
    from mmkp_lib.normalize import default_stemmer
    from mmkp_lib.teacher import normalize_keyphrase

    for kp in ["Red Circles", "running  dogs", "Wildflowers"]:
        assert normalize_keyphrase(kp) == default_stemmer().key(kp)
    # whatever the evaluation counts as a match, the validator accepts
    assert validate_output("<think>x</think><answer>Running Dogs</answer>", ["running dog"]).ok
