"""`mmkp teacher`: the oracle end to end, --dry-run, resuming, clear refusals."""
import json

import pytest

from mmkp_lib.cli import main
from mmkp_lib.records import Post, write_posts


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from mmkp_lib.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(n_train=120, n_valid=30, n_test=30, image_size=32), out, progress=False)
    return out


def test_oracle_writes_accepted_rationales_then_resumes_for_free(synth, tmp_path, capsys):
    cache = tmp_path / "oracle.jsonl"
    assert main(["teacher", "--data", str(synth), "--backend", "oracle", "--out", str(cache), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "120 accepted, 0 rejected" in out and "acceptance: 100.0%" in out and "reasoning words" in out
    lines = cache.read_text().splitlines()
    assert len(lines) == 120 and all(json.loads(l)["status"] == "accepted" for l in lines)
    assert {json.loads(l)["key"][0] for l in lines} == {f"train-{i:06d}" for i in range(120)}

    assert main(["teacher", "--data", str(synth), "--out", str(cache), "--no-progress"]) == 0
    assert "skipped (in the cache): 120 accepted" in capsys.readouterr().out
    assert len(cache.read_text().splitlines()) == 120  # nothing appended

    valid = tmp_path / "valid.jsonl"
    assert main(["teacher", "--data", str(synth), "--split", "valid", "--limit", "7", "--out", str(valid),
                 "--no-progress"]) == 0
    assert [json.loads(l)["key"][0] for l in valid.read_text().splitlines()] == [f"valid-{i:06d}" for i in range(7)]


def test_dry_run_prints_the_prompt_and_the_cost_and_calls_nothing(synth, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # no key needed: nothing is called
    cache = tmp_path / "gpt.jsonl"
    code = main(["teacher", "--data", str(synth), "--backend", "openai", "--model", "gpt-4o",
                 "--base-url", "http://127.0.0.1:9/v1", "--out", str(cache), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and not cache.exists()
    first = [l for l in (synth / "train.jsonl").read_text().splitlines()][0]
    assert json.loads(first)["text"] in out and "<think>" in out and "train-000000" in out
    assert "120 to ask" in out and "estimated for 120 posts" in out
    cost = float(out.split("cost $")[1].split()[0])
    assert 0.01 < cost < 1.0  # 120 x (~500 input at $2.5/M + 250 output at $10/M) is about $0.45


def test_oracle_refuses_data_without_latents(tmp_path, capsys):
    data = tmp_path / "d"
    write_posts([Post(id="a", text="no latents here", keyphrases=["x"], split="train")], data / "train.jsonl")
    assert main(["teacher", "--data", str(data), "--out", str(tmp_path / "c.jsonl"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no generator latents" in err and "--backend openai" in err


def test_cache_of_other_data_is_refused(synth, tmp_path, capsys):
    cache = tmp_path / "c.jsonl"
    assert main(["teacher", "--data", str(synth), "--limit", "3", "--out", str(cache), "--no-progress"]) == 0
    other = tmp_path / "other"
    from mmkp_lib.formats import load_posts

    posts = load_posts(synth, split="train")[:3]
    posts[0].text += " changed"
    write_posts(posts, other / "train.jsonl")
    capsys.readouterr()
    assert main(["teacher", "--data", str(other), "--out", str(cache), "--no-progress"]) == 2
    assert "written for other data" in capsys.readouterr().err
