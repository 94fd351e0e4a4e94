"""What goes into the API and what comes out: input checks and representations."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scheduler import intake, metrics, notes, plan_table, planning, results, yamlsource
from scheduler import spec as specs
from scheduler import tags as sweep_tags
from scheduler.models import Sweep, SweepStatus, Trial, TrialAttempt, TrialStatus

from .errors import BadRequest, PayloadTooLarge, too_large

# --- request data -------------------------------------------------------------------------

# The largest id or count the database's bigint holds: larger ones are a 400, not a 500.
MAX_BIGINT = 2**63 - 1


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate request data or query parameters; raise a 400 listing the bad fields."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def yaml_request(request) -> Any:
    """Return the data a sweep endpoint got: JSON, a form with a file, or a raw YAML body.

    A raw YAML body carries `name` and `team` as query parameters.
    """
    if not isinstance(request.data, str):
        return request.data
    params = request.query_params
    extra = {key: params[key] for key in ("name", "team") if key in params}
    return {"yaml": request.data, **extra}


class YamlInput(serializers.Serializer):
    """Sweep YAML as text (`yaml`) or as an uploaded file (`file`)."""

    yaml = serializers.CharField(required=False, trim_whitespace=False)
    file = serializers.FileField(required=False, write_only=True)

    yaml_required = True

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "yaml" in data and "file" in data:
            raise serializers.ValidationError("send the sweep as yaml text or as a file, not both")
        if "file" in data:
            data["yaml"] = read_upload(data.pop("file"))
        elif "yaml" not in data:
            if self.yaml_required:
                raise serializers.ValidationError("send the sweep YAML as yaml text or a file")
            return data
        try:
            intake.checked_text(data["yaml"])
        except intake.TooLarge as exc:
            raise too_large("the sweep YAML", exc.size, exc.limit) from None
        return data


class SweepInput(YamlInput):
    name = serializers.CharField(required=False, max_length=200)
    team = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=1)


class CloneInput(YamlInput):
    """An optional edited YAML and name; the clone stays in the sweep's team."""

    name = serializers.CharField(required=False, max_length=200)
    yaml_required = False


def read_upload(upload) -> str:
    """Return an uploaded file's text, refusing it unread when it is too large."""
    try:
        intake.check_size(upload.size)
        return intake.decode(upload.read())
    except intake.TooLarge as exc:
        raise too_large("the sweep YAML", exc.size, exc.limit) from None
    except intake.IntakeError as exc:
        raise serializers.ValidationError({"file": str(exc)}) from None


def metric_points(body: Any, default_step: float | None) -> list[metrics.Point]:
    """Read one point or a `{"points": [...]}` batch; every point is valid or none is kept."""
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object: a point or {"points": [...]}')
    items = body.get("points", [body])
    if not isinstance(items, list):
        raise BadRequest("points must be a list of {name, value, step?} objects")
    limit = settings.HBSITE_MAX_METRIC_BATCH
    if len(items) > limit:
        message = f"{len(items)} points in one request; the limit is {limit}"
        raise PayloadTooLarge(message, limit=limit)
    return metrics.parse_points(items, default_step)


def batch_size(body: Any) -> int:
    """Return how many points a metrics request body holds (1 for a single point)."""
    items = body.get("points") if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 1


# --- query parameters ---------------------------------------------------------------------


class SweepFilter(serializers.Serializer):
    """The sweeps list's filters (see scheduler.catalog.SweepSearch)."""

    q = serializers.CharField(
        required=False, max_length=200, help_text="words to find in the name or the tags"
    )
    tag = serializers.CharField(
        required=False, max_length=sweep_tags.MAX_LENGTH, help_text="sweeps with this tag"
    )
    status = serializers.ChoiceField(
        choices=[*SweepStatus.choices, ("active", "created or running")], required=False
    )
    owner = serializers.CharField(required=False, max_length=150, help_text="a username")
    team = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=1)


