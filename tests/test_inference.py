"""Batched generation: stops at eos, parses <think>/<answer>, counts reasoning tokens; zero-shot and trained runs."""
from __future__ import annotations

import json

import pytest

from mmkp_lib import runs
from mmkp_lib.inference import generate_predictions, generation_summary, think_token_count
from mmkp_lib.records import write_posts

pytestmark = pytest.mark.slow  # trains a tiny model to memorise four answers (a few seconds)

THINK = "red"


@pytest.fixture(scope="module")
def memorised(kp_data, tiny_vlm_dir, tmp_path_factory):
    """A tiny VLM trained to write exactly its targets for 4 posts: two CoT, two plain SFT."""
    from mmkp_lib.inference import load_trained
    from mmkp_lib.training.config import TrainConfig
    from mmkp_lib.training.launch import train

    root = tmp_path_factory.mktemp("memorise")
    posts = kp_data.train[:4]
    write_posts(posts, root / "data" / "train.jsonl")
    teacher = root / "teacher.jsonl"
    teacher.write_text("".join(json.dumps({"key": [p.id, "t", "m", "h"], "status": "accepted", "think": THINK}) + "\n"
                               for p in posts[:2]))
    cfg = TrainConfig(data=str(root / "data"), teacher_cache=str(teacher), model=tiny_vlm_dir, strategy="cot",
                      out=str(root / "run"), batch_size=4, max_steps=50, lr=5e-3, warmup_steps=0,
                      lr_scheduler="constant", log_every=10, seed=0)
    run = train(cfg, log=lambda *_: None)
    model, processor = load_trained(run)
    return posts, model, processor, run


def test_generation_stops_and_parses_reasoning_and_plain_answers(memorised):
    posts, model, processor, _ = memorised
    tok = processor.tokenizer
    records = generate_predictions(model, processor, posts, batch_size=4, max_new_tokens=40)
    assert [r["id"] for r in records] == [p.id for p in posts]
    for i, (post, r) in enumerate(zip(posts, records)):
        assert r["stopped"], f"post {i} ran to max_new_tokens: {r['raw']!r}"
        assert r["keyphrases"] == post.keyphrases
        expected = "; ".join(post.keyphrases)
        if i < 2:  # trained on the CoT target
            assert r["raw"] == f"<think>{THINK}</think><answer>{expected}</answer>"
            assert r["reasoned"] and r["parse_error"] is None
            assert r["think_tokens"] == len(tok(f"<think>{THINK}</think>", add_special_tokens=False)["input_ids"])
        else:
            assert r["raw"] == expected and not r["reasoned"] and r["think_tokens"] == 0
        assert r["generated_tokens"] == len(tok(r["raw"], add_special_tokens=False)["input_ids"])
        assert r["answer_tokens"] == r["generated_tokens"] - r["think_tokens"]


def test_batched_left_padded_generation_matches_one_by_one(memorised):
    posts, model, processor, _ = memorised
    assert len({len(p.text) for p in posts}) > 1, "prompts of different lengths exercise the padding"
    batched = generate_predictions(model, processor, posts, batch_size=4, max_new_tokens=40)
    single = generate_predictions(model, processor, posts, batch_size=1, max_new_tokens=40)
    assert [r["raw"] for r in batched] == [r["raw"] for r in single]
    assert processor.tokenizer.padding_side == "right"  # restored for training


def test_length_sorted_batches_come_back_in_the_posts_order(memorised):
    posts, model, processor, _ = memorised
    shuffled = [posts[i] for i in (2, 0, 3, 1)]
    sorted_ = generate_predictions(model, processor, shuffled, batch_size=2, max_new_tokens=40)
    kept = generate_predictions(model, processor, shuffled, batch_size=2, max_new_tokens=40, sort_by_length=False)
    assert [r["id"] for r in sorted_] == [p.id for p in shuffled]
    assert [r["raw"] for r in sorted_] == [r["raw"] for r in kept]
    seen = []  # the hook is told the index in `posts` of each logits row, whatever batch it is in
    generate_predictions(model, processor, shuffled, batch_size=2, max_new_tokens=2,
                         logits_hook=lambda idx, step, logits: seen.extend(idx.tolist()) if step == 0 else None)
    assert sorted(seen) == [0, 1, 2, 3]


def test_batches_group_posts_of_similar_prompt_length():
    from mmkp_lib.inference import _batches
    from mmkp_lib.records import Post

    posts = [Post(id=str(i), text="x", keyphrases=[], image="a.png" if i % 2 else None) for i in range(8)]
    lengths = [5, 9, 1, 3, 7, 2, 4, 8]
    batches = list(_batches(posts, 2, lengths))
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(len({posts[i].image is None for i in b}) == 1 for b in batches)  # image and text posts apart
    assert batches == [[5, 3], [7, 1], [2, 6], [0, 4]]  # each group by length: images 1,3,5,7 then texts
    assert list(_batches(posts, 2)) == [[1, 3], [5, 7], [0, 2], [4, 6]]


def test_max_new_tokens_bounds_an_output_that_does_not_stop(memorised):
    posts, model, processor, _ = memorised
    r = generate_predictions(model, processor, posts[:1], max_new_tokens=3)[0]
    assert r["generated_tokens"] == 3 and not r["stopped"] and r["reasoned"]
    assert r["think_tokens"] == 3  # "</think>" never came: every token counts as reasoning


