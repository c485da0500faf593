"""A catalogue of bad inputs and faults against the `mmkp` CLI, as a new user makes each mistake once.

Every case asserts the exit code, that the message names what is wrong and where, and that nothing which
existed before was lost or changed (the working folder is hashed before and after). The cases run on a copy
of one small world: a 12/4/4-post generated dataset, its oracle rationales and a finished 2-step run of the
test-sized model (the model cache is shared read-only). The notebook cases live in
tests/test_bad_inputs_notebooks.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from mmkp_lib import runs
from mmkp_lib.cli import main

pytestmark = pytest.mark.slow  # trains the world's run once (seconds), a few cases train or generate a step


# ---- the world and the helpers ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """root/data (synth), root/cache/oracle.jsonl, root/runs/sft (2 steps, checkpoints 1 and 2, predicted),
    root/models (shared, not copied)."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.inference import predict_run
    from mmkp_lib.synth import SynthConfig, generate
    from mmkp_lib.teacher import generate_rationales, make_backend
    from mmkp_lib.training.config import TrainConfig
    from mmkp_lib.training.launch import train

    root = tmp_path_factory.mktemp("world")
    generate(SynthConfig(n_train=12, n_valid=4, n_test=4, image_size=32), root / "data", progress=False)
    generate_rationales(load_posts(root / "data", split="train"), make_backend("oracle"), root / "cache" / "oracle.jsonl",
                        progress=False)
    cfg = TrainConfig(data=str(root / "data"), model="tiny-test", model_cache=str(root / "models"),
                      out=str(root / "runs" / "sft"), max_steps=2, batch_size=4, save_every=1, save_total_limit=None,
                      log_every=1, warmup_steps=0)
    train(cfg, log=lambda *_: None)
    predict_run(root / "runs" / "sft", max_new_tokens=4, batch_size=4)
    return root


@pytest.fixture()
def w(world, tmp_path) -> Path:
    """A private copy of the world (without the model cache), so a case that went wrong cannot spoil another."""
    copy = tmp_path / "w"
    shutil.copytree(world, copy, ignore=lambda d, names: ["models"] if Path(d) == world else [])
    return copy


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under root: relative path -> sha256 of the content ("dir" for a folder)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `mmkp ARGV`; argparse's exits count as exit codes."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, root: Path, argv, code: int, *expected: str) -> str:
    """Run a command that must fail: its exit code, each expected text in stderr, one error line, nothing changed."""
    before = tree(root)
    got, _, err = cli(capsys, *argv)
    assert got == code, err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    assert "Traceback" not in err
    assert tree(root) == before, "a refused command changed or deleted files"
    return err


