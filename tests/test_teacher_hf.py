"""The hf backend on a tiny random LLaVA built from a config: batched, left-padded, garbage rejected not crashing."""
import pytest
from PIL import Image

from mmkp_lib.records import Post

pytestmark = pytest.mark.slow  # builds a (tiny) transformers model


def tiny_llava():
    """A random LLaVA (SigLIP 1x32 + Llama 1x32) and its processor, with a word-level tokenizer: no hub."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                              PreTrainedTokenizerFast, SiglipImageProcessor, SiglipVisionConfig)

    words = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "<think>", "</think>", "<answer>", "</answer>"]
    words += "the a post text image red circle beach keyphrases user assistant system ; : . , reason".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>",
                                        additional_special_tokens=["<image>", "<think>", "</think>", "<answer>",
                                                                   "</answer>"])
    template = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}"
                "{% endfor %}{% if add_generation_prompt %}assistant : {% endif %}")
    image_proc = SiglipImageProcessor(size={"height": 16, "width": 16})
    processor = LlavaProcessor(image_processor=image_proc, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="full", chat_template=template)
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=16, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, bos_token_id=2,
                                eos_token_id=3),
        image_token_index=words.index("<image>"), vision_feature_select_strategy="full",
        vision_feature_layer=-1)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = 3
    model.generation_config.pad_token_id = 0
    return model, processor


def test_random_model_garbage_is_rejected_with_a_reason(tmp_path):
    from mmkp_lib.teacher import generate_rationales, read_cache
    from mmkp_lib.teacher.hf_backend import HFBackend

    model, processor = tiny_llava()
    posts = []
    for i in range(5):
        img = tmp_path / f"{i}.png"
        Image.new("RGB", (16, 16), (200, 0, 0)).save(img)
        # texts of different lengths: the batch needs padding, on the left
        posts.append(Post(id=f"p{i}", text="a post " * (i + 1), keyphrases=["red circle"], image=str(img)))
    posts.append(Post(id="noimg", text="a text", keyphrases=["beach"]))  # no image: batched apart
    backend = HFBackend(model="tiny-random-llava", model_obj=model, processor=processor, batch_size=4,
                        max_new_tokens=12, device="cpu")
    assert processor.tokenizer.padding_side == "left"
    cache = tmp_path / "hf.jsonl"
    summary = generate_rationales(posts, backend, cache, max_attempts=2, progress=False)

    assert summary.accepted == 0 and summary.rejected == 6 and summary.errors == 0
    recs = read_cache(cache)
    assert len(recs) == 12 and {r["status"] for r in recs} == {"retry", "rejected"}
    for r in recs:
        assert r["reason"] in ("missing-tags", "malformed-tags", "empty-reasoning", "empty-answer", "wrong-answer")
        assert isinstance(r["response"], str) and r["detail"]
        assert r["usage"]["input_tokens"] > 0 and 0 < r["usage"]["output_tokens"] <= 12
        assert r["key"][1:3] == ["hf", "tiny-random-llava"] and r["cost_usd"] == 0.0
    inputs = {r["key"][0]: r["usage"]["input_tokens"] for r in recs}
    assert inputs["p4"] > inputs["p0"]  # real (unpadded) prompt lengths are counted


def test_generation_keeps_tag_tokens_the_tokenizer_marks_special(tmp_path):
    """<think>/<answer> are special tokens in many tokenizers; decoding must not drop them."""
    import torch

    from mmkp_lib.teacher.hf_backend import HFBackend

    model, processor = tiny_llava()
    vocab = processor.tokenizer.get_vocab()
    answer = ["<think>", "red", "circle", "</think>", "<answer>", "red", "circle", "</answer>", "</s>"]
    forced = [vocab[w] for w in answer]

    def fake_generate(input_ids=None, **kw):  # a model that writes a perfect answer
        tail = torch.tensor([forced] * input_ids.shape[0])
        return torch.cat([input_ids, tail], dim=1)

    model.generate = fake_generate
    backend = HFBackend(model="forced", model_obj=model, processor=processor, device="cpu")
    img = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(img)
    [resp] = backend.generate([Post(id="a", text="a post", keyphrases=["red circle"], image=str(img))], 100)
    assert resp.text.replace(" ", "") == "<think>redcircle</think><answer>redcircle</answer>"
    assert resp.output_tokens == 8 and resp.finish_reason == "stop"


def test_loads_the_projects_tiny_vlm_from_its_folder(tmp_path):
    """The real loading path (AutoModelForImageTextToText + AutoProcessor from a folder) on mmkp_lib.models' tiny VLM."""
    from mmkp_lib.models import TEST_TINY, build_tiny
    from mmkp_lib.teacher import generate_rationales, read_cache
    from mmkp_lib.teacher.hf_backend import HFBackend

    folder = build_tiny(tmp_path / "tiny", config=TEST_TINY)
    img = tmp_path / "a.png"
    Image.new("RGB", (16, 16), (0, 0, 200)).save(img)
    posts = [Post(id=f"q{i}", text="blue square " * (i + 1), keyphrases=["blue square"], image=str(img))
             for i in range(3)]
    backend = HFBackend(model=str(folder), batch_size=3, max_new_tokens=6, device="cpu")
    summary = generate_rationales(posts, backend, tmp_path / "c.jsonl", max_attempts=1, progress=False)
    assert summary.rejected == 3 and summary.errors == 0
    assert all(r["key"][2] == str(folder) and r["reason"] for r in read_cache(tmp_path / "c.jsonl"))
