"""Real training steps on tiny VLMs: parameters move, losses are normalised right, runs resume and repeat exactly."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mmkp_lib import runs
from mmkp_lib.training.config import TrainConfig

pytestmark = pytest.mark.slow  # trains tiny models for a few steps (seconds each)


def weights(folder) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def config(kp_data, model_dir, out, **kw) -> TrainConfig:
    base = dict(data=kp_data.data, teacher_cache=kp_data.teacher, model=model_dir, out=str(out), batch_size=8,
                max_steps=3, lr=1e-3, warmup_steps=0, log_every=1, save_every=0, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def train(cfg, **kw):
    from mmkp_lib.training.launch import train as _train

    return _train(cfg, log=lambda *_: None, **kw)


def train_lines(run) -> list[dict]:
    return [r for r in runs.read_train_log(run) if r["event"] == "train"]


def test_every_trainable_parameter_changes_and_the_frozen_tower_does_not(kp_data, tiny_vlm_dir, tmp_path):
    run = train(config(kp_data, tiny_vlm_dir, tmp_path / "sft", strategy="sft"))
    before, after = weights(tiny_vlm_dir), weights(run / runs.MODEL_DIR)
    assert before.keys() == after.keys()
    tower = [k for k in before if k.split(".")[0] == "vision_tower" or ".vision_tower." in k]
    assert tower, "the test model has no vision tower?"
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert sorted(unchanged) == sorted(tower), "all but the frozen tower must train (the projector included)"


@pytest.fixture(scope="module")
def accum_runs(kp_data, tiny_vlm_dir, tmp_path_factory):
    """One SGD step on the same 8 samples: one batch of 8, and 4 micro-batches of 2."""
    from transformers import TrainingArguments

    from mmkp_lib.models import load_model
    from mmkp_lib.training.collator import VLMCollator
    from mmkp_lib.training.data import ExampleDataset
    from mmkp_lib.training.trainer import KeyphraseTrainer

    examples = _accumulation_examples(kp_data)
    out = {}
    for batch, accum in ((8, 1), (2, 4)):
        torch.manual_seed(0)
        model, processor = load_model(tiny_vlm_dir)
        folder = tmp_path_factory.mktemp(f"accum{batch}")
        args = TrainingArguments(output_dir=str(folder), per_device_train_batch_size=batch,
                                 gradient_accumulation_steps=accum, max_steps=1, learning_rate=0.5, optim="sgd",
                                 lr_scheduler_type="constant", max_grad_norm=0.0, train_sampling_strategy="sequential",
                                 logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
                                 remove_unused_columns=False, disable_tqdm=True)
        trainer = KeyphraseTrainer(model=model, args=args, train_dataset=ExampleDataset(examples),
                                   data_collator=VLMCollator(processor), processing_class=processor)
        trainer.train()
        out[batch] = (trainer, {k: v.detach().clone() for k, v in model.named_parameters()})
    return out


def _accumulation_examples(kp_data):
    """8 multi-task examples (SFT and CoT targets) whose four micro-batches of 2 hold very different numbers of
    completion tokens, so the accumulation test below is sensitive to how the loss is normalised."""
    from mmkp_lib.teacher.cache import load_rationales
    from mmkp_lib.training.data import build_examples

    posts = kp_data.train[8:16]
    examples, _ = build_examples(posts, "multitask", load_rationales(kp_data.teacher, posts))
    return examples[:8]


def test_gradient_accumulation_gives_the_big_batch_loss_and_update(accum_runs):
    (big, big_params), (small, small_params) = accum_runs[8], accum_runs[2]
    big_loss, small_loss = big.state.log_history[0]["loss"], small.state.log_history[0]["loss"]
    assert small_loss == pytest.approx(big_loss, rel=1e-5)
    for name, p in big_params.items():
        torch.testing.assert_close(small_params[name], p, rtol=1e-4, atol=1e-6, msg=name)


def test_the_accumulation_check_can_fail(accum_runs, kp_data, tiny_vlm_dir):
    """The four micro-batches have different completion-token counts, so a mean of per-micro-batch means
    (the classic accumulation bug) would differ from the big-batch loss: the test above is sensitive."""
    from mmkp_lib.models import load_model
    from mmkp_lib.training.collator import IGNORE_INDEX, VLMCollator
    from mmkp_lib.training.data import ExampleDataset

    examples = _accumulation_examples(kp_data)
    items = [ExampleDataset(examples)[i] for i in range(8)]
    model, processor = load_model(tiny_vlm_dir)
    collator = VLMCollator(processor)
    sums, counts = [], []
    with torch.no_grad():
        for i in range(0, 8, 2):
            b = collator(items[i:i + 2])
            labels = b.pop("labels")
            logits = model(**{k: v for k, v in b.items() if k not in collator.meta_keys}).logits
            t = labels[:, 1:]
            ce = torch.nn.functional.cross_entropy(logits[:, :-1][t != IGNORE_INDEX], t[t != IGNORE_INDEX], reduction="sum")
            sums.append(ce.item())
            counts.append(int((t != IGNORE_INDEX).sum()))
    assert len(set(counts)) > 1
    exact = sum(sums) / sum(counts)
    naive = sum(s / c for s, c in zip(sums, counts)) / len(sums)
    assert exact == pytest.approx(accum_runs[8][0].state.log_history[0]["loss"], rel=1e-5)
    assert abs(naive - exact) > 1e-3


# ---- dyncot equivalences: gamma ~ 0 trains as SFT, gamma huge trains as Fine-tune-CoT (online scoring) -----------

def test_dyncot_extremes_reproduce_sft_and_cot_exactly(kp_data, tiny_vlm_dir, tmp_path):
    def final(name, **kw):
        return weights(train(config(kp_data, tiny_vlm_dir, tmp_path / name, max_steps=2, **kw)) / runs.MODEL_DIR)

    sft, cot = final("sft", strategy="sft"), final("cot", strategy="cot")
    never = final("never", strategy="dyncot", gamma=1e-9, scoring="online")
    always = final("always", strategy="dyncot", gamma=1e9, scoring="online")
    for k in sft:
        assert torch.equal(never[k], sft[k]), k  # the scoring forward leaves training untouched
        assert torch.equal(always[k], cot[k]), k
    assert any(not torch.equal(sft[k], cot[k]) for k in sft)

    decisions = runs.read_decisions(tmp_path / "always")
    assert len(decisions) == 2 * 8 and all(d["cot"] == d["has_cot"] for d in decisions)
    assert all(d["sft_loss"] is not None and d["sft_loss"] > 0 for d in decisions)
    has_cot = sum(d["has_cot"] for d in decisions) / len(decisions)
    shares = [r["cot_share"] for r in train_lines(tmp_path / "always")]
    assert sum(shares) / len(shares) == pytest.approx(has_cot)


# ---- resume and repeatability (dyncot, lagged quantile: the state that must survive a checkpoint) ----------------

def lagged_config(kp_data, model_dir, out):
    # 32 posts / batch 8 = 4 steps an epoch: the checkpoint at step 3 is mid-epoch, step 5 uses stored losses
    return config(kp_data, model_dir, out, strategy="dyncot", gamma="q0.5", scoring="lagged", max_steps=7,
                  save_every=3, save_total_limit=None, eval_every=3, eval_samples=4, max_new_tokens=8)


@pytest.fixture(scope="module")
def lagged_run(kp_data, tiny_vlm_dir, tmp_path_factory):
    return train(lagged_config(kp_data, tiny_vlm_dir, tmp_path_factory.mktemp("lagged") / "run"))


def test_resume_from_a_checkpoint_continues_exactly(lagged_run, kp_data, tiny_vlm_dir, tmp_path):
    # a run killed after step 4: checkpoint-3 on disk, log and decisions already past it
    killed = tmp_path / "killed"
    killed.mkdir()
    for name in (runs.CONFIG, runs.TRAIN_LOG, runs.DECISIONS):
        shutil.copy(lagged_run / name, killed / name)
    shutil.copytree(lagged_run / "checkpoint-3", killed / "checkpoint-3")
    runs.truncate_jsonl(killed / runs.TRAIN_LOG, 4)
    runs.truncate_jsonl(killed / runs.DECISIONS, 4)

    resumed = train(lagged_config(kp_data, tiny_vlm_dir, killed), resume=True)
    a, b = weights(lagged_run / runs.MODEL_DIR), weights(resumed / runs.MODEL_DIR)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("elapsed_s", "samples_per_s", "peak_rss_mb",
                                                                    "valid_seconds")} for r in rows]
    assert strip(runs.read_train_log(resumed))[:-1] == strip(runs.read_train_log(lagged_run))[:-1]  # "end" differs
    assert runs.read_decisions(resumed) == runs.read_decisions(lagged_run)
    assert any(d["cot"] for d in runs.read_decisions(resumed)), "the stored losses must have switched some samples"


def test_same_seed_same_run(lagged_run, kp_data, tiny_vlm_dir, tmp_path):
    again = train(lagged_config(kp_data, tiny_vlm_dir, tmp_path / "again"))
    a, b = weights(lagged_run / runs.MODEL_DIR), weights(again / runs.MODEL_DIR)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in train_lines(again)] == [r["loss"] for r in train_lines(lagged_run)]


def test_the_run_folder_is_complete_and_readable(lagged_run):
    from mmkp_lib.inference import predict_run

    metrics = predict_run(lagged_run, split="test", max_new_tokens=8)
    assert runs.missing_parts(lagged_run) == []
    config = runs.read_config(lagged_run)
    assert config["params"]["gamma"] == "q0.5" and config["seed"] == 0 and "commit" in config["git"]
    assert config["result"]["global_step"] == 7 and config["data_report"]["fallback"] == 8
    log = runs.read_train_log(lagged_run)
    lines = [r for r in log if r["event"] == "train"]
    assert [r["step"] for r in lines] == list(range(1, 8))
    for key in ("loss", "lr", "samples_per_s", "peak_rss_mb", "epoch", "cot_share"):
        assert all(r[key] is not None for r in lines), key
    assert [r["cot_share"] for r in lines[:4]] == [0.0] * 4  # lagged: nothing is known in the first epoch
    assert [r["step"] for r in log if r["event"] == "valid"] == [3, 6, 7]
    assert "valid_f1@M_unseen" in next(r for r in log if r["event"] == "valid")
    assert [r["epoch"] for r in log if r["event"] == "epoch"] == [0, 1]
    assert metrics["split"] == "test" and "all" in metrics and metrics["generation"]["posts"] == 8
    assert runs.read_metrics(lagged_run) == metrics
    assert [r["id"] for r in runs.read_predictions(lagged_run)] == [f"test-{i:06d}" for i in range(8)]
    assert runs.last_checkpoint(lagged_run).name == "checkpoint-7"


def test_an_existing_run_is_not_overwritten_by_accident(lagged_run, kp_data, tiny_vlm_dir):
    with pytest.raises(FileExistsError, match="--resume"):
        train(lagged_config(kp_data, tiny_vlm_dir, lagged_run))


# ---- LoRA and Qwen2-VL ----------------------------------------------------------------------------------------------

def test_lora_adapts_the_language_model_only(kp_data, tiny_vlm_dir, tmp_path):
    from mmkp_lib.inference import load_trained
    from mmkp_lib.models import load_model, lora_target_modules

    base, _ = load_model(tiny_vlm_dir)
    targets = lora_target_modules(base)
    assert targets and not any("vision_tower" in t or "projector" in t or "lm_head" in t for t in targets)

    run = train(config(kp_data, tiny_vlm_dir, tmp_path / "lora", strategy="sft", lora=True, lr=1e-2, max_steps=2))
    adapter = weights(run / runs.MODEL_DIR)
    assert any("lora_A" in k for k in adapter) and not any("vision_tower" in k for k in adapter)
    assert any("multi_modal_projector" in k for k in adapter)  # the projector trains in full beside LoRA

    merged, _ = load_trained(run)
    before = dict(base.named_parameters())
    after = dict(merged.named_parameters())
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(".vision_tower." in k for k in changed)
    assert any(".language_model." in k and "q_proj" in k for k in changed)
    assert any("multi_modal_projector" in k for k in changed)


def test_qwen2_vl_trains_a_step_and_generates(kp_data, tiny_qwen_dir, tmp_path):
    from mmkp_lib.inference import predict_run

    run = train(config(kp_data, tiny_qwen_dir, tmp_path / "qwen", strategy="dyncot", gamma=1e9, max_steps=2))
    before, after = weights(tiny_qwen_dir), weights(run / runs.MODEL_DIR)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("model.layers.") for k in changed) and any("merger" in k for k in changed)  # saved names
    assert not any("visual." in k and "merger" not in k for k in changed)  # frozen tower, merger trains
    metrics = predict_run(run, split="test", limit=4, max_new_tokens=6)
    preds = runs.read_predictions(run)
    assert len(preds) == 4 and metrics["generation"]["posts"] == 4
    assert all(p["generated_tokens"] <= 6 for p in preds)


_MMAP_PROBE = """
import ctypes, sys
from mmkp_lib.training.launch import pin_malloc_thresholds
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] == "pin":
    assert pin_malloc_thresholds()
