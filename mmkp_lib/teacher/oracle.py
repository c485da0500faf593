"""The oracle teacher: rationales written from the embedded benchmark's generator latents.

Every synthetic post carries what the generator drew (meta["synth"]: topic,
scene, the main object's colour and shape, which keyphrase came from where).
The oracle writes the reasoning an ideal teacher would, in one of two styles
(STYLES), each drawn per post from a generator seeded by (seed, post id), so
runs are reproducible:

  - "facts" (the default): the facts the answer is built from, before it, in
    one of a handful of templates: the quoted text span with the topic, the
    main object's colour and its shape as separate words, the scene (about
    20-30 words). A small student trained from scratch can learn this
    language quickly, so Fine-tune-CoT tests whether stating colour and shape
    apart helps it compose colour-shape pairs it never saw.
  - "prose": what the text says, what the image shows, how that gives each
    keyphrase, varied the way an LLM's rationales are (prose, numbered steps,
    labelled sections; lengths roughly log-normal: about 25-140 words, median
    about 75).

It needs no network and no model, and refuses posts without latents:

    mmkp teacher --data data/synth --backend oracle --style facts --out cache/teacher/synth/oracle-facts.jsonl
"""
from __future__ import annotations

import random
import re
import time

from mmkp_lib.records import Post
from mmkp_lib.prompts import cot_target
from mmkp_lib.teacher.base import FatalBackendError, TeacherBackend, TeacherResponse, utc_now

ORACLE_VERSION = "v1"
ROLES = ("topic", "object", "scene")
STYLES = ("facts", "prose")  # see the module docstring
DEFAULT_STYLE = "facts"


class OracleError(FatalBackendError):
    """A post the oracle cannot explain (no latents, or latents that do not cover its keyphrases)."""


def _q(kp: str) -> str:
    return f'"{kp}"'


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _snippet(text: str, phrase: str, context_words: int = 5) -> str | None:
    """The phrase with a few words either side, as it stands in the text (for quoting)."""
    m = re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text, re.I)
    if not m:
        return None
    before = text[:m.start()].split()[-context_words:]
    after = text[m.end():].split()[:context_words]
    return " ".join(before + [m.group(0)] + after).replace('"', "'")


def check_latents(post: Post) -> dict:
    """The post's latents, or OracleError saying what is missing."""
    synth = post.meta.get("synth") if isinstance(post.meta, dict) else None
    if not isinstance(synth, dict):
        raise OracleError(f"post {post.id!r} has no generator latents (meta['synth']); the oracle teacher only "
                          f"explains the embedded benchmark (`mmkp synth`). For other data use "
                          f"--backend openai or --backend hf.")
    missing = [k for k in ("topic", "scene", "object", "roles") if k not in synth]
    obj = synth.get("object")
    if isinstance(obj, dict):
        missing += [f"object.{k}" for k in ("colour", "shape") if k not in obj]
    if missing:
        raise OracleError(f"post {post.id!r}: meta['synth'] lacks {missing}; the oracle reads topic, scene, "
                          f"object.colour, object.shape and roles (keyphrase -> topic/object/scene), the latents "
                          f"`mmkp synth` writes (mmkp_lib.synth.generate)")
    roles = synth["roles"]
    no_role = [k for k in post.keyphrases if roles.get(k) not in ROLES]
    if no_role:
        raise OracleError(f"post {post.id!r}: keyphrases {no_role} have no role (topic/object/scene) in "
                          f"meta['synth']['roles'] = {roles}; the oracle cannot explain them")
    return synth


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"oracle style {style!r}: one of {', '.join(STYLES)} (facts: the answer's facts in a few "
                         f"templates; prose: varied LLM-like reasoning)")
    return style


