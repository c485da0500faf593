"""The embedded multimodal benchmark: generated posts (text + PNG image) with keyphrases.

MMKP's images are not public, so this generator makes posts that show the
paper's phenomena and train on a CPU in minutes: present topics copied from the
text (long-tailed, some unseen in train), absent "<colour> <shape>" keyphrases
that only the image tells (some pairs unseen in train), optional scenes, and a
`target_overlap` that sets how many unique test keyphrases train has seen.

    mmkp synth --out data/synth
    from mmkp_lib.synth import SynthConfig, generate
    stats = generate(SynthConfig(n_train=300, n_valid=50, n_test=50, image_size=32), "tmp/synth")

Modules: words (every string it can write), draw (images), topics (long tail and
the seen/unseen control), text (post text), stats, generate (splits, writing),
samples (a picture of a few posts for the README).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Names are loaded on first use (PEP 562), so `mmkp --help` can read SynthConfig's fields without
# importing numpy and PIL through draw/generate.
_EXPORTS = {
    "config": ("SynthConfig", "SMOKE_SIZES"),
    "draw": ("draw_image", "sample_object", "shape_polygon"),
    "generate": ("generate", "build_posts", "held_out_pairs", "render_post_image"),
    "samples": ("save_sample_grid",),
    "stats": ("dataset_stats", "format_stats", "keyphrase_present"),
    "text": ("compose_text",),
    "topics": ("TopicSampler", "all_topics"),
    "words": ("ADJECTIVES", "NOUNS", "COLOURS", "COLOUR_RGB", "SHAPES", "SCENES", "check_word_lists", "tokens",
              "vocabulary"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'mmkp_lib.synth' has no attribute {name!r}")
    module = importlib.import_module(f"mmkp_lib.synth.{_MODULE_OF[name]}")
    # Every name of that module at once: importing mmkp_lib.synth.generate also binds the package attribute
    # `generate` to the submodule, which would otherwise shadow the function of the same name from then on.
    for exported in _EXPORTS[_MODULE_OF[name]]:
        globals()[exported] = getattr(module, exported)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from mmkp_lib.synth.config import SynthConfig
    from mmkp_lib.synth.draw import draw_image, sample_object, shape_polygon
    from mmkp_lib.synth.generate import build_posts, generate, held_out_pairs, render_post_image
    from mmkp_lib.synth.samples import save_sample_grid
    from mmkp_lib.synth.stats import dataset_stats, format_stats, keyphrase_present
    from mmkp_lib.synth.text import compose_text
    from mmkp_lib.synth.topics import TopicSampler, all_topics
    from mmkp_lib.synth.words import (ADJECTIVES, COLOUR_RGB, COLOURS, NOUNS, SCENES, SHAPES, check_word_lists,
                                      tokens, vocabulary)
