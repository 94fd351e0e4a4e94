"""Members edit a sweep's tags and note; each edit is an event, so pages follow it live."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from . import events, notes, tags
from .models import Sweep
from .sweeps import lock_sweep


@transaction.atomic
def annotate(
    sweep_id: int, user, *, new_tags: list[object] | None = None, note: str | None = None
) -> Sweep | None:
    """Replace a sweep's tags (checked by `tags.clean`) and/or its Markdown note (checked by
    `notes.checked`), in one transaction, logging who did it with a tags_changed or
    note_changed event when something changed. None (given) leaves that part alone.

    Returns the sweep, or None when it is gone. Raises tags.TagError, notes.NoteTooLong or
    ValueError before anything is stored.
    """
    cleaned = tags.clean(new_tags) if new_tags is not None else None
    text = notes.checked(note) if note is not None else None
    sweep = lock_sweep(sweep_id)
    if sweep is None:
        return None
    by = user.get_username() if user is not None and user.is_authenticated else ""
    if cleaned is not None and cleaned != sweep.tags:
        sweep.tags = cleaned
        sweep.save(update_fields=["tags"])
        events.emit(sweep, events.TAGS_CHANGED, {"tags": cleaned, "by": by})
    if text is not None and text != sweep.note:
        sweep.note, sweep.note_updated_at = text, timezone.now()
        sweep.note_updated_by = user if by else None
        sweep.save(update_fields=["note", "note_updated_at", "note_updated_by"])
        events.emit(sweep, events.NOTE_CHANGED, {"length": len(text), "by": by})
    return sweep
