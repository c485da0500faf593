"""`load_model`: one entry point for the offline models and any transformers VLM; LoRA targets; image-size knobs.

    from mmkp_lib.models import load_model
    model, processor = load_model("tiny", seed=0)            # built once into cache/models/tiny-seed0
    model, processor = load_model("Qwen/Qwen2.5-VL-3B-Instruct", dtype=torch.bfloat16, device="cuda")

Names:
    tiny        LLaVA (SigLIP 4x64 + Llama 4x192, 2.3M parameters), warmed-up vision tower; about 5.5 min
                to build once (one thread), then seconds to load
    tiny-test   the same layout, very small, no warm-up; builds in about a second (tests, smoke runs)
    tiny-qwen   a tiny random Qwen2-VL with the image-only processor (tests of the Qwen code path)
    smol        LLaVA with the pretrained SmolLM2-135M-Instruct language model (135M parameters; needs
                `make smol`); reuses tiny's warmed-up tower of the same seed from cache_dir
    otherwise   a hub id or a local folder: AutoModelForImageTextToText + AutoProcessor

The named models are built on first use into cache_dir/<name>-seed<seed> (a
file lock keeps parallel processes from building the same one twice) and
always loaded back with from_pretrained, so a run sees exactly what a later
run will.

Processor conventions (all models): `processor.apply_chat_template(messages,
add_generation_prompt=True, tokenize=False)` renders a prompt that ends where
the answer starts; a training text is that prompt + target + the tokenizer's
eos_token (for the offline models "<|im_end|>", which `generation_config`
stops on). `processor.tokenizer.padding_side` is "right" as loaded: set it
to "left" for batched generation.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from pathlib import Path

from mmkp_lib.paths import display_path

NAMED_MODELS = ("tiny", "tiny-test", "tiny-qwen", "smol")
# Named builds whose settings are checked against this code's (TinyConfig): a cached one made otherwise is rebuilt,
# and a run trained on one records them (tiny-qwen has fixed settings, checked by nothing).
CHECKED_BUILDS = ("tiny", "tiny-test", "smol")


def cached_folder(name: str, seed: int, cache_dir: str | os.PathLike) -> Path:
    """Where a named model's build lives in the model cache."""
    return Path(cache_dir) / f"{name}-seed{seed}"


def load_model(
    name_or_path: str,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike = "cache/models",
    dtype=None,
    device=None,
    max_pixels: int | None = None,
    **from_pretrained_kwargs,
):
    """Return (model, processor) for a named offline model, a local folder or a hub id.

    dtype: passed to from_pretrained (e.g. torch.bfloat16 on GPU; None = as saved, float32 for the offline models).
    device: where to move the model (None = leave on CPU).
    max_pixels: image size limit for processors with dynamic resolution (Qwen-VL); see set_max_pixels.
    """
    from transformers import AutoModelForImageTextToText

    folder = model_folder(name_or_path, seed=seed, cache_dir=cache_dir)
    kwargs = dict(from_pretrained_kwargs)
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForImageTextToText.from_pretrained(folder, **kwargs)
    processor = load_processor(folder, model.config.model_type)
    if max_pixels is not None:
        set_max_pixels(processor, max_pixels)
    if device is not None:
        model.to(device)
    model.eval()
    return model, processor


def model_folder(name_or_path: str, *, seed: int = 0, cache_dir: str | os.PathLike = "cache/models") -> str:
    """The folder (or hub id) from_pretrained should read; builds a named model on first use, and rebuilds a cached
    build made by an older version of this code with other settings (the folder is this project's own cache: its
    build_info.json says so; runs keep their own copy of the weights they trained)."""
    if name_or_path not in NAMED_MODELS:
        return str(name_or_path)
    folder = cached_folder(name_or_path, seed, cache_dir)
    with _build_lock(folder):
        info = _read_info(folder)
        stale = stale_settings(name_or_path, info) if info is not None else {}
        if stale:
            print(f"{folder} was built with other settings than this code's {name_or_path!r} model "
                  f"(field: (cached, current) = {stale}); rebuilding it", flush=True)
            shutil.rmtree(folder)
        if info is None or stale:
            _build(name_or_path, folder, seed)
    return str(folder)


def _build(name: str, folder: Path, seed: int) -> None:
    if name in ("tiny", "tiny-test"):
        from mmkp_lib.models.tiny import DEFAULT_TINY, TEST_TINY, build_tiny

        cfg = DEFAULT_TINY if name == "tiny" else TEST_TINY
        print(f"building model '{name}' (seed {seed}) into {display_path(folder)} ...", flush=True)
        build_tiny(folder, seed=seed, config=cfg, vision_cache=folder.parent,
                   warmup_log=print if cfg.warmup_steps else None)
    elif name == "tiny-qwen":
        from mmkp_lib.models.qwen import build_tiny_qwen

        build_tiny_qwen(folder, seed=seed)
    elif name == "smol":
        from mmkp_lib.models.smol import build_smol

        print(f"building model 'smol' (seed {seed}) into {display_path(folder)} ...", flush=True)
        build_smol(folder, seed=seed, vision_cache=folder.parent)
    else:  # pragma: no cover - NAMED_MODELS and this function change together
        raise AssertionError(name)


def build_settings(name_or_path: str, *, seed: int = 0, cache_dir: str | os.PathLike = "cache/models") -> dict | None:
    """The settings a named model's cached build was made with (its build_info.json "config"), recorded in each
    run's config.json so a run trained on an older build is not reused; None for a hub id or folder."""
    if name_or_path not in NAMED_MODELS:
        return None
    info = _read_info(cached_folder(name_or_path, seed, cache_dir))
    return None if info is None else info.get("config")


