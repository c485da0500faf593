"""Benchmark overlap (mmkp_lib.overlap) on small hand-made splits, and `mmkp overlap`."""
import json

import pytest

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