def posts_file(path: Path, lines: list) -> Path:
    """A JSONL file from dicts (dumped) and raw strings/bytes (written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for line in lines:
            data = line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode()
            f.write(data + b"\n")
    return path


GOOD = {"id": "p1", "text": "a red circle on the beach", "keyphrases": ["red circle", "beach"]}



# ---- data: reading posts (through `mmkp convert`) -----------------------------------------------------------------

BAD_LINES = [
    ("keyphrases of the wrong type", dict(GOOD, id="p2", keyphrases=[1, None]), "keyphrases[0] is a int"),
    ("keyphrases as one string", dict(GOOD, id="p2", keyphrases="red circle; beach"), "field 'keyphrases' is a str"),
    ("a numeric id", dict(GOOD, id=5), "field 'id' is a int"),
    ("no text field", {"id": "p2", "keyphrases": ["x"]}, "field 'text' missing"),
    ("no keyphrases at all", dict(GOOD, id="p2", keyphrases=[]), "has no keyphrases"),
    ("a line that is not JSON", '{"id": "p2", "text": ', "not valid JSON"),
    ("a JSON array instead of an object", "[1, 2]", "expected a JSON object"),
    ("a duplicate id", dict(GOOD), "duplicate post id 'p1'"),
    ("bytes that are not UTF-8", b'{"id": "p2", "text": "caf\xe9", "keyphrases": ["x"]}', "not UTF-8"),
    ("an image that does not exist", dict(GOOD, id="p2", image="images/gone.png"), "image file not found"),
]


@pytest.mark.parametrize("line,expected", [c[1:] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES])
def test_data_a_bad_line_is_named_by_file_and_line(capsys, tmp_path, line, expected):
    src = posts_file(tmp_path / "posts.jsonl", [GOOD, line])
    err = refused(capsys, tmp_path, ["convert", "--in", src, "--to", "jsonl", "--out", tmp_path / "out.jsonl"], 1,
                  expected, "posts.jsonl:2")
    assert "--skip-bad" in err  # the way past it


def test_data_a_corrupt_image_is_named(capsys, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    src = posts_file(tmp_path / "posts.jsonl", [dict(GOOD, image="broken.png")])
    refused(capsys, tmp_path, ["convert", "--in", src, "--to", "jsonl", "--out", tmp_path / "out.jsonl"], 1,
            "image file cannot be read", "broken.png", "posts.jsonl:1")


@pytest.mark.parametrize("case", ["empty file", "missing file", "folder without the split", "out is the input",
                                  "out is a folder", "unknown extension"])
def test_data_convert_refuses_what_it_cannot_read_or_must_not_write(capsys, w, case):
    good = posts_file(w / "posts.jsonl", [GOOD])
    src, out, expected = good, w / "out.jsonl", ()
    if case == "empty file":
        src, expected = w / "empty.jsonl", ("empty.jsonl", "no posts to convert", "nothing written")
        src.write_bytes(b"")
    elif case == "missing file":
        src, expected = w / "typo.jsonl", ("typo.jsonl", "no such file")
    elif case == "folder without the split":
        src, expected = w / "data", ("no file for split 'dev'",)
    elif case == "out is the input":
        out, expected = good, ("is the input file",)
    elif case == "out is a folder":
        out, expected = w / "data", ("is a folder",)
    else:
        src, expected = w / "posts.csv", ("posts.csv", "cannot tell the format")
        src.write_text("id,text\n")
    argv = ["convert", "--in", src, "--to", "jsonl", "--out", out]
    if case == "folder without the split":
        argv += ["--split", "dev"]
    refused(capsys, w, argv, 1, *expected)


# ---- evaluation ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing predictions", "predictions is a folder", "keyphrases of the wrong type",
                                  "predictions miss posts", "a post predicted twice"])
def test_evaluation_names_the_prediction_file_and_the_problem(capsys, w, case):
    pred = w / "pred.jsonl"
    ids = [json.loads(line)["id"] for line in (w / "data" / "test.jsonl").read_text().splitlines()]
    rows = [{"id": i, "keyphrases": ["red circle"]} for i in ids]
    expected = {"missing predictions": ("typo.jsonl", "no such prediction file"),
                "predictions is a folder": ("runs", "no such prediction file"),
                "keyphrases of the wrong type": ("pred.jsonl:1", "keyphrases[1] is a null"),
                "predictions miss posts": ("pred.jsonl", "1 gold post(s) have no prediction", repr(ids[-1])),
                "a post predicted twice": ("pred.jsonl:5", f"second prediction for post {ids[0]!r}")}[case]
    if case == "keyphrases of the wrong type":
        rows[0]["keyphrases"] = ["red circle", None]
    elif case == "predictions miss posts":
        rows = rows[:-1]
    elif case == "a post predicted twice":
        rows.append(rows[0])
    posts_file(pred, rows)
    target = {"missing predictions": w / "typo.jsonl", "predictions is a folder": w / "runs"}.get(case, pred)
    refused(capsys, w, ["evaluate", "--gold", w / "data", "--pred", target], 1, *expected)


def test_evaluation_refuses_a_negative_bootstrap_count(capsys, w):
    refused(capsys, w, ["evaluate", "--gold", w / "data", "--pred", w / "runs/sft/predictions.jsonl", "--ci", "-5"],
            2, "--ci", "-5", "must be >= 0")


@pytest.mark.parametrize("case", ["missing train", "an image as train"])
def test_overlap_names_the_unreadable_input(capsys, w, case):
    train, expected = ((w / "data/trian.jsonl", ("trian.jsonl",)) if case == "missing train" else
                       (w / "data/images/train-000000.png", ("train-000000.png", "cannot tell the format")))
    refused(capsys, w, ["overlap", "--train", train, "--test", w / "data/test.jsonl"], 1, *expected)


# ---- writing datasets: synth and resplit never overwrite another dataset -----------------------------------------

def test_synth_refuses_a_folder_holding_the_users_dataset(capsys, w):
    mine = w / "mine"
    posts_file(mine / "train.jsonl", [GOOD])
    refused(capsys, w, ["synth", "--out", mine, "--n-train", "12", "--quiet"], 2, "mine", "train.jsonl",
            "not written by `mmkp synth`")


def test_synth_refuses_a_file_as_out_and_a_negative_size(capsys, w):
    (w / "notes.txt").write_text("my notes")
    refused(capsys, w, ["synth", "--out", w / "notes.txt", "--quiet"], 2, "notes.txt", "is a file")
    refused(capsys, w, ["synth", "--out", w / "new", "--n-train", "-1", "--quiet"], 2, "n_train")


def test_resplit_refuses_to_overwrite_its_pool_or_a_users_dataset(capsys, w):
    refused(capsys, w, ["resplit", "--pool", w / "data", "--target", "0.5", "--out", w / "data"], 1,
            "holds the pool input", "write them to a new folder")
    mine = w / "mine"
    posts_file(mine / "test.jsonl", [GOOD])
    refused(capsys, w, ["resplit", "--pool", w / "data", "--target", "0.5", "--out", mine], 1, "mine", "test.jsonl",
            "not written by `mmkp resplit`")


@pytest.mark.parametrize("flag,value,expected", [("--target", "1.5", "fraction in [0, 1]"),
                                                 ("--n-test", "0", "must be >= 1")])
def test_resplit_refuses_numbers_out_of_range(capsys, w, flag, value, expected):
    argv = ["resplit", "--pool", w / "data", "--target", "0.5", "--out", w / "v2", flag, value]
    refused(capsys, w, argv, 2, flag, expected)


# ---- teacher ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag,value,expected", [
    ("--timeout", "0", "must be > 0 seconds"), ("--limit", "-3", "0 or no --limit: all posts"),
    ("--workers", "0", "must be >= 1"), ("--max-retry-after", "0", "must be > 0 seconds"),
    ("--max-attempts", "two", "not an integer"),
])
def test_teacher_refuses_numbers_out_of_range(capsys, w, flag, value, expected):
    refused(capsys, w, ["teacher", "--data", w / "data", "--out", w / "new.jsonl", flag, value], 2, flag, expected)


def test_teacher_refuses_a_dataset_file_or_a_folder_as_its_cache(capsys, w):
    refused(capsys, w, ["teacher", "--data", w / "data", "--out", w / "data/valid.jsonl", "--no-progress"], 2,
            "valid.jsonl", "none of its lines is a teacher cache record")
    refused(capsys, w, ["teacher", "--data", w / "data", "--out", w / "data", "--no-progress"], 2,
            "is a folder", "one JSONL file")


def test_teacher_refuses_missing_data_and_a_cache_of_other_data(capsys, w):
    refused(capsys, w, ["teacher", "--data", w / "dta", "--out", w / "new.jsonl"], 2, "dta")
    other = w / "other"
    shutil.copytree(w / "data", other)
    lines = (other / "train.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps(dict(first, text=first["text"] + " (edited)"))
    (other / "train.jsonl").write_text("\n".join(lines) + "\n")
    refused(capsys, w, ["teacher", "--data", other, "--out", w / "cache/oracle.jsonl", "--no-progress"], 2,
            "oracle.jsonl", "written for other data")


def test_teacher_openai_without_a_model_or_a_key(capsys, w, monkeypatch):
    monkeypatch.delenv("MMKP_TEACHER_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    base = ["teacher", "--data", w / "data", "--backend", "openai", "--out", w / "gpt.jsonl", "--no-progress"]
    refused(capsys, w, base, 2, "needs a model", "--model")
    refused(capsys, w, base + ["--model", "gpt-4o"], 2, "OPENAI_API_KEY")


def test_teacher_oracle_on_data_without_generator_latents(capsys, w):
    plain = posts_file(w / "plain" / "train.jsonl", [GOOD])
    refused(capsys, w, ["teacher", "--data", plain.parent, "--out", w / "o.jsonl", "--no-progress"], 2,
            "no generator latents", "'p1'")


def test_teacher_a_long_retry_after_is_capped_by_max_retry_after(capsys, tmp_path, monkeypatch):
    """Fault: the server asks for an hour's wait (429 Retry-After: 3600); --max-retry-after 0.2 caps it."""
    from mmkp_lib.teacher import read_cache
    from _fake_openai import ScriptedChatServer, completion_reply, error_reply

    good = ("<think>The text says a red circle is on the beach.</think><answer>red circle; beach</answer>")
    replies = [error_reply(429, "slow down", {"retry-after": "3600"}), completion_reply(good)]
    data = posts_file(tmp_path / "d" / "train.jsonl", [GOOD])
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with ScriptedChatServer(lambda request, n: replies[min(n, 2) - 1]) as server:
        t0 = time.perf_counter()
        code, _, err = cli(capsys, "teacher", "--data", data.parent, "--backend", "openai", "--model", "gpt-4o",
                           "--base-url", server.url, "--out", tmp_path / "gpt.jsonl", "--max-retry-after", "0.2",
                           "--no-progress")
        elapsed = time.perf_counter() - t0
    assert code == 0, err
    assert elapsed < 60, "the one-hour Retry-After was obeyed"
    accepted = [r for r in read_cache(tmp_path / "gpt.jsonl") if r["status"] == "accepted"]
    assert len(accepted) == 1
    waits = [t.get("wait_s") for t in accepted[0]["transport"] if t.get("outcome") == "http-429"]
    assert waits == [0.2]


