"""Teacher rationales for Fine-tune-CoT and Dynamic CoT: backends, validation, a resumable cache.

    mmkp teacher --data data/synth --backend oracle --out cache/teacher/synth/oracle-facts.jsonl

    from mmkp_lib.teacher import load_rationales
    thinks = load_rationales("cache/teacher/synth/oracle-facts.jsonl", train_posts)   # {post id: reasoning}

Backends are imported lazily (`make_backend`) so that importing this package
does not pull in openai or torch.
"""
from __future__ import annotations

from mmkp_lib.teacher.base import FatalBackendError, TeacherBackend, TeacherResponse
from mmkp_lib.teacher.config import BACKENDS, TeacherRunConfig
from mmkp_lib.teacher.cache import (CacheError, CacheWarning, TeacherCache, default_cache_path, load_rationales,
                                    read_cache)
from mmkp_lib.teacher.oracle import OracleBackend, OracleError
from mmkp_lib.teacher.prompt import PROMPT_HASH, PROMPT_VERSION, render_prompt, teacher_messages
from mmkp_lib.teacher.run import RunSummary, estimate_cost, generate_rationales
from mmkp_lib.teacher.validate import Validation, normalize_keyphrase, validate_output



def make_backend(name: str, **kwargs) -> TeacherBackend:
    """A backend by name: oracle (seed), openai (model, base_url, api_key, ...), hf (model, batch_size, ...)."""
    if name == "oracle":
        return OracleBackend(**kwargs)
    if name == "openai":
        from mmkp_lib.teacher.openai_backend import OpenAIBackend

        return OpenAIBackend(**kwargs)
    if name == "hf":
        from mmkp_lib.teacher.hf_backend import HFBackend

        return HFBackend(**kwargs)
    raise ValueError(f"unknown teacher backend {name!r}; choose one of {BACKENDS}")


__all__ = ["BACKENDS", "CacheError", "CacheWarning", "FatalBackendError", "OracleBackend", "OracleError",
           "PROMPT_HASH", "PROMPT_VERSION", "RunSummary", "TeacherBackend", "TeacherCache", "TeacherResponse", "TeacherRunConfig",
           "Validation", "default_cache_path", "estimate_cost", "generate_rationales", "load_rationales",
           "make_backend", "normalize_keyphrase", "read_cache", "render_prompt", "teacher_messages",
           "validate_output"]
