"""Trial endpoints: list with filters, detail, kill, and metrics (read, and ingest by token)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import access, metrics, results, trials
from scheduler.models import Trial, TrialStatus

from . import serializers as s
from .auth import (
    BearerTokenAuthentication,
    TrialTokenAuthentication,
    TrialTokenOrUser,
    require_sweep,
    require_trial,
)
from .errors import Conflict
from .parsers import METRICS_PARSERS


def filtered_trials(user, params) -> QuerySet[Trial]:
    """Return the visible trials matching the `sweep`, `status`, `bracket`, `rung` filters."""
    query = s.valid(s.TrialFilter, params)
    sweep_id = query.pop("sweep", None)
    if sweep_id is not None:
        rows = Trial.objects.filter(sweep=require_sweep(user, sweep_id).sweep)
    else:
        rows = Trial.objects.filter(sweep__in=access.visible_sweeps(user))
    return rows.filter(**query).select_related("config").order_by("id")


def metrics_target(request, trial_id: int) -> Trial:
    """Return the running trial a metrics POST is for: by its token, or for a team member."""
    if isinstance(request.auth, Trial):
        trial = request.auth
    else:
        trial = require_trial(request.user, trial_id, access.MEMBER)
    if trial.status == TrialStatus.RUNNING:
        return trial
    if trial.has_ended:
        raise Conflict(f"trial {trial.pk} is {trial.status}; it no longer accepts metrics")
    raise Conflict(f"trial {trial.pk} is {trial.status}; it accepts metrics once it runs")


class TrialList(generics.ListAPIView):
    """The trials of the caller's sweeps, filtered by sweep, status, bracket and rung."""

    serializer_class = s.TrialSerializer

    def get_queryset(self):
        return filtered_trials(self.request.user, self.request.query_params)

    @extend_schema(parameters=[s.TrialFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TrialDetail(APIView):
    """A trial with its command, output tails, error and lineage across rungs."""

    @extend_schema(responses=s.TrialDetailSerializer)
    def get(self, request, pk: int):
        return Response(s.TrialDetailSerializer(require_trial(request.user, pk)).data)


class TrialKill(APIView):
    """Stop one trial that has not ended; its runner terminates the process."""

    @extend_schema(request=None, responses=s.TrialSerializer)
    def post(self, request, pk: int):
        trial = require_trial(request.user, pk, access.MEMBER)
        killed = trials.kill(trial.pk)
        trial.refresh_from_db()
        if not killed:
            raise Conflict(f"trial {pk} is {trial.status}; it has already ended")
        return Response(s.TrialSerializer(trial).data)


class TrialMetrics(APIView):
    """GET a trial's metric series (downsampled with `limit`); POST points to a running trial.

    POST takes one point `{name, value, step?}` or a batch `{"points": [...]}`, authenticated
    with `Authorization: Trial <token>` or as a member of the sweep's team. A missing step is
    the trial's resource. A value is a number or "NaN", "Infinity" or "-Infinity". The whole
    batch is checked before anything is stored; a refused batch is also counted on the trial.
    """

    authentication_classes = [
        TrialTokenAuthentication,
        BearerTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [TrialTokenOrUser]
    parser_classes = METRICS_PARSERS

    @extend_schema(parameters=[s.SeriesQuery], responses=s.MetricsSerializer)
    def get(self, request, pk: int):
        trial = require_trial(request.user, pk)
        query = s.valid(s.SeriesQuery, request.query_params)
        series = results.series([trial.pk], query.get("name"), query["limit"])
        return Response({"metrics": series.get(trial.pk, {})})

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="MetricsInput",
            serializers=[s.PointInput, s.BatchInput],
            resource_type_field_name=None,
        ),
        responses={201: s.StoredSerializer},
    )
    def post(self, request, pk: int):
        trial = metrics_target(request, pk)
        try:
            points = s.metric_points(request.data, trial.resource)
        except metrics.MetricError as exc:
            refused = s.batch_size(request.data)
            metrics.reject(trial.pk, [f"API request of {refused} point(s): {exc}"], refused)
            raise
        if not metrics.record(trial, points):
            raise Conflict(
                f"trial {trial.pk} ended or moved on to another attempt; it no longer accepts "
                "these metrics"
            )
        return Response({"trial": trial.pk, "stored": len(points)}, status=status.HTTP_201_CREATED)
