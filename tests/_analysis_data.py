"""Hand-built gold posts, training posts and runs shared by test_analysis, test_explorer and test_plots.

Five test posts (expected numbers in the tests are computed by hand from these):

    p1 "my vintage bicycle at the beach"  vintage bicycle (present, train 2), beach (present, train 3)
    p2 "lovely day"                       red circle (absent, train 2), sunset (absent, train 25)
    p3 "new cat toy"                      cat toy (present, unseen), dog (absent, train 7)
    p4 "tiny koala appreciation post"     tiny koala (present, unseen)
    p5 "sunny forest walk"                forest (present, train 1)
"""
from __future__ import annotations

import pytest

from mmkp_lib.analysis import Run
from mmkp_lib.records import Post

TEXTS = {"p1": "my vintage bicycle at the beach", "p2": "lovely day", "p3": "new cat toy",
         "p4": "tiny koala appreciation post", "p5": "sunny forest walk"}
GOLD_KPS = {"p1": ["vintage bicycle", "beach"], "p2": ["red circle", "sunset"], "p3": ["cat toy", "dog"],
            "p4": ["tiny koala"], "p5": ["forest"]}
ROLES = {"p1": {"vintage bicycle": "topic", "beach": "scene"}, "p2": {"red circle": "object", "sunset": "scene"},
         "p3": {"cat toy": "topic", "dog": "object"}, "p4": {"tiny koala": "topic"}, "p5": {"forest": "scene"}}


def gold_posts(images: dict[str, str] | None = None) -> list[Post]:
    return [Post(i, TEXTS[i], GOLD_KPS[i], image=(images or {}).get(i), split="test",
                 meta={"synth": {"roles": ROLES[i]}}) for i in TEXTS]


def train_posts() -> list[Post]:
    kps = ([["vintage bicycle", "beach"]] * 2 + [["beach", "red circle"]] + [["red circle"]]
           + [["sunset"]] * 25 + [["dog"]] * 7 + [["forest"]])
    return [Post(f"t{i}", "train text", k, split="train") for i, k in enumerate(kps)]


def _records(preds: dict[str, list[str]], think: dict[str, int] | None = None) -> list[dict]:
    out = []
    for pid, kps in preds.items():
        n = (think or {}).get(pid, 0)
        answer = "; ".join(kps)
        raw = f"<think>because of {pid}</think><answer>{answer}</answer>" if n else answer
        out.append({"id": pid, "raw": raw, "keyphrases": kps, "reasoned": bool(n), "think_tokens": n,
                    "answer_tokens": 5, "generated_tokens": n + 5, "stopped": True, "parse_error": None,
                    "generation_s": 0.1 + n / 100})
    return out


SFT0 = {"p1": ["vintage bicycle", "beach"], "p2": ["red circle"], "p3": ["cat toy", "sunset"], "p4": ["koala"],
        "p5": ["forest"]}
SFT1 = {**SFT0, "p4": ["tiny koala"]}
COT0 = {"p1": ["bicycle", "beach"], "p2": ["red circle", "sunset", "lake"], "p3": ["toy"], "p4": ["tiny koala"],
        "p5": ["lake"]}
DYN0 = {"p1": ["vintage bicycle", "beach"], "p2": ["red circle", "sunset"], "p3": ["cat toy", "dog"],
        "p4": ["tiny koala"], "p5": ["forest"]}


def make_runs() -> list[Run]:
    all50 = dict.fromkeys(TEXTS, 50)
    return [
        Run("sft-seed0", _records(SFT0), strategy="sft", seed=0),
        Run("sft-seed1", _records(SFT1), strategy="sft", seed=1),
        Run("cot-seed0", _records(COT0, all50), strategy="cot", seed=0),
        Run("dyncot-seed0", _records(DYN0, {"p2": 20, "p3": 40}), strategy="dyncot", seed=0, gamma="0.4"),
    ]


# Module-scoped fixtures of the analysis tests (a test module imports the ones it uses).

@pytest.fixture(scope="module")
def gold():
    return gold_posts()


@pytest.fixture(scope="module")
def train():
    return train_posts()


@pytest.fixture(scope="module")
def runs():
    return make_runs()


@pytest.fixture(scope="module")
def tables(gold, runs, train):
    from mmkp_lib import analysis as A

    return A.build_tables(gold, runs, train)