before = libc.mallinfo2().hblks
small = libc.malloc(16 << 20)  # under the pinned threshold: from the heap once pinned
large = libc.malloc(48 << 20)  # over it: mmapped either way
print(libc.mallinfo2().hblks - before)
"""


def test_training_pins_the_malloc_thresholds():
    """A 16 MiB block is mmapped under glibc's default threshold (128 KiB) and taken from the heap once train() has
    pinned it (32 MiB; the lagged-dyncot slowdown of benchmarks/README.md); a 48 MiB block is mmapped either way."""
    import subprocess
    import sys

    libc = pytest.importorskip("ctypes").CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    mmapped = {mode: int(subprocess.run([sys.executable, "-c", _MMAP_PROBE, mode], capture_output=True, text=True,
                                        check=True).stdout) for mode in ("default", "pin")}
    assert mmapped == {"default": 2, "pin": 1}


def test_the_loss_asks_for_completion_logits_only_and_matches_the_full_forward(kp_data, tiny_vlm_dir, tmp_path):
    """compute_loss runs the VLM's body and its LM head on the completion positions only: same loss and gradients
    as the full forward (the path a DDP-wrapped model takes), and the LM head sees only the completion tokens."""
    from transformers import TrainingArguments

    from mmkp_lib.models import load_model
    from mmkp_lib.training.collator import VLMCollator
    from mmkp_lib.training.data import ExampleDataset
    from mmkp_lib.training.trainer import KeyphraseTrainer, split_lm_head

    model, processor = load_model(tiny_vlm_dir)
    examples = _accumulation_examples(kp_data)
    batch = VLMCollator(processor)([ExampleDataset(examples)[i] for i in range(len(examples))])
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, remove_unused_columns=False)
    trainer = KeyphraseTrainer(model=model, args=args, train_dataset=ExampleDataset(examples),
                               data_collator=VLMCollator(processor), processing_class=processor)
    body, head = split_lm_head(model)
    rows_seen = []
    hook = head.register_forward_hook(lambda m, inp, out: rows_seen.append(inp[0].shape))

    def loss_and_grads(use_split: bool):
        model.zero_grad()
        if not use_split:  # what a wrapped model gets: the whole forward
            trainer.model = torch.nn.Identity()
        loss = trainer.compute_loss(model, batch)
        trainer.model = model
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    split_loss, split_grads = loss_and_grads(True)
    n_completion = int((batch["labels"][:, 1:] != -100).sum())
    assert rows_seen[-1] == (n_completion, head.in_features)  # logits at completion positions only
    full_loss, full_grads = loss_and_grads(False)
    assert rows_seen[-1][:2] == (batch["input_ids"].shape[0], batch["input_ids"].shape[1])  # every position
    hook.remove()
    assert split_loss.item() == pytest.approx(full_loss.item(), rel=1e-5)
    assert split_grads.keys() == full_grads.keys()
    for name, g in full_grads.items():
        torch.testing.assert_close(split_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)
