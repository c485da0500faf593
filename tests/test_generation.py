"""greedy_decode gives model.generate's greedy tokens, token for token, while dropping finished rows."""
from __future__ import annotations

import pytest
import torch

from mmkp_lib.generation import greedy_decode, supports_fast_greedy


def _batch(model_dir, kp_data, n=6):
    from mmkp_lib.formats import load_posts
    from mmkp_lib.models import load_model
    from mmkp_lib.prompts import student_messages
    from mmkp_lib.records import load_image

    model, processor = load_model(model_dir)
    model.eval()
    posts = load_posts(kp_data.data, split="test")[:n]
    processor.tokenizer.padding_side = "left"
    prompts = [processor.apply_chat_template(student_messages(p.text, True), add_generation_prompt=True, tokenize=False)
               for p in posts]
    enc = processor(text=prompts, images=[load_image(p.image) for p in posts], return_tensors="pt", padding=True)
    return model, processor, enc


def _stop_at(steps: list[int], eos: int):
    """Row i emits eos at step steps[i] (its other tokens are the model's own greedy choice)."""
    def force(rows, step, logits):
        for j, r in enumerate(rows.tolist()):
            if step == steps[r]:
                logits[j, eos] = logits[j].max() + 10.0
    return force


def test_greedy_decode_matches_generate_token_for_token_as_rows_finish(tiny_vlm_dir, kp_data):
    from transformers import LogitsProcessor, LogitsProcessorList

    model, processor, enc = _batch(tiny_vlm_dir, kp_data)
    eos = processor.tokenizer.eos_token_id
    steps = [3, 17, 0, 9, 25, 40]  # rows finish at different steps; one never does within the budget
    force = _stop_at(steps, eos)

    class Force(LogitsProcessor):
        def __call__(self, input_ids, scores):
            force(torch.arange(scores.shape[0]), input_ids.shape[1] - enc["input_ids"].shape[1], scores)
            return scores

    with torch.inference_mode():
        ref = model.generate(**enc, max_new_tokens=30, do_sample=False, eos_token_id=eos, pad_token_id=eos,
                             logits_processor=LogitsProcessorList([Force()]))
    expected = []
    for row in ref[:, enc["input_ids"].shape[1]:].tolist():
        expected.append(row[: row.index(eos) + 1] if eos in row else row)
    got = greedy_decode(model, enc, max_new_tokens=30, stop_ids={eos}, logits_hook=force)
    assert got == expected
    assert [len(r) for r in got] == [4, 18, 1, 10, 26, 30]  # each row stopped where it was told, or at the budget
    assert len({tuple(r[:3]) for r in got}) > 1  # the rows decode their own prompts


def test_only_plain_position_models_take_the_fast_path(tiny_vlm_dir, tiny_qwen_dir):
    from mmkp_lib.models import load_model

    assert supports_fast_greedy(load_model(tiny_vlm_dir)[0])
    assert not supports_fast_greedy(load_model(tiny_qwen_dir)[0])  # multimodal RoPE: generate keeps it


def test_the_fast_loop_is_refused_where_it_would_be_wrong(tiny_qwen_dir, kp_data):
    from mmkp_lib.formats import load_posts
    from mmkp_lib.inference import generate_predictions
    from mmkp_lib.models import load_model

    model, processor = load_model(tiny_qwen_dir)
    with pytest.raises(ValueError, match="1-D text positions"):
        generate_predictions(model, processor, load_posts(kp_data.data, split="test")[:1], fast=True)
