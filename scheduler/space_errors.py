"""SpaceError, and how the search-space modules write values in its messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn


class SpaceError(ValueError):
    """A matrix entry that does not describe a valid search space."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def fail(name: str, problem: str) -> NoReturn:
    """Raise SpaceError for parameter ``name``."""
    raise SpaceError(f"Parameter '{name}': {problem}.", param=name)


def fmt(value: object) -> str:
    """Write a scalar the way a YAML author would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str) else repr(value)


def show(value: object) -> str:
    """Name a wrong value in an error message."""
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool) or value is None:
        return fmt(value)
    if isinstance(value, Mapping | list | tuple):
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        return f"{'a mapping' if isinstance(value, Mapping) else 'a list'} {text}"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"
