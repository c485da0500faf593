"""Is a teacher's output a usable rationale? Strict tag format, the gold answer, a sane length.

A rationale is accepted when
  - it parses strictly (`<think>` and `<answer>` once each, in order, nothing after `</answer>`),
  - the reasoning is not empty and has at most `max_think_words` whitespace-separated words,
  - it does not say the keyphrases were handed to it (the student never gets them),
  - its answer, after the metrics' normalisation, is exactly the gold keyphrase set.
Otherwise `reason` holds a short code (counted in the notebook) and `detail` says what exactly failed.

    >>> v = validate_output("<think>A red circle on a beach.</think><answer>red circles; Beach</answer>",
    ...                     ["red circle", "beach"])
    >>> v.ok, v.reason
    (True, None)
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from mmkp_lib.normalize import default_stemmer
from mmkp_lib.prompts import parse_output

DEFAULT_MAX_THINK_WORDS = 300

# Reason codes, in the order the checks run.
REASONS = ("missing-tags", "malformed-tags", "empty-reasoning", "empty-answer", "too-long", "mentions-given",
           "wrong-answer")

_GIVEN = re.compile(r"\b(given|provided|listed|supplied)\s+(key\s*phrases?|hashtags?|tags|answers?)\b", re.I)


def normalize_keyphrase(keyphrase: str) -> str:
    """The metrics' key of a keyphrase (mmkp_lib.normalize): lower-case, whitespace split, Porter stems.

    The validator compares answers exactly as the evaluation compares predictions with gold.
    """
    return default_stemmer().key(keyphrase)


@dataclass
class Validation:
    ok: bool
    reason: str | None = None  # one of REASONS, None when accepted
    detail: str | None = None  # human-readable: what exactly failed
    think: str | None = None  # the parsed reasoning (kept even when rejected, for inspection)
    answer: list[str] = field(default_factory=list)  # the parsed answer keyphrases
    think_words: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _parse_error_code(error: str) -> str:
    # parse_output's messages (mmkp_lib/prompts.py); tests/test_teacher_validate.py pins each mapping.
    if error.startswith("missing"):
        return "missing-tags"
    if error.startswith("empty reasoning"):
        return "empty-reasoning"
    if error.startswith("empty answer"):
        return "empty-answer"
    return "malformed-tags"


def validate_output(raw: str, gold: list[str], max_think_words: int = DEFAULT_MAX_THINK_WORDS) -> Validation:
    """Check one teacher output against the post's gold keyphrases."""
    parsed = parse_output(raw or "", require_tags=True)
    think = parsed.think
    v = Validation(ok=False, think=think, answer=list(parsed.keyphrases),
                   think_words=len(think.split()) if think else 0)
    if parsed.error:
        v.reason, v.detail = _parse_error_code(parsed.error), parsed.error
        return v
    if v.think_words > max_think_words:
        v.reason, v.detail = "too-long", f"reasoning has {v.think_words} words, the cap is {max_think_words}"
        return v
    m = _GIVEN.search(think)
    if m:
        v.reason, v.detail = "mentions-given", f"reasoning refers to the given answer: {m.group(0)!r}"
        return v
    want = {normalize_keyphrase(k) for k in gold}
    got = {normalize_keyphrase(k) for k in parsed.keyphrases}
    if got != want:
        missing = sorted(k for k in gold if normalize_keyphrase(k) not in got)
        extra = sorted(k for k in parsed.keyphrases if normalize_keyphrase(k) not in want)
        v.reason, v.detail = "wrong-answer", f"missing {missing}, extra {extra}"
        return v
    v.ok = True
    return v
