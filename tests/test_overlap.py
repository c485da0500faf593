"""Benchmark overlap (mmkp_lib.overlap) on small hand-made splits, and `mmkp overlap`."""
import json

import pytest

from _mmkp import MMKP_MIRROR, needs_mmkp
from mmkp_lib.cli import main
from mmkp_lib.overlap import format_overlap, frequency_bucket, keyphrase_counts, overlap_stats, unique_overlap
from mmkp_lib.records import Post, write_posts

TRAIN = [Post("r1", "x", ["a b", "c"]), Post("r2", "y", ["c", "d"]), Post("r3", "z", ["e", "cats"])]
TEST = [
    Post("s1", "we like a b things", ["a b", "f"]),  # a b: present, seen (train count 1); f: absent, unseen
    Post("s2", "the cats sat", ["cat"]),  # cat: present (cats -> cat), unseen as a string, seen once stemmed
    Post("s3", "nothing here", ["c", "a b"]),  # c: absent, seen (train count 2); a b: absent, seen
]


def test_overlap_numbers_by_hand():
    s = overlap_stats(TRAIN, TEST)
    # unique test keyphrases: a b, f, cat, c (4); in train as strings: a b, c -> 2/4
    assert s["unique_overlap"] == 0.5
    assert s["n_test_unique_keyphrases"] == 4
    # occurrences: a b, f | cat | c, a b (5); seen: a b, c, a b -> 3/5
    assert s["instance_overlap"] == pytest.approx(0.6)
    # stemmed, "cat" meets train's "cats": 3/4 unique, 4/5 occurrences
    assert s["unique_overlap_stemmed"] == 0.75
    assert s["instance_overlap_stemmed"] == pytest.approx(0.8)
    # present: a b (s1), cat (s2) of 5 -> 0.4; posts with an absent keyphrase: s1, s3; with an unseen: s1, s2
    assert s["present_ratio"] == pytest.approx(0.4)
    assert s["posts_with_absent"] == pytest.approx(2 / 3)
    assert s["posts_with_unseen"] == pytest.approx(2 / 3)
    assert s["composition"] == {"present_seen": 1, "present_unseen": 1, "absent_seen": 2, "absent_unseen": 1}
    assert s["n_posts"] == {"train": 3, "test": 3}
    assert s["keyphrases_per_post"] == {"train": 2.0, "test": pytest.approx(5 / 3)}
    assert s["n_train_unique_keyphrases"] == 5
    # by training frequency: f, cat never (0); a b once (1); c twice (2-4)
    b = s["by_train_frequency"]
    assert (b["0"]["unique"], b["0"]["instances"]) == (2, 2)
    assert (b["1"]["unique"], b["1"]["instances"]) == (1, 2)
    assert (b["2-4"]["unique"], b["2-4"]["instances"]) == (1, 1)
    assert b["0"]["unique_share"] == pytest.approx(1 - s["unique_overlap"])
    assert sum(x["instances"] for x in b.values()) == 5
    assert "unique overlap:" in format_overlap(s) and "50.00%" in format_overlap(s)


def test_helpers():
    assert unique_overlap(TRAIN, TEST) == 0.5
    # a keyphrase repeated inside one post counts once
    assert keyphrase_counts([Post("x", "t", ["a", "a ", "b"])]) == {"a": 1, "b": 1}
    assert [frequency_bucket(n) for n in (0, 1, 3, 7, 20, 1000)] == ["0", "1", "2-4", "5-9", "10-49", "50+"]
    with pytest.raises(ValueError, match="test set is empty"):
        overlap_stats(TRAIN, [])


def test_valid_sizes_are_reported():
    s = overlap_stats(TRAIN, TEST, valid=TRAIN[:1])
    assert s["n_posts"]["valid"] == 1 and s["keyphrases_per_post"]["valid"] == 2.0