class OracleBackend(TeacherBackend):
    """Writes `<think>...</think><answer>...</answer>` from meta["synth"]; deterministic per (seed, post id)."""

    name = "oracle"
    batch_size = 64
    max_workers = 1

    def __init__(self, seed: int = 0, style: str = DEFAULT_STYLE):
        self.seed = seed
        self.style = check_style(style)
        self.model = f"synth-oracle-{style}-{ORACLE_VERSION}-seed{seed}"

    def check_posts(self, posts: list[Post]) -> None:
        bad = []
        for post in posts:
            try:
                check_latents(post)
            except OracleError as exc:
                bad.append(exc)
        if bad:
            raise OracleError(f"{len(bad)} of {len(posts)} posts cannot be explained by the oracle; first: {bad[0]}")

    def request_params(self) -> dict:
        return {"seed": self.seed, "oracle_version": ORACLE_VERSION, "style": self.style}

    def generate(self, posts: list[Post], max_words: int) -> list[TeacherResponse]:
        out = []
        for post in posts:
            t0, started = time.perf_counter(), utc_now()
            think = write_rationale(post, seed=self.seed, max_words=max_words, style=self.style)
            text = cot_target(think, post.keyphrases)
            out.append(TeacherResponse(text=text, input_tokens=0, output_tokens=len(text.split()), cost_usd=0.0,
                                       started_at=started, finished_at=utc_now(),
                                       elapsed_s=time.perf_counter() - t0, finish_reason="stop"))
        return out


# --- the rationale writer ----------------------------------------------------------------------------

_TEXT_OPENERS = [
    "The text is about {topic}.",
    "Reading the post, its main subject is {topic}.",
    "First, the text: it talks about {topic}.",
    "The writer is clearly talking about {topic}.",
    "Looking at the text first, the phrase {qtopic} stands out as the topic.",
    "The post's text centres on {topic}.",
]
_TEXT_QUOTES = [
    'It says "{snippet}", so {topic} is what the post is about.',
    'The key part of the text is "{snippet}".',
    'The words "{snippet}" show the topic.',
]
_SCENE_IN_TEXT = [
    "The text also mentions {a_scene} {scene}.",
    "It names the setting as well: {a_scene} {scene}.",
    "The place, {a_scene} {scene}, is mentioned in the text too.",
]
_IMAGE = [
    "The image shows {obj_np} against {a_scene} {scene} background.",
    "In the picture there is {obj_np}, and the background looks like {a_scene} {scene}.",
    "Turning to the image: the main object is {obj_np} in {a_scene} {scene} scene.",
    "The photo's main object is {obj_np}; the scene is {a_scene} {scene}.",
    "Visually, the post shows {obj_np} set in {a_scene} {scene}.",
]
_POSITION = [
    "The {obj} sits {where}.",
    "It is placed {where}.",
]
_DISTRACTOR = [
    "There is also a smaller {dis} in the image, but the {obj} is the main object.",
    "A second, smaller shape, {a_dis} {dis}, appears too, though the {obj} is the focus.",
    "{a_dis_cap} {dis} is visible as well; it is smaller, a side detail, not the main object.",
]
_KP_TOPIC = [
    "{qkp} is the topic of the text, so it is a keyphrase.",
    "The text's topic gives {qkp}.",
    "Since the post is about {kp}, {qkp} fits as a hashtag.",
    "{qkp} comes straight from the text.",
]
_KP_OBJECT_ABSENT = [
    "The {obj} is not mentioned in the text, so {qkp} comes from the image.",
    "{qkp} describes the main object in the image; the text does not say it.",
    "From the image, the main object gives {qkp}.",
]
_KP_OBJECT_PRESENT = [
    "The {obj} is both in the text and in the image, which gives {qkp}.",
    "{qkp} is named in the text and matches the main object in the image.",
]
_KP_SCENE_ABSENT = [
    "The text does not name the place, but the background shows {a_scene} {scene}, so {qkp} is a keyphrase too.",
    "{qkp} comes from the image's setting, which the text leaves out.",
    "The scene, {a_scene} {scene}, is only visible in the image; it gives {qkp}.",
]
_KP_SCENE_PRESENT = [
    "The setting, named in the text and visible in the image, gives {qkp}.",
    "{qkp} is the scene the text mentions and the image shows.",
]
_FILLERS = [
    "Other words in the text are generic and would not make good hashtags.",
    "The colour and the shape of the object are easy to make out.",
    "The wording is casual, as is typical of social media posts.",
    "Nothing else in the post stands out as a tag.",
    "Hashtags on such posts usually name the topic and what is pictured.",
    "The image and the text do not contradict each other.",
]
_CLOSERS = [
    "So the keyphrases are {kps}.",
    "Putting the text and the image together: {kps}.",
    "Together this gives {kps}.",
    "Therefore the tags are {kps}.",
]
# The facts style: one template per post; {colour} and {shape} stand apart, so the answer's "colour shape" pair is
# composed from two words the rationale has already stated, whether or not the pair was ever seen in training.
_FACTS = [  # no punctuation right after a value (" red," would be a piece the tokenizer never saw): lines instead
    'Text: "{snippet}"\nTopic: {topic}\nColour: {colour}\nShape: {shape}\nScene: {scene}',
    'The text says "{snippet}" so the topic is {topic}\nThe object has colour {colour} and shape {shape}\n'
    'The scene is {scene}',
    'Quote: "{snippet}" gives the topic {topic}\nImage: colour {colour} shape {shape} scene {scene}',
    'In the text "{snippet}" names {topic}\nIn the image the colour is {colour} the shape is {shape} and the scene '
    'is {scene}',
]
_IMAGE_MATTERS = "The text alone would not give every tag, so the image matters here."
_SECTION_LABELS = ("Text", "Image", "Keyphrases")  # the labelled style's line heads
_BANKS = (_TEXT_OPENERS, _TEXT_QUOTES, _SCENE_IN_TEXT, _IMAGE, _POSITION, _DISTRACTOR, _KP_TOPIC, _KP_OBJECT_ABSENT,
          _KP_OBJECT_PRESENT, _KP_SCENE_ABSENT, _KP_SCENE_PRESENT, _FILLERS, _CLOSERS, [_IMAGE_MATTERS], _FACTS)


