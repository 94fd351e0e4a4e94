"""Editing a sweep's tags and Markdown note from its page (members and admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import annotating, tags

from .pageaccess import sweep_page
from .queries.sweep import sweep_notes
from .strictjson import JsonResponse


@require_POST
@sweep_page(acl.ANNOTATE)
def sweep_notes_edit(request: HttpRequest, found: acl.Access) -> HttpResponse:
    """Save the form's tags (comma-separated) and note; answer JSON when asked for it."""
    wants_json = request.headers.get("Accept") == "application/json"
    back = reverse("sweep-detail", args=[found.sweep.pk]) + "#notes"
    new_tags = tags.split(request.POST.get("tags", ""))
    try:
        sweep = annotating.annotate(
            found.sweep.pk, request.user, new_tags=new_tags, note=request.POST.get("note", "")
        )
    except ValueError as exc:  # a bad tag, a note too long: nothing was stored
        if wants_json:
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, f"Tags and note not saved: {exc}")
        return redirect(back)
    if not wants_json:
        return redirect(back)
    fresh = acl.Access(sweep=sweep or found.sweep, role=found.role)
    context = {"notes": sweep_notes(fresh)}
    return JsonResponse({"notes": render_to_string("frontend/_sweep_notes.html", context, request)})