# ---- training -----------------------------------------------------------------------------------------------------

def train_args(w: Path, world: Path, *extra) -> list:
    return ["train", "--data", w / "data", "--model", "tiny-test", "--model-cache", world / "models",
            "--max-steps", "1", "--batch-size", "4", "--log-every", "1", *extra]


def test_train_overwrite_never_deletes_the_data_folder(capsys, w, world):
    refused(capsys, w, train_args(w, world, "--out", w / "data", "--overwrite"), 2,
            str(w / "data"), "not a run folder made by mmkp")


def test_train_overwrite_with_a_typo_in_data_keeps_the_previous_run(capsys, w, world):
    argv = train_args(w, world, "--out", w / "runs/sft", "--overwrite")
    argv[2] = w / "dtaa"
    refused(capsys, w, argv, 2, "dtaa")


def test_train_overwrite_refuses_a_folder_that_is_not_a_run(capsys, w, world):
    mine = w / "my-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("\\chapter{}")
    refused(capsys, w, train_args(w, world, "--out", mine, "--overwrite"), 2, "my-notes", "not a run folder")
    refused(capsys, w, train_args(w, world, "--out", mine), 2, "my-notes", "not a run folder")


def test_train_overwrite_refuses_a_run_that_holds_the_new_runs_data(capsys, w, world):
    shutil.copytree(w / "data", w / "runs/sft/data")
    argv = train_args(w, world, "--out", w / "runs/sft", "--overwrite")
    argv[2] = w / "runs/sft/data"
    refused(capsys, w, argv, 2, "an input of the new run")


