"""The `tiny` model: a small VLM (CNN vision tower + Llama language model) with random weights.

Built from a config on the CPU in seconds, plus an optional warm-up of the
vision tower (see vision_warmup.py) that stands in for the pretrained vision
encoder every real VLM has. Saved with `save_pretrained`, so everything
downstream loads it with the Auto classes like any hub checkpoint:

    .venv/bin/python -c "from mmkp_lib.models import build_tiny; build_tiny('cache/models/tiny-seed0')"

Layout of the default config (about 2.4M parameters):
    image 32x32 px -> BiT tower (ResNetV2 with GroupNorm: stem 32 channels, 2 stages x 64/128, stride 8)
    -> 4x4 map = 16 image tokens, in transformers' FastVLM layout (a CNN tower whose last feature map is
    flattened into tokens, MLP projector). GroupNorm, not ResNet's BatchNorm: a row's features do not depend
    on the other rows of its batch, so gradient accumulation, eval-mode scoring and a frozen tower stay exact.
    Llama 4 layers x 192 (tied embeddings), BPE vocabulary ~2.4k, language warm-up 300 steps (language_warmup.py)
The previous default (`vision="siglip"`) is LLaVA with a SigLIP tower: 4 px patches, 64 image tokens.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mmkp_lib.models.tokenizer import IMAGE, benchmark_vocabulary, train_tokenizer
from mmkp_lib.models.vision_warmup import (WarmupConfig, cache_tower_in_background, load_tower_into, tower_folder,
                                           warmed_tower)

BUILD_INFO = "build_info.json"  # written last: a folder without it is an interrupted build


@dataclass(frozen=True)
class TinyConfig:
    """Every knob of the tiny VLM. Defaults = the model the report uses."""

    vocab_size: int = 4096  # BPE cap; the benchmark and oracle words need ~2.4k for one token per word
    tokenizer: str = "v2"  # v2: post + oracle words, punctuation kept on its word; v1: post words only (tokenizer.py)
    vision: str = "bit"  # bit: CNN tower, FastVLM layout (16 image tokens); siglip: ViT, LLaVA layout (64)
    image_size: int = 32  # px the processor resizes to (benchmark images are 64 px)
    vision_stem: int = 32  # bit: stem channels (7x7 conv /2 + max-pool /2)
    vision_widths: tuple = (64, 128)  # bit: channels per stage; each stage after the first halves the map: stride 8 px
    vision_depths: tuple = (1, 1)  # bit: pre-activation bottleneck blocks per stage
    patch_size: int = 4  # siglip: px per patch; (32/4)^2 = 64 image tokens
    vision_hidden: int = 64  # siglip: 64 learned shape as fast per step as 128 in the warm-up, at ~2x the speed
    vision_layers: int = 4  # siglip
    vision_heads: int = 4  # siglip
    vision_intermediate: int = 128  # siglip
    text_hidden: int = 192
    text_layers: int = 4
    text_heads: int = 4
    text_intermediate: int = 512
    max_positions: int = 512  # tokens; prompt (~50 incl. 16 image tokens) + CoT target fit
    warmup_steps: int = 0  # vision warm-up optimiser steps; 0 = none (see vision_warmup.WarmupConfig)
    warmup_batch: int = 64  # images per warm-up step
    warmup_images: int = 30000  # warm-up training pool (generated once; about 0.8 ms per image)
    warmup_eval: int = 2000  # held-out warm-up images for the reported accuracies
    lm_warmup_steps: int = 0  # language warm-up optimiser steps; 0 = none (see language_warmup.py)
    lm_warmup_corpus: str = "text+rationale"  # text+rationale | text
    lm_warmup_topics: str = "seen"  # seen: only keyphrases of the default benchmark's train split | all
    lm_warmup_style: str = "facts"  # the corpus rationales' oracle style: facts | prose
    connector_warmup_steps: int = 0  # image-caption alignment of the projector; 0 = none (connector_warmup.py)
    connector_warmup_train: str = "connector+lm"  # connector+lm (rehearsing the LM corpus) | connector (LLaVA stage 1)
    # torch threads of the connector warm-up, the one build stage that runs alone (the vision and language
    # warm-ups run side by side, one thread each); fixed, not the core count, so a build is the same on any machine.
    # Measured here, default build, one step: 0.68-0.79 s on one thread, 0.42 s on two
    connector_threads: int = 1

    def __post_init__(self):
        if self.vision not in VISION_TOWERS:
            raise ValueError(f"TinyConfig.vision must be one of {VISION_TOWERS}, got {self.vision!r}")
        if len(self.vision_widths) != len(self.vision_depths) or not self.vision_widths:
            raise ValueError(f"TinyConfig.vision_widths {self.vision_widths} and vision_depths {self.vision_depths} "
                             "need one entry per stage, at least one stage")
        if not isinstance(self.connector_threads, int) or self.connector_threads < 1:
            raise ValueError(f"TinyConfig.connector_threads must be an integer >= 1, got {self.connector_threads!r}")
        if self.image_size % self.image_stride:
            raise ValueError(f"TinyConfig.image_size {self.image_size} px is not a multiple of the tower's stride "
                             f"{self.image_stride} px")

    @property
    def image_stride(self) -> int:
        """px of image per image token, along each side."""
        if self.vision == "siglip":
            return self.patch_size
        return 4 * 2 ** (len(self.vision_widths) - 1)  # BiT stem: conv /2 + max-pool /2; each later stage /2

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.image_stride) ** 2

    def record(self) -> dict:
        """The config as build_info.json holds it (JSON types: tuples become lists), to compare a build with."""
        return json.loads(json.dumps(asdict(self)))

    def lm_warmup(self, seed: int):
        """The language warm-up's config for this model and seed."""
        from mmkp_lib.models.language_warmup import LanguageWarmupConfig

        return LanguageWarmupConfig(steps=self.lm_warmup_steps, corpus=self.lm_warmup_corpus,
                                    topics=self.lm_warmup_topics, style=self.lm_warmup_style, seed=seed)

    def connector_warmup(self, seed: int):
        """The connector warm-up's config for this model and seed."""
        from mmkp_lib.models.connector_warmup import ConnectorWarmupConfig

        return ConnectorWarmupConfig(steps=self.connector_warmup_steps, train=self.connector_warmup_train, seed=seed)

    def warmup(self, seed: int):
        """The vision warm-up's config for this model and seed."""
        return WarmupConfig(steps=self.warmup_steps, batch_size=self.warmup_batch, n_images=self.warmup_images,
                            n_eval=self.warmup_eval, seed=seed)


