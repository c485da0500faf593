"""Normalisation for matching (mmkp_lib.normalize): CMKP's lower-case + whitespace split + Porter stems,
the per-token cache, and the prefix rules that let the evaluator skip stemming most text words."""
import itertools
import random

import pytest
from nltk.stem.porter import PorterStemmer

from mmkp_lib.normalize import EMPTY_KEY, MASK, Stemmer, stem_phrase


@pytest.fixture()
def st():
    return Stemmer()


def test_phrase_lowercases_splits_on_any_whitespace_and_stems(st):
    assert st.phrase("Running  Cats\t") == ("run", "cat")
    assert st.phrase("Wildflowers") == ("wildflow",)
    assert st.phrase("") == ()
    assert stem_phrase("happy dogs") == ("happi", "dog")


def test_key_is_space_padded_stems_and_empty_phrase_has_the_empty_key(st):
    assert st.key("Red  Circles") == " red circl "
    assert st.key("   ") == EMPTY_KEY


def test_stems_are_nltks_default_mode(st):
    porter = PorterStemmer()  # NLTK_EXTENSIONS, what the CMKP script uses
    for word in ["relational", "skies", "dying", "was", "generously", "<unk>", ",", "u.s."]:
        assert st.token(word) == porter.stem(word)
    assert st.token("Running") == "run"  # lower-cased first


def test_presence_is_a_contiguous_run_of_stems(st):
    text = st.text_key("New York is so big , running dogs everywhere")
    assert st.is_present(st.key("new york"), text)
    assert st.is_present(st.key("run dog"), text)  # stems match: running -> run, dogs -> dog
    assert not st.is_present(st.key("york new"), text)  # order matters
    assert not st.is_present(st.key("new big"), text)  # not contiguous
    assert not st.is_present(st.key("yor"), text)  # whole tokens only, not substrings
    assert not st.is_present(EMPTY_KEY, text)


def test_each_distinct_token_is_stemmed_once(st):
    calls = []
    real = st._stems._fn
    st._stems._fn = lambda t: calls.append(t) or real(t)
    for _ in range(3):
        st.text("the cats and the dogs and the cats")
        st.key("cats dogs")
        st.key("Cats  dogs")  # another raw phrase, same tokens
    assert sorted(calls) == ["and", "cats", "dogs", "the"]
    assert st.n_stemmed_tokens == 4


def _words():
    """Every string of 1-4 letters over a suffix-rich alphabet, and random stems + Porter suffixes."""
    alphabet = "aeiysldtngcbzr"
    words = ["".join(t) for n in range(1, 5) for t in itertools.product(alphabet, repeat=n)]
    suffixes = ["ational", "tional", "enci", "izer", "bli", "alli", "entli", "eli", "ousli", "ization", "ation",
                "ator", "alism", "iveness", "fulness", "aliti", "iviti", "biliti", "logi", "icate", "ative", "alize",
                "iciti", "ical", "ful", "ness", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ent",
                "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "sses", "ies", "ss", "s", "eed", "ed", "ing",
                "y", "e", "ll", "ied", "ly"]
    rng = random.Random(0)
    for _ in range(30000):
        head = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        words.append(head + rng.choice(suffixes) + rng.choice(["", "s", "ed", "ing", "ly"]))
    return words + ["dying", "lying", "tying", "skies", "innings", "news", "proceed"]


def test_porter_keeps_the_first_letter_and_the_first_two_unless_irregular(st):
    """The rule Stemmer.masked_text_key relies on to skip words without stemming them."""
    porter = PorterStemmer()
    irregular = set(porter.pool)
    broken_first, broken_two = [], []
    for w in _words():
        s = porter.stem(w)
        if not s or s[0] != w[0]:
            broken_first.append((w, s))
        if w not in irregular and len(s) >= 2 and s[:2] != w[:2]:
            broken_two.append((w, s))
    assert broken_first == []
    assert broken_two == []
    assert porter.stem("lying")[:2] != "ly"  # why irregular forms are always stemmed


def test_masked_text_key_finds_exactly_what_the_full_key_finds(st):
    rng = random.Random(1)
    vocab = _words()[::97]
    for _ in range(300):
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12)))
        tokens = text.split()
        phrases = [" ".join(tokens[i:i + rng.randint(1, 3)]) for i in rng.sample(range(len(tokens)),
                                                                                  min(2, len(tokens)))]
        phrases += [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 2))) for _ in range(2)]
        keys = [st.key(p) for p in phrases]
        full, masked = st.text_key(text), st.masked_text_key(text, st.prefixes(keys))
        assert [k in full for k in keys] == [k in masked for k in keys], (text, phrases)


def test_masked_text_key_skips_words_that_cannot_match(st):
    masked = st.masked_text_key("zebras running quickly", st.prefixes([st.key("runs")]))
    assert masked == f" {MASK} run {MASK} "
    assert "zebra" not in st._stems and "quickly" not in st._stems  # never stemmed
