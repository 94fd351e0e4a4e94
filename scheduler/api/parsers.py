"""Request body parsers: raw YAML, and a size limit checked before any body is read.

DRF's parsers read a body of any size, and Django's DATA_UPLOAD_MAX_MEMORY_SIZE only guards
form fields, so every parser the API uses is wrapped by `limited`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser

from scheduler import intake

from .errors import too_large


class YamlParser(BaseParser):
    """A raw YAML body; `request.data` is its text."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        try:
            return intake.decode(stream.read(), "the YAML body")
        except intake.TooLarge as exc:
            raise too_large("the sweep YAML", exc.size, exc.limit) from None
        except intake.IntakeError as exc:
            raise ParseError(str(exc)) from None


class TextYamlParser(YamlParser):
    media_type = "text/yaml"


def limited(parser: type[BaseParser], limit: Callable[[], int]) -> type[BaseParser]:
    """Return `parser` refusing a body over `limit()` bytes before reading it."""

    def parse(self, stream, media_type=None, parser_context=None):
        size = int(parser_context["request"].META.get("CONTENT_LENGTH") or 0)
        if size > limit():
            raise too_large("the request body", size, limit())
        try:
            return parser.parse(self, stream, media_type, parser_context)
        except RecursionError:  # json nests deeper than Python's stack allows
            raise ParseError("the request body nests too deeply") from None

    return type(parser.__name__, (parser,), {"parse": parse})


def yaml_body_limit() -> int:
    # The YAML itself plus room for a JSON or multipart envelope; the text is checked after.
    return 2 * settings.HBSITE_MAX_YAML_BYTES + 64 * 1024


def metrics_body_limit() -> int:
    # A generous 256 bytes per point: a point with a 100-character name takes about 160.
    return 256 * settings.HBSITE_MAX_METRIC_BATCH


YAML_PARSERS = [
    limited(parser, yaml_body_limit)
    for parser in (JSONParser, MultiPartParser, YamlParser, TextYamlParser)
]
METRICS_PARSERS = [limited(JSONParser, metrics_body_limit)]
