"""How a path is shown to a reader: relative to the working folder when inside it.

Rendered pages and notebook output must not show the folder of the machine they were made on; the library
keeps absolute paths internally (worker processes and config.json need them) and shows them through this."""
from __future__ import annotations

import os
from pathlib import Path


def display_path(path: str | os.PathLike) -> str:
    """`path` relative to the current folder when it lies inside it ("." for the folder itself), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)
