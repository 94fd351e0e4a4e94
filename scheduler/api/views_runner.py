"""The runner endpoints: a runner on another machine claims and reports on trial attempts.

Only a runner token (`Authorization: Bearer hbr_...`) opens them, and it opens nothing
else. Each endpoint calls the same fenced function the local runner calls on the database
(scheduler.runner_db.start, scheduler.trials.heartbeat/finish/give_up, metrics.reject), so
a report of an attempt that is over changes nothing. Metric points go to the trial's own
metrics endpoint with the attempt's trial token (scheduler.api.views_trials.TrialMetrics).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import metrics, runner_db, trials
from scheduler.models import Trial, hash_secret

from . import serializers as s
from .auth import IsRunner, RunnerTokenAuthentication
from .errors import Conflict

CONFLICT = OpenApiResponse(description="the trial is not queued, or its sweep is not running")


def fence(trial_id: int, body: dict) -> trials.Fence:
    return trials.Fence(trial_id, body["attempt"], hash_secret(body["token"]))


class RunnerView(APIView):
    authentication_classes = [RunnerTokenAuthentication]
    permission_classes = [IsRunner]


class RunnerStart(RunnerView):
    """Claim a queued trial: the runner gets the attempt's number and trial token, params,
    resource, rendered command, checkpoint dir (under its data_dir), workdir and timeout.
    The trial records the runner's name."""

    @extend_schema(
        tags=["runners"],
        request=s.RunnerStartInput,
        responses={200: s.AssignmentSerializer, 409: CONFLICT},
    )
    def post(self, request, pk: int):
        body = s.valid(s.RunnerStartInput, request.data)
        found = runner_db.start(pk, body["worker"], body["runner"], body["data_dir"])
        if found is None:
            raise Conflict(f"trial {pk} is not queued for a runner, or its sweep is not running")
        return Response(s.AssignmentSerializer(found.as_dict()).data)


class RunnerHeartbeat(RunnerView):
    """Keep the attempt's lease and save its output tails; `stop` says to kill it now."""

    @extend_schema(tags=["runners"], request=s.HeartbeatInput, responses=s.HeartbeatSerializer)
    def post(self, request, pk: int):
        body = s.valid(s.HeartbeatInput, request.data)
        tails = body.get("stdout"), body.get("stderr")
        accepted = trials.heartbeat(fence(pk, body), body.get("pid"), *tails)
        return Response({"stop": not accepted})


class RunnerRejected(RunnerView):
    """Count output lines or points of the attempt that could not be read, with reasons."""

    @extend_schema(tags=["runners"], request=s.RejectedInput, responses=s.RecordedSerializer)
    def post(self, request, pk: int):
        body = s.valid(s.RejectedInput, request.data)
        held = fence(pk, body)
        current = Trial.objects.filter(pk=pk, attempt=held.attempt, token_hash=held.token_hash)
        recorded = current.exists()
        if recorded:
            metrics.reject(pk, body["reasons"], body["count"])
        return Response({"recorded": recorded})


class RunnerFinish(RunnerView):
    """Store how the attempt's process ended (exit code, error, output tails), or with
    `lease_lost` requeue it (the runner killed it for want of accepted heartbeats)."""

    @extend_schema(tags=["runners"], request=s.FinishInput, responses=s.RecordedSerializer)
    def post(self, request, pk: int):
        body = s.valid(s.FinishInput, request.data)
        held, error = fence(pk, body), body.get("error", "")
        if body["lease_lost"]:
            recorded = trials.give_up(held, error or "stopped heartbeating")
        else:
            tails = body.get("stdout", ""), body.get("stderr", "")
            recorded = trials.finish(held, body.get("exit_code"), error, *tails)
        return Response({"recorded": recorded})