def test_train_overwrite_with_a_model_that_cannot_load_keeps_the_previous_run(capsys, w, world):
    argv = train_args(w, world, "--out", w / "runs/sft", "--overwrite")
    argv[4] = w / "no-such-model"
    refused(capsys, w, argv, 2, "no-such-model")


def test_train_out_is_a_file(capsys, w, world):
    (w / "run.txt").write_text("not a folder")
    refused(capsys, w, train_args(w, world, "--out", w / "run.txt"), 2, "run.txt", "is a file, not a folder")


def test_train_an_existing_run_needs_resume_or_overwrite(capsys, w, world):
    refused(capsys, w, train_args(w, world, "--out", w / "runs/sft"), 2, "already holds a run", "--resume",
            "--overwrite")


def test_train_an_empty_training_split(capsys, w, world):
    empty = w / "empty-data"
    shutil.copytree(w / "data", empty)
    (empty / "train.jsonl").write_text("")
    argv = train_args(w, world, "--out", w / "runs/new")
    argv[2] = empty
    refused(capsys, w, argv, 2, "empty-data", "no posts in the 'train' split")


def test_train_a_missing_image_is_named_and_no_run_folder_is_made(capsys, w, world):
    (w / "data/images/train-000003.png").unlink()
    refused(capsys, w, train_args(w, world, "--out", w / "runs/new"), 2, "train.jsonl:4", "image file not found",
            "train-000003.png")


