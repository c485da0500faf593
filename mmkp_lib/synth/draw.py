"""Images of the embedded benchmark: a textured scene, an optional small distractor, one large object.

Geometry (which scene, each object's colour, shape, size, centre and rotation)
comes from the latents stored in a post's meta["synth"]; the nuisances
(texture details, colour jitter, pixel noise) come from the rng, so the same
latents and rng state give the same pixels.

    import numpy as np
    from mmkp_lib.synth import draw_image, sample_object
    rng = np.random.default_rng(0)
    obj = sample_object(rng, size=64)
    draw_image({"scene": "beach", "object": obj, "distractor": None}, size=64, rng=rng).save("x.png")

Shapes are polygons inside the unit circle, so an object of size s centred at
(x, y) stays within s/2 of its centre at any rotation; the centre is always
inside the silhouette (a test checks the centre pixel's colour).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from mmkp_lib.synth.words import COLOUR_RGB, COLOURS, SCENES, SHAPES

SUPERSAMPLE = 2  # draw at 2x and downsample: smooth edges at 32-64 px without blurring colours


def _regular(n: int, r: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def _star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    out = []
    for k in range(2 * points):
        r = 1.0 if k % 2 == 0 else inner
        a = -math.pi / 2 + math.pi * k / points
        out.append((r * math.cos(a), r * math.sin(a)))
    return out


def _cross(w: float = 0.32) -> list[tuple[float, float]]:
    # Arm half-width w; arm ends at radius 1 at their corners.
    a = math.sqrt(1 - w * w)
    return [(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w), (-a, -w),
            (-w, -w)]


def _arrow() -> list[tuple[float, float]]:
    # A thick shaft (centre inside it) and a wide head; every vertex within the unit circle.
    return [(-0.92, -0.24), (0.08, -0.24), (0.08, -0.62), (0.95, 0.0), (0.08, 0.62), (0.08, 0.24), (-0.92, 0.24)]


# Unit-circle outlines; the square's corners touch the circle, the circle is a 48-gon.
SHAPE_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "circle": _regular(48, 0.92),
    "square": _regular(4, 1.0, phase=math.pi / 4),
    "triangle": _regular(3, 1.0),  # centroid at the centre
    "cross": _cross(),
    "star": _star(),
    "arrow": _arrow(),
}
assert set(SHAPE_POLYGONS) == set(SHAPES)


def shape_polygon(shape: str, size: float, x: float, y: float, rotation: float,
                  scale: float = 1.0) -> list[tuple[float, float]]:
    """Vertices of `shape` of side `size` px centred at (x, y), rotated by `rotation` degrees, times `scale`."""
    if shape not in SHAPE_POLYGONS:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    r = size / 2
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    return [((x + r * (c * u - s * v)) * scale, (y + r * (s * u + c * v)) * scale) for u, v in SHAPE_POLYGONS[shape]]


# ---- scenes: muted backgrounds, each with its own texture -----------------------------------------

def _jit(rgb: Sequence[int], rng: np.random.Generator, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)  # type: ignore[return-value]


def _beach(d: ImageDraw.ImageDraw, S: int, rng: np.random.Generator) -> None:
    horizon = int(S * rng.uniform(0.35, 0.5))
    d.rectangle([0, 0, S, horizon], fill=_jit((165, 205, 232), rng, 8))
    d.rectangle([0, horizon, S, S], fill=_jit((228, 208, 160), rng, 8))
    d.line([(0, horizon), (S, horizon)], fill=(245, 248, 250), width=max(2, S // 40))
    for _ in range(30):
        px, py = rng.integers(0, S), rng.integers(horizon, S)
        d.point((int(px), int(py)), fill=(200, 180, 135))


def _forest(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((55, 92, 58), rng, 8))
    for _ in range(14):
        cx, cy, r = rng.uniform(0, S), rng.uniform(0, S), rng.uniform(S / 14, S / 7)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jit((40, 112, 55), rng, 10))
    for _ in range(int(rng.integers(4, 7))):
        x0, w = rng.uniform(0, S), S / 22
        d.rectangle([x0, 0, x0 + w, S], fill=_jit((88, 66, 46), rng, 8))


def _city(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((170, 176, 188), rng, 6))
    x = 0.0
    while x < S:
        w, h = rng.uniform(S / 8, S / 4), rng.uniform(0.3 * S, 0.85 * S)
        grey = int(rng.integers(85, 135))
        d.rectangle([x, S - h, x + w, S], fill=(grey, grey, grey + 6))
        for wy in np.arange(S - h + S / 20, S - S / 20, S / 10):
            for wx in np.arange(x + S / 32, x + w - S / 32, S / 14):
                d.rectangle([wx, wy, wx + S / 40, wy + S / 40], fill=(212, 210, 175))
        x += w + rng.uniform(0, S / 30)


def _snow(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((236, 240, 246), rng, 4))
    for _ in range(5):
        cx, cy, r = rng.uniform(0, S), rng.uniform(S / 2, S), rng.uniform(S / 6, S / 3)
        d.ellipse([cx - r, cy - r / 3, cx + r, cy + r / 3], fill=_jit((214, 224, 238), rng, 5))
    for _ in range(40):
        d.point((int(rng.integers(0, S)), int(rng.integers(0, S))), fill=(175, 185, 200))


def _night(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((20, 24, 52), rng, 5))
    for _ in range(30):  # stars as tiny dots; never a moon, which would read as a circle
        px, py = int(rng.integers(0, S)), int(rng.integers(0, S))
        d.rectangle([px, py, px + S // 128, py + S // 128], fill=(235, 235, 210))


def _desert(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((216, 182, 128), rng, 6))
    for k in range(5):
        y0 = S * (0.2 + 0.17 * k) + rng.uniform(-S / 20, S / 20)
        pts = [(x, y0 + math.sin(x / S * 2 * math.pi + rng.uniform(0, 0.5)) * S / 18) for x in np.linspace(0, S, 12)]
        d.line(pts, fill=_jit((190, 150, 98), rng, 6), width=max(2, S // 40))


def _lake(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((72, 118, 162), rng, 6))
    for _ in range(24):
        x0, y0 = rng.uniform(-S / 8, S), rng.uniform(0, S)
        d.line([(x0, y0), (x0 + rng.uniform(S / 10, S / 4), y0)], fill=(118, 158, 196), width=max(1, S // 60))


def _meadow(d, S, rng):
    d.rectangle([0, 0, S, S], fill=_jit((150, 184, 98), rng, 6))
    for _ in range(70):
        x0, y0 = rng.uniform(0, S), rng.uniform(0, S)
        d.line([(x0, y0), (x0 + rng.uniform(-S / 60, S / 60), y0 - S / 22)], fill=(112, 150, 72), width=1)
    for _ in range(8):
        d.point((int(rng.integers(0, S)), int(rng.integers(0, S))), fill=(245, 245, 230))


SCENE_PAINTERS = {"beach": _beach, "forest": _forest, "city": _city, "snow": _snow, "night": _night,
                  "desert": _desert, "lake": _lake, "meadow": _meadow}
assert set(SCENE_PAINTERS) == set(SCENES)


def _draw_object(d: ImageDraw.ImageDraw, obj: dict, scale: int, rng: np.random.Generator, jitter: int) -> None:
    if obj["colour"] not in COLOUR_RGB:
        raise ValueError(f"unknown colour {obj['colour']!r}; known: {', '.join(COLOURS)}")
    fill = _jit(COLOUR_RGB[obj["colour"]], rng, jitter) if jitter else COLOUR_RGB[obj["colour"]]
    outline = tuple(int(c * 0.45) for c in fill)  # a dark rim keeps the silhouette readable on any scene
    poly = shape_polygon(obj["shape"], obj["size"], obj["x"] + 0.5, obj["y"] + 0.5, obj["rotation"], scale)
    d.polygon(poly, fill=fill, outline=outline, width=scale)


def draw_image(latents: dict, size: int = 64, noise: float = 0.04, rng: np.random.Generator | None = None,
               colour_jitter: int = 12) -> Image.Image:
    """Render one post's image from its latents (meta["synth"]: scene, object, distractor).

    Object coordinates are in pixels of a `size` image. `rng` drives texture, jitter and noise
    (None means a fixed default_rng(0), so the call stays deterministic).
    """
    if latents.get("scene") not in SCENE_PAINTERS:
        raise ValueError(f"unknown scene {latents.get('scene')!r}; known: {', '.join(SCENES)}")
    rng = rng if rng is not None else np.random.default_rng(0)
    S = size * SUPERSAMPLE
    img = Image.new("RGB", (S, S))
    d = ImageDraw.Draw(img)
    SCENE_PAINTERS[latents["scene"]](d, S, rng)
    # The distractor is drawn first, so the main object is always on top and its centre shows its colour.
    if latents.get("distractor"):
        _draw_object(d, latents["distractor"], SUPERSAMPLE, rng, colour_jitter)
    _draw_object(d, latents["object"], SUPERSAMPLE, rng, colour_jitter)
    img = img.resize((size, size), Image.Resampling.BOX)
    if noise > 0:
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0.0, noise * 255.0, (size, size, 3)).astype(np.float32)
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    return img


def sample_object(rng: np.random.Generator, size: int = 64, colours: Sequence[str] = COLOURS,
                  shapes: Sequence[str] = SHAPES, min_frac: float = 0.44, max_frac: float = 0.69,
                  pairs: Sequence[tuple[str, str]] | None = None) -> dict:
    """An "object" latent: colour, shape, size (px), centre x, y (px) and rotation (degrees).

    The object fits inside a `size` image at any rotation. `pairs` restricts (colour, shape) to a list,
    e.g. the seen pairs for vision warm-up data; otherwise colour and shape are drawn independently.
    """
    if pairs:
        colour, shape = pairs[int(rng.integers(len(pairs)))]
    else:
        colour, shape = colours[int(rng.integers(len(colours)))], shapes[int(rng.integers(len(shapes)))]
    side = int(round(rng.uniform(min_frac, max_frac) * size))
    side = max(4, min(side, size - 2))
    half = side / 2
    # Integer centre, so the pixel at (x, y) lies inside the silhouette.
    lo, hi = int(math.ceil(half)), int(math.floor(size - 1 - half))
    x = int(rng.integers(lo, hi + 1)) if hi >= lo else size // 2
    y = int(rng.integers(lo, hi + 1)) if hi >= lo else size // 2
    rotation = round(float(rng.uniform(0.0, 360.0)), 1)
    return {"colour": colour, "shape": shape, "size": side, "x": x, "y": y, "rotation": rotation}
