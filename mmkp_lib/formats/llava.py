"""LLaVA-style JSON, the layout of the open AimKP code: read and write.

One JSON list; each item is one post:

    {"id": "test-17", "image": "D0wn9TnXQAAGWyD.jpg", "text": "post text",
     "conversations": [
       {"from": "human", "value": "<image>post text\\nWhat phrases should be used to tag the media?"},
       {"from": "gpt", "value": "kp1, kp2"}]}

- Keyphrases are the gpt turn split on ',' (written joined by ', '); a
  keyphrase holding ',' cannot be written.
- `image` is relative to the image folder (`image_dir`), or to the JSON file's
  folder when none is given; absolute paths are kept. A post without an image
  has no `image` key and no `<image>` in its human turn.
- The post text is the `text` field; when an item has none it is taken from
  the human turn (placeholder and question removed).
- Split and meta are not part of this layout: reading gives split=`split`
  and an empty meta.

    from mmkp_lib.formats.llava import read_llava, write_llava
    write_llava(posts, "data/llava/test.json", image_dir="data/synth")
    posts = read_llava("data/llava/test.json", image_dir="data/synth")

Items are written one per line, so the line numbers in error messages point
at the item.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from mmkp_lib.prompts import IMAGE_PLACEHOLDER, INSTRUCTION
from mmkp_lib.records import BadRecords, DataError, Post, check_unique_ids

from .common import ImageChecker, iter_json_list, reader_file, relative_path, resolve_path, write_json_list

LLAVA_KEYPHRASE_SEP = ", "


def human_turn(text: str, has_image: bool) -> str:
    """The human turn of the AimKP layout: the placeholder (when there is an image), the text, the question."""
    return f"{IMAGE_PLACEHOLDER if has_image else ''}{text}\n{INSTRUCTION}"


def _text_from_human_turn(value: str) -> str:
    text = value.replace(IMAGE_PLACEHOLDER, "", 1)
    suffix = "\n" + INSTRUCTION
    return text[: -len(suffix)] if text.endswith(suffix) else text


def _parse_item(item: Any, index: int) -> tuple[str, str, list[str], str | None]:
    """(id, text, keyphrases, image as written) of one item, or a ValueError (reason, message)."""
    def problem(reason: str, what: str) -> ValueError:
        return ValueError(reason, f"item [{index}]: {what}")

    if not isinstance(item, dict):
        raise problem("bad-structure", f"expected a JSON object, got {type(item).__name__}")
    post_id = item.get("id")
    if isinstance(post_id, int) and not isinstance(post_id, bool):
        post_id = str(post_id)
    if not isinstance(post_id, str) or not post_id:
        raise problem("bad-structure", "field 'id' missing or not a non-empty string")
    what = f"(id {post_id!r}) "
    image = item.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        raise problem("bad-structure", what + "field 'image' must be a path string when present")
    turns = item.get("conversations")
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        hint = " (a sharegpt 'messages' file? mmkp writes that layout but does not read it)" \
            if "messages" in item else ""
        raise problem("bad-structure", what + f"field 'conversations' missing or not a list of turns{hint}")
    roles = [t.get("from") for t in turns]
    if "human" not in roles or "gpt" not in roles[roles.index("human"):]:
        raise problem("bad-structure", what + f"conversations need a 'human' turn then a 'gpt' turn, got {roles}")
    human = turns[roles.index("human")].get("value")
    gpt = turns[roles.index("human") + roles[roles.index("human"):].index("gpt")].get("value")
    if not isinstance(human, str) or not isinstance(gpt, str):
        raise problem("bad-structure", what + "turn 'value' missing or not a string")
    n_placeholders = human.count(IMAGE_PLACEHOLDER)
    if n_placeholders != (1 if image else 0):
        raise problem("bad-structure", what + f"human turn has {n_placeholders} '{IMAGE_PLACEHOLDER}' "
                                              f"but the item has {'an' if image else 'no'} image")
    text = item.get("text")
    if text is None:
        text = _text_from_human_turn(human)
    if not isinstance(text, str):
        raise problem("bad-structure", what + "field 'text' is not a string")
    if not gpt.strip():
        raise problem("empty-keyphrases", what + "empty keyphrases in the gpt turn")
    keyphrases = [k.strip() for k in gpt.split(",")]
    if not all(keyphrases):
        raise problem("empty-keyphrase", what + f"empty keyphrase between ',' in the gpt turn {gpt!r}")
    return post_id, text, keyphrases, image


def read_llava(path: str | os.PathLike, image_dir: str | os.PathLike | None = None, *,
               split: str | None = None, missing_images: str = "error", on_error: str = "raise",
               bad: BadRecords | None = None) -> list[Post]:
    """Read a LLaVA-style JSON list (see the module docstring).

    Malformed JSON raises DataError with its line whatever on_error says (a
    broken file cannot be read item by item); items of the wrong structure,
    empty keyphrases, duplicate ids and missing images are bad records named
    by line and item index, skipped and counted under on_error="skip".
    """
    path = reader_file(path, image_dir)
    bad = bad if bad is not None else BadRecords(on_error)
    base = image_dir if image_dir is not None else path.parent
    images = ImageChecker(missing_images, bad)
    posts, lines = [], []
    for index, line, item in iter_json_list(path):
        try:
            post_id, text, keyphrases, image = _parse_item(item, index)
        except ValueError as exc:
            reason, message = exc.args
            bad.handle(DataError(path, line, reason, message))
            continue
        post = Post(id=post_id, text=text, keyphrases=keyphrases,
                    image=resolve_path(image, base) if image else None, split=split)
        if images.check(post, path, line):
            posts.append(post)
            lines.append(line)
    if images.notice():
        warnings.warn(images.notice(), stacklevel=2)
    return check_unique_ids(posts, path, bad, lines)


def to_llava(post: Post, image_dir: str | os.PathLike, path: str | os.PathLike | None = None) -> dict:
    """One post as an AimKP item; its image path relative to `image_dir` when it lies under it.

    A post the layout cannot hold raises DataError (naming `path`, the file being written).
    """
    for k in post.keyphrases:
        if "," in k or not k.strip():
            raise DataError(path, None, "unwritable",
                            f"post {post.id!r}: keyphrase {k!r} is empty or holds ',', "
                            f"which the LLaVA layout uses to separate keyphrases")
    if IMAGE_PLACEHOLDER in post.text:
        raise DataError(path, None, "unwritable",
                        f"post {post.id!r}: its text holds '{IMAGE_PLACEHOLDER}', which would add an image "
                        f"placeholder with no image")
    item: dict[str, Any] = {"id": post.id}
    if post.image is not None:
        item["image"] = relative_path(post.image, image_dir)
    item["text"] = post.text
    item["conversations"] = [
        {"from": "human", "value": human_turn(post.text, post.image is not None)},
        {"from": "gpt", "value": LLAVA_KEYPHRASE_SEP.join(k.strip() for k in post.keyphrases)},
    ]
    return item


def write_llava(posts: Iterable[Post], path: str | os.PathLike, *,
                image_dir: str | os.PathLike | None = None) -> int:
    """Write posts as a LLaVA-style JSON list; images relative to `image_dir` (default: the JSON's folder).

    Images outside that folder are written as absolute paths. Returns the number of posts written.
    """
    path = Path(path)
    base = image_dir if image_dir is not None else path.parent
    items = [to_llava(post, base, path) for post in posts]  # all checked before anything is written
    return write_json_list(items, path)
