"""Dynamic CoT: per training sample, supervise with the CoT target when the model already knows the answer.

The rule (Ma et al. 2025): L_sft = the token-averaged loss of the sample's SFT
target (answer tokens only) under the current parameters; if L_sft < gamma the
sample is trained on its CoT target, otherwise on its SFT target.

    >>> choose_cot([0.1, 0.9, 0.3], 0.4).tolist()
    [True, False, True]
    >>> choose_cot([0.1, 0.9, 0.3, 0.5], "q0.5").tolist()    # the 50% lowest-loss samples
    [True, False, True, False]

Two ways to know L_sft (`scoring`):

- "online" (default, exact): a no-grad forward on the SFT versions of the
  batch, in the same optimizer step, before the training forward. Costs one
  extra forward (no backward) per step.
- "lagged" (free): the loss the sample had at its last visit trained on its
  SFT target, read off that training forward. A sample never seen yet counts
  as not known (SFT). Once switched to CoT a sample keeps its last SFT loss, so
  with a fixed gamma it stays on CoT; with a quantile it can move back as
  other samples' losses fall.

gamma as a quantile "qX" (the adaptive threshold the paper leaves as future
work) switches the round(X * n) lowest-loss samples among those that have a
CoT target: n is the accumulated batch (all micro-batches of one optimizer
step) for online scoring; for lagged scoring the threshold is set once per
epoch from every sample's stored loss when the epoch begins.

gamma as a random share "rX" is the control without a gate ("thought dropout",
TON, Wang et al. 2025): each visit of a sample with a CoT target is trained on
it with probability X, drawn from (sample, step) alone, whatever its loss; run
at the share Dynamic CoT's gamma switched, it says whether choosing by loss
matters. Losses are still scored and logged, so the two can be compared.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

import torch

from mmkp_lib.training.config import Gamma, parse_gamma


def quantile_threshold(values: Iterable[float], q: float) -> float | None:
    """The loss of the round(q*n)-th lowest value (None when that is zero samples)."""
    ordered = sorted(v for v in values if not math.isnan(v))
    k = math.floor(q * len(ordered) + 0.5)
    return ordered[k - 1] if k >= 1 else None


def choose_cot(sft_losses: Sequence[float] | torch.Tensor, gamma: float | str | Gamma,
               reference: Iterable[float] | None = None) -> torch.Tensor:
    """Bool mask: which samples to supervise with CoT. NaN losses (unknown or no CoT target) stay SFT.

    A float gamma compares each loss with it (L < gamma). A quantile gamma
    ("q0.3") switches the round(0.3 * n) lowest losses of `reference`
    (default: `sft_losses` itself, i.e. the batch); ties at the threshold all switch.
    """
    g = parse_gamma(gamma)
    if g.kind == "random":
        raise ValueError(f"gamma {g}: a random share is drawn per visit (visit_draw), not from losses")
    losses = torch.as_tensor(sft_losses, dtype=torch.float64).detach().cpu().reshape(-1)
    known = ~torch.isnan(losses)
    if g.kind == "loss":
        return known & (losses < g.value)
    ref = losses[known].tolist() if reference is None else list(reference)
    threshold = quantile_threshold(ref, g.value)
    if threshold is None:
        return torch.zeros_like(known)
    return known & (losses <= threshold)


def answer_losses(logits: torch.Tensor, labels: torch.Tensor, score_mask: torch.Tensor) -> torch.Tensor:
    """Per-row mean cross-entropy over the tokens marked by score_mask (NaN for a row with none)."""
    logits = logits[:, :-1].float()
    targets = labels[:, 1:]
    mask = score_mask[:, 1:].to(logits.dtype)
    tok = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).clamp(min=0),
                                            reduction="none").view(targets.shape)
    n = mask.sum(1)
    return torch.where(n > 0, (tok * mask).sum(1) / n.clamp(min=1), torch.full_like(n, float("nan")))


def visit_draw(index: int, step: int) -> float:
    """A uniform draw in [0, 1) fixed by (sample index, optimizer step): the random share's coin, the same in a
    resumed run and in every process."""
    import random

    return random.Random(f"mmkp-thought-dropout|{index}|{step}").random()


class DynCotState:
    """The bookkeeping of one Dynamic CoT run: stored losses (lagged), decisions, shares switched.

    `decide` is called once per optimizer step with the samples of all its
    micro-batches; `record_sft` after each training forward with the losses of
    the rows trained on their SFT target.
    """

    def __init__(self, gamma: float | str | Gamma, scoring: str = "online"):
        if scoring not in ("online", "lagged"):
            raise ValueError(f"scoring={scoring!r}: one of online, lagged")
        self.gamma = parse_gamma(gamma)
        self.scoring = scoring
        self.last_sft_loss: dict[int, float] = {}  # sample index -> L_sft at its last SFT visit
        self.has_cot: set[int] = set()  # samples that have a CoT target (quantile reference for lagged)
        self.epoch_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # epoch -> [switched, samples], synced
        self.local_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # this process's, since the last sync
        self.window = [0, 0]  # [switched, samples] since the last log line (this process)
        self.pending: list[dict] = []  # decisions not yet written to disk
        self.updated: dict[int, float] = {}  # losses recorded since the last sync across processes
        self.threshold_epoch: int | None = None  # lagged + quantile: the epoch `threshold` was computed for
        self.threshold = -math.inf

    def decide(self, indices: Sequence[int], has_cot: Sequence[bool], online_losses: Sequence[float] | None = None,
               *, step: int = 0, epoch: int = 0, ids: Sequence[str] | None = None) -> torch.Tensor:
        """The use-CoT mask for these samples; also counts and queues the decisions."""
        indices = [int(i) for i in indices]
        has_cot = [bool(h) for h in has_cot]
        self.has_cot.update(i for i, h in zip(indices, has_cot) if h)
        if self.scoring == "online":
            if online_losses is None:
                raise ValueError("online scoring needs the SFT losses of this step's samples")
            losses = [float(x) for x in online_losses]
        else:
            losses = [self.last_sft_loss.get(i, math.nan) for i in indices]
        eligible = [x if h else math.nan for x, h in zip(losses, has_cot)]
        if self.gamma.kind == "random":
            use = torch.tensor([h and visit_draw(i, step) < self.gamma.value for i, h in zip(indices, has_cot)],
                               dtype=torch.bool)
        elif self.gamma.kind == "quantile" and self.scoring == "lagged":
            threshold = self._epoch_threshold(epoch)
            use = torch.tensor([x <= threshold for x in eligible], dtype=torch.bool)  # NaN compares False
        else:
            use = choose_cot(eligible, self.gamma)
        counts = self.local_counts[epoch]
        for j, i in enumerate(indices):
            u = bool(use[j])
            counts[0] += u
            counts[1] += 1
            self.window[0] += u
            self.window[1] += 1
            self.pending.append({"step": step, "epoch": epoch, "index": i, "id": ids[j] if ids else None,
                                 "sft_loss": None if math.isnan(losses[j]) else round(losses[j], 6),
                                 "has_cot": has_cot[j], "cot": u})
        return use

    def _epoch_threshold(self, epoch: int) -> float:
        """Lagged + quantile: one threshold per epoch, from the losses stored when the epoch began.

        Each sample is visited once per epoch, so its stored loss and the
        threshold come from the same snapshot and round(q * n) of the samples
        with a stored loss switch over the epoch (a threshold recomputed at
        every step would drift as this epoch's lower losses come in).
        """
        if self.threshold_epoch != epoch:
            ref = [self.last_sft_loss[i] for i in self.has_cot if i in self.last_sft_loss]
            t = quantile_threshold(ref, self.gamma.value)
            self.threshold_epoch, self.threshold = epoch, (-math.inf if t is None else t)
        return self.threshold

    def record_sft(self, indices: Sequence[int], losses: Sequence[float]) -> None:
        """Store L_sft of samples just trained on their SFT target (NaN losses ignored)."""
        for i, x in zip(indices, losses):
            x = float(x)
            if not math.isnan(x):
                self.last_sft_loss[int(i)] = x
                self.updated[int(i)] = x

    def window_share(self) -> float | None:
        """Share switched to CoT since the last call (None if no decision)."""
        switched, n = self.window
        self.window = [0, 0]
        return switched / n if n else None

    def counts(self) -> dict[int, list[int]]:
        """epoch -> [switched, samples]: the synced totals plus this process's decisions since the last sync."""
        out = {e: list(c) for e, c in self.epoch_counts.items()}
        for e, (switched, n) in self.local_counts.items():
            total = out.setdefault(e, [0, 0])
            total[0] += switched
            total[1] += n
        return out

    def epoch_shares(self) -> dict[int, float]:
        return {e: c[0] / c[1] for e, c in sorted(self.counts().items()) if c[1]}

    def sync_payload(self) -> tuple[dict[int, float], list[int], dict[int, list[int]]]:
        """What this process learnt since the last sync (losses, CoT-able samples, counts); clears it."""
        payload = (self.updated, sorted(self.has_cot), {e: list(c) for e, c in self.local_counts.items()})
        self.updated, self.local_counts = {}, defaultdict(lambda: [0, 0])
        return payload

    def merge(self, payloads) -> None:
        """Fold every process's sync_payload in (a single process passes its own), so all hold the same state."""
        for updated, has_cot, counts in payloads:
            self.last_sft_loss.update({int(k): float(v) for k, v in updated.items()})
            self.has_cot.update(int(i) for i in has_cot)
            for e, (switched, n) in counts.items():
                total = self.epoch_counts[int(e)]
                total[0] += switched
                total[1] += n

    def state_dict(self) -> dict:
        return {"gamma": str(self.gamma), "scoring": self.scoring,
                "last_sft_loss": {str(k): v for k, v in self.last_sft_loss.items()},
                "has_cot": sorted(self.has_cot),
                "epoch_counts": {str(k): v for k, v in self.counts().items()},
                "threshold_epoch": self.threshold_epoch, "threshold": self.threshold}

    def load_state_dict(self, d: dict) -> None:
        self.last_sft_loss = {int(k): float(v) for k, v in d["last_sft_loss"].items()}
        self.has_cot = set(int(i) for i in d["has_cot"])
        self.epoch_counts = defaultdict(lambda: [0, 0], {int(k): list(v) for k, v in d["epoch_counts"].items()})
        self.local_counts = defaultdict(lambda: [0, 0])
        self.window, self.pending, self.updated = [0, 0], [], {}
        self.threshold_epoch, self.threshold = d.get("threshold_epoch"), float(d.get("threshold", -math.inf))
