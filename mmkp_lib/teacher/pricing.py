"""Token prices (USD per 1M tokens) and the cost estimate of a teacher run.

The table covers the OpenAI models the paper's setting suggests, at their list
prices when this was written (https://openai.com/api/pricing, standard tier).
Prices change and other providers (Doubao, a hosted Qwen) have their own: pass
a JSON file or a dict to override or extend it:

    {"gpt-4o": {"input": 2.5, "output": 10.0}, "doubao-1.5-vision-pro": {"input": 0.42, "output": 1.26}}

    mmkp teacher --backend openai --model gpt-4o --prices my_prices.json ...

A model name matches the longest table entry it starts with, so
"gpt-4o-2024-08-06" is priced as "gpt-4o" and "gpt-4o-mini-2024-07-18" as "gpt-4o-mini".
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
}


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M input (prompt) tokens
    output: float  # USD per 1M output (completion) tokens

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


def load_prices(override: str | os.PathLike | dict | None = None) -> dict[str, Price]:
    """The default table updated with `override` (a dict or a JSON file of {model: {input, output}})."""
    table = dict(DEFAULT_PRICES)
    if override is not None:
        if isinstance(override, dict):
            extra, where = override, "prices"
        else:
            where = str(override)
            try:
                extra = json.loads(Path(override).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"{where}: cannot read the price table: {exc}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"{where}: expected a JSON object {{model: {{input, output}}}}")
        table.update(extra)
    out = {}
    for model, p in table.items():
        try:
            out[model] = Price(float(p["input"]), float(p["output"]))
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"price of {model!r} must be {{\"input\": USD per 1M tokens, \"output\": ...}}, "
                             f"got {p!r}") from None
    return out


def price_for(model: str, table: dict[str, Price]) -> Price | None:
    """The price of `model` (longest matching prefix), or None when the table does not know it."""
    bare = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" (routers) is priced as "gpt-4o"
    matches = [name for name in table if any(m == name or m.startswith(name + "-") for m in (model, bare))]
    return table[max(matches, key=len)] if matches else None
