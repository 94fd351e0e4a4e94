"""Export endpoint: a sweep's trials as CSV or JSON, its best config or itself as YAML."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from scheduler import export

from .auth import require_sweep
from .errors import BadRequest

FORMAT = OpenApiParameter("format", str, enum=list(export.FORMATS), default="csv")


def download(sweep, fmt: str) -> HttpResponse:
    """Answer an export as a file download."""
    content_type, _ = export.FORMATS[fmt]
    response = HttpResponse(export.export(sweep, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename(sweep, fmt)}"'
    return response


class FirstRenderer(DefaultContentNegotiation):
    """Ignore `?format=`, which DRF would read as a renderer name: here it names the export."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SweepExport(APIView):
    """Download a sweep's trials (`csv`, `json`), best config (`best-yaml`) or YAML (`yaml`)."""

    content_negotiation_class = FirstRenderer

    @extend_schema(parameters=[FORMAT], responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk).sweep
        fmt = request.query_params.get("format", "csv")
        if fmt not in export.FORMATS:
            raise BadRequest(f"unknown format {fmt!r}; use one of {', '.join(export.FORMATS)}")
        return download(sweep, fmt)
