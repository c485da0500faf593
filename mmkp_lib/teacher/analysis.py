"""What a teacher cache holds, for notebook 02: acceptance, rejection reasons, lengths, redundancy, cost.

    from mmkp_lib.teacher import read_cache
    from mmkp_lib.teacher.analysis import post_outcomes, redundancy
    records = read_cache("cache/teacher/synth/oracle-facts.jsonl")
    outcomes = post_outcomes(records, posts, "oracle", model)    # one row per post: final status, attempts...
"""
from __future__ import annotations

import base64
import html
import io
import random
import re
import statistics
from collections import Counter, defaultdict
from itertools import combinations

from mmkp_lib.records import Post
from mmkp_lib.teacher.cache import cache_key, fold_states
from mmkp_lib.teacher.prompt import PROMPT_HASH


def records_for(records: list[dict], posts: list[Post], backend: str, model: str,
                prompt_hash: str = PROMPT_HASH) -> list[dict]:
    """The cache lines of these posts under one (backend, model, prompt hash)."""
    keys = {cache_key(p.id, backend, model, prompt_hash) for p in posts}
    return [r for r in records if tuple(r["key"]) in keys]


def post_outcomes(records: list[dict], posts: list[Post], backend: str, model: str):
    """A DataFrame, one row per post: status (accepted / rejected / pending / not asked), responses, final
    reason, reasoning words, tokens and cost summed over all its lines."""
    import pandas as pd

    mine = records_for(records, posts, backend, model)
    states = fold_states(mine)
    per_post: dict[str, list[dict]] = defaultdict(list)
    for r in mine:
        per_post[r["key"][0]].append(r)
    rows = []
    for p in posts:
        lines = per_post.get(p.id, [])
        st = states.get(cache_key(p.id, backend, model, PROMPT_HASH))
        status = "not asked" if st is None else st.status
        last = lines[-1] if lines else {}
        acc = st.accepted if st else None
        costs = [r.get("cost_usd") for r in lines]
        rows.append({"id": p.id, "status": status, "responses": sum(r["response"] is not None for r in lines),
                     "reason": None if status == "accepted" else last.get("reason"),
                     "think_words": acc["think_words"] if acc else None,
                     "input_tokens": sum(r["usage"]["input_tokens"] for r in lines),
                     "output_tokens": sum(r["usage"]["output_tokens"] for r in lines),
                     "cost_usd": None if any(c is None for c in costs) else sum(costs),
                     "elapsed_s": sum(r.get("elapsed_s") or 0.0 for r in lines)})
    return pd.DataFrame(rows)


def reason_counts(records: list[dict]) -> dict[str, Counter]:
    """Why responses failed: over every invalid response (incl. retried) and over final rejections."""
    return {"invalid responses": Counter(r["reason"] for r in records if r["status"] in ("retry", "rejected")),
            "final rejections": Counter(r["reason"] for r in records if r["status"] == "rejected"),
            "failed requests": Counter(r["reason"] for r in records if r["status"] == "error")}