VISION_TOWERS = ("bit", "siglip")

# The report's model: warmed-up tower (see vision_warmup.py for the measurements behind the step count).
DEFAULT_TINY = TinyConfig(warmup_steps=2000, lm_warmup_steps=300, connector_warmup_steps=300, connector_threads=2)
# The default before the cost work: LLaVA + SigLIP (64 image tokens), post-only tokenizer (benchmarks compare).
PREVIOUS_TINY = replace(DEFAULT_TINY, vision="siglip", tokenizer="v1", vocab_size=2048, warmup_steps=3000,
                        lm_warmup_steps=0, connector_warmup_steps=0)
# For tests and smoke runs: builds in about a second, no warm-up.
TEST_TINY = TinyConfig(
    image_size=16, vision_stem=8, vision_widths=(32, 64), vision_depths=(1, 1), patch_size=4, vision_hidden=32, vision_layers=1,
    vision_heads=2, vision_intermediate=64, text_hidden=64, text_layers=2, text_heads=2, text_intermediate=128,
    max_positions=256, warmup_steps=0,
)


# Builds (warm-up included) run on a fixed number of threads, one by default (TinyConfig.connector_threads for the
# connector warm-up): the result is then bit-identical on any machine with the same torch build, whatever its core
# count (reductions split across threads round differently), and on the shared 2-core machines here one thread was
# far faster than two whenever other jobs were running (a tiny warm-up step: 0.01 s on one thread vs 0.23 s on two
# under a load of 5).
BUILD_THREADS = 1


def available_cores() -> int:
    """The cores this process may run on (taskset/cgroups affinity where the OS reports it, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for torch: the cores this process may use (respects taskset/cgroups affinity and OMP_NUM_THREADS)."""
    n = available_cores()
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        n = min(n, int(env))
    return max(1, n)


def make_image_processor(image_size: int):
    """SigLIP's PIL image processor (torchvision-free) resizing to image_size x image_size, values in [-1, 1]."""
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return SiglipImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3,
    )