class AnnotationInput(serializers.Serializer):
    """New tags (the whole list) and/or a new Markdown note; what is left out is kept."""

    tags = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=sweep_tags.MAX_TAGS * 5,
        help_text=f"strings of 1 to {sweep_tags.MAX_LENGTH} characters, no comma; at most "
        f"{sweep_tags.MAX_TAGS}",
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=notes.MAX_LENGTH + 1000,
        help_text=f"Markdown, at most {notes.MAX_LENGTH} characters; empty clears it",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data:
            raise serializers.ValidationError("send tags, note or both")
        if "tags" in data:
            try:
                data["tags"] = sweep_tags.clean(data["tags"])
            except sweep_tags.TagError as exc:
                raise serializers.ValidationError({"tags": str(exc)}) from None
        if "note" in data:
            try:
                data["note"] = notes.checked(data["note"])
            except ValueError as exc:
                raise serializers.ValidationError({"note": str(exc)}) from None
        return data


class TrialFilter(serializers.Serializer):
    sweep = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=1)
    number = serializers.IntegerField(
        required=False, max_value=MAX_BIGINT, min_value=1, help_text="#N within its sweep"
    )
    status = serializers.ChoiceField(choices=TrialStatus.choices, required=False)
    bracket = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=0)
    rung = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=0)
    runner = serializers.CharField(
        required=False, max_length=100, help_text="the trials a runner (by name) last claimed"
    )


class EventsQuery(serializers.Serializer):
    after = serializers.IntegerField(required=False, max_value=MAX_BIGINT, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


class SeriesQuery(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=metrics.MAX_NAME)
    limit = serializers.IntegerField(
        required=False, min_value=0, max_value=100_000, default=0, help_text="0: every point"
    )


# --- sweeps -------------------------------------------------------------------------------


class SweepSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    planned_trials = serializers.IntegerField(source="plan.total_trials", read_only=True)

    class Meta:
        model = Sweep
        fields = [
            "id", "name", "team", "team_name", "owner", "status", "status_reason",
            "algorithm", "concurrency", "seed", "planned_trials", "last_seq", "paused_at",
            "run", "tags", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer):
    promoted = serializers.IntegerField()
    cutoff = serializers.FloatField(allow_null=True)
    decided_at = serializers.DateTimeField()


class RungSerializer(serializers.Serializer):
    rung = serializers.IntegerField()
    configs = serializers.IntegerField(help_text="planned configs")
    resource = serializers.FloatField(allow_null=True)
    trials = serializers.IntegerField(help_text="trials created so far")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="per status")
    decision = DecisionSerializer(allow_null=True)


class BracketSerializer(serializers.Serializer):
    s = serializers.IntegerField()
    capped = serializers.BooleanField()
    rungs = RungSerializer(many=True)


class TotalsSerializer(serializers.Serializer):
    planned_configs = serializers.IntegerField()
    planned_trials = serializers.IntegerField()
    trials = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="per status")


class BestSerializer(serializers.Serializer):
    trial = serializers.IntegerField(help_text="the trial's id")
    number = serializers.IntegerField(help_text="the trial's number within the sweep (#N)")
    value = serializers.FloatField()
    params = serializers.JSONField()
    bracket = serializers.IntegerField()
    rung = serializers.IntegerField()
    resource = serializers.FloatField(allow_null=True)


class SweepDetailSerializer(SweepSerializer):
    """A sweep with its plan and progress; call `with_progress` on the sweep first."""

    brackets = BracketSerializer(source="progress.brackets", many=True, read_only=True)
    totals = TotalsSerializer(source="progress.totals", read_only=True)
    best = BestSerializer(source="progress.best", allow_null=True, read_only=True)
    note_html = serializers.SerializerMethodField(help_text="the note rendered and sanitized")
    note_updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta(SweepSerializer.Meta):
        fields = [
            *SweepSerializer.Meta.fields, "note", "note_html", "note_updated_at",
            "note_updated_by", "yaml", "spec", "plan", "brackets", "totals", "best",
        ]  # fmt: skip
        read_only_fields = fields

    def get_note_html(self, sweep: Sweep) -> str:
        return notes.render(sweep.note)


def with_progress(sweep: Sweep) -> Sweep:
    """Attach per-rung counts, rung decisions and the best trial to a sweep (4 queries)."""
    sweep.progress = {**results.progress(sweep), "best": results.best(sweep)}
    return sweep


