"""The sweep page's share links, export downloads and delete control."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import deletion, export, sharing
from scheduler.models import ShareLink

from .pageaccess import resolve, sweep_page

EXPIRY_DAYS = {"": None, "1": 1, "7": 7, "30": 30}


@require_POST
@sweep_page(acl.MEMBER)
def link_create(request: HttpRequest, found: acl.Access) -> HttpResponse:
    """Create a read-only link, expiring after `expires_days` (1, 7, 30) or never."""
    days = EXPIRY_DAYS.get(request.POST.get("expires_days", ""))
    expires = timezone.now() + timedelta(days=days) if days else None
    sharing.create_link(found.sweep, request.user, expires)
    messages.success(request, "Share link created: copy it from the Share panel.")
    return redirect("sweep-detail", found.sweep.pk)


@require_POST
def link_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = ShareLink.objects.filter(pk=link_id).first()
    if link is None or not request.user.is_authenticated:
        raise Http404("No such link")
    resolve(request, link.sweep_id, acl.MEMBER)
    sharing.revoke_link(link)
    messages.success(request, "Share link revoked; anyone viewing through it was cut off.")
    return redirect("sweep-detail", link.sweep_id)


@sweep_page()
def sweep_export(request: HttpRequest, found: acl.Access, fmt: str) -> HttpResponse:
    """Download a sweep's trials (CSV, JSON), best config or sweep YAML."""
    if fmt not in export.FORMATS:
        raise Http404("No such export")
    sweep = found.sweep
    response = HttpResponse(export.export(sweep, fmt), content_type=export.FORMATS[fmt][0])
    response["Content-Disposition"] = f'attachment; filename="{export.filename(sweep, fmt)}"'
    return response


@require_POST
@sweep_page(acl.MEMBER)
def sweep_delete(request: HttpRequest, found: acl.Access) -> HttpResponse:
    if not acl.can_delete(found, request.user):
        raise Http404("No such sweep")
    deletion.delete_sweep(found.sweep.pk)
    messages.success(request, f"Deleted sweep {found.sweep.name} (#{found.sweep.pk}).")
    return redirect("sweep-list")