def make_processor(tokenizer, cfg: TinyConfig):
    """A LlavaProcessor (FastVLM's too): expands each <image> into cfg.image_tokens image tokens."""
    from transformers import LlavaProcessor

    return LlavaProcessor(
        image_processor=make_image_processor(cfg.image_size), tokenizer=tokenizer, patch_size=cfg.image_stride,
        vision_feature_select_strategy="full",  # SigLIP has no CLS token: keep every patch
        chat_template=tokenizer.chat_template, image_token=IMAGE,
    )


def vision_config(cfg: TinyConfig):
    """The tower's transformers config: BitConfig (hidden_size = last stage's width) or SiglipVisionConfig."""
    from transformers import BitConfig, SiglipVisionConfig

    if cfg.vision == "bit":
        vc = BitConfig(embedding_size=cfg.vision_stem, hidden_sizes=list(cfg.vision_widths),
                       depths=list(cfg.vision_depths), layer_type="preactivation", num_groups=8)
        vc.hidden_size = cfg.vision_widths[-1]  # FastVLM's projector reads vision_config.hidden_size
        return vc
    return SiglipVisionConfig(
        image_size=cfg.image_size, patch_size=cfg.patch_size, hidden_size=cfg.vision_hidden,
        num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
        intermediate_size=cfg.vision_intermediate,
        vision_use_head=False,  # LLaVA reads patch features, not SigLIP's pooled head
    )


def vlm_config(cfg: TinyConfig, tokenizer, text_config=None):
    """FastVlmConfig (bit) or LlavaConfig (siglip) for `cfg`; `text_config` overrides the tiny Llama (the smol
    model passes SmolLM2's)."""
    from transformers import FastVlmConfig, LlamaConfig, LlavaConfig

    if text_config is None:
        text_config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=cfg.text_hidden, intermediate_size=cfg.text_intermediate,
            num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
            num_key_value_heads=cfg.text_heads, max_position_embeddings=cfg.max_positions,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
            tie_word_embeddings=True,
        )
    layout = FastVlmConfig if cfg.vision == "bit" else LlavaConfig
    return layout(
        vision_config=vision_config(cfg), text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE), image_seq_length=cfg.image_tokens,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,  # the last encoder layer: the one the warm-up trains the heads on
        projector_hidden_act="gelu", tie_word_embeddings=text_config.tie_word_embeddings,
    )


def new_vlm(cfg: TinyConfig, tokenizer, text_config=None):
    """A randomly initialised VLM for `cfg` (FastVlmForConditionalGeneration or LlavaForConditionalGeneration)."""
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_config(vlm_config(cfg, tokenizer, text_config))


def set_generation_tokens(model, tokenizer) -> None:
    """Greedy generation that stops on eos (<|im_end|>) and pads with <pad>."""
    gc = model.generation_config
    gc.eos_token_id = tokenizer.eos_token_id
    gc.pad_token_id = tokenizer.pad_token_id
    gc.bos_token_id = None
    gc.do_sample = False


def build_tiny(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    config: TinyConfig | None = None,
    words: list[str] | None = None,
    vision_cache: str | os.PathLike | None = None,
    warmup_log=None,
    **knobs,
) -> Path:
    """Build the tiny VLM (tokenizer, processor, random weights, warmed-up tower) and save it to out_dir.

    `config` defaults to DEFAULT_TINY; keyword `knobs` override its fields
    (e.g. `build_tiny(d, text_layers=2, warmup_steps=0)`). `words` defaults
    to the benchmark's whole vocabulary. `vision_cache`: folder caching the
    warmed-up tower, shared with the smol model (None: no cache).
    Deterministic per (seed, config): it runs on fixed thread counts
    (BUILD_THREADS, 1, and cfg.connector_threads), and the vision warm-up
    gives the same tower whether it runs in this process or, with a
    vision_cache and two cores, in a second one beside the language warm-up.
    The folder is written atomically: built in a temporary sibling,
    then renamed, with build_info.json (config, seed, warm-up accuracies, times).
    """
    import torch

    cfg = replace(config or DEFAULT_TINY, **knobs)
    out_dir = Path(out_dir)
    t0 = time.time()
    tok = train_tokenizer(words if words is not None else benchmark_vocabulary(cfg.tokenizer), vocab_size=cfg.vocab_size,
                          version=cfg.tokenizer)
    processor = make_processor(tok, cfg)
    info: dict = {"kind": "tiny", "seed": seed, "config": asdict(cfg), "vocab": len(tok)}

    with torch_threads(BUILD_THREADS):
        torch.manual_seed(seed)
        model = new_vlm(cfg, tok)
    return finish_build(out_dir, model, tok, processor, cfg, seed, info, t0, vision_cache, warmup_log)


