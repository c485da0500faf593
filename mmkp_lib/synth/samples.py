"""A picture of a few generated posts (image, text, keyphrases) for the README and the first report.

    mmkp synth --out data/synth --sample-grid docs/synth_samples.png
    from mmkp_lib.synth import save_sample_grid
    save_sample_grid("data/synth", "docs/synth_samples.png", n=8)

Each keyphrase is tagged with its role and whether it is present in the text
and seen in train, so a reader sees at a glance what the benchmark asks.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

from mmkp_lib.records import read_posts
from mmkp_lib.synth.stats import keyphrase_present

_CELL_W, _IMG, _PAD, _LINE = 300, 128, 8, 14
_PRESENT, _ABSENT = (20, 110, 40), (170, 40, 40)


def _varied(posts: list, n: int, window: int = 300) -> list:
    """n posts that show the variety: greedily prefer an unused scene, shape, role mix and a distractor."""
    pool, picked = list(posts[:window]), []
    scenes, shapes, kinds, distractors = set(), set(), set(), 0
    while pool and len(picked) < n:
        def gain(p):
            lat = p.meta.get("synth") or {}
            obj = lat.get("object") or {}
            kind = tuple(sorted((lat.get("roles") or {}).values()))
            return ((lat.get("scene") not in scenes) + (obj.get("shape") not in shapes) + (kind not in kinds)
                    + (bool(lat.get("distractor")) and distractors < n // 3))
        best = max(pool, key=gain)  # first of the best: deterministic
        pool.remove(best)
        picked.append(best)
        lat = best.meta.get("synth") or {}
        scenes.add(lat.get("scene"))
        shapes.add((lat.get("object") or {}).get("shape"))
        kinds.add(tuple(sorted((lat.get("roles") or {}).values())))
        distractors += bool(lat.get("distractor"))
    return picked


def save_sample_grid(data_dir: str | os.PathLike, path: str | os.PathLike = "docs/synth_samples.png", n: int = 8,
                     split: str = "test", cols: int = 4) -> Path:
    """Render n varied posts of `split` into one PNG at `path`; returns the path."""
    from PIL import Image, ImageDraw, ImageFont

    data_dir = Path(data_dir)
    posts = read_posts(data_dir / f"{split}.jsonl")
    train_kps = {k for p in read_posts(data_dir / "train.jsonl", check_images=False) for k in p.keyphrases}
    if n < 1 or not posts:
        raise ValueError(f"need n >= 1 and a non-empty {split} split (n={n}, posts={len(posts)})")
    picked = _varied(posts, n)
    font = ImageFont.load_default(size=12)
    cells = []
    for post in picked:
        lines = [(f"[{post.id}]", (90, 90, 90))]
        lines += [(line, (0, 0, 0)) for line in textwrap.wrap(post.text, 44)]
        roles = (post.meta.get("synth") or {}).get("roles", {})
        for k in post.keyphrases:
            present = keyphrase_present(k, post.text)
            tag = f"{roles.get(k, '?')}, {'present' if present else 'absent'}, {'seen' if k in train_kps else 'UNSEEN'}"
            lines.append((f"# {k}  ({tag})", _PRESENT if present else _ABSENT))
        cells.append((post, lines))
    rows = (len(cells) + cols - 1) // cols
    cell_h = _IMG + 2 * _PAD + _LINE * max(len(lines) for _, lines in cells)
    sheet = Image.new("RGB", (cols * _CELL_W, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (post, lines) in enumerate(cells):
        x0, y0 = (i % cols) * _CELL_W + _PAD, (i // cols) * cell_h + _PAD
        with Image.open(post.image) as im:
            sheet.paste(im.convert("RGB").resize((_IMG, _IMG), Image.Resampling.NEAREST), (x0, y0))
        for j, (line, colour) in enumerate(lines):
            draw.text((x0, y0 + _IMG + 4 + j * _LINE), line, fill=colour, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG", optimize=True)
    return path
