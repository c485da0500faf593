"""The CMKP-compatible metrics (mmkp_lib.metrics) on hand-computed cases, their files (mmkp_lib.eval_io),
and `mmkp evaluate`.

Every expected number below is worked out by hand in the comments.
"""
import json

import numpy as np
import pytest

from mmkp_lib.cli import main
from mmkp_lib.eval_io import format_table, read_predictions
from mmkp_lib.metrics import METRIC_NAMES, aggregate, clean_predictions, evaluate, group_sizes, score_posts
from mmkp_lib.normalize import Stemmer
from mmkp_lib.records import DataError, Post, write_posts

# Post 1: text stems "a small dog run in the park"; targets dog (present), park (present), cat (absent).
# Its predictions after cleaning, in order: dog (hit), bird (miss), cat (hit), park (hit):
#   "Dogs" -> dog; "dog" repeats it after stemming (dropped); "the park , x" holds ',' and "<unk>" is <unk>
#   (invalid, dropped); "" is empty (dropped); "parks" -> park.
# Post 2: text "hello world", one absent target "sun", no predictions.
P1 = Post("p1", "A small dog runs in the park", ["dog", "park", "cats"])
P2 = Post("p2", "hello world", ["sun"])
PRED1 = ["Dogs", "dog", "bird", "the park , x", "<unk>", "", "cat", "parks"]
GOLD = [P1, P2]
PREDS = {"p1": PRED1, "p2": []}


def close(result, expected):
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-9), name


def test_cleaning_keeps_order_drops_repeats_after_stemming_and_invalid():
    assert list(clean_predictions(PRED1, Stemmer())) == [" dog ", " bird ", " cat ", " park "]


def test_cmkp_all_posts():
    # Post 1 (4 cleaned predictions, 3 targets, hits at ranks 1, 3, 4):
    #   @1: 1 match, P = 1/min(1,4) = 1,   R = 1/3
    #   @3: 2 matches, P = 2/3,            R = 2/3
    #   @5: 3 matches, P = 3/min(5,4) = 3/4, R = 1        (fewer predictions than k)
    #   @M: as @5;  @O (k = 3 targets): 2 matches, P = 2/min(3,4) = 2/3, R = 2/3
    #   AP@5 = (1/1 + 2/3 + 3/4) / 3 targets = 0.805556
    # Post 2: no predictions: every P and R is 0, AP 0.
    # Macro: P@1 = 1/2, R@1 = 1/6 -> F1@1 = 2 * 1/2 * 1/6 / (1/2 + 1/6) = 0.25 (not the mean per-post F1)
    #        P@3 = 1/3, R@3 = 1/3 -> F1@3 = 1/3;  P@5 = 3/8, R@5 = 1/2 -> F1@5 = 0.375 / 0.875 = 0.428571
    #        F1@O = 1/3;  MAP@5 = 0.805556 / 2 = 0.402778
    r = evaluate(GOLD, PREDS)
    assert r["n"] == 2 and set(r) == {"n", "all", "present", "absent"}
    assert list(r["all"]) == list(METRIC_NAMES)
    close(r["all"], {"p@1": 0.5, "r@1": 1 / 6, "f1@1": 0.25, "p@3": 1 / 3, "r@3": 1 / 3, "f1@3": 1 / 3,
                     "p@5": 0.375, "r@5": 0.5, "f1@5": 0.375 / 0.875, "p@M": 0.375, "r@M": 0.5,
                     "f1@M": 0.375 / 0.875, "p@O": 1 / 3, "r@O": 1 / 3, "f1@O": 1 / 3,
                     "map@5": (1 + 2 / 3 + 3 / 4) / 3 / 2})


