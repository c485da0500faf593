"""The teacher's prompt: one versioned template whose hash is part of every cache key.

The teacher sees the post (text and image) *and* its gold keyphrases, and is
asked to explain how the text and the image lead to them, then to repeat them
in the tag format the student learns (`<think>...</think><answer>...</answer>`).
Editing the wording below changes `PROMPT_HASH`, so a cache never mixes
rationales written for different prompts; bump `PROMPT_VERSION` too so the
change is visible in the cache lines.

    from mmkp_lib.teacher.prompt import teacher_messages, render_prompt, PROMPT_HASH
    print(render_prompt(post))        # what `mmkp teacher --dry-run` shows
"""
from __future__ import annotations

import hashlib

from mmkp_lib.records import Post

PROMPT_VERSION = "teacher-v1"

SYSTEM = ("You annotate social-media posts for a keyphrase (hashtag) prediction dataset. "
          "You explain, step by step, how a post's text and image lead to its keyphrases.")

# {text}: the post's text; {keyphrases}: the gold keyphrases joined by "; ";
# {image_note}: how the image is given; {max_words}: the reasoning length cap.
TEMPLATE = """Here is a social-media post. {image_note}

Post text:
{text}

Its keyphrases (hashtags) are: {keyphrases}

Reason step by step, as someone who sees only the text and the image and must predict the keyphrases:
1. What does the text say? Which words or topics in it could be keyphrases?
2. What does the image show (the main objects and their attributes such as colour and shape, the scene,
   any text in it)?
3. For each keyphrase, which evidence from the text or the image gives it? A keyphrase that does not
   appear in the text comes from the image or from what the post is about.
Do not say that the keyphrases were given to you. Keep the reasoning under {max_words} words.

Reply in exactly this format and nothing else:
<think>your step-by-step reasoning</think><answer>keyphrase 1; keyphrase 2</answer>
The answer must list exactly the keyphrases above, separated by "; "."""

IMAGE_NOTE = "Its image is attached."
NO_IMAGE_NOTE = "This post has no image."

PROMPT_HASH = hashlib.sha256("\x00".join([PROMPT_VERSION, SYSTEM, TEMPLATE, IMAGE_NOTE, NO_IMAGE_NOTE])
                             .encode("utf-8")).hexdigest()[:12]


def render_prompt(post: Post, max_words: int = 300) -> str:
    """The user turn's text for one post (the image travels beside it)."""
    return TEMPLATE.format(image_note=IMAGE_NOTE if post.image else NO_IMAGE_NOTE, text=post.text.strip(),
                           keyphrases="; ".join(post.keyphrases), max_words=max_words)


def teacher_messages(post: Post, max_words: int = 300) -> list[dict]:
    """Chat messages in transformers' multimodal content format (the image as a placeholder entry).

    Backends turn `{"type": "image"}` into what their API wants (a data URL for
    OpenAI-compatible servers, a PIL image for a local processor).
    """
    content: list[dict] = [{"type": "image"}] if post.image else []
    content.append({"type": "text", "text": render_prompt(post, max_words)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": content}]
