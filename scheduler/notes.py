"""A sweep's note: Markdown text, rendered to HTML that is safe to put in a page.

CommonMark (markdown-it-py, with tables and strikethrough) renders the text with raw HTML
turned off, so `<script>` or `<img onerror=...>` in a note come out as text; nh3 (the Rust
`ammonia` sanitizer) then keeps only the tags and attributes listed here and links to
http, https and mailto, as a second guard. Pure Python: no Django.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

MAX_LENGTH = 20_000  # characters of Markdown

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
URL_SCHEMES = {"http", "https", "mailto"}

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


class NoteTooLong(ValueError):
    """A note longer than MAX_LENGTH characters."""


def checked(text: str) -> str:
    """Return a note as it is stored: line ends as \\n, trailing space trimmed.

    Raises NoteTooLong past MAX_LENGTH characters, and ValueError for a NUL character
    (PostgreSQL text cannot hold it).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if len(text) > MAX_LENGTH:
        raise NoteTooLong(f"a note has at most {MAX_LENGTH} characters, got {len(text)}")
    if "\x00" in text:
        raise ValueError("a note may not contain the NUL character")
    return text


def render(text: str) -> str:
    """Return a note's Markdown as sanitized HTML ("" for an empty note)."""
    if not text.strip():
        return ""
    html = _MARKDOWN.render(text)
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
