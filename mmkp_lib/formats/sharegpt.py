"""Export to the sharegpt layout that LLaMA-Factory and ms-swift train from.

One JSON list; each item is one post, with the student's prompt and target
(the same ones mmkp trains with, mmkp_lib.prompts):

    {"messages": [
       {"role": "user", "content": "<image>post text\\nWhat phrases should be used to tag the media?"},
       {"role": "assistant", "content": "kp1; kp2"}],
     "images": ["/abs/path/to/image.png"]}

There is exactly one `<image>` placeholder per entry of `images`; a post
without an image has no placeholder and `"images": []`. With target="cot" the
assistant turn is the Fine-tune-CoT target
`<think>rationale</think><answer>kp1; kp2</answer>`, its rationale taken from
`rationales` (post id -> rationale text, e.g. the teacher's cache).

This layout is written, not read: it holds no post ids.

LLaMA-Factory: put the file beside your `dataset_info.json` (or give an
absolute `file_name`) and add:

    "mmkp_train": {
      "file_name": "mmkp_train_sharegpt.json",
      "formatting": "sharegpt",
      "columns": {"messages": "messages", "images": "images"},
      "tags": {"role_tag": "role", "content_tag": "content",
               "user_tag": "user", "assistant_tag": "assistant"}
    }

then train with `dataset: mmkp_train`. ms-swift reads the file as is:
`swift sft --dataset mmkp_train_sharegpt.json ...`.

    mmkp convert --in data/synth/train.jsonl --to sharegpt --out mmkp_train_sharegpt.json
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from mmkp_lib.prompts import IMAGE_PLACEHOLDER, cot_target, sft_target, user_text
from mmkp_lib.records import DataError, Post

from .common import relative_path, write_json_list

TARGETS = ("sft", "cot")
IMAGE_PATHS = ("absolute", "relative")


def to_sharegpt(post: Post, target: str = "sft", rationale: str | None = None,
                image_path: str | None = None, path: str | os.PathLike | None = None) -> dict:
    """One post as a sharegpt item. `image_path` overrides how the image is written (default: post.image).

    Raises DataError (naming `path`, the file being written) when the
    placeholders would not match the images or a CoT target has no rationale.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "cot":
        if not rationale or not rationale.strip():
            raise DataError(path, None, "missing-rationale",
                            f"post {post.id!r} has no rationale for target='cot'; give one for every post "
                            f"or leave out the posts the teacher could not explain")
        answer = cot_target(rationale, post.keyphrases)
    else:
        answer = sft_target(post.keyphrases)
    images = [image_path or post.image] if post.image is not None else []
    prompt = (IMAGE_PLACEHOLDER if images else "") + user_text(post.text)
    n_placeholders = prompt.count(IMAGE_PLACEHOLDER) + answer.count(IMAGE_PLACEHOLDER)
    if n_placeholders != len(images):
        # Both tools pair placeholders with images in order and fail (or misalign) on a mismatch.
        raise DataError(path, None, "unwritable",
                        f"post {post.id!r}: its text or target holds '{IMAGE_PLACEHOLDER}', giving "
                        f"{n_placeholders} placeholders for {len(images)} images")
    # "images" is always there ([] for a text-only post): one schema for every row of the dataset
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
            "images": images}


def write_sharegpt(posts: Iterable[Post], path: str | os.PathLike, *, target: str = "sft",
                   rationales: Mapping[str, str] | None = None, image_paths: str = "absolute") -> int:
    """Write posts as a sharegpt JSON list for LLaMA-Factory / ms-swift. Returns the number written.

    target: "sft" (assistant says "kp1; kp2") or "cot" (rationale then answer;
    needs `rationales`, post id -> rationale text, for every post).
    image_paths: "absolute" (works from anywhere) or "relative" (to the
    output file's folder, for LLaMA-Factory's `media_dir` when the file sits
    in its dataset folder; images outside that folder stay absolute).
    """
    if image_paths not in IMAGE_PATHS:
        raise ValueError(f"image_paths must be one of {IMAGE_PATHS}, got {image_paths!r}")
    if target == "cot" and rationales is None:
        raise ValueError("target='cot' needs rationales: a mapping post id -> rationale text")
    path = Path(path)
    items = []
    for post in posts:  # all checked before anything is written
        image = None
        if post.image is not None:
            image = str(Path(post.image).resolve()) if image_paths == "absolute" \
                else relative_path(post.image, path.parent)
        rationale = rationales.get(post.id) if rationales is not None else None
        items.append(to_sharegpt(post, target, rationale, image, path))
    return write_json_list(items, path)
