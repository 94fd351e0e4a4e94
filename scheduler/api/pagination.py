"""Pagination with bounds: `limit` at most MAX_LIMIT, `offset` at most MAX_OFFSET.

DRF's LimitOffsetPagination passes any integer to the database, where an offset beyond a
64-bit integer fails; here both are clamped instead.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
MAX_OFFSET = 2**53


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
