"""Everything the embedded benchmark can write: attribute names, topic words, templates, tweet noise.

One module holds every string so that `vocabulary()` can list them all for
tokenizer training, and so the rules that keep the benchmark honest can be
checked in one place (`check_word_lists`, run by the tests):

- topic, template, filler and noise words never name a colour, a shape or a
  scene, so "<colour> <shape>" keyphrases stay absent from the text (only the
  image tells) and a scene is present only when a scene clause puts it there;
- every text is lower-case and tokenised with single spaces, like MMKP's own
  posts (`a perfect shot ! dublin , ireland ~ <url>`), so a word-level
  contiguous match is the presence test and vocabulary() covers every token.

    >>> from mmkp_lib.synth.words import COLOURS, SHAPES, SCENES
    >>> len(COLOURS), len(SHAPES), len(SCENES)
    (8, 6, 8)
"""
from __future__ import annotations

import re

# ---- image attributes -------------------------------------------------------------------------
# Saturated object colours; the scenes below are muted so every object stands out.
# Order matters: n_colours=k uses the first k.
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 225),
    "yellow": (245, 215, 20),
    "green": (20, 175, 60),
    "purple": (140, 40, 190),
    "orange": (250, 130, 15),
    "pink": (250, 105, 185),
    "cyan": (20, 210, 225),
}
COLOURS: tuple[str, ...] = tuple(COLOUR_RGB)

# Very distinct silhouettes (a tiny vision tower learns shape only when shapes are few and large:
# 4 shapes of 28-44 px on 64 px reached 86% in the prototypes). n_shapes=k uses the first k.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star", "arrow")

# Scene = background colours + texture (drawn in draw.py).
SCENES: tuple[str, ...] = ("beach", "forest", "city", "snow", "night", "desert", "lake", "meadow")

# ---- topics: 2-word phrases, adjective x noun --------------------------------------------------
# No colour, shape or scene word (nor other colour names) may appear here: see check_word_lists.
ADJECTIVES: tuple[str, ...] = tuple("""
vintage modern tiny giant quiet noisy happy lazy brave clever fancy humble wild gentle rapid ancient
rustic cosmic electric crispy spicy sweet sour frozen sunny rainy windy cozy classic retro mystic
secret hidden lucky magic royal silent sleepy smart solar sonic super swift tidy urgent wooden
woolen zen epic fresh funky fuzzy glossy grand handmade homemade honest hungry icy jolly jumbo kind
local loyal lunar major mellow mighty mini misty noble odd organic polar proud quick rare rough
rusty salty shiny simple slow smooth soft solid steady sticky stormy strange strong sturdy subtle
tender tropical twin ultimate vegan velvet virtual warm weekly weird wicked wise young daily digital
dusty early easy elegant empty famous fast fierce final flying foggy free friendly frosty global
great heavy hollow huge humid indie juicy late legendary little lively lonely lost loud lovely
magnetic massive
""".split())

NOUNS: tuple[str, ...] = tuple("""
bicycle guitar coffee pizza puppy kitten garden library festival concert marathon recipe sandwich
camera robot rocket dragon castle bridge tower train tractor sneaker jacket hoodie backpack notebook
pencil laptop keyboard podcast playlist album movie cinema theatre museum gallery painting sculpture
poem novel comic puzzle chess soccer tennis hockey baseball cricket surfing skiing hiking camping
picnic barbecue bakery cupcake cookie pancake waffle taco burrito noodle sushi ramen curry salad
smoothie lemonade tea espresso brunch dinner breakfast market harvest pumpkin mushroom tomato cactus
tulip sunflower orchid bonsai parrot penguin panda koala tiger lion fox wolf owl eagle falcon
dolphin whale turtle rabbit hamster horse pony llama goat sheep bee butterfly beetle dinosaur wizard
pirate ninja knight astronaut chef farmer teacher student startup workshop hackathon meetup wedding
birthday holiday vacation roadtrip journey adventure workout yoga dance karaoke choir orchestra
violin piano drum trumpet saxophone vinyl radio lantern candle quilt sweater scarf mitten umbrella
""".split())

# Colour names that are not object colours but would still read as "naming the colour".
_OTHER_COLOUR_WORDS = ("black", "white", "grey", "gray", "brown", "golden", "gold", "silver", "violet",
                       "magenta", "turquoise", "teal", "navy", "beige", "lime", "olive", "crimson", "scarlet",
                       "rose", "amber", "indigo", "coloured", "colored", "colour", "color", "round", "shape")

