"""Every model in the Django admin (/admin/), for operators.

What the scheduler owns (sweeps, configs, trials, decisions, metrics, events) is read-only
here: its state changes only through the scheduling step, which keeps the event log and the
live pages in step. Operators stop or delete sweeps and revoke tokens and share links with
actions that go through the same functions as the API. Teams and memberships are editable.
Webhooks and their deliveries are read-only (their secret never shown); team admins manage
webhooks on the team page and through the API.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import deletion, sharing, sweeps
from .models import (
    ApiToken,
    Config,
    Event,
    Membership,
    MetricPoint,
    RungDecision,
    RunnerToken,
    ShareLink,
    Sweep,
    Team,
    Trial,
    TrialAttempt,
)
from .models_webhooks import Delivery, Webhook


class ReadOnly(admin.ModelAdmin):
    """View-only: no add, no change, no delete. Its actions need the model's change
    permission (`operate`), which superusers have."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "personal", "created_at")
    list_filter = ("personal",)
    search_fields = ("name",)
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("team", "user", "role")
    list_filter = ("role",)
    search_fields = ("team__name", "user__username")
    raw_id_fields = ("team", "user")


@admin.register(ApiToken, RunnerToken)
class TokenAdmin(ReadOnly):
    """API tokens and runner tokens: the same columns, and a revoke action."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("name", "user__username", "prefix")
    exclude = ("key_hash",)
    actions = ("revoke",)

    @admin.action(permissions=["operate"], description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken | RunnerToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked")


@admin.register(Sweep)
class SweepAdmin(ReadOnly):
    list_display = ("id", "name", "team", "owner", "status", "algorithm", "concurrency",
                    "created_at", "started_at", "finished_at")  # fmt: skip
    list_filter = ("status", "algorithm", "team", "created_at")
    list_select_related = ("team", "owner")
    search_fields = ("name", "owner__username", "team__name", "tags")
    date_hierarchy = "created_at"
    actions = ("stop", "delete_sweeps")

    @admin.action(permissions=["operate"], description="Stop the selected sweeps")
    def stop(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        reason = "stopped by an operator"
        stopped = sum(sweeps.stop_sweep(pk, reason=reason) for pk in ids(queryset))
        self.message_user(request, f"{stopped} sweep(s) stopped")

    @admin.action(permissions=["operate"], description="Stop and delete the selected sweeps")
    def delete_sweeps(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        chosen = ids(queryset)
        for pk in chosen:
            deletion.delete_sweep(pk)
        self.message_user(request, f"{len(chosen)} sweep(s) deleted")


def ids(queryset: QuerySet) -> list[int]:
    return list(queryset.values_list("pk", flat=True))


@admin.register(Config)
class ConfigAdmin(ReadOnly):
    list_display = ("id", "sweep", "bracket", "index", "params")
    list_filter = ("bracket",)
    list_select_related = ("sweep",)
    search_fields = ("sweep__name",)
    raw_id_fields = ("sweep",)


@admin.register(Trial)
class TrialAdmin(ReadOnly):
    list_display = ("id", "number", "sweep", "bracket", "rung", "resource", "status",
                    "metric_value", "attempt", "promoted", "runner", "worker", "queued_at",
                    "started_at", "finished_at")  # fmt: skip
    list_filter = ("status", "promoted", "bracket", "rung", "attempt")
    list_select_related = ("sweep",)
    search_fields = ("sweep__name", "runner", "worker", "command")
    exclude = ("token_hash",)
    show_full_result_count = False


@admin.register(RungDecision)
class RungDecisionAdmin(ReadOnly):
    list_display = ("sweep", "bracket", "rung", "promoted", "cutoff", "decided_at", "reopened")
    list_filter = ("bracket", "rung", "reopened")
    list_select_related = ("sweep",)


@admin.register(TrialAttempt)
class TrialAttemptAdmin(ReadOnly):
    list_display = ("trial", "number", "status", "why", "exit_code", "metric_value",
                    "started_at", "finished_at")  # fmt: skip
    list_filter = ("status",)
    list_select_related = ("trial",)
    search_fields = ("=trial__id", "why")


@admin.register(MetricPoint)
class MetricPointAdmin(ReadOnly):
    list_display = ("trial", "name", "step", "value", "created_at")
    list_filter = ("name",)
    list_select_related = ("trial",)
    search_fields = ("=trial__id", "name")
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(ReadOnly):
    list_display = ("sweep", "seq", "kind", "created_at")
    list_filter = ("kind",)
    list_select_related = ("sweep",)
    search_fields = ("sweep__name", "kind")
    show_full_result_count = False


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnly):
    list_display = ("id", "sweep", "created_by", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    list_select_related = ("sweep", "created_by")
    exclude = ("nonce",)
    actions = ("revoke",)

    @admin.action(permissions=["operate"], description="Revoke the selected links")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        revoked = sum(sharing.revoke_link(link) for link in queryset)
        self.message_user(request, f"{revoked} link(s) revoked")


@admin.register(Webhook)
class WebhookAdmin(ReadOnly):
    list_display = ("id", "name", "team", "active", "events", "created_by", "created_at")
    list_filter = ("active", "team")
    search_fields = ("name",)
    exclude = ("secret",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ("id", "webhook", "kind", "status", "attempts", "status_code", "created_at")
    list_filter = ("status", "kind", "created_at")
