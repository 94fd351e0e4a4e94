"""Render a trial's command: `{{ name }}` placeholders filled with shell-quoted values."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def format_value(value: Any) -> str:
    """Return the text a value stands for in a command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render(cmd: str, values: Mapping[str, Any]) -> str:
    """Fill every placeholder of `cmd`; an unknown name raises KeyError."""

    def substitute(match: re.Match[str]) -> str:
        return shlex.quote(format_value(values[match.group(1)]))

    return PLACEHOLDER.sub(substitute, cmd)
