"""Notebook 02's numbers: outcomes per post, reasons, lengths, redundancy (hand-computed), the run config."""
import pytest

from mmkp_lib.records import Post
from mmkp_lib.teacher import TeacherRunConfig
from mmkp_lib.teacher.analysis import jaccard, length_stats, post_outcomes, reason_counts, redundancy, token_set
from mmkp_lib.teacher.prompt import PROMPT_HASH


def test_jaccard_by_hand():
    a, b = token_set("A red circle, red!"), token_set("a blue circle")
    assert a == {"a", "red", "circle"}
    assert jaccard(a, b) == pytest.approx(2 / 4)


def test_redundancy_within_and_across_groups():
    posts = [Post(id="1", text="", keyphrases=["beach"]), Post(id="2", text="", keyphrases=["beach"]),
             Post(id="3", text="", keyphrases=["city"]), Post(id="4", text="", keyphrases=["forest"])]
    thinks = {"1": "sand sea sun", "2": "sand sea wind", "3": "sand road cars", "4": "trees moss"}
    r = redundancy(thinks, posts, n_across=200, seed=1)
    assert r["within"] == [pytest.approx(2 / 4)]  # {sand sea} / {sand sea sun wind}
    assert r["groups"] == 1
    # across pairs (no shared keyphrase): 1-3 and 2-3 = 1/5, 1-4, 2-4, 3-4 = 0
    assert set(round(x, 6) for x in r["across"]) <= {0.2, 0.0}
    assert 0.0 < r["across_mean"] < 0.2 and r["within_mean"] == pytest.approx(0.5)


def test_outcomes_and_reasons_per_post():
    posts = [Post(id=i, text="", keyphrases=["k"]) for i in ("a", "b", "c", "d")]

    def line(pid, status, reason=None, words=0, cost=0.001):
        return {"key": [pid, "openai", "m", PROMPT_HASH], "status": status, "reason": reason,
                "response": None if status == "error" else "x", "think_words": words,
                "usage": {"input_tokens": 10, "output_tokens": 5}, "cost_usd": cost, "elapsed_s": 1.0}

    recs = [line("a", "retry", "wrong-answer"), line("a", "accepted", words=42),
            line("b", "retry", "too-long"), line("b", "rejected", "too-long"),
            line("c", "error", "request-failed", cost=0.0),
            line("a", "accepted", words=1)]  # another model's line would not count:
    recs[-1]["key"] = ["a", "openai", "other", PROMPT_HASH]
    df = post_outcomes(recs, posts, "openai", "m").set_index("id")
    assert df.loc["a", "status"] == "accepted" and df.loc["a", "think_words"] == 42 and df.loc["a", "responses"] == 2
    assert df.loc["b", "status"] == "rejected" and df.loc["b", "reason"] == "too-long"
    assert df.loc["c", "status"] == "pending" and df.loc["c", "responses"] == 0
    assert df.loc["d", "status"] == "not asked"
    assert df["input_tokens"].sum() == 50 and df.loc["a", "cost_usd"] == pytest.approx(0.002)
    rc = reason_counts(recs[:-1])
    assert rc["invalid responses"] == {"wrong-answer": 1, "too-long": 2}
    assert rc["final rejections"] == {"too-long": 1} and rc["failed requests"] == {"request-failed": 1}


def test_length_stats():
    s = length_stats(list(range(1, 11)))
    assert (s["mean"], s["median"], s["p10"], s["p90"], s["min"], s["max"]) == (5.5, 5.5, 2, 10, 1, 10)


def test_run_config_rejects_bad_settings_clearly(tmp_path):
    with pytest.raises(ValueError) as e:
        TeacherRunConfig(data=str(tmp_path / "none"), backend="gpt", workers=0).validated()
    msg = str(e.value)
    assert "backend must be one of" in msg and "workers must be" in msg and "mmkp synth --out" in msg
    with pytest.raises(ValueError, match="needs model"):
        TeacherRunConfig(data=str(tmp_path), backend="hf").validated()
    cfg = TeacherRunConfig(data=str(tmp_path / "synth-smoke"), smoke=True, work_dir=str(tmp_path))
    assert cfg.post_limit == 200 and TeacherRunConfig(limit=50, smoke=True).post_limit == 50
    assert cfg.cache_path() == tmp_path / "cache" / "teacher" / "synth-smoke" / "oracle-facts.jsonl"


def test_redundancy_on_content_tokens_drops_the_shared_wording():
    posts = [Post(id=str(i), text="", keyphrases=[kp]) for i, kp in enumerate(["beach", "beach", "city", "forest"])]
    thinks = {"0": "the image shows sand", "1": "the image shows sand", "2": "the image shows roads",
              "3": "the image shows trees"}
    everything = redundancy(thinks, posts, n_across=100)
    content = redundancy(thinks, posts, n_across=100, max_doc_freq=0.5)  # "the image shows" is in all 4
    assert everything["within_mean"] == 1.0 and everything["across_mean"] == pytest.approx(3 / 5)
    assert content["within_mean"] == 1.0 and content["across_mean"] == 0.0
