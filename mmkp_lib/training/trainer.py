"""The project's HF `Trainer` subclass: completion-only loss normalised over the accumulated batch, Dynamic CoT,
JSONL logging, checkpoint state and periodic validation F1.

Being a plain `transformers.Trainer`, it runs unchanged under
`accelerate launch` (several GPUs, DeepSpeed, FSDP):

    accelerate launch -m mmkp_lib.cli train --data data/synth --strategy dyncot --gamma 0.4 \
        --teacher-cache cache/teacher/synth.jsonl --out runs/dyncot

What it adds to Trainer:

- Loss = sum of token cross-entropies over completion tokens / number of
  completion tokens in the whole accumulated batch (all micro-batches of one
  optimizer step, all processes): the same number one big batch would give,
  so gradient accumulation does not reweight short and long targets
  (transformers' `num_items_in_batch`, counted here from the labels).
- Dynamic CoT: the collator delivers both versions of every row; before the
  step's micro-batches run, `get_batch_samples` scores the SFT versions
  (online) or reads the stored losses (lagged), chooses per row, and builds the
  batches actually trained on. Decisions go to `dyncot_decisions.jsonl`, the
  share switched to `train_log.jsonl` (per log step and per epoch), and the
  stored losses into every checkpoint (`dyncot_state.json`) so a resumed run
  decides as the uninterrupted one would.
- `train_log.jsonl` lines: {"event": "train", step, epoch, loss, lr, grad_norm,
  samples_per_s, peak_rss_mb, peak_gpu_mem_mb, cot_share}, {"event": "valid",
  step, F1 ...}, {"event": "epoch", ...}, {"event": "end", ...}.
"""
from __future__ import annotations

import json
import math
import os
import resource
import time
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from mmkp_lib import runs
from mmkp_lib.training.collator import IGNORE_INDEX, VLMCollator
from mmkp_lib.training.dyncot import DynCotState, answer_losses

