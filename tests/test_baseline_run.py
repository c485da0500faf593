"""The traditional baseline as a run folder (`mmkp baseline`): readable like any row, unseen F1 0 by construction."""
from __future__ import annotations

import json
import subprocess
import sys

from mmkp_lib import runs


def test_mmkp_baseline_writes_a_run_folder_the_evaluator_reads(kp_data, tmp_path):
    out = tmp_path / "baseline"
    proc = subprocess.run([sys.executable, "-m", "mmkp_lib.cli", "baseline", "--data", kp_data.data, "--out", str(out),
                           "--min-count", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "unseen F1@1 0.00" in proc.stdout
    config = runs.read_config(out)
    assert config["kind"] == "baseline" and config["params"]["strategy"] == "baseline"
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["think_tokens"] == 0 and r["keyphrases"] for r in records)
    train_kps = {k for p in kp_data.train for k in p.keyphrases}
    assert all(set(r["keyphrases"]) <= train_kps for r in records)  # only keyphrases seen in training
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unseen"]["f1@M"] == 0.0 and metrics["all"]["f1@M"] > 0
    # the same numbers from the evaluator
    ev = subprocess.run([sys.executable, "-m", "mmkp_lib.cli", "evaluate", "--gold", kp_data.data, "--pred",
                         str(out / "predictions.jsonl"), "--train", kp_data.data, "--json"],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["all"]["f1@M"] == metrics["all"]["f1@M"]


def test_mmkp_baseline_refuses_a_folder_it_did_not_make(kp_data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "mmkp_lib.cli", "baseline", "--data", kp_data.data, "--out", str(mine)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "not a run folder" in proc.stderr
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / "config.json").exists()
