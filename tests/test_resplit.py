"""Re-splitting a pool to a target test-keyphrase overlap (mmkp_lib.resplit) and `mmkp resplit`."""
import json

import numpy as np
import pytest

from mmkp_lib.cli import main
from mmkp_lib.overlap import unique_overlap
from mmkp_lib.records import Post, read_posts, write_posts
from mmkp_lib.resplit import ResplitError, resplit


def zipf_pool(n=3000, n_keyphrases=1500, seed=0):
    """Posts with 1-3 Zipf-distributed keyphrases; split labels 80/10/10 like a benchmark."""
    rng = np.random.default_rng(seed)
    w = 1 / np.arange(1, n_keyphrases + 1) ** 1.1
    w /= w.sum()
    posts = []
    for i in range(n):
        kps = list(dict.fromkeys(f"kp{j}" for j in rng.choice(n_keyphrases, size=rng.integers(1, 4), p=w)))
        split = "test" if i % 10 == 0 else "valid" if i % 10 == 1 else "train"
        posts.append(Post(f"p{i}", "text " + " ".join(kps), kps, split=split))
    return posts


@pytest.mark.parametrize("target", [0.45, 0.8, 0.97])
def test_hits_the_target_with_the_asked_sizes(target):
    pool = zipf_pool()
    r = resplit(pool, target, tolerance=0.01, seed=0)
    assert abs(r.achieved - target) <= 0.01
    assert r.achieved == unique_overlap(r.train, r.test)  # measured on the result, valid excluded
    assert (len(r.train), len(r.valid), len(r.test)) == (2400, 300, 300)  # the pool's own valid/test sizes
    ids = [p.id for p in r.train + r.valid + r.test]
    assert sorted(ids) == sorted(p.id for p in pool)  # a partition of the pool
    assert {p.split for p in r.test} == {"test"} and {p.split for p in r.train} == {"train"}
    assert r.report["asked_overlap"] == target and r.report["achieved_overlap"] == r.achieved
    assert 0.7 < r.report["overlap_before"] < 0.85  # the random split's overlap, for before/after


def test_deterministic_by_seed():
    pool = zipf_pool()
    a, b = resplit(pool, 0.45, seed=3), resplit(pool, 0.45, seed=3)
    assert [p.id for p in a.test] == [p.id for p in b.test] and [p.id for p in a.valid] == [p.id for p in b.valid]
    c = resplit(pool, 0.45, seed=4)
    assert [p.id for p in c.test] != [p.id for p in a.test]


def test_explicit_sizes():
    r = resplit(zipf_pool(), 0.6, n_test=500, n_valid=0, tolerance=0.02)
    assert (len(r.test), len(r.valid), len(r.train)) == (500, 0, 2500)


def test_refuses_an_impossible_target_with_a_reason():
    # Every keyphrase on one post only: any test keyphrase is unseen, so overlap 0.9 cannot be reached.
    singletons = [Post(f"p{i}", "t", [f"only{i}"], split="test" if i < 20 else "train") for i in range(100)]
    with pytest.raises(ResplitError, match=r"closest this re-split reached is 0\.0000.*100 of the pool's 100 "
                                           r"keyphrases occur on one post only"):
        resplit(singletons, 0.9, n_valid=0)
    # Every post carries the same keyphrase: it cannot be made unseen in a test set of 20 of 100 posts.
    shared = [Post(f"p{i}", "t", ["common", f"k{i % 50}"], split="test" if i < 20 else "train") for i in range(100)]
    with pytest.raises(ResplitError, match=r"cannot reach .* 0\.0500 .*Ask for a higher target"):
        resplit(shared, 0.05, n_valid=0)


def test_bad_arguments():
    pool = zipf_pool(200)
    with pytest.raises(ValueError, match=r"target overlap must be a fraction in \[0, 1\], got 45"):
        resplit(pool, 45)
    with pytest.raises(ValueError, match="cannot hold"):
        resplit(pool, 0.5, n_test=150, n_valid=60)
    unlabelled = [Post(p.id, p.text, p.keyphrases) for p in pool]
    with pytest.raises(ValueError, match="give n_test"):
        resplit(unlabelled, 0.5)


def test_cli_resplit(tmp_path, capsys):
    pool = zipf_pool()
    src = tmp_path / "data"
    for split in ("train", "valid", "test"):
        write_posts([p for p in pool if p.split == split], src / f"{split}.jsonl")
    out = tmp_path / "v2"
    assert main(["resplit", "--pool", str(src), "--target", "0.45", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "asked 0.4500, achieved 0.45" in printed
    report = json.loads((out / "resplit.json").read_text())
    assert abs(report["achieved_overlap"] - 0.45) <= 0.01
    train, test = read_posts(out / "train.jsonl"), read_posts(out / "test.jsonl")
    assert unique_overlap(train, test) == report["achieved_overlap"]
    assert main(["resplit", "--pool", str(src), "--target", "0.999", "--tolerance", "0.0001",
                 "--out", str(tmp_path / "x")]) == 2
    assert "cannot do it" in capsys.readouterr().err
