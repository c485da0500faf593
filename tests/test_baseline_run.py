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


def _posts(n: int):
    from mmkp_lib.records import Post

    # the text names the topic; the image alone shows whether the object is red ("red circle") or not
    return [Post(id=f"p{i}", text=f"look at topic{i % 5} today", keyphrases=[f"topic{i % 5}"]
                 + (["red circle"] if i % 2 else [])) for i in range(n)]


def test_image_features_add_the_keyphrases_only_an_image_shows():
    import numpy as np
    import pytest

    from mmkp_lib.baseline import BaselineConfig, train_baseline

    train, test = _posts(60), _posts(10)
    rng = np.random.default_rng(0)

    def features(posts):  # dimension 0 says "red"; the others are noise
        x = rng.normal(size=(len(posts), 8)).astype(np.float32)
        x[:, 0] += [4.0 if "red circle" in p.keyphrases else -4.0 for p in posts]
        return x

    config = BaselineConfig(min_count=1, image_min_count=20)
    text_only = train_baseline(train, config).predict(test)
    assert not any("red circle" in kps for kps in text_only.values())  # the text cannot tell
    model = train_baseline(train, config, features(train))
    assert model.image.labels == ["red circle"]  # the topics are in < 20 posts each: no image unit
    predicted = model.predict(test, features(test))
    assert all(predicted[p.id][0] == p.keyphrases[0] for p in test)  # the text's list comes first
    assert all(("red circle" in predicted[p.id]) == ("red circle" in p.keyphrases) for p in test)
    with pytest.raises(ValueError, match="fitted with image features"):
        model.predict(test)
    # too few posts per keyphrase: the image classifier has nothing to learn and changes nothing
    few = train_baseline(train, BaselineConfig(min_count=1, image_min_count=100), features(train))
    assert few.image.labels == [] and few.predict(test, features(test)) == text_only


def test_mmkp_baseline_reads_the_images_through_a_vlm_tower(kp_data, tmp_path):
    out = tmp_path / "baseline-images"
    proc = subprocess.run([sys.executable, "-m", "mmkp_lib.cli", "baseline", "--data", kp_data.data, "--out", str(out),
                           "--min-count", "1", "--image-model", "tiny-test", "--model-cache", str(tmp_path / "models")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    config = runs.read_config(out)
    assert config["params"]["image_model"] == "tiny-test" and config["result"]["image_labels"] is not None
    assert json.loads((out / "metrics.json").read_text())["predicted_with"]["image_model"] == "tiny-test"


def test_tower_features_pool_one_row_per_post(kp_data, tmp_path):
    import dataclasses

    import numpy as np
    import pytest

    from mmkp_lib.image_features import tower_features

    posts = list(kp_data.train[:3]) + [dataclasses.replace(kp_data.train[0], id="no-image", image=None)]
    x = tower_features(posts, "tiny-test", cache_dir=tmp_path / "models")
    assert x.shape[0] == 4 and x.dtype == np.float32 and not x[3].any() and x[:3].any(axis=1).all()
    broken = dataclasses.replace(kp_data.train[0], id="broken", image=str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="post broken: cannot read its image"):
        tower_features([broken], "tiny-test", cache_dir=tmp_path / "models")
