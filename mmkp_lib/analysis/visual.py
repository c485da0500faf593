"""What the student can see: colour, shape and scene accuracy of its predictions on the embedded benchmark.

The embedded benchmark's object keyphrase ("red circle") and, when the text
does not name it, its scene keyphrase ("beach") can only come from the image.
Reading the generator's latents (`post.meta["synth"]`), this module scores
each run's predictions attribute by attribute:

- object posts (the object is a gold keyphrase): the run's first prediction of
  the form "<colour> <shape>" (any of the generator's colours and shapes) is
  compared with the gold colour and the gold shape separately, and as a pair;
  pairs held out of training ("unseen pairs") are reported apart, since a
  student that sees both attributes may still fall back on pairings it knows.
- scene posts (the scene is a gold keyphrase): whether the scene word is among
  the predictions, split by whether the text names the scene.

    from mmkp_lib.analysis.visual import visual_accuracy
    visual_accuracy(test_posts, runs, train_posts)   # a row per run: colour, shape, pair, scene ...

Posts without generator metadata (real data) are skipped; a run over such
data gets NaN rows, not an error.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from mmkp_lib.analysis.runset import Run, check_runs
from mmkp_lib.records import Post

VISUAL_COLUMNS = ["run", "label", "strategy", "seed", "object_posts", "object_predicted", "colour", "shape", "pair",
                  "pair_seen", "pair_unseen", "unseen_pair_posts", "scene_posts", "scene_from_image",
                  "scene_from_text", "scene_image_posts"]


def _synth(post: Post) -> dict:
    synth = post.meta.get("synth") if isinstance(post.meta, dict) else None
    return synth if isinstance(synth, dict) else {}


def _vocab() -> tuple[set[str], set[str]]:
    from mmkp_lib.synth import COLOURS, SHAPES

    return set(COLOURS), set(SHAPES)


def predicted_object(keyphrases: Sequence[str], colours: set[str], shapes: set[str]) -> tuple[str, str] | None:
    """(colour, shape) of the first prediction that is exactly "<colour> <shape>", else None."""
    for kp in keyphrases:
        words = str(kp).lower().split()
        if len(words) == 2 and words[0] in colours and words[1] in shapes:
            return words[0], words[1]
    return None


def object_table(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None) -> pd.DataFrame:
    """A row per run and post whose gold keyphrases include the object: gold and predicted colour and shape."""
    colours, shapes = _vocab()
    train_objects = None
    if train is not None:
        train_objects = {kp for p in train for kp, role in (_synth(p).get("roles") or {}).items() if role == "object"}
    rows = []
    for run in check_runs(runs):
        preds = {r["id"]: r.get("keyphrases") or [] for r in run.predictions}
        for post in gold:
            synth = _synth(post)
            obj = synth.get("object")
            roles = synth.get("roles") or {}
            name = next((kp for kp, role in roles.items() if role == "object"), None)
            if not obj or name is None:
                continue
            guess = predicted_object(preds.get(post.id, []), colours, shapes)
            rows.append({"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed,
                         "id": post.id, "colour": obj["colour"], "shape": obj["shape"],
                         "pred_colour": guess[0] if guess else None, "pred_shape": guess[1] if guess else None,
                         "pair_seen": None if train_objects is None else name in train_objects})
    t = pd.DataFrame(rows, columns=["run", "label", "strategy", "seed", "id", "colour", "shape", "pred_colour",
                                    "pred_shape", "pair_seen"])
    t["colour_ok"] = t["pred_colour"] == t["colour"]
    t["shape_ok"] = t["pred_shape"] == t["shape"]
    t["pair_ok"] = t["colour_ok"] & t["shape_ok"]
    return t


def scene_table(gold: Sequence[Post], runs: Sequence[Run]) -> pd.DataFrame:
    """A row per run and post whose gold keyphrases include the scene: found among the predictions, named in text."""
    rows = []
    for run in check_runs(runs):
        preds = {r["id"]: {str(k).lower().strip() for k in (r.get("keyphrases") or [])} for r in run.predictions}
        for post in gold:
            synth = _synth(post)
            roles = synth.get("roles") or {}
            scene = next((kp for kp, role in roles.items() if role == "scene"), None)
            if scene is None:
                continue
            rows.append({"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed,
                         "id": post.id, "scene": scene, "in_text": bool(synth.get("scene_in_text")),
                         "found": scene.lower() in preds.get(post.id, set())})
    return pd.DataFrame(rows, columns=["run", "label", "strategy", "seed", "id", "scene", "in_text", "found"])


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if len(s) else float("nan")


def visual_accuracy(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None) -> pd.DataFrame:
    """A row per run: on object posts, the share with an object-like prediction and the accuracy of its colour,
    shape and pair (all, seen pairs, unseen pairs); on scene posts, the scene's recall when only the image shows
    it (scene_from_image) and when the text names it (scene_from_text). Accuracies count a missing object
    prediction as wrong."""
    objects = object_table(gold, runs, train)
    scenes = scene_table(gold, runs)
    rows = []
    for run in check_runs(runs):
        o = objects[objects["run"] == run.name]
        s = scenes[scenes["run"] == run.name]
        in_text = s["in_text"].astype(bool)  # astype: an empty object column would select columns, not rows
        image_only = s[~in_text]
        unseen = o[o["pair_seen"] == False]  # noqa: E712 (None = no training posts given)
        rows.append({"run": run.name, "label": run.label, "strategy": run.strategy, "seed": run.seed,
                     "object_posts": len(o), "object_predicted": _mean(o["pred_colour"].notna()),
                     "colour": _mean(o["colour_ok"]), "shape": _mean(o["shape_ok"]), "pair": _mean(o["pair_ok"]),
                     "pair_seen": _mean(o[o["pair_seen"] == True]["pair_ok"]),  # noqa: E712
                     "pair_unseen": _mean(unseen["pair_ok"]), "unseen_pair_posts": len(unseen),
                     "scene_posts": len(s), "scene_from_image": _mean(image_only["found"]),
                     "scene_from_text": _mean(s[in_text]["found"]), "scene_image_posts": len(image_only)})
    out = pd.DataFrame(rows, columns=VISUAL_COLUMNS)
    return out.replace({None: np.nan})


# ---------------------------------------------------------------- the vision tower's warm-up record

_WARMUP_ROWS = (("chance", "chance"), ("accuracy_before", "before warm-up"), ("accuracy", "after warm-up"))


def vision_warmup_table(build_info: dict | None) -> pd.DataFrame | None:
    """Held-out accuracies of the vision tower's warm-up (chance, before, after; a column per head), from a
    model's build record (`mmkp_lib.models.tiny.read_build_info`); None when it records no warm-up."""
    warm = (build_info or {}).get("vision_warmup")
    if not warm:
        return None
    rows = {name: warm[key] for key, name in _WARMUP_ROWS if key in warm}
    return pd.DataFrame(rows).T.round(3)