# ---- post text ----------------------------------------------------------------------------------
# Templates: MMKP-style lower-case tokenised text; {topic} appears exactly once, verbatim.
TEMPLATES: tuple[str, ...] = (
    "just finished my {topic} project and i am so proud .",
    "who else is into {topic} these days ?",
    "{topic} season is finally here !",
    "can not stop thinking about {topic} .",
    "new post about {topic} is up , check it out",
    "day <number> of {topic} and still going strong",
    "honestly {topic} is underrated",
    "nothing beats {topic} on a weekend .",
    "throwback to the best {topic} ever",
    "so this happened today : {topic} !",
    "my whole feed is {topic} now and i regret nothing",
    "ok but why is {topic} so good",
    "first time trying {topic} , thoughts ?",
    "{topic} appreciation post",
    "here is your daily dose of {topic}",
    "we need to talk about {topic} .",
    "i will never get tired of {topic}",
    "another day , another {topic}",
    "look what i found : {topic}",
    "sharing some {topic} love with you all",
    "the {topic} club meets again tomorrow",
    "rate my {topic} from <number> to <number>",
    "my mom sent me this {topic} and i can not even",
    "shoutout to everyone who came to the {topic} event",
    "weekend plans : {topic} and nothing else",
    "if you love {topic} , this one is for you",
    "this {topic} made my day",
    "tag someone who needs more {topic} in their life",
    "still can not believe this {topic} is real",
    "when the {topic} hits just right",
    "morning thoughts on {topic}",
    "it is official : {topic} is back",
    "trying to explain {topic} to my friends like",
    "best {topic} in town , no debate",
    "updates on the {topic} thing coming soon",
    "a little {topic} never hurt anybody",
    "the {topic} we all deserve",
    "spent way too long on this {topic}",
    "if you know , you know . {topic}",
    "brb , busy with {topic}",
    "caught this {topic} moment earlier",
    "can we make {topic} a thing again ?",
)

# Scene clauses: the only place a scene word enters the text ({scene} is the scene word).
SCENE_CLAUSES: tuple[str, ...] = (
    "{scene} vibes",
    "{scene} mood today",
    "straight from the {scene}",
    "a {scene} kind of day",
    "view from the {scene}",
    "nothing like the {scene}",
    "took this one at the {scene}",
    "back in the {scene} again",
)

# Tweet-like noise, placeholders as in MMKP's normalised text.
# Between a scene clause and the template: "view from the beach : <template>" or "<template> | view from the beach".
SCENE_JOINERS: tuple[str, ...] = (":", ",", ".", "-", "|", "!")
PLACEHOLDERS: tuple[str, ...] = ("<user>", "<url>", "<number>")
PREFIXES: tuple[str, ...] = ("<user>", "<user> <user>", "rt <user> :", "lol", "omg", "ok so", "update :",
                             "breaking :", "psa :", "<user> look")
SUFFIXES: tuple[str, ...] = ("<url>", "<number> / <number>", "lol", "! !", "haha", ". . . <url>", "via <user>",
                             "# <number>", "<user> <url>", "smh", "( <number> )")
FILLERS: tuple[str, ...] = ("tbh", "ngl", "literally", "honestly", "kinda", "so", "really", "just", "like",
                            "lowkey", "totally", "fr")

_TOKEN = re.compile(r"\S+")


def tokens(text: str) -> list[str]:
    """The whitespace tokens of a generated text (texts are already tokenised, MMKP style)."""
    return _TOKEN.findall(text)


def _template_words() -> set[str]:
    words: set[str] = set()
    for t in TEMPLATES + SCENE_CLAUSES + SCENE_JOINERS + PREFIXES + SUFFIXES + FILLERS:
        words.update(w for w in tokens(t.replace("{topic}", " ").replace("{scene}", " ")))
    return words


def vocabulary() -> list[str]:
    """Every token the generator can write, sorted: template, noise and filler tokens, placeholders,
    topic words, colours, shapes and scenes. A tokenizer trained on these covers every generated text
    and keyphrase (texts are space-tokenised, keyphrases are space-joined words of these lists).

        >>> "<user>" in vocabulary() and "bicycle" in vocabulary() and "circle" in vocabulary()
        True
    """
    words = _template_words() | set(PLACEHOLDERS) | set(ADJECTIVES) | set(NOUNS)
    words |= set(COLOURS) | set(SHAPES) | set(SCENES)
    return sorted(words)


def check_word_lists() -> None:
    """Raise ValueError if a word list breaks a benchmark rule (see the module docstring)."""
    problems = []
    for name, lst in (("ADJECTIVES", ADJECTIVES), ("NOUNS", NOUNS)):
        dup = sorted({w for w in lst if lst.count(w) > 1})
        if dup:
            problems.append(f"{name} has duplicates: {dup}")
    forbidden = set(COLOURS) | set(SHAPES) | set(SCENES) | set(_OTHER_COLOUR_WORDS)
    for name, words in (("ADJECTIVES", set(ADJECTIVES)), ("NOUNS", set(NOUNS)),
                        ("templates/noise", _template_words())):
        bad = sorted(words & forbidden)
        if bad:
            problems.append(f"{name} contain colour/shape/scene words: {bad}")
    for i, t in enumerate(TEMPLATES):
        if t.count("{topic}") != 1 or "{scene}" in t:
            problems.append(f"TEMPLATES[{i}] must hold {{topic}} once and no {{scene}}: {t!r}")
        if t != t.lower():
            problems.append(f"TEMPLATES[{i}] is not lower-case: {t!r}")
    for i, t in enumerate(SCENE_CLAUSES):
        if t.count("{scene}") != 1:
            problems.append(f"SCENE_CLAUSES[{i}] must hold {{scene}} once: {t!r}")
    if problems:
        raise ValueError("synth word lists break the benchmark's rules:\n  " + "\n  ".join(problems))
