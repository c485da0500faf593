"""Models: build/load the offline VLMs (tiny, tiny-test, tiny-qwen, smol) or any transformers VLM; LoRA targets.

    from mmkp_lib.models import load_model, build_tiny, lora_target_modules
    model, processor = load_model("tiny", seed=0)     # LLaVA + warmed-up SigLIP, cached in cache/models/tiny-seed0

Modules: tokenizer (BPE + chat template), tiny (LLaVA from config), vision_warmup
(the SigLIP tower's stand-in for pretraining), qwen (tiny Qwen2-VL, image-only
processors), smol (SmolLM2-135M-Instruct from its GGUF), hub (load_model).
Importing this package is cheap: torch and transformers load on first use.
"""
from mmkp_lib.models.hub import (
    NAMED_MODELS,
    image_size,
    language_model_of,
    load_model,
    load_processor,
    lora_target_modules,
    max_pixels,
    model_folder,
    set_max_pixels,
)
from mmkp_lib.models.tiny import DEFAULT_TINY, TEST_TINY, TinyConfig, build_tiny

__all__ = [
    "NAMED_MODELS", "DEFAULT_TINY", "TEST_TINY", "TinyConfig", "build_tiny", "image_size", "language_model_of",
    "load_model", "load_processor", "lora_target_modules", "max_pixels", "model_folder", "set_max_pixels",
]