class PlanSerializer(serializers.Serializer):
    algorithm = serializers.CharField()
    plan = serializers.JSONField(help_text="brackets, rungs and totals, as stored with a sweep")
    table = serializers.CharField(help_text="the plan as a text table, as `sweep plan` prints")
    warnings = serializers.ListField(child=serializers.JSONField())


def plan_body(spec: specs.SweepSpec) -> dict[str, Any]:
    """Return a spec's plan as JSON and as the CLI's text table, with the spec's warnings."""
    plan = planning.build_plan(spec)
    kind, resource = planning.resource_type(spec), planning.resource_name(spec)
    return {
        "algorithm": spec.algorithm,
        "plan": plan.to_dict(kind),
        "table": plan_table.render_table(plan, kind, resource),
        "warnings": [issue_dict(w) for w in spec.warnings],
    }


def issue_dict(issue: specs.Issue) -> dict[str, Any]:
    return {"line": issue.line, "column": issue.column, "message": issue.message}


class EventsSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.JSONField(), help_text="ordered by seq")
    last_seq = serializers.IntegerField(help_text="ask for events after this next time")
    more = serializers.BooleanField(help_text="true when `limit` cut the list short")


def events_after(sweep: Sweep, after: int, limit: int) -> dict[str, Any]:
    """Return up to `limit` events of a sweep with seq > `after`, in order."""
    page, more = results.events_after(sweep.pk, after, limit)
    return {"events": page, "last_seq": page[-1]["seq"] if page else after, "more": more}


# --- trials -------------------------------------------------------------------------------


class TrialSerializer(serializers.ModelSerializer):
    params = serializers.JSONField(source="config.params", read_only=True)
    origin = serializers.JSONField(
        source="config.origin",
        read_only=True,
        help_text="bo sweeps: how the config was made (random, or suggested with its "
        "acquisition value); empty otherwise",
    )
    duration = serializers.FloatField(read_only=True, allow_null=True)
    runner = serializers.CharField(
        read_only=True,
        help_text="the runner that last claimed the trial (its HBSITE_RUNNER_NAME, by default "
        "its host name); empty until one does",
    )

    class Meta:
        model = Trial
        fields = [
            "id", "number", "sweep", "config", "bracket", "rung", "params", "origin", "resource",
            "status", "metric_value", "attempt", "parent", "promoted", "rejected_points", "runner",
            "created_at", "queued_at", "started_at", "finished_at", "duration",
        ]  # fmt: skip
        read_only_fields = fields


class LineageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    rung = serializers.IntegerField()
    resource = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    metric_value = serializers.FloatField(allow_null=True)
    promoted = serializers.BooleanField()