@pytest.mark.parametrize("case", ["no --teacher-cache", "a missing cache file", "a cache of other data",
                                  "a cache covering no post", "a dataset file as the cache"])
def test_train_cot_needs_the_rationales_of_this_data(capsys, w, world, case):
    argv = train_args(w, world, "--out", w / "runs/cot", "--strategy", "cot")
    expected = {"no --teacher-cache": ("teacher_cache", "mmkp teacher"),
                "a missing cache file": ("nocache.jsonl", "no teacher cache here"),
                "a cache of other data": ("oracle.jsonl", "other data"),
                "a cache covering no post": ("ids.jsonl", "none of the 12 training posts"),
                "a dataset file as the cache": ("train.jsonl", "none of the 12 training posts")}[case]
    cache = {"a missing cache file": w / "nocache.jsonl", "a dataset file as the cache": w / "data/train.jsonl"}.get(
        case, w / "cache/oracle.jsonl")
    if case == "a cache of other data":  # the same ids, another text: the rationales describe other posts
        lines = (w / "data/train.jsonl").read_text().splitlines()
        first = json.loads(lines[0])
        lines[0] = json.dumps(dict(first, text=first["text"] + " (edited)"))
        (w / "data/train.jsonl").write_text("\n".join(lines) + "\n")
    if case == "a cache covering no post":
        cache = w / "ids.jsonl"
        records = [dict(r, key=["other-" + r["key"][0], *r["key"][1:]]) for r in map(
            json.loads, (w / "cache/oracle.jsonl").read_text().splitlines())]
        posts_file(cache, records)
    if case != "no --teacher-cache":
        argv += ["--teacher-cache", cache]
    refused(capsys, w, argv, 2, *expected)


@pytest.mark.parametrize("flags,expected", [
    (["--max-steps", "0"], "max_steps=0"), (["--lr", "3"], "lr=3: a learning rate"),
    (["--gamma", "-1", "--strategy", "dyncot"], "gamma=-1.0"), (["--strategy", "zero-shot"], "invalid choice: 'zero-shot'"),
    (["--batch-size", "0"], "batch_size=0"), (["--resume", "--overwrite"], "not allowed with argument"),
])
def test_train_refuses_bad_parameters_before_anything_starts(capsys, w, world, flags, expected):
    refused(capsys, w, train_args(w, world, "--out", w / "runs/sft", *flags), 2, expected)