DYNCOT_STATE = "dyncot_state.json"


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB: Linux's VmHWM, which belongs to the process's own memory map.
    Not getrusage's ru_maxrss, which Linux carries across fork + exec: a run started by `make report` (whose
    process built the model, 1.4 GB) read the parent's peak, the same 1385.9 MB for every run."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # elsewhere (KiB on Linux, bytes on macOS)


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (MB) and, on CUDA, peak allocated GPU memory (MB)."""
    out = {"peak_rss_mb": peak_rss_mb()}
    if torch.cuda.is_available():
        out["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def split_lm_head(model) -> tuple[torch.nn.Module, torch.nn.Linear] | None:
    """(body, lm_head) of a transformers VLM / causal LM whose `model` returns the hidden states its `lm_head`
    turns into logits (LLaVA, FastVLM, Qwen2-VL, Llama; under peft, its base model), so the loss can ask for logits
    at the completion positions only. None for any other layout: the caller then runs the whole forward."""
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    body, head = getattr(core, "model", None), getattr(core, "lm_head", None)
    if not isinstance(body, torch.nn.Module) or not isinstance(head, torch.nn.Linear):
        return None
    return body, head


class KeyphraseTrainer(Trainer):
    """Trainer for VLM keyphrase generation (see the module docstring).

    Extra arguments: `run_dir` (defaults to args.output_dir), `dyncot` (a
    DynCotState for strategy "dyncot", else None), `validator` (callable(model)
    -> dict of numbers, run every `eval_every` optimizer steps), `eval_every`.
    """

    # compute_loss divides by the completion tokens of the whole accumulated batch itself.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, run_dir: str | os.PathLike | None = None, dyncot: DynCotState | None = None,
                 validator: Callable[[Any], dict[str, float]] | None = None, eval_every: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.data_collator, VLMCollator):
            raise TypeError("KeyphraseTrainer needs a mmkp_lib.training.collator.VLMCollator as data_collator")
        if (dyncot is not None) != self.data_collator.dyncot:
            raise ValueError("pass a DynCotState exactly when the collator was built with dyncot=True")
        self.run_dir = Path(run_dir or self.args.output_dir)
        self.dyncot = dyncot
        self.validator = validator
        self.eval_every = eval_every
        self._window_samples = 0
        self._window_start = time.perf_counter()
        self._train_start = time.perf_counter()
        self.add_callback(_RunHooks(self))

    # ---- batches: dyncot resolution and the completion-token count --------------------------------

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches = []
        for _ in range(num_batches):
            try:
                batches.append(next(epoch_iterator))
            except StopIteration:
                break
        if self.dyncot is not None and batches:
            batches = self._resolve_dyncot(batches)
        return batches, self._count_completion_tokens(batches, device)

    def _count_completion_tokens(self, batches: list[dict], device) -> torch.Tensor | None:
        """Tokens the loss sums over in this optimizer step (labels shifted by one, as the causal LM loss uses them)."""
        if not batches:
            return None
        n = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches)
        n = torch.tensor(n, device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            n = self.accelerator.gather(n).sum()
        return n

    def _epoch(self) -> int:
        return int(math.floor((self.state.epoch or 0.0) + 1e-6))

    def _resolve_dyncot(self, batches: list[dict]) -> list[dict]:
        """Choose CoT or SFT per row for all micro-batches of one optimizer step, and build those batches."""
        indices = torch.cat([b["sample_index"].cpu() for b in batches]).tolist()
        has_cot = torch.cat([b["has_cot"].cpu() for b in batches]).tolist()
        online = None
        if self.dyncot.scoring == "online":
            online = torch.cat([self.score_sft(b["sft"]) for b in batches]).tolist()
        ids = [self._sample_id(i) for i in indices]
        use = self.dyncot.decide(indices, has_cot, online, step=self.state.global_step + 1,
                                 epoch=self._epoch(), ids=ids)
        out, start = [], 0
        for b in batches:
            n = b["sample_index"].shape[0]
            mixed = self.data_collator.mix(b["sft"], b["cot"], use[start:start + n])
            mixed["sample_index"] = b["sample_index"]
            out.append(mixed)
            start += n
        return out

    def _sample_id(self, index: int) -> str | None:
        examples = getattr(self.train_dataset, "examples", None)
        return examples[index].post.id if examples is not None else None

    @torch.no_grad()
    def score_sft(self, sft: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-row L_sft (mean loss over answer tokens) under the current parameters, no gradient.

        Eval mode, so dropout neither perturbs the score nor consumes the random
        stream the training forward will use.
        """
        model = self.model_wrapped
        was_training = model.training
        model.eval()
        try:
            inputs = {k: v for k, v in sft.items() if k not in ("labels", "score_mask", "is_cot")}
            with self.compute_loss_context_manager():
                logits = model(**inputs).logits
        finally:
            model.train(was_training)
        return answer_losses(logits, sft["labels"].to(logits.device), sft["score_mask"].to(logits.device)).cpu()

    # ---- loss ----------------------------------------------------------------------------------------

    def training_step(self, model, inputs, num_items_in_batch=None):
        self._window_samples += int(inputs["input_ids"].shape[0])
        return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        index = inputs.pop("sample_index", None)
        score_mask = inputs.pop("score_mask", None)
        is_cot = inputs.pop("is_cot", None)
        labels = inputs.pop("labels")
        targets = labels[:, 1:]
        valid = targets != IGNORE_INDEX
        # Only completion positions get logits and go through the (float32) softmax: prompts and image tokens are
        # most of an SFT row, and the LM head is a fifth of the tiny model's compute per token.
        # DDP & co. must run their own forward; callers wanting the outputs get the usual ones
        split = split_lm_head(model) if model is self.model and not return_outputs else None
        if split is not None:
            body, head = split
            outputs = body(**inputs)
            valid = valid.to(outputs.last_hidden_state.device)
            logits = head(outputs.last_hidden_state[:, :-1][valid])
        else:
            outputs = model(**inputs)
            valid = valid.to(outputs.logits.device)
            logits = outputs.logits[:, :-1][valid]
        targets = targets.to(logits.device)
        token_loss = torch.nn.functional.cross_entropy(logits.float(), targets[valid], reduction="none")
        total = token_loss.sum()
        denom = num_items_in_batch if num_items_in_batch is not None else valid.sum().clamp(min=1)
        loss = total / denom
        if self.args.average_tokens_across_devices and num_items_in_batch is not None and self.args.world_size > 1:
            loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes; undo that
        if self.dyncot is not None and model.training and index is not None and score_mask is not None:
            self._record_sft_losses(token_loss.detach(), valid, score_mask.to(logits.device), index, is_cot)
        return (loss, outputs) if return_outputs else loss

    def _record_sft_losses(self, token_loss, valid, score_mask, index, is_cot) -> None:
        """Lagged scoring: store L_sft of the rows this forward trained on their SFT target."""
        full = torch.zeros(valid.shape, dtype=token_loss.dtype, device=token_loss.device)
        full[valid] = token_loss
        mask = score_mask[:, 1:].to(full.dtype)
        n = mask.sum(1)
        per_row = torch.where(n > 0, (full * mask).sum(1) / n.clamp(min=1), torch.full_like(n, float("nan")))
        sft_rows = ~is_cot.to(torch.bool).to(per_row.device) if is_cot is not None else torch.ones_like(n, dtype=torch.bool)
        self.dyncot.record_sft(index.to(per_row.device)[sft_rows].tolist(), per_row[sft_rows].tolist())

    # ---- logging ---------------------------------------------------------------------------------------

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and "train_runtime" not in logs:
            now = time.perf_counter()
            elapsed = max(now - self._window_start, 1e-9)
            logs["samples_per_s"] = round(self._window_samples * self.args.world_size / elapsed, 3)
            self._window_samples, self._window_start = 0, now
            logs.update(peak_memory_mb())
            if self.dyncot is not None:
                window = torch.tensor(self.dyncot.window, dtype=torch.long, device=self.args.device)
                self.dyncot.window = [0, 0]
                if self.args.world_size > 1:  # every process logs at the same step, so this collective is safe
                    window = self.accelerator.gather(window).view(-1, 2).sum(0)
                switched, n = window.tolist()
                if n:
                    logs["cot_share"] = round(switched / n, 4)
        super().log(logs, start_time)
        if "loss" in logs and "train_runtime" not in logs:
            record = {"event": "train", "step": self.state.global_step, "epoch": logs.get("epoch"),
                      "loss": logs["loss"], "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm")}
            record.update({k: v for k, v in logs.items() if k not in record and k != "learning_rate"})
        elif "train_runtime" in logs:
            record = {"event": "end", "step": self.state.global_step, **logs, **peak_memory_mb()}
        else:
            record = {"event": "log", "step": self.state.global_step, **logs}
        record["elapsed_s"] = round(time.perf_counter() - self._train_start, 3)
        self.write_log(record)

    def write_log(self, record: dict[str, Any]) -> None:
        if self.is_world_process_zero():
            runs.append_jsonl(self.run_dir / runs.TRAIN_LOG, [record])

    def flush_decisions(self) -> None:
        """Write queued dyncot decisions (gathered from every process) to dyncot_decisions.jsonl."""
        if self.dyncot is None:
            return
        pending, self.dyncot.pending = self.dyncot.pending, []
        if self.args.world_size > 1:
            from accelerate.utils import gather_object

            pending = gather_object(pending)
        if self.is_world_process_zero() and pending:
            runs.append_jsonl(self.run_dir / runs.DECISIONS, sorted(pending, key=lambda r: (r["step"], r["index"])))

    def sync_dyncot(self) -> None:
        """Give every process the same dyncot state: stored losses (a sample may be visited by another process
        next epoch) and decision counts. Called at epoch ends, checkpoints and the end of training."""
        if self.dyncot is None:
            return
        payload = self.dyncot.sync_payload()
        if self.args.world_size > 1:
            from accelerate.utils import gather_object

            self.dyncot.merge(gather_object([payload]))
        else:
            self.dyncot.merge([payload])

    def validate(self) -> None:
        """Generation-based validation F1 on the fixed subset, logged as an {"event": "valid"} line."""
        if self.validator is None or not self.is_world_process_zero():
            return
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        t0 = time.perf_counter()
        try:
            with torch.random.fork_rng(devices=[]):  # generation must not shift the training's random stream
                scores = self.validator(model)
        finally:
            model.train(was_training)
        seconds = time.perf_counter() - t0
        self._window_start += seconds  # samples/s measures training, not validation
        self.write_log({"event": "valid", "step": self.state.global_step, "epoch": self.state.epoch,
                        **scores, "valid_seconds": round(seconds, 3)})

    # ---- resume --------------------------------------------------------------------------------------

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Load a full-weights checkpoint through from_pretrained's key conversion.

        transformers 5 saves VLMs under their original (legacy) key names
        (`language_model.model.*`, `vision_tower.*`) while the modules are named
        `model.language_model.*`; Trainer's own resume loads the file with a
        plain non-strict `load_state_dict`, which then matches no key, only logs
        a warning and continues from the un-restored weights. from_pretrained
        applies the renaming; strict loading makes any other mismatch an error.
        LoRA adapters, FSDP and DeepSpeed checkpoints keep Trainer's own path.
        """
        from transformers import PreTrainedModel

        model = model if model is not None else self.model
        folder = Path(resume_from_checkpoint)
        full = (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
        if (not full or not isinstance(model, PreTrainedModel) or self.is_fsdp_enabled
                or self.is_deepspeed_enabled):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        dtype = next(model.parameters()).dtype
        saved = type(model).from_pretrained(str(folder), dtype=dtype)
        model.load_state_dict(saved.state_dict(), strict=True)
        del saved

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """As Trainer.train; on resume also restores the dyncot state and drops log lines after the checkpoint."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"resume requested but {self.args.output_dir} has no checkpoint-* folder")
        if resume_from_checkpoint:
            ckpt = Path(resume_from_checkpoint)
            state = json.loads((ckpt / "trainer_state.json").read_text())
            step = int(state["global_step"])
            if self.dyncot is not None:
                f = ckpt / DYNCOT_STATE
                if not f.is_file():
                    raise FileNotFoundError(f"{f}: a dyncot checkpoint needs its stored losses to resume exactly")
                self.dyncot.load_state_dict(json.loads(f.read_text()))
            if self.is_world_process_zero():
                runs.truncate_jsonl(self.run_dir / runs.TRAIN_LOG, step)
                runs.truncate_jsonl(self.run_dir / runs.DECISIONS, step)
        self._train_start = self._window_start = time.perf_counter()
        self._window_samples = 0
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