def test_cli_overlap(tmp_path, capsys):
    write_posts(TRAIN, tmp_path / "train.jsonl")
    write_posts(TEST, tmp_path / "test.jsonl")
    assert main(["overlap", "--train", str(tmp_path / "train.jsonl"), "--test", str(tmp_path / "test.jsonl"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("unique_overlap", "instance_overlap", "present_ratio", "posts_with_absent", "posts_with_unseen",
                "n_test_unique_keyphrases"):
        assert key in out
    assert out["unique_overlap"] == 0.5
    # a folder gives its train and test splits
    assert main(["overlap", "--train", str(tmp_path), "--test", str(tmp_path)]) == 0
    assert "unique overlap:     50.00%" in capsys.readouterr().out
    assert main(["overlap", "--train", str(tmp_path / "nope.jsonl"), "--test", str(tmp_path)]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_cli_overlap_on_cmkp_files(tmp_path, capsys):
    (tmp_path / "train_src.txt").write_text("a b here<sep>a b;c<sep>https://x/1.jpg\n")
    (tmp_path / "test_src.txt").write_text("nothing<sep>a b;zz<sep>https://x/2.jpg\n")
    assert main(["overlap", "--train", str(tmp_path / "train_src.txt"), "--test", str(tmp_path / "test_src.txt"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unique_overlap"] == 0.5 and out["present_ratio"] == 0.0


def test_a_keyphrase_list_gives_the_same_test_figures_and_names_what_it_leaves_out():
    from mmkp_lib.overlap import KeyphraseList

    from_posts = overlap_stats(TRAIN, TEST)
    from_list = overlap_stats(KeyphraseList(("cats", "e", "d", "c", "a b")), TEST)
    for key in ("unique_overlap", "instance_overlap", "unique_overlap_stemmed", "instance_overlap_stemmed",
                "present_ratio", "posts_with_absent", "posts_with_unseen", "composition", "n_train_unique_keyphrases"):
        assert from_list[key] == from_posts[key], key
    assert from_list["train_side"] == "keyphrase list" and from_posts["train_side"] == "posts"
    assert from_list["by_train_frequency"] is None and set(from_list["left_out"]) == {"by_train_frequency",
                                                                                     "train_sizes"}
    assert "train" not in from_list["n_posts"] and from_posts["left_out"] == {}
    text = format_overlap(from_list)
    assert "left out (they need the training posts)" in text and "by training frequency (unique" not in text


def test_read_keyphrase_list(tmp_path):
    from mmkp_lib.overlap import read_keyphrase_list
    from mmkp_lib.records import DataError

    path = tmp_path / "kps.txt"
    path.write_text("a b\n\n  c \nd\n")
    assert read_keyphrase_list(path).keyphrases == ("a b", "c", "d")
    path.write_text("a\nb\na\n")
    with pytest.raises(DataError, match=r"kps.txt:3: keyphrase 'a' already on line 1"):
        read_keyphrase_list(path)
    path.write_text("text<sep>a;b<sep>u.jpg\n")
    with pytest.raises(DataError, match="this line is a post"):
        read_keyphrase_list(path)
    path.write_text("\n\n")
    with pytest.raises(DataError, match="holds no keyphrase"):
        read_keyphrase_list(path)


def test_cli_overlap_with_a_training_keyphrase_list(tmp_path, capsys):
    (tmp_path / "kps.txt").write_text("a b\nc\n")
    (tmp_path / "test_src.txt").write_text("nothing<sep>a b;zz<sep>https://x/2.jpg\n")
    args = ["overlap", "--train-keyphrases", str(tmp_path / "kps.txt"), "--test", str(tmp_path / "test_src.txt")]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unique_overlap"] == 0.5 and out["by_train_frequency"] is None
    assert main(args) == 0
    assert "training side: a keyphrase list of 2 keyphrases" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # posts and a list at once: argparse refuses
        main(args + ["--train", str(tmp_path / "test_src.txt")])


@needs_mmkp
def test_real_mmkp_test_overlap_is_the_papers_97_32(capsys):
    """The paper's headline figure, from the real test posts and the training split's keyphrase list."""
    assert main(["overlap", "--train-keyphrases", str(MMKP_MIRROR / "train_keyphrases.txt"),
                 "--test", str(MMKP_MIRROR / "test_src.txt"), "--format", "cmkp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(100 * out["unique_overlap"], 2) == 97.32
    assert out["n_posts"] == {"test": 5372} and out["n_train_unique_keyphrases"] == 4261
