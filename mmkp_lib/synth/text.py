"""Post text of the embedded benchmark: a template around the topic, an optional scene clause, tweet noise.

The topic phrase is inserted verbatim and kept whole (noise never splits it);
the scene word enters only through a scene clause; no word list holds a colour
or shape word (words.check_word_lists), so the object's "<colour> <shape>" is
never in the text. Texts are lower-case and space-tokenised like MMKP's.

    >>> import numpy as np
    >>> from mmkp_lib.synth.text import compose_text
    >>> text, template = compose_text(np.random.default_rng(0), "vintage bicycle", "beach", True)
    >>> "vintage bicycle" in text and "beach" in text.split()
    True
"""
from __future__ import annotations

import numpy as np

from mmkp_lib.synth.words import FILLERS, PREFIXES, SCENE_CLAUSES, SCENE_JOINERS, SUFFIXES, TEMPLATES, tokens

_TRAILING_JOINERS = SCENE_JOINERS[1:]  # a clause after the template; ":" only introduces one before it


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def compose_text(rng: np.random.Generator, topic: str, scene: str, scene_in_text: bool,
                 filler_prob: float = 0.35, prefix_prob: float = 0.3, suffix_prob: float = 0.5) -> tuple[str, int]:
    """(text, template index) for one post."""
    template_index = int(rng.integers(len(TEMPLATES)))
    left, right = TEMPLATES[template_index].split("{topic}")
    units: list[str] = tokens(left) + [topic] + tokens(right)  # the topic is one unit: fillers never split it
    if scene_in_text:
        clause = tokens(_pick(rng, SCENE_CLAUSES).replace("{scene}", scene))
        if rng.random() < 0.5:
            units = clause + [SCENE_JOINERS[0]] + units
        else:
            joiner = [] if units[-1] in SCENE_JOINERS + ("?",) else [_pick(rng, _TRAILING_JOINERS)]  # no ". -" pile-ups
            units = units + joiner + clause
    if rng.random() < filler_prob:
        units.insert(int(rng.integers(len(units) + 1)), _pick(rng, FILLERS))
    if rng.random() < prefix_prob:
        units = [_pick(rng, PREFIXES)] + units
    if rng.random() < suffix_prob:
        units = units + [_pick(rng, SUFFIXES)]
    return " ".join(units), template_index