class _RunHooks(TrainerCallback):
    """Trainer events that touch the run folder: epoch shares, validation, checkpoint state."""

    def __init__(self, trainer: KeyphraseTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        t = self.trainer
        if t.validator is not None and t.eval_every and (
                state.global_step % t.eval_every == 0 or state.global_step >= state.max_steps):
            t.validate()

    def on_epoch_end(self, args, state, control, **kwargs):
        t = self.trainer
        if t.dyncot is None:
            return
        t.sync_dyncot()
        t.flush_decisions()
        counts = t.dyncot.counts()
        if not counts:
            return
        epoch = max(counts)  # the epoch just ended: the next one has made no decision yet
        switched, samples = counts[epoch]
        if samples:
            t.write_log({"event": "epoch", "step": state.global_step, "epoch": epoch,
                         "cot_share": round(switched / samples, 4), "samples": samples})

    def on_save(self, args, state, control, **kwargs):
        t = self.trainer
        t.sync_dyncot()
        t.flush_decisions()
        if t.dyncot is not None and t.is_world_process_zero():
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            runs.write_json(folder / DYNCOT_STATE, t.dyncot.state_dict())

    def on_train_end(self, args, state, control, **kwargs):
        self.trainer.sync_dyncot()
        self.trainer.flush_decisions()


def build_trainer(cfg, model, processor, examples, *, validator: Callable[[Any], dict[str, float]] | None = None,
                  callbacks=(), checkpoints: bool = True, find_unused_parameters: bool = False) -> KeyphraseTrainer:
    """The KeyphraseTrainer of a TrainConfig over prepared `examples` (training.data.build_examples): collator,
    dataset, Dynamic CoT state and the TrainingArguments of `cfg.training_arguments()`. The one place a trainer
    is built: `launch.train` and the benchmarks both call it."""
    from mmkp_lib.training.data import ExampleDataset

    collator = VLMCollator(processor, max_length=cfg.max_length, dyncot=cfg.strategy == "dyncot")
    return KeyphraseTrainer(
        model=model, args=cfg.training_arguments(checkpoints=checkpoints, find_unused_parameters=find_unused_parameters),
        train_dataset=ExampleDataset(examples), data_collator=collator, processing_class=processor, run_dir=cfg.out,
        dyncot=DynCotState(cfg.gamma, cfg.scoring) if cfg.strategy == "dyncot" else None,
        validator=validator, eval_every=cfg.eval_every if validator is not None else 0, callbacks=list(callbacks),
    )
