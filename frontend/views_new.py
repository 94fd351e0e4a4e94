"""The new-sweep page (paste, upload or clone YAML; preview; launch) and its validator."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from scheduler import intake

from .queries import editor
from .strictjson import JsonResponse

MAX_UPLOAD = 1024 * 1024


def uploaded_text(request: HttpRequest) -> str | None:
    upload = request.FILES.get("file")
    if upload is None or upload.size > MAX_UPLOAD:
        return None
    return upload.read().decode("utf-8", errors="replace")


def form_context(request: HttpRequest, text: str, **extra) -> dict:
    teams = editor.member_teams(request.user)
    return {
        "yaml": text,
        "teams": teams,
        "team_id": extra.pop("team_id", teams[0].pk),
        "name": extra.pop("name", ""),
        "validate_url": reverse("ui-validate"),
        **extra,
    }


@login_required
def new_sweep(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return submit(request)
    source = editor.clone_source(request.user, request.GET.get("clone"))
    text = source.yaml if source else editor.example()
    extra = {"source": source, "name": f"{source.name} (clone)" if source else ""}
    if source:
        extra["team_id"] = source.team_id
    return render(request, "frontend/sweep_new.html", form_context(request, text, **extra))


def form_problem(name: str, team: str) -> str | None:
    """Return what is wrong with the form's name or team, or None."""
    if team and not (team.isascii() and team.isdigit() and len(team) <= 18):
        return f"team must be a team id (a whole number), got {team[:40]!r}"
    try:
        intake.check_storable(name, "the name")
    except intake.IntakeError as exc:
        return str(exc)
    return None


def submit(request: HttpRequest) -> HttpResponse:
    uploaded = uploaded_text(request)
    text = uploaded or request.POST.get("yaml", "")
    name, team = request.POST.get("name", ""), request.POST.get("team", "")
    problem = form_problem(name, team)
    if problem:
        messages.error(request, problem)
        context = form_context(request, text, name=intake.printable(name))
        return render(request, "frontend/sweep_new.html", context, status=400)
    if request.POST.get("action") == "launch":
        sweep, checked = editor.launch(request.user, text, team, name)
        if sweep is not None:
            return redirect("sweep-detail", sweep.pk)
    else:
        checked = editor.check(text)
    team_id = int(team) if team.isdigit() else 0
    read = request.FILES["file"].name if uploaded is not None else ""
    context = form_context(request, text, checked=checked, name=name, team_id=team_id, read=read)
    ok = checked.valid and not checked.refusal
    return render(request, "frontend/sweep_new.html", context, status=200 if ok else 400)


@require_POST
@login_required
def validate(request: HttpRequest) -> JsonResponse:
    """Check YAML sent as JSON `{"yaml": ...}`; return errors, warnings, plan and table."""
    try:
        text = json.loads(request.body or b"{}").get("yaml", "")
    except (ValueError, AttributeError):
        return JsonResponse({"error": 'send JSON like {"yaml": "..."}'}, status=400)
    if not isinstance(text, str):
        return JsonResponse({"error": "yaml must be a string"}, status=400)
    return JsonResponse(editor.check(text).as_json())
