"""A user's hand on a running sweep: pause, resume, retry failed trials, change concurrency.

Members and admins of the sweep's team act (scheduler.access.can_control); viewers get 403.
An action that does not apply to the sweep as it stands answers 409 with the reason.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import access, control
from scheduler.models import Sweep

from . import serializers as s
from .auth import require_sweep, require_trial
from .errors import Conflict


class PauseInput(serializers.Serializer):
    requeue = serializers.BooleanField(
        default=False,
        help_text="also stop the running trials and send them back to pending (a new attempt "
        "each); otherwise they run to their end",
    )


class ResumeInput(serializers.Serializer):
    retry_failed = serializers.BooleanField(
        default=False, help_text="also retry every failed or lost trial as a new attempt"
    )


class RetryInput(serializers.Serializer):
    trials = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, min_length=1,
        max_length=10_000, help_text="trial ids; without it, every failed trial of the rung",
    )  # fmt: skip
    bracket = serializers.IntegerField(min_value=0, required=False)
    rung = serializers.IntegerField(min_value=0, required=False)


class RetriedSerializer(serializers.Serializer):
    sweep = s.SweepSerializer()
    retried = serializers.ListField(child=serializers.IntegerField())


class ConcurrencyInput(serializers.Serializer):
    concurrency = serializers.IntegerField(
        help_text="trials queued or running at once, from 1 to 10000; applied at once"
    )


def controlled(request, pk: int):
    """Return the sweep a member or admin acts on; 404 when invisible, 403 otherwise."""
    found = require_sweep(request.user, pk, access.MEMBER)
    if not access.can_control(found):
        raise exceptions.PermissionDenied("only members and admins act on a sweep")
    return found.sweep


def answer(sweep_id: int, act) -> Response:
    """Run a control action; its ControlError is a 409; answer with the sweep as it is now."""
    try:
        act()
    except control.ControlError as exc:
        raise Conflict(str(exc)) from exc
    sweep = Sweep.objects.get(pk=sweep_id)
    return Response(s.SweepSerializer(sweep).data)


class SweepPause(APIView):
    """Pause a sweep: nothing new starts; running trials finish, or with `requeue` are
    stopped and requeued. Rungs that finish meanwhile are still promoted."""

    @extend_schema(request=PauseInput, responses=s.SweepSerializer)
    def post(self, request, pk: int):
        sweep = controlled(request, pk)
        data = s.valid(PauseInput, request.data)
        return answer(pk, lambda: control.pause(sweep.pk, request.user, data["requeue"]))


class SweepResume(APIView):
    """Resume a paused sweep where its plan stands, or a stopped or failed one as a new run of
    its remaining plan (finished trials are kept)."""

    @extend_schema(request=ResumeInput, responses=s.SweepSerializer)
    def post(self, request, pk: int):
        sweep = controlled(request, pk)
        data = s.valid(ResumeInput, request.data)
        return answer(pk, lambda: control.resume(sweep.pk, request.user, data["retry_failed"]))


class SweepRetry(APIView):
    """Retry failed or lost trials as new attempts: the given `trials`, or every one of a
    `bracket` and `rung` (or of the sweep). Their rung is promoted only once they end."""

    @extend_schema(request=RetryInput, responses=RetriedSerializer)
    def post(self, request, pk: int):
        sweep = controlled(request, pk)
        data = s.valid(RetryInput, request.data)
        try:
            retried = control.retry(
                sweep.pk, request.user, data.get("trials"), data.get("bracket"), data.get("rung")
            )
        except control.ControlError as exc:
            raise Conflict(str(exc)) from exc
        sweep.refresh_from_db()
        return Response({"sweep": s.SweepSerializer(sweep).data, "retried": retried})


class SweepConcurrency(APIView):
    """Change how many trials of a running sweep are queued or running at once."""

    @extend_schema(request=ConcurrencyInput, responses=s.SweepSerializer)
    def post(self, request, pk: int):
        sweep = controlled(request, pk)
        data = s.valid(ConcurrencyInput, request.data)
        return answer(
            pk, lambda: control.set_concurrency(sweep.pk, data["concurrency"], request.user)
        )


class TrialRetry(APIView):
    """Retry one failed or lost trial as a new attempt."""

    @extend_schema(request=None, responses=s.TrialDetailSerializer)
    def post(self, request, pk: int):
        trial = require_trial(request.user, pk, access.MEMBER)
        controlled(request, trial.sweep_id)
        try:
            control.retry(trial.sweep_id, request.user, [trial.pk])
        except control.ControlError as exc:
            raise Conflict(str(exc)) from exc
        trial.refresh_from_db()
        return Response(s.TrialDetailSerializer(trial).data)