def oracle_texts() -> list[str]:
    """Every piece of wording the oracle can write, placeholders filled with a sample word ("w", a quoted
    '"w w"', the article "a"), so the punctuation around them is kept: what a tokenizer must cover for the
    oracle's rationales to cost one token per word (the post's own words come from the generator's vocabulary).
    """
    sample = {"qtopic": '"w w"', "qkp": '"w w"', "a_scene": "a", "a_dis": "a", "a_dis_cap": "A", "snippet": "w w",
              "kps": '"w w", "w w"'}
    texts = [re.sub(r"\{(\w+)\}", lambda m: sample.get(m.group(1), "w"), t) for bank in _BANKS for t in bank]
    texts += [f"{label}: w" for label in _SECTION_LABELS] + [f"{i}. w" for i in (1, 2, 3)]
    texts += [_position({"x": x, "y": y}, 10) for x in (1, 5, 9) for y in (1, 5, 9)] + ["large"]
    return texts


def _size_word(obj: dict, image_size: int | None) -> str:
    """'large' when the object clearly fills the frame (the generator draws main objects at 44-69% of the side)."""
    size = obj.get("size")
    if not isinstance(size, (int, float)) or not image_size:
        return ""
    return "large" if size / image_size >= 0.6 else ""


def _position(obj: dict, image_size: int | None) -> str | None:
    """'in the upper left' ... 'in the middle' from the object's centre, or None when unknown."""
    x, y = obj.get("x"), obj.get("y")
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or not image_size:
        return None
    col = "left" if x < 0.4 * image_size else "right" if x > 0.6 * image_size else ""
    row = "upper" if y < 0.4 * image_size else "lower" if y > 0.6 * image_size else ""
    if not col and not row:
        return "in the middle of the frame"
    if not col:
        return f"in the {row} half of the frame"
    return f"in the {row + ' ' if row else ''}{col} part of the frame"


def _image_side(post: Post) -> int | None:
    if not post.image:
        return None
    try:
        from PIL import Image

        with Image.open(post.image) as im:  # reads the header only
            return im.size[0]
    except OSError:
        return None


