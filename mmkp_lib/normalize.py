"""Text normalisation for keyphrase matching: lower-case, whitespace split, Porter stems.

This is the normalisation of the CMKP evaluation (Wang et al. 2020) that MMKP
papers reuse: every token of a post text, a gold keyphrase or a prediction is
lower-cased and stemmed with nltk's `PorterStemmer()` in its default mode
(NLTK_EXTENSIONS). Two keyphrases match when their stemmed token sequences are
equal; a keyphrase is *present* in a post when its stemmed tokens occur as a
contiguous run in the post's stemmed tokens.

A stemmed phrase is handled as its *key*: the stems joined by single spaces,
with one space on each side (`"Red Circles" -> " red circl "`). Tokens hold
no whitespace, so two keys are equal exactly when the stem sequences are, and
a phrase's tokens run contiguously in a text exactly when its key is a
substring of the text's key. That turns matching into set lookups and the
presence test into one `in`.

Stemming is the slow part of an evaluation (about 10 us a token), and the same
few thousand tokens recur in every post, so a `Stemmer` stems each distinct
token once and remembers it.

    >>> from mmkp_lib.normalize import Stemmer
    >>> st = Stemmer()
    >>> st.phrase("Running  Cats")
    ('run', 'cat')
    >>> st.is_present(st.key("red cats"), st.text_key("Two red cat toys"))
    True
"""
from __future__ import annotations

from typing import Iterable

StemmedPhrase = tuple[str, ...]
MASK = "\x00"  # stands for a text token that cannot match (see Stemmer.masked_text_key)
EMPTY_KEY = "  "  # the key of a phrase with no tokens: never present, never a valid prediction


class _Memo(dict):
    """A dict that fills a missing entry with fn(key): a hit costs one dict lookup, no Python call."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def __missing__(self, key):
        value = self[key] = self._fn(key)
        return value


class Stemmer:
    """Lower-case, split on whitespace and Porter-stem, caching every distinct token and phrase.

    nltk is imported on construction, not on import of this module, so code that
    only needs the names here stays fast to import.
    """

    def __init__(self) -> None:
        from nltk.stem.porter import PorterStemmer  # default mode: NLTK_EXTENSIONS, as CMKP uses

        porter = PorterStemmer()
        self._stems = _Memo(porter.stem)  # lower-cased token -> stem
        self._keys = _Memo(self._make_key)  # raw phrase -> key
        self._prefixes = _Memo(lambda key: frozenset(w[:2] for w in key.split()))  # key -> its stems' prefixes
        # nltk's irregular forms, whose stems may not keep the word's first two letters (lying -> lie)
        self._irregular = frozenset(getattr(porter, "pool", {}))

    @property
    def n_stemmed_tokens(self) -> int:
        """How many distinct tokens went through the Porter stemmer so far."""
        return len(self._stems)

    def token(self, token: str) -> str:
        """The stem of one token (lower-cased first)."""
        return self._stems[token.lower()]

    def tokens(self, tokens: Iterable[str]) -> StemmedPhrase:
        """Stems of already lower-cased tokens."""
        stems = self._stems
        return tuple([stems[t] for t in tokens])

    def _make_key(self, phrase: str) -> str:
        stems = self._stems
        return " " + " ".join([stems[t] for t in phrase.lower().split()]) + " "

    def key(self, phrase: str) -> str:
        """The key of a keyphrase: `"Red  Circles" -> " red circl "` (cached: keyphrases recur)."""
        return self._keys[phrase]

    def phrase(self, phrase: str) -> StemmedPhrase:
        """Stemmed tokens of a keyphrase: `"Red  Circles" -> ("red", "circl")`."""
        return tuple(self._keys[phrase].split())

    def text(self, text: str) -> StemmedPhrase:
        """Stemmed tokens of a post text (not cached as a whole: texts rarely repeat)."""
        return self.tokens(text.lower().split())

    def text_key(self, text: str) -> str:
        """The key of a post text, for `is_present`."""
        return " " + " ".join(self.text(text)) + " "

    def prefixes(self, keys: Iterable[str]) -> set[str]:
        """The first two letters (or the one letter) of every stem of these keys, for `masked_text_key`."""
        out: set[str] = set()
        cached = self._prefixes
        for k in keys:
            out |= cached[k]
        return out

    def masked_text_key(self, text: str, prefixes: set[str] | frozenset[str]) -> str:
        """`text_key(text)`, stemming only the tokens that could take part in a match.

        `prefixes` are the first two letters of every stem looked for (see
        `prefixes`). Porter's rules rewrite a word's ending only and leave a
        non-empty stem that keeps the word's first letter, and its first two
        letters unless the stem is one letter long; only nltk's few irregular
        forms (lying -> lie) break the two-letter rule, so they are always
        stemmed. A text token whose first one or two letters are not among
        `prefixes` can thus never be part of a match: it becomes a placeholder
        no stem equals, and is never stemmed. Most of a post's words are skipped,
        which more than halves the cold cost of an evaluation.
        (tests/test_normalize.py checks both rules on many words.)
        """
        stems, irregular = self._stems, self._irregular
        firsts = {p[0] for p in prefixes}  # the one-letter gate rejects most tokens cheapest
        return " " + " ".join([
            stems[t] if t[0] in firsts and (t[:2] in prefixes or t[0] in prefixes or t in irregular) else MASK
            for t in text.lower().split()]) + " "

    @staticmethod
    def is_present(key: str, text_key: str) -> bool:
        """True when the phrase's stems occur as a contiguous run of the text's stems (never for an empty phrase)."""
        return key != EMPTY_KEY and key in text_key


_default: Stemmer | None = None


def default_stemmer() -> Stemmer:
    """A process-wide Stemmer, so repeated evaluations in one session share one cache."""
    global _default
    if _default is None:
        _default = Stemmer()
    return _default


def stem_phrase(phrase: str, stemmer: Stemmer | None = None) -> StemmedPhrase:
    """Stemmed tokens of one phrase with the shared cache: `stem_phrase("Wildflowers") == ("wildflow",)`."""
    return (stemmer or default_stemmer()).phrase(phrase)