@pytest.mark.parametrize("content,expected", [("{not json", "not a JSON file"), ("[1, 2]", "a JSON object"),
                                              ('{"lrate": 0.1}', "lrate=0.1")])
def test_train_a_bad_config_file(capsys, w, world, content, expected):
    (w / "params.json").write_text(content)
    refused(capsys, w, train_args(w, world, "--out", w / "runs/new", "--config", w / "params.json"), 2,
            "params.json" if "JSON" in expected else "not a TrainConfig parameter", expected)


def test_train_resume_with_other_parameters_or_nothing_to_resume(capsys, w, world):
    config = runs.read_config(w / "runs/sft")["params"]
    argv = train_args(w, world, "--out", w / "runs/sft", "--resume", "--lr", "0.001")
    argv[argv.index("--max-steps") + 1] = str(config["max_steps"])
    argv[argv.index("--batch-size") + 1] = str(config["batch_size"])
    argv[2] = config["data"]
    argv[argv.index("--model-cache") + 1] = config["model_cache"]
    refused(capsys, w, argv, 2, "other parameters", "'lr': (0.0005, 0.001)")
    (w / "empty-run").mkdir()
    refused(capsys, w, train_args(w, world, "--out", w / "empty-run", "--resume"), 2, "empty-run",
            "no run here to resume")


def test_train_resume_skips_a_damaged_newest_checkpoint(capsys, w, world):
    run = w / "runs/sft"
    config = runs.read_config(run)["params"]
    (run / "checkpoint-2" / runs.CHECKPOINT_STATE).unlink()  # a kill in the middle of saving checkpoint-2
    code, out, err = cli(capsys, "train", "--config", run / runs.CONFIG, "--out", run, "--resume")
    assert code == 0, err
    assert "checkpoint-2 is incomplete" in err and "resuming from checkpoint-1" in err
    assert runs.read_config(run)["result"]["global_step"] == config["max_steps"]
    assert [r["step"] for r in runs.read_train_log(run) if r["event"] == "train"] == [1, 2]


def test_train_overwrite_replaces_a_run_once_its_inputs_have_loaded(capsys, w, world):
    """The positive control of the deletion rule: a folder mmkp made as a run is replaced."""
    run = w / "runs/sft"
    (run / "notes-inside-the-run.txt").write_text("belongs to the run")
    code, _, err = cli(capsys, *train_args(w, world, "--out", run, "--overwrite"))
    assert code == 0, err
    assert not (run / "notes-inside-the-run.txt").exists() and runs.is_run(run)
    assert runs.read_config(run)["result"]["global_step"] == 1 and not (run / runs.PREDICTIONS).exists()


def test_train_cot_mostly_without_rationales_warns_and_records_the_share(capsys, w, world):
    lines = (w / "cache/oracle.jsonl").read_text().splitlines()
    (w / "half.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    code, _, err = cli(capsys, *train_args(w, world, "--out", w / "runs/cot", "--strategy", "cot",
                                           "--teacher-cache", w / "half.jsonl"))
    assert code == 0, err
    assert "mmkp train: warning: 6 of 12 training posts (50%" in err and "half.jsonl" in err
    assert runs.read_config(w / "runs/cot")["data_report"]["fallback_share"] == 0.5


# ---- prediction ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag,value,expected", [("--limit", "-3", "0 or no --limit: all posts"),
                                                 ("--max-new-tokens", "0", "must be >= 1"),
                                                 ("--batch-size", "0", "must be >= 1"),
                                                 ("--limit", "1.5", "not an integer")])
def test_predict_refuses_numbers_out_of_range_and_keeps_the_predictions(capsys, w, flag, value, expected):
    refused(capsys, w, ["predict", "--run", w / "runs/sft", flag, value], 2, flag, expected)


