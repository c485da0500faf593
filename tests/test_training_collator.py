"""Loss masks of VLM batches: prompt and image tokens -100, the completion and its stop token trained."""
from __future__ import annotations

import pytest
import torch

from mmkp_lib.training.collator import IGNORE_INDEX, TruncationError, VLMCollator
from mmkp_lib.training.data import ExampleDataset, build_examples

pytestmark = pytest.mark.slow  # builds a tiny model once per session (about 5 s)


@pytest.fixture(scope="module")
def processor(tiny_vlm_dir):
    from mmkp_lib.models import load_processor

    return load_processor(tiny_vlm_dir)


@pytest.fixture(scope="module")
def items(kp_data):
    from mmkp_lib.teacher.cache import load_rationales

    examples, _ = build_examples(kp_data.train[:4], "dyncot", load_rationales(kp_data.teacher, kp_data.train))
    return [ExampleDataset(examples)[i] for i in range(4)]


def check_rows(collator, batch, items, targets):
    tok = collator.tokenizer
    image_id = collator.image_token_id
    for i, (item, target) in enumerate(zip(items, targets)):
        n_prompt = collator.encode_prompt(item["post"])["input_ids"].shape[1]
        n = int(batch["attention_mask"][i].sum())
        labels, ids = batch["labels"][i], batch["input_ids"][i]
        assert (labels[:n_prompt] == IGNORE_INDEX).all(), "a prompt token is trained"
        assert (labels[n_prompt:n] != IGNORE_INDEX).all(), "a completion token is masked"
        assert (labels[n:] == IGNORE_INDEX).all() and (batch["attention_mask"][i, n:] == 0).all()
        assert torch.equal(labels[n_prompt:n], ids[n_prompt:n])
        image_positions = (ids == image_id).nonzero().flatten()
        assert len(image_positions) > 0 and (image_positions < n_prompt).all()
        assert labels[n - 1].item() == tok.eos_token_id, "the stop token must be trained"
        assert tok.decode(ids[n_prompt:n]) == target + tok.eos_token
        score = batch["score_mask"][i].bool()
        assert tok.decode(ids[score]) == target, "score_mask marks the answer tokens only"


def test_completion_only_labels_with_the_stop_token(processor, items):
    collator = VLMCollator(processor, max_length=256)
    batch = collator(items)
    check_rows(collator, batch, items, [it["target"] for it in items])
    assert batch["pixel_values"].shape[0] == len(items)
    assert batch["sample_index"].tolist() == [it["index"] for it in items]


def test_dyncot_batches_hold_both_versions_and_mix_picks_rows(processor, items):
    collator = VLMCollator(processor, max_length=256, dyncot=True)
    batch = collator(items)
    has_cot = [it["cot"] is not None for it in items]
    assert batch["has_cot"].tolist() == has_cot and any(has_cot)
    check_rows(collator, batch["cot"], items, [it["cot"] or it["target"] for it in items])
    use = torch.tensor([h and i % 2 == 0 for i, h in enumerate(has_cot)])
    mixed = collator.mix(batch["sft"], batch["cot"], use)
    check_rows(collator, mixed, items, [it["cot"] if u else it["target"] for it, u in zip(items, use.tolist())])
    assert mixed["is_cot"].tolist() == use.tolist()
    assert torch.equal(mixed["pixel_values"], batch["sft"]["pixel_values"])


def test_a_template_that_does_not_end_with_eos_still_trains_it(processor, items):
    import copy

    proc = copy.deepcopy(processor)
    proc.chat_template = ("{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                          "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{{ '\\n' }}"
                          "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    collator = VLMCollator(proc, max_length=256)
    batch = collator(items[:1])
    n = int(batch["attention_mask"][0].sum())
    tail = batch["input_ids"][0, :n][batch["labels"][0, :n] != IGNORE_INDEX]
    assert proc.tokenizer.decode(tail) == items[0]["target"] + "\n" + proc.tokenizer.eos_token


def test_truncation_into_image_tokens_is_refused_with_the_fix(processor, items):
    n_prompt = VLMCollator(processor).encode_prompt(items[0]["post"])["input_ids"].shape[1]
    with pytest.raises(TruncationError) as err:
        VLMCollator(processor, max_length=n_prompt - 1)(items[:1])
    text = str(err.value)
    assert "image tokens" in text and f"max_length is {n_prompt - 1}" in text and "max_pixels" in text

    short = VLMCollator(processor, max_length=n_prompt + 2)
    with pytest.warns(UserWarning, match="completion is cut"):
        batch = short(items[:1])
    assert batch["input_ids"].shape[1] == n_prompt + 2 and short.truncated == 1
    assert (batch["labels"][0, :n_prompt] == IGNORE_INDEX).all()


def test_qwen2_vl_batches_extend_mm_token_type_ids(tiny_qwen_dir, items):
    from mmkp_lib.models import load_processor

    processor = load_processor(tiny_qwen_dir)
    collator = VLMCollator(processor, max_length=256)
    batch = collator(items)
    check_rows(collator, batch, items, [it["target"] for it in items])
    assert batch["image_grid_thw"].shape == (len(items), 3)
    mm = batch["mm_token_type_ids"]
    assert mm.shape == batch["input_ids"].shape
    assert torch.equal(mm.bool(), batch["input_ids"] == collator.image_token_id)  # 1 exactly on image tokens
