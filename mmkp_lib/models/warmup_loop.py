"""The optimisation loop both build-time warm-ups of the VLM share (language_warmup, connector_warmup).

AdamW on the given parameters, a linear ramp then cosine decay (vision_warmup.ramp_cosine), gradient norm
clipped at 1, optional bf16 autocast, a loss line every tenth of the steps; the model is left in eval mode.
"""
from __future__ import annotations

import math
import time
from typing import Callable


def check_choice(what: str, name: str, value, choices: tuple) -> None:
    """ValueError naming the warm-up, the field, the allowed values and the value given, unless it is one of them."""
    if value not in choices:
        raise ValueError(f"{what} {name} must be one of {choices}, got {value!r}")


def run_steps(model, params: list, batch: Callable[[int], dict | list[dict]], *, steps: int, lr: float, ramp_steps: int,
              weight_decay: float = 0.0, bf16: bool = False, log=None, what: str = "warm-up") -> dict:
    """Train `params` of `model` for `steps` steps on `batch(step)` (the model's keyword arguments, labels
    included, or a list of them whose losses are summed: a step on two kinds of data); returns the mean loss of
    the first and last 10 steps (of the first kind, when there are several) and the training seconds."""
    import torch

    from mmkp_lib.models.vision_warmup import ramp_cosine

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    losses: list[float] = []
    t0 = time.time()
    model.train()
    for step in range(steps):
        parts = batch(step)
        parts = parts if isinstance(parts, list) else [parts]
        for g in opt.param_groups:
            g["lr"] = ramp_cosine(step, peak=lr, ramp_steps=ramp_steps, steps=steps)
        opt.zero_grad(set_to_none=True)
        for i, inputs in enumerate(parts):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(**inputs).loss
            loss.backward()  # gradients of the parts add up
            if i == 0:
                losses.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if log and ((step + 1) % max(1, steps // 10) == 0 or step + 1 == steps):
            window = losses[-max(1, steps // 10):]
            log(f"{what} step {step + 1}/{steps}: loss {sum(window) / len(window):.3f}, {time.time() - t0:.0f}s")
    model.eval()
    head, tail = losses[:10] or [math.nan], losses[-10:] or [math.nan]
    return {"loss_start": round(sum(head) / len(head), 4), "loss_end": round(sum(tail) / len(tail), 4),
            "train_seconds": round(time.time() - t0, 1), "threads": torch.get_num_threads()}
