"""The files and the printed table of an evaluation: gold posts, prediction files, the percent table.

`mmkp evaluate` reads gold posts and a prediction file here, scores them with
`mmkp_lib.metrics` (pure functions over keyphrase lists) and prints
`format_table`; `mmkp overlap` and `mmkp resplit` read their posts with
`load_gold` too.

    from mmkp_lib.eval_io import format_table, load_gold, read_predictions
    from mmkp_lib.metrics import aggregate, group_sizes, score_posts
    gold = load_gold("data/synth")                                    # data/synth/test.jsonl
    scores = score_posts(gold, read_predictions("runs/sft/predictions.jsonl", gold))
    print(format_table(aggregate(scores), group_sizes(scores)))
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from mmkp_lib.metrics import GROUPS, K_CUTOFFS, align_predictions
from mmkp_lib.records import BadRecords, DataError, Post, check_keyphrases, read_json_lines, read_lines_utf8, read_posts

# ---------------------------------------------------------------- reading gold posts and predictions

def load_gold(path: str | os.PathLike, format: str | None = None, split: str | None = None,
              folder_split: str = "test") -> list[Post]:
    """Posts to score or measure, from a file or a dataset folder in any readable format.

    Only text and keyphrases matter here, so images are neither required nor
    opened (MMKP's images are partly gone). A folder gives its `split` file
    (default `folder_split`); a file keeps its own split unless `split` is given.

        load_gold("data/synth")                                   # data/synth/test.jsonl
        load_gold("../shared/data/cmkp_tiny/train_src.txt")
    """
    import warnings

    from mmkp_lib.formats import detect_format, find_split_file, load_posts

    path = Path(path)
    if path.is_dir():
        split = split or folder_split
        path, format = find_split_file(path, split, format)
    format = format or detect_format(path)
    if format == "jsonl":  # the canonical reader, without opening every image file
        return read_posts(path, check_images=False)
    with warnings.catch_warnings():  # "kept without their image" notices are noise here
        warnings.filterwarnings("ignore", message=".*kept without their image.*")
        return load_posts(path, format=format, split=split, missing_images="none")


def detect_prediction_format(path: str | os.PathLike) -> str:
    """'jsonl' for .jsonl/.json files or a first line that is a JSON object, else 'cmkp' (one line per post)."""
    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    with open(path, "rb") as f:
        first = f.readline().strip()
    return "jsonl" if first.startswith(b"{") else "cmkp"


def read_predictions(path: str | os.PathLike, gold: Sequence[Post], format: str | None = None) -> list[list[str]]:
    """Read a prediction file and align it with the gold posts.

    Formats: "jsonl", one `{"id": ..., "keyphrases": [...]}` object a line (other
    fields, such as a run's raw output, are ignored); "cmkp", one line per gold
    post in gold order, keyphrases separated by ';' (an empty line is a post
    with no predictions). None detects the format. Ids or line counts that do
    not match the gold set raise DataError saying how many are missing or extra.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    format = format or detect_prediction_format(path)
    bad = BadRecords("raise")
    if format == "cmkp":
        lines = [text for _, text in read_lines_utf8(path, bad)]
        return align_predictions(gold, [[kp.strip() for kp in line.split(";")] for line in lines], path)
    if format != "jsonl":
        raise ValueError(f"unknown prediction format {format!r}; choose 'jsonl' or 'cmkp'")
    preds: dict[str, list[str]] = {}
    for lineno, d in read_json_lines(path, bad):
        if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not isinstance(d.get("keyphrases"), list):
            raise DataError(path, lineno, "bad-field",
                            'expected {"id": "<post id>", "keyphrases": ["kp1", ...]}')
        if d["id"] in preds:
            raise DataError(path, lineno, "duplicate-id", f"second prediction for post {d['id']!r}")
        preds[d["id"]] = check_keyphrases(d["keyphrases"], path, lineno, d["id"])
    return align_predictions(gold, preds, path)


# ---------------------------------------------------------------- a readable table


def format_table(result: dict, sizes: dict[str, int] | None = None, variant: str = "cmkp") -> str:
    """The evaluation result as two small tables (in percent): F1 and MAP, then P and R."""
    groups = [g for g in GROUPS if g in result]

    def cell(v: float | None) -> str:
        return f"{100 * v:6.2f}" if v is not None else "     -"

    how = ("F1 = harmonic mean of macro P and macro R" if variant == "cmkp"
           else "F1 = mean of per-post F1, P = correct / k")
    lines = [f"{result['n']} posts, variant {variant} ({how}), values in %"]
    head = "".join(f"{name:>8}" for name in [f"F1@{k}" for k in K_CUTOFFS] + ["MAP@5"])
    lines.append(f"{'group':<9}{'posts':>6}" + head)
    for g in groups:
        n = f"{sizes[g]:>6}" if sizes and g in sizes else " " * 6
        row = [result[g][f"f1@{k}"] for k in K_CUTOFFS] + [result[g]["map@5"]]
        lines.append(f"{g:<9}{n}" + "".join(f"{cell(v):>8}" for v in row))
    lines.append("")
    lines.append(f"{'group':<9}" + "".join(f"{f'P@{k}':>8}{f'R@{k}':>8}" for k in K_CUTOFFS))
    for g in groups:
        lines.append(f"{g:<9}" + "".join(f"{cell(result[g][f'p@{k}']):>8}{cell(result[g][f'r@{k}']):>8}"
                                         for k in K_CUTOFFS))
    return "\n".join(lines)
