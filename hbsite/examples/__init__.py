"""The example sweeps shipped with hbsite: `*.yml` here, trained by `train_digits.py`.

They run wherever hbsite is installed: each `run.cmd` starts `python -m
hbsite.examples.train_digits`, which needs the `examples` extra (numpy, scikit-learn).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def names() -> list[str]:
    """Return the file names of the shipped example sweeps, sorted (`hyperband.yml`, ...)."""
    return sorted(p.name for p in files(__name__).iterdir() if p.name.endswith(".yml"))


def read(name: str) -> str:
    """Return the text of one shipped example sweep; FileNotFoundError for an unknown name."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def read_sweep(arg: str) -> str:
    """Return the text of the file at `arg`, or of the shipped example named `arg` when no such
    file exists (`hyperband.yml`). OSError (FileNotFoundError) or UnicodeDecodeError otherwise.
    """
    path = Path(arg)
    if not path.exists() and arg in names():
        return read(arg)
    return path.read_text(encoding="utf-8")