def stale_settings(name: str, info: dict) -> dict:
    """{field: (cached, current)} where a cached named build differs from this code's settings ({} when current)."""
    if name not in CHECKED_BUILDS:
        return {}
    from mmkp_lib.models.tiny import DEFAULT_TINY, TEST_TINY

    from mmkp_lib.models.smol import smol_config

    want = {"tiny-test": TEST_TINY, "tiny": DEFAULT_TINY, "smol": smol_config()}[name].record()
    have = info.get("config", {})
    return {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}


def _read_info(folder: Path) -> dict | None:
    p = folder / "build_info.json"
    return json.loads(p.read_text()) if p.exists() else None


@contextlib.contextmanager
def _build_lock(folder: Path):
    """An exclusive file lock beside the folder, so parallel processes build a named model once."""
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_processor(folder: str, model_type: str | None = None):
    """The processor of a folder or hub id.

    Qwen2-VL / Qwen2.5-VL get the image-only processor (mmkp_lib.models.qwen)
    when the folder was saved with it or when torchvision, which their video
    processor needs, cannot be imported; every other model goes through
    AutoProcessor.
    """
    from transformers import AutoProcessor
    from transformers.processing_utils import ProcessorMixin

    from mmkp_lib.models.qwen import IMAGE_ONLY_PROCESSORS, load_image_only_processor

    if model_type is None:
        from transformers import AutoConfig

        model_type = AutoConfig.from_pretrained(folder).model_type
    if model_type in IMAGE_ONLY_PROCESSORS:
        saved_class = _saved_processor_class(folder)
        if saved_class and saved_class.endswith("ImageOnlyProcessor"):
            return load_image_only_processor(folder, model_type)
        if not _torchvision_imports():
            warnings.warn(f"torchvision does not import here: loading {folder}'s processor without its video part "
                          f"({IMAGE_ONLY_PROCESSORS[model_type].__name__}); images and text work as usual.")
            return load_image_only_processor(folder, model_type)
    saved = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
    if Path(folder).is_dir() and not any((Path(folder) / name).exists() for name in saved):
        raise OSError(f"{folder} holds no processor (none of {', '.join(saved)}): save the model's processor "
                      "beside it with processor.save_pretrained(folder).")
    processor = AutoProcessor.from_pretrained(folder)
    if not isinstance(processor, ProcessorMixin):
        raise TypeError(
            f"AutoProcessor.from_pretrained({folder!r}) returned a {type(processor).__name__}, not a multimodal "
            "processor: the folder needs processor_config.json / preprocessor_config.json from the model's "
            "processor.save_pretrained(...)."
        )
    return processor


def _saved_processor_class(folder: str) -> str | None:
    p = Path(folder) / "processor_config.json"
    if not p.exists():
        return None
    return json.loads(p.read_text()).get("processor_class")


def _torchvision_imports() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # ImportError, or the RuntimeError a torch/torchvision version mismatch raises
        return False
    return True


def find_submodule(model, candidates: tuple[str, ...], what: str):
    """(dotted name, module) of the first of `candidates` that `model` has; a clear error naming them all if none."""
    for name in candidates:
        obj = model
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return name, obj
    raise ValueError(f"cannot find the {what} inside {type(model).__name__} (looked for {', '.join(candidates)})")


def language_model_of(model):
    """(prefix, module) of a VLM's language model (decoder without lm_head), for LLaVA/Qwen-VL/Idefics-style models."""
    return find_submodule(model, ("model.language_model", "language_model", "model.text_model", "model.model"),
                          "language model")


def lora_target_modules(model) -> list[str]:
    """Full names of the language model's nn.Linear layers, for peft's LoraConfig(target_modules=...).

    Full names, not suffixes like "q_proj": SigLIP's and Qwen-VL's vision
    towers have q_proj/k_proj/v_proj too, and a suffix would match those.
    Excluded: the vision tower, the projector/merger and lm_head.
    """
    import torch.nn as nn

    prefix, lm = language_model_of(model)
    names = [f"{prefix}.{n}" for n, m in lm.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__}'s language model ({prefix}) has no nn.Linear layers")
    return names


def image_size(processor) -> tuple[int, int] | None:
    """(height, width) every image is resized to, or None for dynamic-resolution processors (Qwen-VL: see max_pixels)."""
    size = processor.image_processor.size
    size = dict(size) if not isinstance(size, dict) else size
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    return None


def max_pixels(processor) -> int:
    """The most pixels an image keeps after the processor's resize."""
    fixed = image_size(processor)
    if fixed:
        return fixed[0] * fixed[1]
    return int(dict(processor.image_processor.size)["longest_edge"])


def set_max_pixels(processor, n: int) -> None:
    """Limit a dynamic-resolution processor (Qwen-VL) to at most n pixels per image.

    Fixed-size processors (the tiny LLaVA: SigLIP's position embeddings are
    learned for one size) already meet any limit >= their size (a no-op) and
    refuse a smaller one with an error.
    """
    fixed = image_size(processor)
    if fixed:
        if n < fixed[0] * fixed[1]:
            raise ValueError(f"this model's processor resizes every image to {fixed[0]}x{fixed[1]} px "
                             f"(its vision tower has a fixed input size); max_pixels={n} is below that")
        return
    ip = processor.image_processor
    size = dict(ip.size)
    if n < size.get("shortest_edge", 0):
        size["shortest_edge"] = n
    size["longest_edge"] = n
    ip.size = size
