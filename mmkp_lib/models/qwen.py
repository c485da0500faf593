"""A tiny random Qwen2-VL and the image-only Qwen processors that work without torchvision.

transformers' Qwen2VLProcessor / Qwen2_5_VLProcessor construct a video
processor, which needs torchvision; PyPI's torchvision does not import beside
the CPU torch build used here. The image-only subclasses below drop the video
part (their __init__ has no video_processor argument, which is how
ProcessorMixin lists a processor's parts) and otherwise behave the same:
`image_grid_thw` and `mm_token_type_ids` in every batch.

The tiny Qwen2-VL exists so that tests exercise the Qwen family's specifics
(dynamic image grids, patch merging, M-RoPE, mm_token_type_ids) offline:

    .venv/bin/python -c "from mmkp_lib.models.qwen import build_tiny_qwen; build_tiny_qwen('cache/models/tiny-qwen-seed0')"
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

from mmkp_lib.models.tokenizer import benchmark_vocabulary, train_tokenizer

VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"
QWEN_SPECIAL_TOKENS = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor without the video processor (so no torchvision). Images and text only."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, video_processor=None, chat_template=chat_template, **kwargs)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2_5_VLProcessor without the video processor (so no torchvision). Images and text only."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, video_processor=None, chat_template=chat_template, **kwargs)


IMAGE_ONLY_PROCESSORS = {
    "qwen2_vl": Qwen2VLImageOnlyProcessor,
    "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor,
}


def load_image_only_processor(folder: str, model_type: str, **kwargs):
    """The image-only processor for a Qwen-VL folder or hub id (its tokenizer, image processor and chat template)."""
    cls = IMAGE_ONLY_PROCESSORS[model_type]
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(folder, **kwargs)
    # The chat template lives in chat_template.jinja (or the tokenizer's config); both load with the tokenizer.
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template)


def build_tiny_qwen(
    out_dir: str | os.PathLike, *, seed: int = 0, words: list[str] | None = None, image_size: int = 32,
    patch_size: int = 4, hidden: int = 64, layers: int = 2, heads: int = 2, vision_hidden: int = 32,
    vision_layers: int = 1,
) -> Path:
    """Build a tiny random Qwen2-VL (about 0.3M parameters) with its image-only processor and save it to out_dir.

    Images are resized so that height x width = image_size^2 (min = max
    pixels); with 4 px patches merged 2x2, a 32 px image gives an 8x8 patch
    grid and 16 image tokens.
    """
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from mmkp_lib.models.tiny import save_atomically, set_generation_tokens

    t0 = time.time()
    tok = train_tokenizer(
        words if words is not None else benchmark_vocabulary(), extra_special_tokens=QWEN_SPECIAL_TOKENS,
        image_markup=VISION_START + IMAGE_PAD + VISION_END,
    )
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=patch_size, merge_size=2, temporal_patch_size=2,
        min_pixels=image_size * image_size, max_pixels=image_size * image_size,
        image_mean=[0.5] * 3, image_std=[0.5] * 3,
    )
    processor = Qwen2VLImageOnlyProcessor(image_processor=image_processor, tokenizer=tok,
                                          chat_template=tok.chat_template)
    head_dim = hidden // heads
    half = head_dim // 2  # M-RoPE splits the rotary half-dimensions into temporal, height, width sections
    mrope = [half - 2 * (half // 3), half // 3, half // 3]
    cfg = Qwen2VLConfig(
        vision_config=dict(depth=vision_layers, embed_dim=vision_hidden, hidden_size=hidden, num_heads=2,
                           patch_size=patch_size, spatial_merge_size=2, temporal_patch_size=2, mlp_ratio=2),
        text_config=dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "mrope_section": mrope, "rope_theta": 10000.0},
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None),
        image_token_id=tok.convert_tokens_to_ids(IMAGE_PAD), video_token_id=tok.convert_tokens_to_ids(VIDEO_PAD),
        vision_start_token_id=tok.convert_tokens_to_ids(VISION_START),
        vision_end_token_id=tok.convert_tokens_to_ids(VISION_END),
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(cfg)
    set_generation_tokens(model, tok)
    info = {"kind": "tiny-qwen", "seed": seed, "vocab": len(tok),
            "parameters": sum(p.numel() for p in model.parameters()), "build_seconds": round(time.time() - t0, 1)}
    save_atomically(Path(out_dir), model, processor, info)
    return Path(out_dir)
