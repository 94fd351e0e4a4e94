"""Sweep endpoints: create, list, detail, stop, clone, plan, events; and the plan preview."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from scheduler import access, annotating, catalog, deletion, stored, sweeps

from . import serializers as s
from .auth import require_sweep, require_team
from .errors import Conflict
from .parsers import YAML_PARSERS

YAML_BODY = {
    "application/json": s.SweepInput,
    "multipart/form-data": s.SweepInput,
    "application/yaml": OpenApiTypes.STR,
    "text/yaml": OpenApiTypes.STR,
}


def created(request, sweep) -> Response:
    """Answer 201 with a new sweep's detail and its URL."""
    url = reverse("api:sweep-detail", args=[sweep.pk], request=request)
    body = s.SweepDetailSerializer(s.with_progress(sweep)).data
    return Response(body, status=status.HTTP_201_CREATED, headers={"Location": url})


class SweepList(generics.ListAPIView):
    """The sweeps of the caller's teams, newest first, found by words in the name or tags
    (`q`), a tag, status, owner or team; POST YAML to create one."""

    serializer_class = s.SweepSerializer
    parser_classes = YAML_PARSERS

    def get_queryset(self):
        query = s.valid(s.SweepFilter, self.request.query_params)
        sweeps = access.visible_sweeps(self.request.user).select_related("team", "owner")
        return catalog.search(sweeps, catalog.SweepSearch.from_query(query))

    @extend_schema(parameters=[s.SweepFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=YAML_BODY, responses={201: s.SweepDetailSerializer})
    def post(self, request):
        data = s.valid(s.SweepInput, s.yaml_request(request))
        team = require_team(request.user, data.get("team"))
        sweep = sweeps.create_sweep(
            data["yaml"], team=team, owner=request.user, name=data.get("name")
        )
        return created(request, sweep)


class SweepDetail(APIView):
    """A sweep's status, plan, trial counts per bracket/rung/status, decisions and best trial."""

    @extend_schema(responses=s.SweepDetailSerializer)
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk).sweep
        return Response(s.SweepDetailSerializer(s.with_progress(sweep)).data)

    @extend_schema(request=s.AnnotationInput, responses=s.SweepDetailSerializer)
    def patch(self, request, pk: int):
        """Set a sweep's tags and/or Markdown note (members and admins of its team)."""
        sweep = require_sweep(request.user, pk, access.ANNOTATE).sweep
        data = s.valid(s.AnnotationInput, request.data)
        annotating.annotate(
            sweep.pk, request.user, new_tags=data.get("tags"), note=data.get("note")
        )
        sweep.refresh_from_db()
        return Response(s.SweepDetailSerializer(s.with_progress(sweep)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        """Delete a sweep (members: their own; admins: any), stopping it first if it runs."""
        found = require_sweep(request.user, pk, access.MEMBER)
        if not access.can_delete(found, request.user):
            raise exceptions.PermissionDenied("members may delete only the sweeps they own")
        deletion.delete_sweep(found.sweep.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SweepStop(APIView):
    """Stop a created or running sweep and every trial it has not finished."""

    @extend_schema(request=None, responses=s.SweepSerializer)
    def post(self, request, pk: int):
        sweep = require_sweep(request.user, pk, access.MEMBER).sweep
        stopped = sweeps.stop_sweep(sweep.pk)
        sweep.refresh_from_db()
        if not stopped:
            raise Conflict(f"sweep {pk} is {sweep.status}; only an active sweep can be stopped")
        return Response(s.SweepSerializer(sweep).data)


class SweepClone(APIView):
    """Create a sweep from this one's YAML (or an edited `yaml`), in its team, owned by you."""

    parser_classes = YAML_PARSERS

    @extend_schema(request=s.CloneInput, responses={201: s.SweepDetailSerializer})
    def post(self, request, pk: int):
        source = require_sweep(request.user, pk, access.MEMBER).sweep
        data = s.valid(s.CloneInput, s.yaml_request(request))
        sweep = sweeps.create_sweep(
            data.get("yaml", source.yaml),
            team=source.team,
            owner=request.user,
            name=data.get("name") or source.name,
        )
        return created(request, sweep)


class SweepPlan(APIView):
    """A sweep's bracket plan, as JSON and as a text table."""

    @extend_schema(responses=s.PlanSerializer)
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk).sweep
        return Response(s.plan_body(stored.spec_of(sweep)))


class SweepEvents(APIView):
    """A sweep's events with seq > `after`, in order: how a client catches up."""

    @extend_schema(parameters=[s.EventsQuery], responses=s.EventsSerializer)
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk).sweep
        query = s.valid(s.EventsQuery, request.query_params)
        return Response(s.events_after(sweep, query["after"], query["limit"]))


class PlanPreview(APIView):
    """Validate sweep YAML and return its plan without creating a sweep."""

    parser_classes = YAML_PARSERS

    @extend_schema(request=YAML_BODY, responses=s.PlanSerializer)
    def post(self, request):
        data = s.valid(s.YamlInput, s.yaml_request(request))
        return Response(s.plan_body(stored.validate(data["yaml"])))