class AttemptSerializer(serializers.ModelSerializer):
    """An earlier attempt of a trial: how it ended and why another one followed."""

    class Meta:
        model = TrialAttempt
        fields = [
            "number", "status", "why", "worker", "exit_code", "error", "metric_value",
            "last_metrics", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class TrialDetailSerializer(TrialSerializer):
    lineage = serializers.SerializerMethodField()
    attempts = AttemptSerializer(
        many=True, read_only=True, help_text="earlier attempts, oldest first; the trial's own "
        "fields are its current attempt (`attempt`)"
    )  # fmt: skip

    class Meta(TrialSerializer.Meta):
        fields = [
            *TrialSerializer.Meta.fields,
            "command", "checkpoint_dir", "worker", "exit_code", "error",
            "stdout_tail", "stderr_tail", "last_metrics", "rejections", "heartbeat_at", "lineage",
            "attempts",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(LineageSerializer(many=True))
    def get_lineage(self, trial: Trial) -> list[dict[str, Any]]:
        """Return the trials of the same config across rungs, lowest rung first."""
        rows = Trial.objects.filter(config_id=trial.config_id).order_by("rung", "id")
        fields = ("id", "number", "rung", "resource", "status", "metric_value", "promoted")
        return list(rows.values(*fields))


class MetricsSerializer(serializers.Serializer):
    metrics = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
        help_text='{name: [[step, value], ...]}; a non-finite value is "NaN", "Infinity" or '
        '"-Infinity"',
    )


class PointInput(serializers.Serializer):
    name = serializers.CharField(max_length=metrics.MAX_NAME)
    value = serializers.FloatField(help_text='a number, or "NaN", "Infinity", "-Infinity"')
    step = serializers.FloatField(required=False, help_text="default: the trial's resource")


class BatchInput(serializers.Serializer):
    points = PointInput(many=True)


class StoredSerializer(serializers.Serializer):
    trial = serializers.IntegerField()
    stored = serializers.IntegerField()


# --- runners ------------------------------------------------------------------------------

# A runner's name is also the name of its queue (`trials@<name>`): a host name's characters.
RUNNER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class RunnerStartInput(serializers.Serializer):
    runner = serializers.RegexField(
        RUNNER_NAME, help_text="the runner's name (HBSITE_RUNNER_NAME, default its host name)"
    )
    worker = serializers.CharField(max_length=200, help_text="host:pid:thread of the runner")
    data_dir = serializers.CharField(
        max_length=400, help_text="the runner's HBSITE_DATA_DIR, an absolute path on its machine"
    )

    def validate_data_dir(self, value: str) -> str:
        if not PurePosixPath(value).is_absolute() or yamlsource.unstorable(value):
            raise serializers.ValidationError("must be an absolute path")
        return value


class AssignmentSerializer(serializers.Serializer):
    """What a runner needs to run the attempt it claimed (scheduler.runner.Assignment)."""

    trial = serializers.IntegerField()
    number = serializers.IntegerField(help_text="the trial's number within its sweep (#1..#N)")
    sweep = serializers.IntegerField()
    bracket = serializers.IntegerField()
    rung = serializers.IntegerField()
    attempt = serializers.IntegerField()
    token = serializers.CharField(help_text="the attempt's trial token (HBSITE_TRIAL_TOKEN)")
    params = serializers.DictField()
    resource = serializers.FloatField(allow_null=True)
    resource_name = serializers.CharField(allow_null=True)
    resume = serializers.BooleanField()
    command = serializers.CharField()
    checkpoint_dir = serializers.CharField(help_text="on the runner, under its data_dir")
    workdir = serializers.CharField(
        allow_blank=True,
        help_text="run.workdir as written, resolved on the runner against its "
        "HBSITE_WORKDIR_BASE; empty: the sweep's folder in the runner's data directory",
    )
    timeout = serializers.FloatField(allow_null=True, help_text="seconds")


class FenceInput(serializers.Serializer):
    """Which attempt a runner speaks for: its number and trial token, as `start` gave them."""

    attempt = serializers.IntegerField(min_value=1, max_value=32767)
    token = serializers.CharField(max_length=200)


class TailsInput(FenceInput):
    stdout = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    stderr = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """Keep the last HBSITE_OUTPUT_TAIL_BYTES characters of each tail, without NULs."""
        limit = settings.HBSITE_OUTPUT_TAIL_BYTES
        for name in ("stdout", "stderr"):
            if name in data:
                data[name] = data[name].replace("\x00", "\ufffd")[-limit:]
        return data


class HeartbeatInput(TailsInput):
    pid = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )


class HeartbeatSerializer(serializers.Serializer):
    stop = serializers.BooleanField(
        help_text="true: the attempt is over (stopped, or handed to another runner); kill its "
        "processes now"
    )


class RejectedInput(FenceInput):
    reasons = serializers.ListField(
        child=serializers.CharField(max_length=1000, trim_whitespace=False),
        max_length=100,
        help_text="the first reasons; the trial keeps its first few",
    )
    count = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT)


class FinishInput(TailsInput):
    exit_code = serializers.IntegerField(required=False, allow_null=True)
    error = serializers.CharField(
        required=False, allow_blank=True, max_length=10000, trim_whitespace=False
    )
    lease_lost = serializers.BooleanField(
        default=False,
        help_text="true: the runner killed the attempt's processes for want of accepted "
        "heartbeats; the trial is requeued (or lost) instead of finished",
    )


class RecordedSerializer(serializers.Serializer):
    recorded = serializers.BooleanField(
        help_text="false: the attempt was already over; nothing changed"
    )
