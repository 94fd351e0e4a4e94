"""Where hbsite keeps its data, read from the environment without Django.

`hbsite run` needs the data directory before Django's settings are loaded (the embedded
database's URL must be in the environment first); the settings take it from here too.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

BASE_DIR = Path(__file__).resolve().parent.parent
# A source checkout (manage.py beside the package) keeps its data in var/data; an installed
# package keeps it in the user's data directory, never in site-packages.
SOURCE_CHECKOUT = (BASE_DIR / "manage.py").is_file() and (BASE_DIR / "pyproject.toml").is_file()


def default_data_dir() -> Path:
    """Return the data directory used when HBSITE_DATA_DIR is not set."""
    if SOURCE_CHECKOUT:
        return BASE_DIR / "var" / "data"
    return Path(platformdirs.user_data_dir("hbsite"))


def data_dir() -> Path:
    """Return the data directory: HBSITE_DATA_DIR, else `default_data_dir()`, absolute."""
    return Path(os.environ.get("HBSITE_DATA_DIR") or default_data_dir()).resolve()
