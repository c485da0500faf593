"""Bootstrap intervals over posts and the paired bootstrap test (mmkp_lib.stats)."""
import numpy as np
import pytest

from mmkp_lib.metrics import aggregate, score_posts
from mmkp_lib.records import Post
from mmkp_lib.stats import bootstrap_all, bootstrap_ci, paired_bootstrap_test, resample_weights


def make(n=300, seed=0):
    """Gold posts, a weak system (right 30% of the time) and a strong one (right 80%)."""
    rng = np.random.default_rng(seed)
    gold, weak, strong = [], {}, {}
    for i in range(n):
        kp = f"topic {i % 40}"
        gold.append(Post(f"p{i}", f"a post about topic {i % 40}" if i % 3 else "a post", [kp, "scene"]))
        weak[f"p{i}"] = [kp if rng.random() < 0.3 else "wrong", "other"]
        strong[f"p{i}"] = [kp if rng.random() < 0.8 else "wrong", "scene"]
    return gold, weak, strong


def test_resample_weights_are_counts_and_seeded():
    a = np.concatenate(list(resample_weights(50, 120, seed=3)))
    b = np.concatenate(list(resample_weights(50, 120, seed=3)))
    assert a.shape == (120, 50) and (a.sum(axis=1) == 50).all()
    assert (a == b).all()
    assert not (a == np.concatenate(list(resample_weights(50, 120, seed=4)))).all()


def test_ci_contains_the_point_and_is_deterministic():
    gold, weak, _ = make()
    scores = score_posts(gold, weak)
    point = aggregate(scores)
    for group, metric in [("all", "f1@1"), ("all", "f1@M"), ("absent", "r@5"), ("present", "map@5")]:
        ci = bootstrap_ci(scores, metric, group=group, n_boot=300, seed=0)
        assert ci.point == pytest.approx(point[group][metric])
        assert ci.low <= ci.point <= ci.high
        assert ci.high - ci.low > 0  # 300 noisy posts: a real interval
        assert bootstrap_ci(scores, metric, group=group, n_boot=300, seed=0) == ci
    seed0 = bootstrap_ci(scores, "f1@1", n_boot=300, seed=0)
    seed1 = bootstrap_ci(scores, "f1@1", n_boot=300, seed=1)
    assert seed1.point == seed0.point and (seed1.low, seed1.high) != (seed0.low, seed0.high)


def test_ci_narrows_with_more_posts():
    small = bootstrap_ci(score_posts(*make(100)[:2]), "f1@1", n_boot=300)
    large = bootstrap_ci(score_posts(*make(2000)[:2]), "f1@1", n_boot=300)
    assert (large.high - large.low) < (small.high - small.low) / 2


def test_bootstrap_all_covers_every_group_and_metric():
    gold, weak, _ = make(100)
    cis = bootstrap_all(score_posts(gold, weak, train_keyphrases=["scene"]), n_boot=50, variant="aimkp")
    assert set(cis) == {"all", "present", "absent", "seen", "unseen"}
    assert all(len(ms) == 16 for ms in cis.values())


def test_paired_test_identical_and_clearly_better():
    gold, weak, strong = make()
    a = score_posts(gold, weak)
    same = paired_bootstrap_test(a, score_posts(gold, weak), "f1@1", n_boot=500)
    assert same.delta == 0 and same.p_value > 0.99
    better = paired_bootstrap_test(a, score_posts(gold, strong), "f1@1", n_boot=500)
    assert better.delta > 0.2 and better.p_value < 0.01
    assert better.low > 0  # the whole interval of the difference is above 0
    # The order of the systems flips the sign, not the p-value.
    worse = paired_bootstrap_test(score_posts(gold, strong), a, "f1@1", n_boot=500)
    assert worse.delta == pytest.approx(-better.delta) and worse.p_value == better.p_value


def test_paired_test_needs_the_same_posts():
    gold, weak, _ = make(20)
    with pytest.raises(ValueError, match="different posts"):
        paired_bootstrap_test(score_posts(gold, weak), score_posts(gold[:10], {k: weak[k] for k in list(weak)[:10]}))
    with pytest.raises(ValueError, match="seen/unseen need training keyphrases"):
        bootstrap_ci(score_posts(gold, weak), group="unseen")
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci(score_posts(gold, weak), "f2@1")
