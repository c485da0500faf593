"""The Dynamic CoT rule on losses known by hand, and its online / lagged bookkeeping."""
from __future__ import annotations

import math

import pytest
import torch

from mmkp_lib.training.dyncot import DynCotState, answer_losses, choose_cot, quantile_threshold

NAN = float("nan")


def test_float_gamma_switches_losses_strictly_below_it():
    assert choose_cot([0.1, 0.9, 0.3, 0.4, NAN], 0.4).tolist() == [True, False, True, False, False]
    assert choose_cot(torch.tensor([2.0, 3.0]), 0.4).tolist() == [False, False]


def test_quantile_switches_the_lowest_share_of_the_batch():
    losses = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4, 1.0]
    assert choose_cot(losses, "q0.3").tolist() == [l in (0.1, 0.2, 0.3) for l in losses]
    assert choose_cot(losses, "q0.0").sum() == 0 and choose_cot(losses, "q1").all()
    # NaN (unknown, or no CoT target) never switches and does not count in n
    assert choose_cot([0.5, NAN, 0.1, NAN], "q0.5").tolist() == [False, False, True, False]
    # an explicit reference population (the epoch) sets the threshold
    assert choose_cot([0.5, 0.25], "q0.5", reference=[0.1, 0.2, 0.3, 0.4]).tolist() == [False, False]
    assert choose_cot([0.5, 0.2], "q0.5", reference=[0.1, 0.2, 0.3, 0.4]).tolist() == [False, True]


def test_quantile_threshold_counts_round_q_n():
    assert quantile_threshold([3, 1, 2, 4], 0.5) == 2
    assert quantile_threshold([3, 1, 2, 4], 0.1) is None  # round(0.4) = 0 samples
    assert quantile_threshold([3, 1, 2, 4, NAN], 0.75) == 3


def test_answer_losses_average_only_marked_tokens():
    vocab = 5
    logits = torch.zeros(2, 4, vocab)  # uniform: every token costs log(5)
    logits[0, 1, 3] = 10.0  # row 0 predicts token 3 at position 2 almost surely
    labels = torch.tensor([[-100, -100, 3, 1], [-100, 2, 2, -100]])
    mask = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0]])
    out = answer_losses(logits, labels, mask)
    tok3 = -torch.log_softmax(logits[0, 1], -1)[3]
    assert out[0].item() == pytest.approx((tok3.item() + math.log(vocab)) / 2, rel=1e-5)
    assert math.isnan(out[1].item())  # no marked token


def test_online_decisions_use_the_given_losses_and_respect_has_cot():
    st = DynCotState(0.4, "online")
    use = st.decide([10, 11, 12], [True, False, True], [0.1, 0.1, 0.9], step=1, epoch=0, ids=["a", "b", "c"])
    assert use.tolist() == [True, False, False]  # sample 11 has no rationale: SFT even with a low loss
    assert [d["cot"] for d in st.pending] == [True, False, False]
    assert st.pending[0] == {"step": 1, "epoch": 0, "index": 10, "id": "a", "sft_loss": 0.1, "has_cot": True, "cot": True}
    assert st.window_share() == pytest.approx(1 / 3) and st.window_share() is None
    with pytest.raises(ValueError, match="online scoring needs"):
        st.decide([1], [True], None)


def test_lagged_uses_the_last_sft_visit_and_unseen_samples_stay_sft():
    st = DynCotState(0.4, "lagged")
    assert st.decide([0, 1], [True, True], step=1, epoch=0).tolist() == [False, False]  # never seen
    st.record_sft([0, 1], [0.2, 0.8])
    assert st.decide([0, 1], [True, True], step=2, epoch=1).tolist() == [True, False]
    # sample 0 trained on CoT: no new SFT loss is recorded for it, it keeps 0.2; sample 1 improves
    st.record_sft([1], [0.3])
    assert st.decide([0, 1], [True, True], step=3, epoch=2).tolist() == [True, True]
    assert st.epoch_shares() == {0: 0.0, 1: 0.5, 2: 1.0}


def test_lagged_quantile_threshold_is_fixed_per_epoch_and_survives_a_state_round_trip():
    st = DynCotState("q0.5", "lagged")
    st.decide([0, 1, 2, 3], [True] * 4, epoch=0)
    st.record_sft([0, 1, 2, 3], [0.4, 0.1, 0.3, 0.2])
    assert st.decide([0, 1], [True, True], epoch=1).tolist() == [False, True]  # threshold 0.2 (2nd lowest of 4)
    st.record_sft([0], [0.05])  # sample 0 improves mid-epoch: this epoch's threshold does not move
    saved = st.state_dict()
    again = DynCotState("q0.5", "lagged")
    again.load_state_dict(saved)
    for s in (st, again):
        assert s.decide([2, 3], [True, True], epoch=1).tolist() == [False, True]
    # next epoch: a new threshold from the stored losses {0: 0.05, 1: 0.1, 2: 0.3, 3: 0.2} -> 0.1
    assert st.decide([0, 1, 2, 3], [True] * 4, epoch=2).tolist() == [True, True, False, False]


def test_a_random_share_ignores_the_loss_and_is_fixed_by_sample_and_step():
    """gamma "r0.3" (thought dropout): about 30% of the visits with a rationale go to CoT, whatever their loss,
    the same coin for the same (sample, step), never a sample without a rationale."""
    from mmkp_lib.training.config import parse_gamma
    from mmkp_lib.training.dyncot import DynCotState, choose_cot

    g = parse_gamma("r0.3")
    assert (g.kind, g.value, str(g), g.to_json()) == ("random", 0.3, "r0.3", "r0.3")
    n = 4000
    a, b = DynCotState("r0.3", "online"), DynCotState("r0.3", "online")
    low, high = [0.01] * n, [9.0] * n
    has = [i % 4 != 0 for i in range(n)]
    use_low = a.decide(range(n), has, low, step=7)
    use_high = b.decide(range(n), has, high, step=7)
    assert torch.equal(use_low, use_high)  # the loss plays no part
    assert not any(u for u, h in zip(use_low.tolist(), has) if not h)
    share = float(use_low[torch.tensor(has)].float().mean())
    assert 0.27 < share < 0.33
    assert not torch.equal(use_low, a.decide(range(n), has, low, step=8))  # a new coin each step
    with pytest.raises(ValueError, match="drawn per visit"):
        choose_cot([0.1], "r0.3")
    with pytest.raises(Exception, match="random share"):
        parse_gamma("r1.5")
