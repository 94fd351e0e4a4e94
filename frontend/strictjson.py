"""The dashboard's JSON responses: strict JSON, non-finite numbers in their string form.

Django's JsonResponse writes NaN and infinities as bare `NaN`/`Infinity`, which is not JSON
and which a browser's JSON.parse refuses; this one writes "NaN", "Infinity" and "-Infinity"
(see scheduler.metric_values) and refuses anything else that is not JSON.
"""

from __future__ import annotations

from typing import Any

from django import http

from scheduler import metric_values


class JsonResponse(http.JsonResponse):
    def __init__(self, data: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_dumps_params", {})["allow_nan"] = False
        super().__init__(metric_values.wire_tree(data), **kwargs)