def test_cmkp_present_and_absent():
    # Present, over post 1 only (post 2 has no present target): targets dog, park; predictions dog, park (hits).
    #   P@1 = 1, R@1 = 1/2 -> F1@1 = 2/3;  P@3 = 2/2 = 1, R@3 = 1 -> F1@3 = 1;  AP@5 = (1 + 1) / 2 = 1
    # Absent, over both posts: post 1 targets cat; predictions bird (miss), cat (hit):
    #   P@1 = 0, R@1 = 0;  P@3 = 1/2, R@3 = 1;  O = 1: 0 matches in the first one -> 0, 0;  AP = (1/2) / 1
    #   post 2: target sun, no predictions: zeros.
    #   P@1 = R@1 = 0 -> F1@1 = 0;  P@3 = 1/4, R@3 = 1/2 -> F1@3 = 2 * 1/4 * 1/2 / (3/4) = 1/3;  MAP = 1/4
    r = evaluate(GOLD, PREDS)
    close(r["present"], {"p@1": 1, "r@1": 0.5, "f1@1": 2 / 3, "f1@3": 1, "f1@O": 1, "map@5": 1})
    close(r["absent"], {"p@1": 0, "r@1": 0, "f1@1": 0, "p@3": 0.25, "r@3": 0.5, "f1@3": 1 / 3,
                        "p@O": 0, "r@O": 0, "f1@O": 0, "map@5": 0.25})
    sizes = group_sizes(score_posts(GOLD, PREDS))
    assert sizes == {"all": 2, "present": 1, "absent": 2}


def test_aimkp_variant():
    # Per post P@k = matches / k, F1 = mean of per-post F1.  Post 1:
    #   @1: P = 1, R = 1/3 -> F1 = 0.5;   @3: P = 2/3, R = 2/3 -> 2/3;   @5: P = 3/5, R = 1 -> 0.75
    #   @M (k = 4 predictions): P = 3/4, R = 1 -> 6/7;   @O (k = 3): P = 2/3, R = 2/3 -> 2/3
    #   AimKP MAP@5: L = min(5, 4) = 4 ranks, P@1..4 = 1, 1/2, 2/3, 3/4 -> (2.916667) / 4 = 0.729167
    # Post 2: all 0.  Means over the two posts:
    r = evaluate(GOLD, PREDS, variant="aimkp")
    close(r["all"], {"f1@1": 0.25, "f1@3": 1 / 3, "f1@5": 0.375, "f1@M": 3 / 7, "f1@O": 1 / 3,
                     "p@5": 0.3, "r@5": 0.5, "p@M": 0.375, "map@5": (1 + 1 / 2 + 2 / 3 + 3 / 4) / 4 / 2})


def test_seen_unseen_and_a_hit_joins_its_targets_group():
    # Training keyphrases dog, park, bird.  Post 1: targets dog, park seen; cat unseen.
    # Predictions: "Dogs" (hit on dog: seen, although the string "Dogs" is not in training),
    #   bird (miss, its string is in training: seen), cat (hit: unseen), park (hit: seen).
    # Seen, over post 1: targets dog, park; predictions dog, bird, park (hit, miss, hit)
    #   P@1 = 1, R@1 = 1/2 -> F1@1 = 2/3;  P@3 = 2/3, R@3 = 1 -> F1@3 = (4/3) / (5/3) = 0.8
    #   O = 2: 1 match in the first two -> P = R = 1/2 -> F1@O = 0.5;  AP = (1 + 2/3) / 2 = 5/6
    # Unseen, over both posts: post 1 targets cat, predictions cat (hit): P@1 = R@1 = 1, AP = 1; post 2: zeros.
    #   P@1 = R@1 = 1/2 -> F1@1 = 0.5;  MAP = 0.5
    r = evaluate(GOLD, PREDS, train_keyphrases=["dog", "park", "bird"])
    assert set(r) == {"n", "all", "present", "absent", "seen", "unseen"}
    close(r["seen"], {"p@1": 1, "r@1": 0.5, "f1@1": 2 / 3, "f1@3": 0.8, "f1@O": 0.5, "map@5": 5 / 6})
    close(r["unseen"], {"p@1": 0.5, "r@1": 0.5, "f1@1": 0.5, "map@5": 0.5})
    # Training posts work as well as strings.
    train_posts = [Post("t1", "x", ["dog", "park"]), Post("t2", "y", ["bird"])]
    assert evaluate(GOLD, PREDS, train_keyphrases=train_posts) == r