def _in_text(phrase: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", text.lower()) is not None


def write_rationale(post: Post, seed: int = 0, max_words: int = 300, image_size: int | None = None,
                    style: str = DEFAULT_STYLE) -> str:
    """The oracle's reasoning for one post (the text inside <think>) in `style`, deterministic per (seed, post id).

    `image_size` (the image's side in px, prose only) scales the size and position words; by default it is read
    from the post's image file, and without one those words are left out.
    """
    synth = check_latents(post)
    if check_style(style) == "facts":
        return _write_facts(post, synth, seed, max_words)
    image_size = image_size or _image_side(post)
    rng = random.Random(f"mmkp-oracle|{seed}|{post.id}")  # str seeds hash with SHA-512: stable across runs
    topic, scene, obj_l = synth["topic"], synth["scene"], synth["object"]
    obj = f"{obj_l['colour']} {obj_l['shape']}"
    size = _size_word(obj_l, image_size) if rng.random() < 0.4 else ""
    obj_np = f"{size} {obj}".strip()
    fmt = {"topic": topic, "qtopic": _q(topic), "scene": scene, "a_scene": _a(scene), "obj": obj,
           "obj_np": f"{_a(obj_np)} {obj_np}"}
    dis_l = synth.get("distractor")
    if isinstance(dis_l, dict) and "colour" in dis_l and "shape" in dis_l:
        dis = f"{dis_l['colour']} {dis_l['shape']}"
        fmt.update(dis=dis, a_dis=_a(dis), a_dis_cap=_a(dis).capitalize())

    # Verbosity: log-normal like LLM output lengths; it sets how many optional sentences appear.
    verbosity = rng.lognormvariate(0.0, 0.55)

    text_part = [rng.choice(_TEXT_OPENERS).format(**fmt)]
    snippet = _snippet(post.text, topic)
    if snippet and rng.random() < min(0.9, 0.35 * verbosity):
        text_part.append(rng.choice(_TEXT_QUOTES).format(snippet=snippet, **fmt))
    scene_in_text = synth.get("scene_in_text", _in_text(scene, post.text))
    if scene_in_text and rng.random() < 0.8:
        text_part.append(rng.choice(_SCENE_IN_TEXT).format(**fmt))

    image_part = [rng.choice(_IMAGE).format(**fmt)]
    where = _position(obj_l, image_size)
    if where and rng.random() < 0.3:
        image_part.append(rng.choice(_POSITION).format(where=where, **fmt))
    if "dis" in fmt and rng.random() < 0.85:
        image_part.append(rng.choice(_DISTRACTOR).format(**fmt))

    kp_part = []
    roles = synth["roles"]
    for kp in post.keyphrases:
        role = roles[kp]
        f = dict(fmt, kp=kp, qkp=_q(kp))
        if role == "topic":
            bank = _KP_TOPIC
        elif role == "object":
            bank = _KP_OBJECT_PRESENT if _in_text(kp, post.text) else _KP_OBJECT_ABSENT
        else:
            bank = _KP_SCENE_PRESENT if _in_text(kp, post.text) else _KP_SCENE_ABSENT
        kp_part.append(rng.choice(bank).format(**f))
    if len(post.keyphrases) > 1 and rng.random() < 0.5:
        rng.shuffle(kp_part)

    filler_bank = list(_FILLERS)
    if any(not _in_text(k, post.text) for k in post.keyphrases):
        filler_bank.append(_IMAGE_MATTERS)
    n_fillers = min(len(filler_bank), max(0, int(round(verbosity * 1.5 - 1))))
    fillers = rng.sample(filler_bank, n_fillers)
    closer = []
    if rng.random() < min(0.95, 0.45 * verbosity + 0.2):
        closer = [rng.choice(_CLOSERS).format(kps=", ".join(_q(k) for k in post.keyphrases))]

    # Fillers go between sections, where an LLM would add an aside.
    sections = [text_part, image_part, kp_part]
    for s in fillers:
        sections[rng.randrange(len(sections))].append(s)

    style = rng.random()
    if style < 0.6:
        body = " ".join(" ".join(s) for s in sections + [closer] if s)
    elif style < 0.85:
        body = "\n".join(f"{i}. {' '.join(s)}" for i, s in enumerate(sections, start=1))
        if closer:
            body += "\n" + closer[0]
    else:
        body = "\n".join(f"{lab}: {' '.join(s)}" for lab, s in zip(_SECTION_LABELS, sections))
        if closer:
            body += "\n" + closer[0]

    words = body.split()
    if len(words) > max_words:  # stay under the validator's cap: drop fillers first, then shorten
        for s in fillers:
            body = body.replace(" " + s, "").replace(s + " ", "")
        if len(body.split()) > max_words:
            body = " ".join(body.split()[:max_words])
    return body.strip()


def _write_facts(post: Post, synth: dict, seed: int, max_words: int) -> str:
    """The facts style: one of _FACTS, the topic quoted with two words either side as it stands in the text."""
    rng = random.Random(f"mmkp-oracle-facts|{seed}|{post.id}")
    topic, obj = synth["topic"], synth["object"]
    snippet = _snippet(post.text, topic, context_words=2) or topic
    body = rng.choice(_FACTS).format(snippet=snippet, topic=topic, colour=obj["colour"], shape=obj["shape"],
                                      scene=synth["scene"])
    return body if len(body.split()) <= max_words else " ".join(body.split()[:max_words])