def length_stats(words: list[int]) -> dict[str, float]:
    """mean, median, p10, p90, min, max of a list of lengths."""
    if not words:
        return {}
    w = sorted(words)
    return {"n": len(w), "mean": statistics.mean(w), "median": statistics.median(w), "p10": w[len(w) // 10],
            "p90": w[(9 * len(w)) // 10], "min": w[0], "max": w[-1]}


_WORD = re.compile(r"[a-z0-9']+")


def token_set(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a & b| / |a | b|; two empty sets share nothing (0.0)."""
    return len(a & b) / len(a | b) if a or b else 0.0


def redundancy(thinks: dict[str, str], posts: list[Post], max_pairs_per_group: int = 20,
               n_across: int = 3000, min_group: int = 2, seed: int = 0,
               max_doc_freq: float | None = None) -> dict:
    """How alike are the rationales of posts that share a keyphrase (the paper's "content redundancy")?

    Within: token-Jaccard of pairs of rationales whose posts share a keyphrase (up to
    `max_pairs_per_group` pairs per keyphrase). Across: random pairs whose posts share none.
    Returns the two lists, their means, and the within-mean by keyphrase role when posts carry
    meta["synth"]["roles"]. Deterministic for a seed.

    `max_doc_freq` (e.g. 0.1) keeps only content tokens: those in at most that share of the
    rationales, dropping the wording every rationale uses ("the", "image", "text", "so"...).
    """
    rng = random.Random(seed)
    by_id = {p.id: p for p in posts if p.id in thinks}
    sets = {pid: token_set(thinks[pid]) for pid in by_id}
    if max_doc_freq is not None:
        df = Counter(t for s in sets.values() for t in s)
        common = {t for t, n in df.items() if n > max_doc_freq * len(sets)}
        sets = {pid: s - common for pid, s in sets.items()}
    groups: dict[str, list[str]] = defaultdict(list)
    for pid, p in by_id.items():
        for kp in p.keyphrases:
            groups[kp.lower()].append(pid)
    within, role_of_pair = [], []
    for kp, ids in sorted(groups.items()):
        if len(ids) < min_group:
            continue
        pairs = list(combinations(ids, 2)) if len(ids) <= 12 else None
        if pairs is None or len(pairs) > max_pairs_per_group:
            pairs = [tuple(rng.sample(ids, 2)) for _ in range(max_pairs_per_group)]
        role = _role(by_id[ids[0]], kp)
        for a, b in pairs:
            within.append(jaccard(sets[a], sets[b]))
            role_of_pair.append(role)
    ids = sorted(by_id)
    across = []
    kps = {pid: {k.lower() for k in by_id[pid].keyphrases} for pid in ids}
    tries = 0
    while len(across) < n_across and len(ids) >= 2 and tries < 20 * n_across:
        tries += 1
        a, b = rng.sample(ids, 2)
        if kps[a] & kps[b]:
            continue
        across.append(jaccard(sets[a], sets[b]))
    by_role = defaultdict(list)
    for v, role in zip(within, role_of_pair):
        by_role[role].append(v)
    mean = lambda xs: statistics.mean(xs) if xs else float("nan")  # noqa: E731
    return {"within": within, "across": across, "within_mean": mean(within), "across_mean": mean(across),
            "groups": sum(len(v) >= min_group for v in groups.values()),
            "within_by_role": {r: mean(v) for r, v in sorted(by_role.items())}}


def _role(post: Post, kp: str) -> str:
    roles = (post.meta.get("synth") or {}).get("roles") or {}
    for k, r in roles.items():
        if k.lower() == kp:
            return r
    return "keyphrase"


def _image_data_url(path: str, size: int = 128) -> str:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((size, size), Image.NEAREST)  # small images: keep pixels crisp
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def examples_html(posts: list[Post], thinks: dict[str, str], n: int = 4, seed: int = 0) -> str:
    """An HTML table: image, text and keyphrases of `n` posts beside their rationales (static: works in HTML)."""
    have = [p for p in posts if p.id in thinks]
    chosen = random.Random(seed).sample(have, min(n, len(have)))
    rows = []
    for p in chosen:
        img = f'<img src="{_image_data_url(p.image)}" width="128">' if p.image else "(no image)"
        think = html.escape(thinks[p.id]).replace("\n", "<br>")
        rows.append(f"<tr><td style='vertical-align:top'>{img}</td>"
                    f"<td style='vertical-align:top;text-align:left;max-width:260px'><b>{html.escape(p.id)}</b><br>"
                    f"{html.escape(p.text)}<br><br><i>keyphrases:</i> {html.escape('; '.join(p.keyphrases))}</td>"
                    f"<td style='vertical-align:top;text-align:left;max-width:480px'>{think}</td></tr>")
    head = "<tr><th>image</th><th>post</th><th>teacher rationale (&lt;think&gt;)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def style_lengths(posts: list[Post], seed: int = 0, max_words: int = 300) -> dict[str, list[int]]:
    """{oracle style: reasoning words per post}: what each style of the oracle writes for the same posts (in
    memory, no cache), so notebook 02 can show the default facts style beside the varied prose."""
    from mmkp_lib.teacher.oracle import STYLES, write_rationale

    return {style: [len(write_rationale(p, seed=seed, max_words=max_words, style=style).split()) for p in posts]
            for style in STYLES}
