"""The student's prompt, its two target formats, and the output parser.

Every strategy trains and predicts with the same prompt; only the target differs:

    SFT target:  "vintage bicycle; red circle"
    CoT target:  "<think>The text mentions ...</think><answer>vintage bicycle; red circle</answer>"

The parser is shared by the teacher's validator (strict: both tags, once each,
in order) and the student's inference (an output without tags is read as an
SFT answer).

    >>> parse_output("<think>a red circle</think><answer>red circle; beach</answer>").keyphrases
    ['red circle', 'beach']
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# The question of the open AimKP code, so exported data matches theirs.
INSTRUCTION = "What phrases should be used to tag the media?"
IMAGE_PLACEHOLDER = "<image>"
KEYPHRASE_SEP = "; "
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
SPECIAL_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


def user_text(post_text: str) -> str:
    """The text part of the student's user turn."""
    return f"{post_text}\n{INSTRUCTION}"


def student_messages(post_text: str, has_image: bool = True) -> list[dict]:
    """Chat messages (transformers' multimodal content format) for one post."""
    content: list[dict] = [{"type": "image"}] if has_image else []
    content.append({"type": "text", "text": user_text(post_text)})
    return [{"role": "user", "content": content}]


def few_shot_messages(post_text: str, has_image: bool, examples) -> list[dict]:
    """student_messages preceded by in-context examples: for each (text, keyphrases) of `examples` a user turn
    with its text (no image: the examples teach the answer format, and images would add their tokens) and the
    assistant's answer in the trained format. The zero-shot row's prompt; trained strategies never see examples."""
    messages: list[dict] = []
    for text, keyphrases in examples:
        messages.append({"role": "user", "content": [{"type": "text", "text": user_text(text)}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": sft_target(keyphrases)}]})
    return messages + student_messages(post_text, has_image)


def sft_target(keyphrases: list[str]) -> str:
    """The plain answer: keyphrases in gold order joined by '; '."""
    return KEYPHRASE_SEP.join(k.strip() for k in keyphrases)


def cot_target(think: str, keyphrases: list[str]) -> str:
    """A rationale then the answer, in the tag format the teacher writes."""
    return f"{THINK_OPEN}{think.strip()}{THINK_CLOSE}{ANSWER_OPEN}{sft_target(keyphrases)}{ANSWER_CLOSE}"


_LIST_MARKER = re.compile(r"^(?:\d{1,2}[.)]|[-*\u2022])\s+")  # "1. ", "2) ", "- ", "* ", "• "
_LABEL = re.compile(r"^(?:key ?phrases?|hashtags?|tags?|answer|keywords?)\s*:\s*", re.I)


def split_keyphrases(answer: str) -> list[str]:
    """Split an answer into keyphrases: the trained format "kp1; kp2", and leniently what an untuned model writes
    instead (a zero-shot row): ',' or newlines between them, "#tag #tag" runs, list markers ("1. ", "- ") and a
    leading "Keyphrases:" / "Hashtags:" label. Empties are dropped."""
    out = []
    for part in re.split(r"[;,\n]", answer):
        part = _LABEL.sub("", _LIST_MARKER.sub("", part.strip())).strip()
        pieces = re.split(r"\s+(?=#)", part) if part.count("#") > 1 else [part]  # "#beach #red circle"
        for p in pieces:
            p = p.strip().lstrip("#").strip()
            if p:
                out.append(p)
    return out


@dataclass
class ParsedOutput:
    keyphrases: list[str]
    think: str | None = None  # the reasoning text, None when the output has none
    reasoned: bool = False  # True when the output holds a <think> block
    error: str | None = None  # why the output is not well-formed tag format; None if it is
    raw: str = ""
    issues: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_output(text: str, require_tags: bool = False) -> ParsedOutput:
    """Parse a model or teacher output.

    With tags: `<think>` and `<answer>` must occur once each, think first.
    Without any tag and `require_tags=False`: the whole text is an SFT answer.
    A malformed tagged output keeps whatever answer it can recover (for the
    student's metrics) and says what is wrong in `error` (for the teacher's
    validator).
    """
    raw = text
    text = text.strip()
    counts = {tag: text.count(tag) for tag in SPECIAL_TAGS}
    if not any(counts.values()):
        if require_tags:
            return ParsedOutput(split_keyphrases(text), raw=raw, error="missing <think>/<answer> tags")
        return ParsedOutput(split_keyphrases(text), raw=raw)

    think = None
    m = re.search(re.escape(THINK_OPEN) + r"(.*?)" + re.escape(THINK_CLOSE), text, re.S)
    if m:
        think = m.group(1).strip()
    a = re.search(re.escape(ANSWER_OPEN) + r"(.*?)(?:" + re.escape(ANSWER_CLOSE) + r"|$)", text, re.S)
    if a:
        answer = a.group(1)
    elif m:  # reasoning but no answer tag: whatever follows the reasoning
        answer = text[m.end():]
    else:
        answer = re.sub("|".join(map(re.escape, SPECIAL_TAGS)), " ", text)
    parsed = ParsedOutput(split_keyphrases(answer), think=think, reasoned=counts[THINK_OPEN] > 0, raw=raw)

    for tag, n in counts.items():
        if n != 1:
            parsed.error = f"{tag} occurs {n} times, expected once"
            return parsed
    if not (text.index(THINK_OPEN) < text.index(THINK_CLOSE) < text.index(ANSWER_OPEN) < text.index(ANSWER_CLOSE)):
        parsed.error = "tags out of order: expected <think>...</think><answer>...</answer>"
    elif not think:
        parsed.error = "empty reasoning inside <think></think>"
    elif not parsed.keyphrases:
        parsed.error = "empty answer inside <answer></answer>"
    elif text[text.index(ANSWER_CLOSE) + len(ANSWER_CLOSE):].strip():
        parsed.error = "text after </answer>"
    return parsed
