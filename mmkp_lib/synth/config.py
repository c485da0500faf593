"""The embedded benchmark's parameters: sizes, difficulty knobs, the overlap target, the seed.

Every parameter is a plain literal with its unit or meaning beside it; a bad
value raises ValueError at construction naming the parameter and the allowed
range, so `mmkp synth --target-overlap 1.5` fails at once.

    from mmkp_lib.synth import SynthConfig
    cfg = SynthConfig(n_train=300, n_valid=50, n_test=50, image_size=32, target_overlap=0.7)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mmkp_lib.synth.words import COLOURS, SHAPES

MIN_IMAGE_SIZE = 16  # px; below this the shapes' silhouettes (cross arms, star points) vanish


SMOKE_SIZES = {"n_train": 300, "n_valid": 60, "n_test": 60}  # posts per split of a smoke-sized benchmark (CI)


@dataclass(frozen=True)
class SynthConfig:
    # sizes
    n_train: int = 8000  # posts
    n_valid: int = 1000  # posts (built like test: same overlap target, its own unseen topics)
    n_test: int = 1000  # posts
    seed: int = 0  # everything (latents, texts, pixels) follows from it
    # image difficulty
    image_size: int = 64  # px, square RGB
    n_shapes: int = 4  # first k of SHAPES; few large shapes are what a tiny vision tower can learn
    n_colours: int = 8  # first k of COLOURS
    min_object_frac: float = 0.44  # main object's size / image side (28 px of 64, as in the prototypes)
    max_object_frac: float = 0.69  # (44 px of 64)
    distractor_prob: float = 0.3  # chance of a second, smaller object behind the main one
    min_distractor_frac: float = 0.2  # distractor size / image side
    max_distractor_frac: float = 0.3  # must stay below min_object_frac, so "the main object" is the big one
    noise: float = 0.04  # std of Gaussian pixel noise, as a fraction of 255
    colour_jitter: int = 12  # max per-channel shift of an object's colour, in RGB units
    # text
    scene_in_text_prob: float = 0.4  # chance the text mentions the scene word
    filler_prob: float = 0.35  # chance of a filler word (tbh, ngl, ...) somewhere in the text
    prefix_prob: float = 0.3  # chance of a tweet-like prefix (<user>, rt <user> :, ...)
    suffix_prob: float = 0.5  # chance of a tweet-like suffix (<url>, via <user>, ...)
    # keyphrases
    object_keyphrase_prob: float = 0.9  # chance "<colour> <shape>" is a keyphrase (absent: only the image tells)
    scene_keyphrase_prob: float = 0.35  # chance the scene is a keyphrase (present only if the text names it)
    # topics: Zipf over a random ranking of all adjective x noun phrases
    topic_zipf_exponent: float = 1.3  # p(rank r) ~ 1 / (r + offset) ** exponent
    topic_zipf_offset: float = 5.0  # flattens the very head
    # unseen keyphrases in valid/test
    n_unseen_pairs: int = 4  # colour-shape pairs held out of train (each colour and shape is still seen)
    unseen_pair_share: float = 0.2  # share of valid/test posts whose main object is a held-out pair
    target_overlap: float = 0.45  # share of unique test keyphrases also among train keyphrases
    overlap_tolerance: float = 0.02  # generate() reports when it cannot get this close

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("bad synth parameters: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        p = []
        for name in ("n_train", "n_valid", "n_test"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                p.append(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.image_size < MIN_IMAGE_SIZE:
            p.append(f"image_size must be at least {MIN_IMAGE_SIZE} px (shapes become unreadable), "
                     f"got {self.image_size}")
        if not 1 <= self.n_shapes <= len(SHAPES):
            p.append(f"n_shapes must be in 1..{len(SHAPES)} (shapes: {', '.join(SHAPES)}), got {self.n_shapes}")
        if not 2 <= self.n_colours <= len(COLOURS):
            p.append(f"n_colours must be in 2..{len(COLOURS)} (colours: {', '.join(COLOURS)}), got {self.n_colours}")
        if not 1 / 3 <= self.min_object_frac <= self.max_object_frac <= 1.0:
            p.append("object size must satisfy 1/3 <= min_object_frac <= max_object_frac <= 1 "
                     f"(the main object is at least a third of the image side), got "
                     f"{self.min_object_frac}..{self.max_object_frac}")
        if not 0 < self.min_distractor_frac <= self.max_distractor_frac < self.min_object_frac:
            p.append("distractor size must satisfy 0 < min_distractor_frac <= max_distractor_frac < min_object_frac, "
                     f"got {self.min_distractor_frac}..{self.max_distractor_frac} (min_object_frac {self.min_object_frac})")
        for name in ("distractor_prob", "scene_in_text_prob", "filler_prob", "prefix_prob", "suffix_prob",
                     "object_keyphrase_prob", "scene_keyphrase_prob", "unseen_pair_share", "target_overlap"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                p.append(f"{name} must be in [0, 1], got {v}")
        if not 0.0 <= self.noise <= 0.5:
            p.append(f"noise must be in [0, 0.5] (std as a fraction of 255), got {self.noise}")
        if not 0 <= self.colour_jitter <= 40:
            p.append(f"colour_jitter must be in 0..40 RGB units (more blurs colours into each other), "
                     f"got {self.colour_jitter}")
        if self.topic_zipf_exponent <= 0 or self.topic_zipf_offset < 0:
            p.append(f"topic_zipf_exponent must be > 0 and topic_zipf_offset >= 0, got "
                     f"{self.topic_zipf_exponent}, {self.topic_zipf_offset}")
        # Held-out pairs use distinct colours and distinct shapes so every colour and shape stays seen in train.
        # With one shape, holding out any pair would leave its colour unseen, hence 0.
        max_pairs = min(self.n_shapes, self.n_colours) if self.n_shapes >= 2 else 0
        if not 0 <= self.n_unseen_pairs <= max_pairs:
            p.append(f"n_unseen_pairs must be in 0..{max_pairs} (at most one per colour and one per shape, so each "
                     f"stays seen in train; none with a single shape), got {self.n_unseen_pairs}")
        if not 0 < self.overlap_tolerance <= 0.5:
            p.append(f"overlap_tolerance must be in (0, 0.5], got {self.overlap_tolerance}")
        return p

    @property
    def colours(self) -> tuple[str, ...]:
        return COLOURS[: self.n_colours]

    @property
    def shapes(self) -> tuple[str, ...]:
        return SHAPES[: self.n_shapes]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SynthConfig":
        """Rebuild a config from stats.json's "config" (unknown keys are an error, so typos surface)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown synth parameters: {unknown}; known: {sorted(known)}")
        return cls(**d)
