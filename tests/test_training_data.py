"""Examples per strategy, with the CoT fallback counted."""
from __future__ import annotations

import pytest

from mmkp_lib.records import Post
from mmkp_lib.training.data import ExampleDataset, build_examples

POSTS = [Post(id=f"p{i}", text=f"text {i}", keyphrases=[f"kp{i}", "red circle"]) for i in range(4)]
RATIONALES = {"p0": "because zero", "p2": "because two", "p3": "  "}  # p3's is blank: not a rationale


def test_sft_is_one_plain_target_per_post():
    ex, report = build_examples(POSTS, "sft")
    assert [e.target for e in ex] == [f"kp{i}; red circle" for i in range(4)]
    assert report.summary() == "sft: 4 posts -> 4 examples"


def test_cot_falls_back_to_sft_without_an_accepted_rationale_and_says_so():
    ex, report = build_examples(POSTS, "cot", RATIONALES)
    assert [e.kind for e in ex] == ["cot", "sft", "cot", "sft"]
    assert ex[0].target == "<think>because zero</think><answer>kp0; red circle</answer>"
    assert (report.fallback, report.fallback_ids, report.cot_examples) == (2, ["p1", "p3"], 2)
    assert "2 posts have no accepted rationale" in report.summary()


def test_multitask_has_both_targets_where_it_can():
    ex, report = build_examples(POSTS, "multitask", RATIONALES)
    assert [(e.post.id, e.kind) for e in ex] == [("p0", "sft"), ("p0", "cot"), ("p1", "sft"), ("p2", "sft"),
                                                ("p2", "cot"), ("p3", "sft")]
    assert [e.index for e in ex] == list(range(6)) and report.examples == 6


def test_dyncot_carries_both_targets_per_sample():
    ex, report = build_examples(POSTS, "dyncot", RATIONALES)
    assert [e.target for e in ex] == [f"kp{i}; red circle" for i in range(4)]
    assert [e.cot is not None for e in ex] == [True, False, True, False]
    item = ExampleDataset(ex)[2]
    assert item["cot"].startswith("<think>because two") and item["index"] == 2


def test_strategies_other_than_sft_need_rationales():
    with pytest.raises(ValueError, match="needs teacher rationales"):
        build_examples(POSTS, "cot")
    with pytest.raises(ValueError, match="strategy='zero'"):
        build_examples(POSTS, "zero")


def test_the_validation_budget_follows_the_longest_target_and_never_passes_the_cap():
    from types import SimpleNamespace

    from mmkp_lib.training.launch import validation_budget

    class WordTokenizer:  # one token per whitespace word
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [t.split() for t in texts]}

    sft = [SimpleNamespace(target="a; b", cot=None), SimpleNamespace(target="a b c d; e", cot=None)]
    assert validation_budget(sft, WordTokenizer(), cap=400) == int(1.25 * 5) + 8
    # a Dynamic CoT sample trains on either target: its CoT version counts
    dyn = sft + [SimpleNamespace(target="x", cot=" ".join(["w"] * 100))]
    assert validation_budget(dyn, WordTokenizer(), cap=400) == 125 + 8
    assert validation_budget(dyn, WordTokenizer(), cap=64) == 64
    assert validation_budget([], WordTokenizer(), cap=400) == 400
