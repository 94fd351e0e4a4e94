"""Sweep tags: Polyaxon's `tags:` list, checked one way for the YAML file and for edits.

A tag is 1 to MAX_LENGTH characters after trimming surrounding spaces, with no comma (the
edit form separates tags by commas) and no control character. A sweep has at most MAX_TAGS;
a tag given twice (ignoring case) is kept once, in its first spelling. Pure Python: no Django.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_TAGS = 20
MAX_LENGTH = 50


class TagError(ValueError):
    """Tags that cannot be stored; `problems` holds (index, message) pairs, index 0-based."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"tag {i + 1}: {m}" if i >= 0 else m for i, m in problems))


def problem(value: object) -> str | None:
    """Return why `value` is not a tag, or None when it is one (after trimming)."""
    if not isinstance(value, str):
        return f"a tag must be a string, got {type(value).__name__} {value!r}"
    tag = value.strip()
    if not tag or len(tag) > MAX_LENGTH:
        return f"a tag must have 1 to {MAX_LENGTH} characters, got {value!r}"
    if "," in tag:
        return f"a tag may not contain a comma, got {value!r}"
    if any(unicodedata.category(c).startswith("C") for c in tag):
        return f"a tag may not contain control characters, got {value!r}"
    return None


def clean(values: Iterable[object]) -> list[str]:
    """Return the tags trimmed, without repeats (ignoring case), in their first order.

    Raises TagError naming every bad tag by its index, or the count past MAX_TAGS (index -1).
    """
    items = list(values)
    problems = [(i, p) for i, v in enumerate(items) if (p := problem(v)) is not None]
    if problems:
        raise TagError(problems)
    tags: list[str] = []
    for item in items:
        tag = str(item).strip()
        if tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise TagError([(-1, f"a sweep has at most {MAX_TAGS} tags, got {len(tags)}")])
    return tags


def split(text: str) -> list[str]:
    """Read the edit form's comma-separated tags ("a, b"); empty parts are dropped."""
    return [part for part in (p.strip() for p in text.split(",")) if part]