def finish_build(out_dir: str | os.PathLike, model, tokenizer, processor, cfg: TinyConfig, seed: int, info: dict,
                 t0: float, vision_cache: str | os.PathLike | None = None, warmup_log=None) -> Path:
    """The steps the tiny and smol builds end with: generation tokens, the warmed-up tower, build_info, the save.

    `info` (build_info.json) gets the warm-up's accuracies, the parameter count and the seconds since `t0`.
    """
    tower_args = (vision_config(cfg), processor.image_processor, cfg.warmup(seed))
    background = None
    if tower_beside_language_warmup(cfg, vision_cache, tower_args):
        background = cache_tower_in_background(*tower_args, vision_cache, threads=BUILD_THREADS)
        if warmup_log:
            warmup_log(f"vision warm-up: in a second process (pid {background.pid}), beside the language warm-up")
    info["vision_warmup_beside_language_warmup"] = background is not None
    try:
        with torch_threads(BUILD_THREADS):
            set_generation_tokens(model, tokenizer)
            lm_cfg, docs = cfg.lm_warmup(seed), None
            if cfg.lm_warmup_steps > 0:
                from mmkp_lib.models.language_warmup import corpus_documents, language_warm_up

                docs = corpus_documents(lm_cfg)  # made once: the connector warm-up rehearses the same documents
                info["language_warmup"] = language_warm_up(model, tokenizer, lm_cfg, log=warmup_log, docs=docs)
            if cfg.warmup_steps > 0:
                if background is not None:
                    background.join()
                    if background.exitcode != 0 and warmup_log:  # warmed_tower below redoes it here, with the error
                        warmup_log(f"vision warm-up: the second process exited with code {background.exitcode}; "
                                   "running it in this process")
                tower, metrics = warmed_tower(*tower_args, cache_dir=vision_cache, log=warmup_log)
                load_tower_into(model, tower)
                info["vision_warmup"] = metrics
        if cfg.connector_warmup_steps > 0:
            from mmkp_lib.models.connector_warmup import connector_warm_up

            with torch_threads(cfg.connector_threads):  # the build's only stage that runs alone: every core it may use
                # rehearse the language warm-up's own documents (none without one) so the LM keeps reading text
                info["connector_warmup"] = connector_warm_up(model, processor, cfg.image_tokens,
                                                             cfg.connector_warmup(seed), rehearsal_docs=docs,
                                                             rehearsal_max_length=lm_cfg.max_length, log=warmup_log)
    finally:
        if background is not None and background.is_alive():  # the build failed or was interrupted
            background.terminate()
            background.join()
    info["parameters"] = sum(p.numel() for p in model.parameters())
    info["build_seconds"] = round(time.time() - t0, 1)
    save_atomically(Path(out_dir), model, processor, info)
    return Path(out_dir)


def tower_beside_language_warmup(cfg: TinyConfig, vision_cache, tower_args) -> bool:
    """Whether the build warms the tower up in a second process while it runs the language warm-up: both warm-ups
    are asked for, the tower is cached (the process hands it over through the cache) but not there yet, and this
    process may use two cores."""
    return (cfg.warmup_steps > 0 and cfg.lm_warmup_steps > 0 and vision_cache is not None and available_cores() >= 2
            and not (tower_folder(*tower_args, vision_cache) / "metrics.json").exists())


class torch_threads:
    """Context manager: run with n torch threads, then restore the previous setting."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


def save_atomically(out_dir: Path, model, processor, info: dict) -> None:
    """save_pretrained model + processor + build_info.json into a temp sibling, then rename to out_dir.

    Two processes building the same folder (pytest-xdist workers) both
    succeed: the loser of the rename discards its copy.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
        if out_dir.exists() and not (out_dir / BUILD_INFO).exists():
            shutil.rmtree(out_dir)  # an interrupted build (no build_info.json): replace it
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / BUILD_INFO).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_build_info(folder: str | os.PathLike) -> dict | None:
    """The build_info.json of a built folder, or None when the folder is not a finished build."""
    p = Path(folder) / BUILD_INFO
    return json.loads(p.read_text()) if p.exists() else None