def test_think_token_count_bisects_on_decoded_prefixes(memorised):
    tok = memorised[2].tokenizer
    ids = tok("<think>a red circle</think><answer>red circle</answer>", add_special_tokens=False)["input_ids"]
    k = think_token_count(tok, ids)
    assert tok.decode(ids[:k]).endswith("</think>") and not tok.decode(ids[:k - 1]).endswith("</think>")
    assert think_token_count(tok, ids[:3]) == 3


def test_generation_summary_by_hand():
    recs = [dict(reasoned=True, think_tokens=10, answer_tokens=4, generated_tokens=14, stopped=True, parse_error=None,
                 generation_s=0.5, keyphrases=["beach"]),
            dict(reasoned=False, think_tokens=0, answer_tokens=6, generated_tokens=6, stopped=False,
                 parse_error=None, generation_s=0.25, keyphrases=[])]
    s = generation_summary(recs)
    assert s["reasoned_share"] == 0.5 and s["mean_think_tokens"] == 5 and s["mean_think_tokens_when_reasoned"] == 10
    assert s["mean_answer_tokens"] == 5 and s["total_think_tokens"] == 10 and s["stopped_share"] == 0.5
    assert s["generation_seconds"] == 0.75 and s["malformed_share"] == 0
    assert s["parsed_share"] == 0.5  # the second output gave the parser nothing to read


def test_predict_cli_on_a_run_and_zero_shot(memorised, tiny_vlm_dir, tmp_path, capsys):
    from mmkp_lib.cli import main

    _, _, _, run = memorised
    data = runs.read_config(run)["params"]["data"]
    # the memorised run predicts its own training posts (the "train" split of its data) perfectly
    assert main(["predict", "--run", str(run), "--split", "train", "--max-new-tokens", "40"]) == 0
    metrics = runs.read_metrics(run, split="train")
    assert metrics["all"]["f1@M"] == 1.0 and metrics["generation"]["reasoned_share"] == 0.5
    assert len(runs.read_predictions(run, split="train")) == 4
    assert "F1@M" in capsys.readouterr().out

    out = tmp_path / "zero"
    assert main(["predict", "--model", tiny_vlm_dir, "--data", data, "--split", "train", "--out", str(out),
                 "--limit", "2", "--max-new-tokens", "4"]) == 0
    assert runs.missing_parts(out, predicted=False) == [] and runs.read_config(out)["kind"] == "zero-shot"
    assert len(runs.read_predictions(out, split="train")) == 2

    assert main(["predict", "--model", tiny_vlm_dir, "--split", "test"]) == 2  # zero-shot needs --data
    assert "needs --data" in capsys.readouterr().err


def test_zero_shot_prompt_shows_the_first_training_posts_as_examples(memorised, tiny_vlm_dir, tmp_path, capsys,
                                                                      monkeypatch):
    from mmkp_lib import inference
    from mmkp_lib.cli import main
    from mmkp_lib.formats import load_posts

    _, _, processor, run = memorised
    data = runs.read_config(run)["params"]["data"]
    train = load_posts(data, split="train")
    rendered = []
    real = inference.few_shot_messages
    monkeypatch.setattr(inference, "few_shot_messages", lambda *a: rendered.append(
        processor.apply_chat_template(real(*a), add_generation_prompt=True, tokenize=False)) or real(*a))
    import mmkp_lib.formats as formats

    reads, load = [], formats.load_posts
    monkeypatch.setattr(formats, "load_posts", lambda d, split=None, **kw: reads.append(split) or load(d, split=split, **kw))
    out = tmp_path / "two-shots"
    assert main(["predict", "--model", tiny_vlm_dir, "--data", data, "--split", "train", "--out", str(out),
                 "--limit", "1", "--max-new-tokens", "4", "--shots", "2"]) == 0
    assert reads.count("train") == 2  # the posts predicted (--split train), then once for examples and seen/unseen
    assert "parsed" in capsys.readouterr().out
    prompt = rendered[0]
    # example 1, its answer, example 2, its answer, then the post with its image and the assistant's turn
    cues = [train[0].text, "; ".join(train[0].keyphrases), train[1].text, "; ".join(train[1].keyphrases),
            "<image>" + train[0].text]
    at = [prompt.index(c) for c in cues]
    assert at == sorted(at) and prompt.count("<image>") == 1 and prompt.endswith("assistant\n")
    assert runs.read_config(out)["params"]["shots"] == 2
    metrics = runs.read_metrics(out, split="train")
    assert metrics["predicted_with"]["shots"] == 2 and 0 <= metrics["generation"]["parsed_share"] <= 1

    assert main(["predict", "--model", tiny_vlm_dir, "--data", data, "--out", str(tmp_path / "many"),
                 "--shots", "9"]) == 2  # the memorised data has 4 training posts
    assert "shots=9 in-context examples, but the 'train' split has 4 posts" in capsys.readouterr().err
    assert main(["predict", "--run", str(run), "--shots", "2"]) == 2
    assert "--shots is for zero-shot predictions" in capsys.readouterr().err


def test_train_cli_round_trip(kp_data, tiny_vlm_dir, tmp_path):
    from mmkp_lib.cli import main

    out = tmp_path / "cli"
    args = ["train", "--data", kp_data.data, "--strategy", "dyncot", "--gamma", "q0.5", "--scoring", "online",
            "--teacher-cache", kp_data.teacher, "--model", tiny_vlm_dir, "--out", str(out), "--max-steps", "2",
            "--log-every", "1"]
    assert main(args) == 0
    assert main(args) == 2  # the folder holds a run now: refuse without --resume / --overwrite
    assert main(["predict", "--run", str(out), "--limit", "2", "--max-new-tokens", "4"]) == 0
    assert runs.missing_parts(out) == []