def vision_warmup_note(build_info: dict | None, model: str, seed: int) -> str:
    """One line on the warm-up vision_warmup_table shows (steps, seconds, held-out images), or that there was none."""
    warm = (build_info or {}).get("vision_warmup")
    if not warm:
        return f"model {model!r}: no vision warm-up recorded (a random tower, or a pretrained one)"
    return (f"vision warm-up of {model} (seed {seed}): {warm['config']['steps']} steps, "
            f"{warm.get('train_seconds')} s; held-out accuracy on {warm.get('n_eval')} generated images")


_WARMUPS = (("vision_warmup", "vision tower: colour / shape / scene probes"),
            ("language_warmup", "language model: text + rationale LM loss"),
            ("connector_warmup", "connector (+ LM, rehearsing the text): caption loss"))


def warmups_table(build_info: dict | None) -> pd.DataFrame | None:
    """A row per build-time warm-up a model's build record holds (vision, language, connector): what it trains,
    its steps, training seconds and its measure at the start and at the end; None when it records none."""
    rows = []
    for key, what in _WARMUPS:
        w = (build_info or {}).get(key)
        if not w:
            continue
        if key == "vision_warmup":
            start = " / ".join(f"{w['accuracy_before'][k]:.3f}" for k in ("colour", "shape", "scene"))
            end = " / ".join(f"{w['accuracy'][k]:.3f}" for k in ("colour", "shape", "scene"))
        else:
            start, end = f"{w['loss_start']:.3f}", f"{w['loss_end']:.3f}"
        rows.append({"warm-up": what, "steps": w["config"]["steps"], "train s": w.get("train_seconds"),
                     "start": start, "end": end})
    return pd.DataFrame(rows).set_index("warm-up") if rows else None
