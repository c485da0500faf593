"""The answer parser: the trained format exactly, and leniently what an untuned (zero-shot) model writes."""
from __future__ import annotations

import pytest

from mmkp_lib.prompts import parse_output, split_keyphrases


@pytest.mark.parametrize("text, expected", [
    ("slow noodle; red circle; beach", ["slow noodle", "red circle", "beach"]),
    ("slow noodle, red circle", ["slow noodle", "red circle"]),
    ("#slownoodle #redcircle #beach", ["slownoodle", "redcircle", "beach"]),
    ("Keyphrases: slow noodle, red circle", ["slow noodle", "red circle"]),
    ("Hashtags: #beach #sunset", ["beach", "sunset"]),
    ("1. slow noodle\n2. red circle\n- beach", ["slow noodle", "red circle", "beach"]),
    ("  ;  ; ", []),
    ("7 wonders; route 66", ["7 wonders", "route 66"]),  # numbers inside keyphrases are kept
])
def test_split_keyphrases_reads_the_trained_format_and_untuned_answers(text, expected):
    assert split_keyphrases(text) == expected


def test_a_tagged_answer_is_parsed_as_before():
    parsed = parse_output("<think>the text names slow noodle</think><answer>slow noodle; red circle</answer>")
    assert parsed.reasoned and parsed.error is None and parsed.keyphrases == ["slow noodle", "red circle"]