def test_targets_deduplicated_after_stemming_and_o_cutoff_beyond_the_predictions():
    # Targets cat, cats, Cat are one target; so R@1 = 1/1, not 1/3.
    r = evaluate([Post("a", "t", ["cat", "cats", "Cat"])], {"a": ["cat"]})
    close(r["all"], {"p@1": 1, "r@1": 1, "f1@1": 1})
    # Three targets, one correct prediction: O = 3 but only one prediction.
    #   cmkp: P@O = 1/min(3, 1) = 1, R@O = 1/3;  aimkp: P@O = 1/3 (padded), R@O = 1/3
    gold = [Post("b", "t", ["x", "y", "z"])]
    close(evaluate(gold, {"b": ["y"]})["all"], {"p@O": 1, "r@O": 1 / 3, "f1@O": 0.5})
    close(evaluate(gold, {"b": ["y"]}, variant="aimkp")["all"], {"p@O": 1 / 3, "r@O": 1 / 3, "f1@O": 1 / 3})


def test_a_group_without_posts_gives_none():
    r = evaluate([Post("a", "red circle", ["red circle"])], {"a": ["red circle"]})
    assert r["present"]["f1@1"] == 1.0
    assert all(v is None for v in r["absent"].values())


def test_list_predictions_and_mismatches():
    assert evaluate(GOLD, [PRED1, []]) == evaluate(GOLD, PREDS)
    with pytest.raises(DataError, match=r"1 gold post\(s\) have no prediction \(first: 'p2'\); "
                                        r"2 prediction id\(s\) are not in the gold set"):
        evaluate(GOLD, {"p1": [], "x": [], "y": []})
    with pytest.raises(DataError, match=r"1 predictions for 2 gold posts \(1 missing\)"):
        evaluate(GOLD, [PRED1])
    with pytest.raises(DataError, match=r"3 predictions for 2 gold posts \(1 extra\)"):
        evaluate(GOLD, [PRED1, [], []])
    with pytest.raises(TypeError, match="is a string"):
        evaluate(GOLD, ["dog; park", ""])
    with pytest.raises(ValueError, match="unknown metric variant"):
        evaluate(GOLD, PREDS, variant="f1")


def test_read_predictions_jsonl_and_cmkp_text(tmp_path):
    jsonl = tmp_path / "pred.jsonl"
    jsonl.write_text('{"id": "p2", "keyphrases": [], "raw": "..."}\n{"id": "p1", "keyphrases": ["dog", "x"]}\n')
    assert read_predictions(jsonl, GOLD) == [["dog", "x"], []]  # gold order, extra fields ignored
    text = tmp_path / "pred.txt"
    text.write_text("dog;x\n\n")  # line 2: a post with no predictions
    assert read_predictions(text, GOLD) == [["dog", "x"], [""]]  # "" is an invalid prediction, dropped later
    assert evaluate(GOLD, read_predictions(text, GOLD)) == evaluate(GOLD, read_predictions(jsonl, GOLD))


