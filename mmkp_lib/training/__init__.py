"""Training: configs, per-strategy examples, the VLM collator, Dynamic CoT and the Trainer subclass.

    from mmkp_lib.training import TrainConfig, train
    train(TrainConfig(data="data/synth", strategy="dyncot", gamma=0.4,
                      teacher_cache="cache/teacher/synth.jsonl", out="runs/dyncot"))

Modules: config (TrainConfig, gamma parsing), data (examples per strategy),
collator (batches with completion-only labels), dyncot (the rule and its
bookkeeping), trainer (KeyphraseTrainer), launch (train: one run end to end).
Importing this package is cheap; torch and transformers load in `train`.
"""
from mmkp_lib.training.config import STRATEGIES, ConfigError, Gamma, TrainConfig, parse_gamma


def train(*args, **kwargs):
    """mmkp_lib.training.launch.train (imported lazily: it pulls in torch and transformers)."""
    from mmkp_lib.training.launch import train as _train

    return _train(*args, **kwargs)


__all__ = ["STRATEGIES", "ConfigError", "Gamma", "TrainConfig", "parse_gamma", "train"]
