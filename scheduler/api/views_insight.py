"""Hyperparameter importance of a sweep, and trials or sweeps compared side by side."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import analysis, compare

from . import serializers as s
from . import serializers_insight as si
from .auth import require_sweep


class SweepImportance(APIView):
    """Which params explain the ranking metric at one rung, with slice points.

    `available` is false, with a `reason`, when the rung has fewer than `min_trials` usable
    trials, the sweep has no ranking metric, or the server lacks scikit-learn
    (`pip install 'hbsite[analysis]'`). `pending` is true while the scheduler computes it
    (after a trial at that rung finished): ask again in a few seconds.
    """

    @extend_schema(parameters=[si.ImportanceQuery], responses=si.ImportanceSerializer)
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk).sweep
        query = s.valid(si.ImportanceQuery, request.query_params)
        return Response(analysis.sweep_importance(sweep, query.get("resource")))


def picked(request, bounds: tuple[int, int], what: str) -> list[int]:
    """Read `?ids=` or answer 400 with what is wrong with it."""
    query = s.valid(si.CompareQuery, request.query_params)
    try:
        return compare.pick(query["ids"], bounds, what)
    except compare.BadPick as error:
        raise exceptions.ValidationError({"ids": [str(error)]}) from None


class CompareTrials(APIView):
    """2–10 trials side by side: facts, params and every metric's curve (thinned)."""

    @extend_schema(parameters=[si.CompareQuery], responses=si.TrialCompareSerializer)
    def get(self, request):
        ids = picked(request, compare.TRIALS, "trial")
        chosen = compare.readable_trials(request.user, ids)
        if chosen is None:
            raise exceptions.NotFound("one or more of these trials not found")
        return Response(compare.trials(chosen))


class CompareSweeps(APIView):
    """2–5 sweeps side by side: plans, matrices, best values and best so far against resource."""

    @extend_schema(parameters=[si.CompareQuery], responses=si.SweepCompareSerializer)
    def get(self, request):
        ids = picked(request, compare.SWEEPS, "sweep")
        chosen = compare.readable_sweeps(request.user, ids)
        if chosen is None:
            raise exceptions.NotFound("one or more of these sweeps not found")
        return Response(compare.sweeps(chosen))