@pytest.mark.parametrize("name, content, message", [
    ("short.txt", "dog\n", r"short.txt: 1 predictions for 2 gold posts \(1 missing\)"),
    ("wrong.jsonl", '{"id": "p1", "keyphrases": []}\n{"id": "p9", "keyphrases": []}\n',
     r"wrong.jsonl: .*1 gold post\(s\) have no prediction \(first: 'p2'\); "
     r"1 prediction id\(s\) are not in the gold set \(first: 'p9'\)"),
    ("dup.jsonl", '{"id": "p1", "keyphrases": []}\n{"id": "p1", "keyphrases": []}\n',
     r"dup.jsonl:2: second prediction for post 'p1'"),
    ("bad.jsonl", '{"id": "p1", "keyphrases": "dog"}\n', r"bad.jsonl:1: expected"),
], ids=["short", "wrong-ids", "duplicate", "bad-field"])
def test_read_predictions_errors_say_how_many(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_predictions(path, GOLD)


def test_per_post_scores_vectorised_match_a_loop():
    # The vectorised aggregation against the per-post formula written out, on random predictions.
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    gold, preds = [], {}
    for i in range(200):
        kps = list(dict.fromkeys(str(rng.choice(words)) for _ in range(rng.integers(1, 4))))
        gold.append(Post(f"p{i}", " ".join(rng.choice(words, 8)), kps))
        preds[f"p{i}"] = [str(w) for w in rng.choice(words, rng.integers(0, 7))]
    r = evaluate(gold, preds)
    p1 = []
    for post in gold:
        targets = set(post.keyphrases)
        cleaned = list(dict.fromkeys(preds[post.id]))
        p1.append((cleaned[0] in targets) if cleaned else 0.0)
    assert r["all"]["p@1"] == pytest.approx(np.mean(p1))


def test_format_table_shows_percentages():
    scores = score_posts(GOLD, PREDS)
    table = format_table(aggregate(scores), group_sizes(scores))
    assert "F1@1" in table and "MAP@5" in table
    assert "25.00" in table  # all F1@1
    assert "     -" not in table


# ---------------------------------------------------------------- the CLI

@pytest.fixture()
def files(tmp_path):
    gold = tmp_path / "test.jsonl"
    write_posts(GOLD, gold)
    train = tmp_path / "train.jsonl"
    write_posts([Post("t1", "x", ["dog", "park", "bird"])], train)
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "keyphrases": v}) + "\n" for k, v in PREDS.items()))
    return gold, train, pred


def test_cli_json_output_matches_the_library(files, capsys):
    gold, train, pred = files
    assert main(["evaluate", "--gold", str(gold), "--pred", str(pred), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == evaluate(GOLD, PREDS)
    assert main(["evaluate", "--gold", str(gold), "--pred", str(pred), "--train", str(train), "--json",
                 "--variant", "aimkp"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == evaluate(GOLD, PREDS, ["dog", "park", "bird"], variant="aimkp")
    assert list(out) == ["n", "all", "present", "absent", "seen", "unseen"]


def test_cli_table_ci_and_compare(files, capsys):
    gold, train, pred = files
    assert main(["evaluate", "--gold", str(gold), "--pred", str(pred), "--ci", "50", "--compare", str(pred)]) == 0
    out = capsys.readouterr().out
    assert "F1@1" in out and "25.00" in out
    assert "bootstrap intervals" in out and "p = 1.0000" in out  # a file against itself


def test_cli_cmkp_gold_and_text_predictions(tmp_path, capsys):
    src = tmp_path / "test_src.txt"
    src.write_text("a small dog runs in the park<sep>dog;park;cats<sep>https://x/a.jpg\n"
                   "hello world<sep>sun<sep>https://x/b.jpg\n")
    pred = tmp_path / "pred.txt"
    pred.write_text(";".join(PRED1) + "\n\n")
    assert main(["evaluate", "--gold", str(src), "--pred", str(pred), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    close(out["all"], {"f1@1": 0.25, "f1@3": 1 / 3, "map@5": (1 + 2 / 3 + 3 / 4) / 3 / 2})


def test_cli_mismatch_is_an_error(files, tmp_path, capsys):
    gold, _, _ = files
    pred = tmp_path / "short.txt"
    pred.write_text("dog\n")
    assert main(["evaluate", "--gold", str(gold), "--pred", str(pred)]) == 1
    assert "1 predictions for 2 gold posts (1 missing)" in capsys.readouterr().err
