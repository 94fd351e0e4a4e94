"""The API's JSON: strict JSON, with every non-finite number in its string form.

DRF's renderer refuses NaN and infinities (they are not JSON) with a server error; here they
are written as "NaN", "Infinity" and "-Infinity" (see scheduler.metric_values), wherever they
sit in a response.
"""

from __future__ import annotations

from rest_framework import renderers

from scheduler import metric_values


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        return super().render(metric_values.wire_tree(data), accepted_media_type, renderer_context)
