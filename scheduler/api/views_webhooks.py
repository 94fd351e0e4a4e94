"""Team webhook endpoints: list and make a team's webhooks, change, delete and test one, and
read its delivery log. Admins manage; every member of the team reads (see access.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import access, webhooks
from scheduler.models import Delivery, Team, Webhook
from scheduler.models_webhooks import WebhookEvent

from . import auth
from .errors import BadRequest
from .serializers import valid


class WebhookInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2000, help_text="http:// or https:// only")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.values),
        required=False,
        help_text="default: sweep.succeeded, sweep.failed, sweep.early_stopped",
    )


class WebhookChange(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    active = serializers.BooleanField(required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.values), required=False
    )


class WebhookSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="admins: the URL; others: its host")

    class Meta:
        model = Webhook
        fields = ["id", "team", "name", "url", "events", "active", "created_at"]

    def get_url(self, hook: Webhook) -> str:
        return hook.url if self.context.get("admin") else webhooks.shown_url(hook.url)


class NewWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="whsec_...: shown only in this answer")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="kind")
    webhook_name = serializers.CharField(source="webhook.name")
    log = serializers.JSONField(help_text="each attempt: at, status_code, error, ms")

    class Meta:
        model = Delivery
        fields = ["id", "webhook", "webhook_name", "message_id", "event", "event_type"]
        fields += ["status", "attempts", "status_code", "error", "log", "created_at"]
        fields += ["finished_at"]


def require_team(user, team_id: int, need: str) -> Team:
    """Return a team the caller belongs to; 404 outside it, 403 when the role is short."""
    doing = "managing webhooks" if need == access.WEBHOOK_MANAGE else "reading webhooks"
    return auth.require_team(user, team_id, need, doing)


def require_webhook(user, webhook_id: int, need: str) -> Webhook:
    hook = Webhook.objects.filter(pk=webhook_id).first()
    if hook is None or access.team_role(user, hook.team_id) is None:
        raise exceptions.NotFound(f"webhook {webhook_id} not found")
    require_team(user, hook.team_id, need)
    return hook


def refused(error: webhooks.WebhookError) -> BadRequest:
    return BadRequest(f"webhook refused: {error}")


class TeamWebhooks(APIView):
    """A team's webhooks (any member reads); POST makes one (admins) and returns its secret,
    which is never shown again."""

    @extend_schema(responses=WebhookSerializer(many=True))
    def get(self, request, pk: int):
        team = require_team(request.user, pk, access.WEBHOOK_READ)
        admin = access.can_manage_webhooks(request.user, pk)
        hooks = webhooks.webhooks_of(team)
        return Response(WebhookSerializer(hooks, many=True, context={"admin": admin}).data)

    @extend_schema(request=WebhookInput, responses={201: NewWebhookSerializer})
    def post(self, request, pk: int):
        team = require_team(request.user, pk, access.WEBHOOK_MANAGE)
        data = valid(WebhookInput, request.data)
        try:
            hook, secret = webhooks.create_webhook(
                team, request.user, data["name"], data["url"], data.get("events")
            )
        except webhooks.WebhookError as error:
            raise refused(error) from None
        hook.secret = secret
        body = NewWebhookSerializer(hook, context={"admin": True}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetail(APIView):
    """One webhook (any member reads); PATCH changes its name, events or `active`, DELETE
    removes it with its log (admins)."""

    @extend_schema(responses=WebhookSerializer)
    def get(self, request, pk: int):
        hook = require_webhook(request.user, pk, access.WEBHOOK_READ)
        admin = access.can_manage_webhooks(request.user, hook.team_id)
        return Response(WebhookSerializer(hook, context={"admin": admin}).data)

    @extend_schema(request=WebhookChange, responses=WebhookSerializer)
    def patch(self, request, pk: int):
        hook = require_webhook(request.user, pk, access.WEBHOOK_MANAGE)
        try:
            webhooks.change_webhook(hook, **valid(WebhookChange, request.data))
        except webhooks.WebhookError as error:
            raise refused(error) from None
        return Response(WebhookSerializer(hook, context={"admin": True}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        require_webhook(request.user, pk, access.WEBHOOK_MANAGE).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTest(APIView):
    """Send a test message (type `webhook.test`) to a webhook, even a disabled one (admins)."""

    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request, pk: int):
        hook = require_webhook(request.user, pk, access.WEBHOOK_MANAGE)
        delivery = webhooks.send_test(hook)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveries(APIView):
    """A webhook's newest deliveries, newest first, with every attempt (any member)."""

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="at most 200; default 50")],
        responses=DeliverySerializer(many=True),
    )
    def get(self, request, pk: int):
        hook = require_webhook(request.user, pk, access.WEBHOOK_READ)
        limit = valid(LimitInput, request.query_params)["limit"]
        rows = hook.deliveries.select_related("webhook").order_by("-created_at", "-id")[:limit]
        return Response(DeliverySerializer(rows, many=True).data)


class LimitInput(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=200)
