"""The first cell after a notebook's `parameters` cell: refuse names it does not define, then build its config.

papermill only warns about a parameter the notebook does not have, so `-p gamm 0.8` would run the default
experiment and exit 0. Every notebook therefore starts with

    from mmkp_lib.notebook import notebook_parameters
    params = notebook_parameters(globals(), "04_dyncot")   # a misspelt -p name fails here, listing the real ones

and the experiment notebooks (03-05) turn those parameters into their ExperimentConfig with
`experiment_config(params)`: the notebook's `preset` with every parameter that is not None applied over it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmkp_lib.paths import display_path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# papermill writes the values of `-p NAME VALUE` into a new cell after the `parameters` cell, headed so
_INJECTED_HEADER = "# Parameters"


class ParameterError(ValueError):
    """A notebook parameter the notebook does not define, or one with a value it cannot take."""


def assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of a cell's source (`x = 1`, `x: int = 1`), in order."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in names]
    return names


def parameters_cell(notebook: str | Path) -> str:
    """The source of the notebook's code cell tagged `parameters` (a stem like "04_dyncot" is looked up in
    notebooks/; a path is read as it is)."""
    import nbformat

    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = NOTEBOOKS / f"{path.name}.ipynb"
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    raise ValueError(f"{path}: no code cell tagged 'parameters' (the first code cell of a notebook must be)")


def parameter_names(notebook: str | Path) -> list[str]:
    """The names a notebook defines as parameters, in the order of its `parameters` cell."""
    return assigned_names(parameters_cell(notebook))


def injected_names(history: list[str]) -> list[str]:
    """Names papermill injected in this kernel: those of the last executed cell headed `# Parameters`."""
    for source in reversed(history or []):
        if source.lstrip().startswith(_INJECTED_HEADER):
            return assigned_names(source)
    return []


def notebook_parameters(namespace: dict[str, Any], notebook: str) -> dict[str, Any]:
    """{name: value} of the notebook's parameters as this kernel holds them; ParameterError for a name that was
    passed (`papermill -p NAME ...`) but that the notebook does not define, with the list of those it does."""
    names = parameter_names(notebook)
    unknown = [n for n in injected_names(namespace.get("In", [])) if n not in names]
    if unknown:
        raise ParameterError(f"notebook {notebook} has no parameter {', '.join(map(repr, unknown))} (papermill only "
                             f"warns and would run without it); its parameters: {', '.join(names)}")
    missing = [n for n in names if n not in namespace]
    if missing:
        raise ParameterError(f"notebook {notebook}: run its parameters cell first ({', '.join(missing)} undefined)")
    return {n: namespace[n] for n in names}


# Notebook parameters that are not experiment settings: `preset` picks the settings, `seed` is the first training
# seed (notebook 05's `seeds` counts them), the rest belong to what a notebook shows (mmkp_lib.analysis reads them).
_NOT_SETTINGS = ("preset", "seed", "seeds")


def experiment_config(params: dict[str, Any], n_seeds: int = 1):
    """The validated ExperimentConfig of an experiment notebook's parameters: `preset`, then every parameter that
    is an experiment setting and not None; seeds `seed`, `seed + 1`, ... (`n_seeds` of them). The default
    embedded benchmark is generated first when it is missing (experiment.ensure_data)."""
    from mmkp_lib.experiment.config import ExperimentConfig, setting_names
    from mmkp_lib.training.config import check_int

    seed = check_int("seed", params.get("seed", 0), 0, "an integer >= 0 (the first training seed)")
    known = set(setting_names())
    settings = {k: v for k, v in params.items() if k in known and k not in _NOT_SETTINGS and v is not None}
    cfg = ExperimentConfig.from_settings(params.get("preset"), seeds=tuple(range(seed, seed + n_seeds)), **settings)
    from mmkp_lib.experiment import ensure_data

    ensure_data(cfg)  # the design card's `papermill notebooks/04_dyncot.ipynb out.ipynb` on a fresh clone
    return cfg.validated()


def settings_summary(cfg) -> str:
    """One line for a notebook's setup cell: preset-independent settings a reader compares runs by."""
    eff = cfg.effective()
    t = eff.train
    return (f"student {t.model}, zero-shot {eff.zero_shot_model}; {t.max_steps} steps x {t.batch_size} posts, lr {t.lr:g}, "
            f"seeds {list(cfg.seeds)}; data {display_path(eff.data)}; runs in {display_path(eff.runs_dir)}"
            + ("  [SMOKE: not results]" if eff.smoke else ""))


def _summary_path(value: Any) -> str:
    from mmkp_lib.training.config import ConfigError

    if not isinstance(value, str) or (value and not value.endswith(".json")):
        raise ConfigError("summary_path", value, "a .json file path, or \"\" for no summary file")
    return value


@dataclass(frozen=True)
class BreakdownSettings:
    """Notebook 05's own parameters (what it shows, not what it trains), validated."""

    n_seeds: int  # training seeds per strategy
    allow_training: bool  # False: read existing runs only
    n_boot: int  # bootstrap draws over test posts
    close_margin: float  # F1@M (fraction) Dynamic CoT may fall below Fine-tune-CoT and still count as "close"
    gallery_posts: int  # posts in the static gallery
    summary_path: str = ""  # where the machine-readable summary goes ("": nowhere)

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> "BreakdownSettings":
        from mmkp_lib.training.config import ConfigError, check_int

        seeds = check_int("seeds", params["seeds"], 0, "the number of seeds per strategy, an integer >= 1 (or 0: 3, and 1 when smoke)")
        if not isinstance(params["allow_training"], bool):
            raise ConfigError("allow_training", params["allow_training"], "True or False")
        margin = params["close_margin"]
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin < 1:
            raise ConfigError("close_margin", margin, "an F1 difference as a fraction in (0, 1), e.g. 0.02 = 2 points")
        smoke = params.get("smoke") or params.get("preset") == "smoke"
        return cls(n_seeds=seeds or (1 if smoke else 3), allow_training=params["allow_training"],
                   n_boot=check_int("n_boot", params["n_boot"], 100, "an integer >= 100 (bootstrap draws; 1000 gives stable 95% intervals)"),
                   close_margin=float(margin), gallery_posts=check_int("gallery_posts", params["gallery_posts"], 1),
                   summary_path=_summary_path(params.get("summary_path", "")))
