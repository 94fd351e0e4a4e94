"""Signal handlers: every new user gets a personal team."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .access import personal_team


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="hbsite.personal-team")
def give_personal_team(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Create the personal team of a user who was just created."""
    if created and not raw:
        personal_team(instance)
