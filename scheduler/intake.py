"""Taking in uploaded sweep YAML: one size limit and one decoding for the API and the editor.

The limit is `settings.HBSITE_MAX_YAML_BYTES`, counted in UTF-8 bytes; it is checked before
a file is read, and again on text that arrived inside a JSON or form body.
"""

from __future__ import annotations

from django.conf import settings

from . import yamlsource


class IntakeError(ValueError):
    """Uploaded YAML that is refused before it is parsed; the message says why."""


class TooLarge(IntakeError):
    """YAML over the size limit; `size` and `limit` are in bytes."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the sweep YAML is {size} bytes; the limit is {limit} bytes")
        self.size, self.limit = size, limit


def check_storable(text: str, what: str) -> str:
    """Return text a database can store; raise IntakeError naming `what` when it holds NUL
    or a lone surrogate."""
    problem = yamlsource.unstorable(text)
    if problem:
        raise IntakeError(f"{what}: {problem}")
    return text


def printable(text: str) -> str:
    """Return text with what `check_storable` refuses replaced by U+FFFD, to show it back."""
    return yamlsource.UNSTORABLE.sub("\ufffd", text)


def limit() -> int:
    """Return the largest sweep YAML accepted, in bytes."""
    return settings.HBSITE_MAX_YAML_BYTES


def check_size(size: int) -> None:
    """Raise TooLarge when `size` bytes is over the limit."""
    if size > limit():
        raise TooLarge(size, limit())


def decode(data: bytes, what: str = "the file") -> str:
    """Return uploaded bytes as text; raise TooLarge, or IntakeError when not UTF-8."""
    check_size(len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(f"{what} is not UTF-8 text") from None


def checked_text(text: str) -> str:
    """Return text that arrived as a string once its UTF-8 size is within the limit."""
    check_size(len(text.encode("utf-8", "surrogatepass")))
    return text