def test_predict_limit_zero_means_all_posts(capsys, w):
    code, out, err = cli(capsys, "predict", "--run", w / "runs/sft", "--limit", "0", "--max-new-tokens", "2")
    assert code == 0, err
    metrics = runs.read_metrics(w / "runs/sft")
    assert metrics["n"] == 4 and len(runs.read_predictions(w / "runs/sft")) == 4
    assert metrics["predicted_with"]["limit"] == 0 and metrics["predicted_with"]["posts"] == 4


@pytest.mark.parametrize("case", ["no such run", "a data folder as run", "an unfinished run", "a split that is not there",
                                  "a checkpoint that is not there", "a test split with no posts", "a zero-shot run"])
def test_predict_names_what_is_missing_and_keeps_the_run(capsys, w, case):
    run = w / "runs/sft"
    argv = ["predict", "--run", run, "--max-new-tokens", "2"]
    expected = {"no such run": ("rnus/sft", "no such file"), "a data folder as run": ("data/config.json",),
                "an unfinished run": ("unfinished/model", "--checkpoint"),
                "a split that is not there": ("no file for split 'tset'",),
                "a checkpoint that is not there": ("checkpoint-99", "no such model folder"),
                "a test split with no posts": ("nopost", "no posts to predict"),
                "a zero-shot run": ("zs", "'zero-shot' run has no trained model")}[case]
    if case == "no such run":
        argv[2] = w / "rnus/sft"
    elif case == "a data folder as run":
        argv[2] = w / "data"
    elif case == "an unfinished run":
        (w / "runs/unfinished").mkdir()
        shutil.copy(run / runs.CONFIG, w / "runs/unfinished" / runs.CONFIG)
        argv[2] = w / "runs/unfinished"
    elif case == "a split that is not there":
        argv += ["--split", "tset"]
    elif case == "a checkpoint that is not there":
        argv += ["--checkpoint", run / "checkpoint-99"]
    elif case == "a test split with no posts":
        shutil.copytree(w / "data", w / "nopost")
        (w / "nopost/test.jsonl").write_text("")
        argv += ["--data", w / "nopost"]
    else:
        runs.write_config(w / "zs", {"model": "tiny-test"}, kind="zero-shot", seed=0)
        argv[2] = w / "zs"
    refused(capsys, w, argv, 2, *expected)


@pytest.mark.parametrize("case", ["a trained run", "a folder of the user's"])
def test_predict_zero_shot_never_writes_into_another_folder(capsys, w, world, case):
    out = w / "runs/sft"
    if case == "a folder of the user's":
        out = w / "mine"
        out.mkdir()
        (out / "config.json").write_text('{"my": "settings"}')
    expected = "holds a 'train' run" if case == "a trained run" else "not a run folder made by mmkp"
    refused(capsys, w, ["predict", "--model", "tiny-test", "--model-cache", world / "models", "--data", w / "data",
                        "--out", out, "--max-new-tokens", "2"], 2, str(out), expected)


def test_predict_by_hand_with_other_settings_makes_the_experiment_predict_again(capsys, w):
    """Predictions made with a 2-token budget are not reused by an experiment that wants 4 tokens."""
    from mmkp_lib.experiment import RunSpec, run_status

    run = w / "runs/sft"
    params = dict(runs.read_config(run)["params"], out=str(run))
    spec = RunSpec(name="sft", out=str(run), train=params, zero_shot=None,
                   predict={"split": "test", "limit": None, "batch_size": 4, "max_new_tokens": 4})
    assert run_status(spec)[0] == "complete"  # the world's own prediction: 4 tokens
    code, _, err = cli(capsys, "predict", "--run", run, "--max-new-tokens", "2", "--limit", "2")
    assert code == 0, err
    assert runs.read_metrics(run)["predicted_with"]["max_new_tokens"] == 2
    assert run_status(spec) == ("predict", "trained; test predictions missing or made with other settings")
