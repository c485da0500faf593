"""The benchmark scripts still run: each CPU script in its --quick / --cpu-dry mode, and its figures are printed.

These are smoke tests (the measured numbers are not asserted: speed is
measured by the scripts, which print ratios against a peer, not by timed
tests); they keep the scripts from
rotting when the training, inference or model code changes under them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _run(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def _synth_data(tmp_path_factory) -> Path:
    """A small embedded benchmark with oracle rationales (train split) in the formats the scripts read."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.synth import SynthConfig, generate

    folder = tmp_path_factory.mktemp("bench-synth")
    generate(SynthConfig(n_train=40, n_valid=8, n_test=16, image_size=32, seed=3), folder, progress=False)
    assert len(load_posts(str(folder), split="train")) == 40
    return folder


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, Path]:
    folder = _synth_data(tmp_path_factory)
    cache = folder / "oracle.jsonl"
    proc = _run(["-m", "mmkp_lib.cli", "teacher", "--data", str(folder), "--backend", "oracle", "--out", str(cache)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, cache


@pytest.mark.slow
def test_bench_training_quick(synth, tmp_path):
    folder, cache = synth
    out = tmp_path / "train.json"
    proc = _run([str(BENCH / "bench_training.py"), "--quick", "--data", str(folder), "--teacher-cache", str(cache),
                 "--model-dir", str(tmp_path / "model"), "--json", str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "project / TRL samples/s (wall clock):" in text and "project / TRL samples/s (CPU time):" in text
    assert "dyncot-lagged / cot, epoch 2:" in text and "dyncot-online / cot, epoch 2:" in text
    assert "load average" in text
    import json

    summary = json.loads(out.read_text())
    for name in ("project-sft", "trl-sft"):
        (run,) = summary["trl"]["results"][name]
        assert run["steps"] == 4 and run["samples_per_s"] > 0 and run["peak_rss_mb"] > 0
        assert run["completion_tokens_per_row"] > 0
    dyn = summary["dyncot"]["results"]
    assert [len(r[0]["epochs"]) for r in dyn.values()] == [2, 2, 2]
    assert all(e["cpu_seconds"] > 0 and e["steps"] == 4 for r in dyn.values() for e in r[0]["epochs"])
    # gamma 1e9: lagged knows no loss in epoch 1 (all SFT) and switches every sample with a rationale in epoch 2
    shares = dyn["dyncot-lagged"][0]["cot_share_per_epoch"]
    assert shares["0"] == 0.0 and shares["1"] == 1.0
    assert dyn["dyncot-online"][0]["cot_share_per_epoch"]["0"] == 1.0
    # the figures the cost issue asks for, side by side in one run
    assert summary["project_vs_trl"] == summary["trl"]["samples_per_s"]["ratio"] > 0
    assert set(summary["tokens_per_row"]) == {"sft", "cot"} and summary["tokens_per_row"]["cot"] > \
        summary["tokens_per_row"]["sft"]
    assert summary["image_tokens"] == 16 and summary["tokens"]["previous"]["image_tokens"] == 64  # the real tiny
    assert 1.0 <= summary["cot_target_tokens_per_word"] < summary["tokens"]["previous"]["cot_target_tokens_per_word"]
    assert set(summary["peak_rss_mb"]) == {"sft", "cot", "multitask", "dyncot"}
    assert all(v > 0 for v in summary["peak_rss_mb"].values())
    assert set(summary["default_vs_previous"]) == {"sft", "cot"} and all(v > 0 for v in
                                                                         summary["default_vs_previous"].values())
    assert "default / previous samples/s, cot rows:" in text


@pytest.mark.slow
def test_bench_generation_quick(synth, tmp_path):
    folder, _ = synth
    out = tmp_path / "gen.json"
    proc = _run([str(BENCH / "bench_generation.py"), "--quick", "--data", str(folder),
                 "--model-dir", str(tmp_path / "model"), "--json", str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "batched speed-up per post" in proc.stdout
    import json

    summary = json.loads(out.read_text())
    kinds = summary["kinds"]
    assert set(summary["default_vs_previous"]) == {"sft", "cot"} and all(v > 0 for v in
                                                                         summary["default_vs_previous"].values())
    for kind in ("sft", "cot"):
        for decoder in ("fast", "generate"):
            # the forced outputs are the targets, identical between batched and one-by-one generation, either decoder
            run = kinds[f"{kind}-{decoder}"]
            assert run["exact"] == run["posts"] == run["identical"]
    assert kinds["cot-fast"]["mean_tokens"] > kinds["sft-fast"]["mean_tokens"]


@pytest.mark.slow
def test_gpu_check_cpu_dry():
    proc = _run([str(BENCH / "gpu_check.py"), "--cpu-dry", "--strategies", "sft,dyncot"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.split()}
    assert "sft" in lines and "dyncot" in lines and "MFU" in proc.stdout


def test_gpu_check_refuses_without_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the refusal path is not reachable")
    proc = _run([str(BENCH / "gpu_check.py")], timeout=120)
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stderr and "--cpu-dry" in proc.stderr


def test_bench_training_rebuilds_a_model_of_an_older_architecture(tmp_path):
    """The cached benchmark model is rebuilt when its build_info names another config (it once silently kept a
    superseded tiny architecture)."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("bench_training", BENCH / "bench_training.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = tmp_path / "model"
    bench.ensure_model(folder, quick=True)
    info_file = folder / "build_info.json"
    info = json.loads(info_file.read_text())
    built = info_file.stat().st_mtime_ns
    bench.ensure_model(folder, quick=True)
    assert info_file.stat().st_mtime_ns == built  # same architecture: reused
    info["config"]["text_hidden"] += 8
    info_file.write_text(json.dumps(info))
    bench.ensure_model(folder, quick=True)
    assert json.loads(info_file.read_text())["config"]["text_hidden"] == info["config"]["text_hidden"] - 8


@pytest.mark.slow
def test_probe_lm_warmup_quick(tmp_path):
    """One variant, one strategy, in the smoke experiment: the variant's knob reaches the build, a run is scored."""
    import json

    out = tmp_path / "variants.json"
    proc = _run([str(BENCH / "probe_lm_warmup.py"), "--quick", "--work-dir", str(tmp_path), "--variants", "text",
                 "--strategies", "sft", "--json", str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    variant = json.loads(out.read_text())["variants"]["text"]
    assert variant["warmup"]["config"]["lm_warmup_corpus"] == "text"  # built with the variant's setting
    run = variant["runs"]["sft"]
    assert set(run["f1m"]) == {"all", "present", "absent", "seen", "unseen"}
    assert not Path(run["run"]).is_absolute() and (tmp_path / run["run"] / "config.json").is_file()


def test_probe_zero_shot_counts_parsed_formatted_and_copied_outputs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe_zero_shot", BENCH / "probe_zero_shot.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    predictions = [{"keyphrases": ["Sour Dolphin", "beach"]},  # one copied from the examples, both short
                   {"keyphrases": ["Here are some phrases that can be used to tag the media:"]},  # parsed, rambling
                   {"keyphrases": []}, {"keyphrases": ["red circle"]}]
    shares = probe.output_shares(predictions, {"sour dolphin", "friendly birthday"})
    assert shares == {"parsed": 0.75, "formatted": 0.5, "copied": 0.25}
