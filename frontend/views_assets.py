"""Plotly's JavaScript, served from the installed `plotly` package (no npm, no CDN)."""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_GET

YEAR = 365 * 24 * 3600


@functools.cache
def plotly_bundle() -> tuple[bytes, bytes, str]:
    """Return plotly.min.js, its gzipped form and its ETag (read once per process)."""
    raw = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


@require_GET
def plotly_js(request: HttpRequest) -> HttpResponse:
    raw, packed, etag = plotly_bundle()
    quoted = f'"{etag}"'
    if request.headers.get("If-None-Match") == quoted:
        return HttpResponseNotModified()
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(packed if gzipped else raw, content_type="text/javascript")
    if gzipped:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["ETag"] = quoted
    response["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


def plotly_url() -> str:
    """Return the bundle's URL, versioned so browsers may cache it for a year."""
    from django.urls import reverse
    from plotly import __version__

    return f"{reverse('plotly-js')}?v={__version__}"
