"""Read-only share links: create, list and revoke; revoking closes the link's open sockets."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import events
from .access import share_token
from .models import ShareLink, Sweep


def create_link(sweep: Sweep, user, expires_at: datetime | None = None) -> ShareLink:
    """Create a read-only link to a sweep, valid until `expires_at` (or until revoked)."""
    return ShareLink.objects.create(sweep=sweep, created_by=user, expires_at=expires_at)


def links_of(sweep: Sweep):
    """Return a sweep's share links, newest first."""
    return sweep.share_links.select_related("created_by").order_by("-created_at", "-id")


def share_path(link: ShareLink) -> str:
    """Return the sweep page path that opens through this link."""
    return f"/sweeps/{link.sweep_id}/?share={share_token(link)}"


@transaction.atomic
def revoke_link(link: ShareLink) -> bool:
    """Revoke a link and, once committed, close every socket opened through it."""
    updated = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    link.refresh_from_db(fields=["revoked_at"])
    events.close_share_link(link.pk)
    return bool(updated)
