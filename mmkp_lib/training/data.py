"""Training examples per strategy: which target(s) each post is supervised with.

    sft        one example per post, target "kp1; kp2"
    cot        one example per post, target "<think>..</think><answer>kp1; kp2</answer>";
               posts without an accepted teacher rationale fall back to the SFT target (counted)
    multitask  two examples per post (SFT and CoT); posts without a rationale get only the SFT one
    dyncot     one example per post carrying both targets; the trainer picks one per visit

    from mmkp_lib.training.data import build_examples
    examples, report = build_examples(posts, "cot", rationales)
    print(report.summary())   # "cot: 800 posts -> 800 examples (780 CoT, 20 SFT fallback: no accepted rationale)"
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mmkp_lib.prompts import cot_target, sft_target
from mmkp_lib.records import Post

# A cot / multitask / dyncot run whose posts lack an accepted rationale beyond this share warns loudly (training
# stops when none has one): past it the run is partly SFT, and its row in a table would not say so otherwise.
FALLBACK_WARN_SHARE = 0.05


@dataclass
class TrainExample:
    """One training sample: a post and its target(s). `index` is the sample's stable identity (dyncot bookkeeping)."""

    index: int
    post: Post
    target: str  # what the sample is trained on (for dyncot: the SFT target, the default)
    kind: str  # "sft" | "cot": the format of `target`
    cot: str | None = None  # dyncot only: the CoT target when the post has an accepted rationale


@dataclass
class DataReport:
    strategy: str
    posts: int = 0
    examples: int = 0
    cot_examples: int = 0  # examples (or dyncot samples) with a CoT target
    fallback: int = 0  # posts with no accepted rationale, trained on SFT only
    fallback_ids: list[str] = field(default_factory=list)  # the first few, to look them up

    @property
    def fallback_share(self) -> float:
        """Share of the posts trained on the SFT target for want of a rationale (0 for sft)."""
        return self.fallback / self.posts if self.posts and self.strategy != "sft" else 0.0

    def summary(self) -> str:
        text = f"{self.strategy}: {self.posts} posts -> {self.examples} examples"
        if self.strategy == "sft":
            return text
        text += f" ({self.cot_examples} with a CoT target"
        if self.fallback:
            shown = ", ".join(self.fallback_ids[:3])
            text += f"; {self.fallback} posts have no accepted rationale and fall back to SFT, e.g. {shown}"
        return text + ")"

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "posts": self.posts, "examples": self.examples,
                "cot_examples": self.cot_examples, "fallback": self.fallback,
                "fallback_share": round(self.fallback_share, 6), "fallback_ids": self.fallback_ids[:20]}


def build_examples(posts: list[Post], strategy: str, rationales: dict[str, str] | None = None
                   ) -> tuple[list[TrainExample], DataReport]:
    """Examples for `strategy` from posts and accepted rationales (post id -> think text)."""
    if strategy not in ("sft", "cot", "multitask", "dyncot"):
        raise ValueError(f"strategy={strategy!r}: one of sft, cot, multitask, dyncot")
    if strategy != "sft" and rationales is None:
        raise ValueError(f"strategy {strategy!r} needs teacher rationales (post id -> think text)")
    rationales = rationales or {}
    report = DataReport(strategy, posts=len(posts))
    examples: list[TrainExample] = []

    def add(post: Post, target: str, kind: str, cot: str | None = None) -> None:
        examples.append(TrainExample(len(examples), post, target, kind, cot))

    for post in posts:
        sft = sft_target(post.keyphrases)
        think = rationales.get(post.id)
        cot = cot_target(think, post.keyphrases) if think and think.strip() else None
        if strategy != "sft" and cot is None:
            report.fallback += 1
            if len(report.fallback_ids) < 20:
                report.fallback_ids.append(post.id)
        if strategy == "sft":
            add(post, sft, "sft")
        elif strategy == "cot":
            add(post, cot, "cot") if cot else add(post, sft, "sft")
        elif strategy == "multitask":
            add(post, sft, "sft")
            if cot:
                add(post, cot, "cot")
        else:
            add(post, sft, "sft", cot)
    report.examples = len(examples)
    report.cot_examples = sum(1 for e in examples if e.kind == "cot" or e.cot is not None)
    return examples, report


class ExampleDataset:
    """A map-style dataset the HF Trainer can index; items are dicts the collator understands."""

    def __init__(self, examples: list[TrainExample]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        e = self.examples[i]
        return {"index": e.index, "post": e.post, "target": e.target, "kind": e.kind, "cot": e.cot}
