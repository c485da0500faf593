"""Statistics of a generated dataset: sizes, present/absent shares, overlap with train, unseen shares, topic tail.

A keyphrase is *present* when its words occur contiguously in the lower-cased,
whitespace-tokenised text (a plain check; the metrics module does the stemmed
one). A test keyphrase is *seen* when the exact string occurs among train
keyphrases. Unique overlap is over distinct test keyphrases (the figure the
paper quotes: 97.32% for MMKP, about 45% for production data); instance overlap
counts every occurrence.

    from mmkp_lib.records import read_posts
    from mmkp_lib.synth.stats import dataset_stats
    splits = {s: read_posts(f"data/synth/{s}.jsonl") for s in ("train", "valid", "test")}
    dataset_stats(splits)["test"]["unique_overlap"]
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from mmkp_lib.records import Post


def keyphrase_present(keyphrase: str, text: str) -> bool:
    """True if the keyphrase's words occur contiguously among the text's lower-cased tokens."""
    kp = keyphrase.lower().split()
    words = text.lower().split()
    n = len(kp)
    return n > 0 and any(words[i:i + n] == kp for i in range(len(words) - n + 1))


def _roles(post: Post) -> dict[str, str]:
    return (post.meta.get("synth") or {}).get("roles") or {}


def split_stats(posts: Sequence[Post]) -> dict:
    """Per-split figures that need no other split."""
    n_kp = [len(p.keyphrases) for p in posts]
    instances = [(k, p) for p in posts for k in p.keyphrases]
    present = [keyphrase_present(k, p.text) for k, p in instances]
    by_role: dict[str, dict[str, int]] = {}
    for (k, p), is_present in zip(instances, present):
        role = _roles(p).get(k, "other")
        r = by_role.setdefault(role, {"count": 0, "present": 0})
        r["count"] += 1
        r["present"] += int(is_present)
    n_inst = len(instances)
    return {
        "posts": len(posts),
        "keyphrases": n_inst,
        "unique_keyphrases": len({k for k, _ in instances}),
        "keyphrases_per_post": round(n_inst / len(posts), 4) if posts else 0.0,
        "keyphrase_count_histogram": {str(c): n for c, n in sorted(Counter(n_kp).items())},
        "present_share": round(sum(present) / n_inst, 6) if n_inst else 0.0,
        "absent_share": round(1 - sum(present) / n_inst, 6) if n_inst else 0.0,
        "by_role": dict(sorted(by_role.items())),
    }


def overlap_stats(train: Sequence[Post], posts: Sequence[Post]) -> dict:
    """How a held-out split's keyphrases overlap train's (exact strings)."""
    train_kps = {k for p in train for k in p.keyphrases}
    unique = {k for p in posts for k in p.keyphrases}
    instances = [k for p in posts for k in p.keyphrases]
    unseen_unique = unique - train_kps
    role_of: dict[str, str] = {}
    for p in posts:
        role_of.update(_roles(p))
    unseen_by_role = Counter(role_of.get(k, "other") for k in unseen_unique)
    return {
        "unique_overlap": round(len(unique & train_kps) / len(unique), 4) if unique else 0.0,
        "instance_overlap": round(sum(k in train_kps for k in instances) / len(instances), 4) if instances else 0.0,
        "unseen_unique_keyphrases": len(unseen_unique),
        "unseen_post_share": round(sum(any(k not in train_kps for k in p.keyphrases) for p in posts) / len(posts), 4)
        if posts else 0.0,
        "unseen_topics": unseen_by_role.get("topic", 0),
        "unseen_colour_shapes": unseen_by_role.get("object", 0),
        "unseen_scenes": unseen_by_role.get("scene", 0),
    }


def topic_stats(posts: Sequence[Post], head: int = 20) -> dict:
    """The long tail: how many distinct topics, how many seen once, how much the head covers."""
    topics = Counter((p.meta.get("synth") or {}).get("topic") for p in posts)
    topics.pop(None, None)
    if not topics:
        return {}
    counts = sorted(topics.values(), reverse=True)
    return {
        "distinct_topics": len(topics),
        "topics_seen_once": sum(c == 1 for c in counts),
        "share_seen_once": round(sum(c == 1 for c in counts) / len(topics), 4),
        "most_frequent_topic_posts": counts[0],
        f"top{head}_post_share": round(sum(counts[:head]) / sum(counts), 4),
    }


def dataset_stats(splits: dict[str, Sequence[Post]], train_split: str = "train") -> dict:
    """Figures for every split, plus overlap/unseen figures of each non-train split against train."""
    out: dict = {"sizes": {name: len(posts) for name, posts in splits.items()}}
    train = splits[train_split]
    for name, posts in splits.items():
        s = split_stats(posts)
        if name != train_split:
            s.update(overlap_stats(train, posts))
        s["topics"] = topic_stats(posts)
        out[name] = s
    return out


def format_stats(stats: dict) -> str:
    """stats.json as a readable table (what `mmkp synth` prints)."""
    splits = [s for s in ("train", "valid", "test") if s in stats]
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    rows: list[tuple[str, str, bool]] = [  # label, key path, needs a held-out split
        ("posts", "posts", False), ("keyphrases / post", "keyphrases_per_post", False),
        ("present share", "present_share", False), ("absent share", "absent_share", False),
        ("unique keyphrases", "unique_keyphrases", False), ("unique overlap with train", "unique_overlap", True),
        ("instance overlap with train", "instance_overlap", True),
        ("posts with an unseen keyphrase", "unseen_post_share", True), ("unseen topics", "unseen_topics", True),
        ("unseen colour-shape pairs", "unseen_colour_shapes", True), ("distinct topics", "topics.distinct_topics", False),
        ("topics seen once (share)", "topics.share_seen_once", False),
    ]
    shares = {"present_share", "absent_share", "unique_overlap", "instance_overlap", "unseen_post_share",
              "topics.share_seen_once"}
    width = max(len(r[0]) for r in rows) + 2
    lines = [" " * width + "".join(f"{s:>10}" for s in splits)]
    for label, key, heldout in rows:
        cells = []
        for s in splits:
            v = stats[s]
            for part in key.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if v is None or (heldout and s == "train"):
                cells.append(f"{'-':>10}")
            elif key in shares:
                cells.append(f"{pct(v):>10}")
            elif isinstance(v, float):
                cells.append(f"{v:>10.2f}")
            else:
                cells.append(f"{v:>10}")
        lines.append(f"{label:<{width}}" + "".join(cells))
    control = stats.get("control")
    if control:
        lines.append("")
        lines.append(f"target unique overlap {pct(control['target_overlap'])} +- {pct(control['tolerance'])}; "
                     + ", ".join(f"{s} achieved {pct(control[s]['achieved_overlap'])}"
                                 + ("" if control[s]["within_tolerance"] else " (OUTSIDE tolerance)")
                                 for s in ("valid", "test") if s in control))
        lines.append("held-out colour-shape pairs (valid/test images only): "
                     + (", ".join(control["held_out_pairs"]) or "none"))
        for s in ("valid", "test"):
            given = control.get(s, {}).get("held_out_pairs_given_back")
            if given:
                lines.append(f"{s}: to reach the target, posts with these held-out pairs got seen pairs: "
                             + ", ".join(given))
    return "\n".join(lines)
