"""Sweeps, their configs and trials, metric points and the event history; teams and tokens."""

from __future__ import annotations

import hashlib
import math
import secrets
from typing import Self

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone


def hash_secret(secret: str) -> str:
    """Return the SHA-256 hex digest under which a token secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


class Team(models.Model):
    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin"
        MEMBER = "member"
        VIEWER = "viewer"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_role_per_team")]

    def __str__(self) -> str:
        return f"{self.user_id} is {self.role} of team {self.team_id}"


class SecretToken(models.Model):
    """A named, revocable bearer token of one user; only its secret's hash is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    PREFIX = ""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @classmethod
    def issue(cls, user, name: str) -> tuple[Self, str]:
        """Create a token and return it with its secret (PREFIX + 43 random URL-safe
        characters), which is never stored."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=secret[:12], key_hash=hash_secret(secret)
        )
        return token, secret


class ApiToken(SecretToken):
    """A token for scripts: it acts as its user on every API endpoint (`Bearer hbs_...`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )

    PREFIX = "hbs_"


class RunnerToken(SecretToken):
    """A token for runners on other machines (`Bearer hbr_...`): it may only claim, heartbeat,
    report and finish trial attempts through the runner endpoints (scheduler.api.views_runner),
    never read or change sweeps. Only staff users hold one: a runner runs any team's trials."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runner_tokens"
    )

    PREFIX = "hbr_"


class SweepStatus(models.TextChoices):
    CREATED = "created"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    EARLY_STOPPED = "early_stopped"


class SweepQuerySet(models.QuerySet):
    def active(self) -> SweepQuerySet:
        """Sweeps still being scheduled: created or running."""
        return self.filter(status__in=Sweep.ACTIVE)

    def visible_to(self, user) -> SweepQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)


class Sweep(models.Model):
    ACTIVE = (SweepStatus.CREATED, SweepStatus.RUNNING)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sweeps")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="sweeps"
    )
    name = models.CharField(max_length=200)
    yaml = models.TextField()
    spec = models.JSONField()
    plan = models.JSONField()
    algorithm = models.CharField(max_length=20)
    concurrency = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    status = models.CharField(
        max_length=20, choices=SweepStatus.choices, default=SweepStatus.CREATED, db_index=True
    )
    status_reason = models.TextField(blank=True, default="")
    # Set while a user has paused the sweep: running trials may finish, nothing new starts.
    paused_at = models.DateTimeField(null=True, blank=True)
    # 1 for the first run; each resume of a stopped or failed sweep starts the next run.
    run = models.PositiveSmallIntegerField(default=1)
    last_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Polyaxon's `tags:` list, then as members edit it (see scheduler.tags), and a Markdown
    # note (see scheduler.notes): who wrote it last, and when.
    tags = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True, default="")
    note_updated_at = models.DateTimeField(null=True, blank=True)
    note_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = SweepQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [GinIndex(fields=["tags"], name="sweep_tags")]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None and self.is_active


class Config(models.Model):
    """One sampled hyperparameter set; it lives in exactly one bracket."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="configs")
    bracket = models.PositiveSmallIntegerField()
    index = models.PositiveIntegerField()
    params = models.JSONField()
    # How a bo sweep's config was made: {"how": "random"}, or {"how": "suggested",
    # "acquisition": value, "function", "mean", "std", "observed", "pending"} (see
    # scheduler.suggesting). Empty for the other algorithms.
    origin = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sweep", "bracket", "index"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "bracket", "index"], name="config_slot_once")
        ]

    def __str__(self) -> str:
        return f"config {self.pk} of sweep {self.sweep_id}"


class TrialStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    LOST = "lost"


class TrialQuerySet(models.QuerySet):
    """The trial status sets, named once: every query and page uses these."""

    def unfinished(self) -> TrialQuerySet:
        """Trials not yet ended: pending, queued or running."""
        return self.filter(status__in=Trial.UNFINISHED)

    def occupying(self) -> TrialQuerySet:
        """Trials that hold one of the sweep's `concurrency` slots: queued or running."""
        return self.filter(status__in=Trial.OCCUPYING)

    def ended(self) -> TrialQuerySet:
        """Trials that will not change again: succeeded, failed, stopped or lost."""
        return self.filter(status__in=Trial.ENDED)

    def ranked(self) -> TrialQuerySet:
        """Trials whose ranking-metric value counts for "best so far" (see `ranked_q`)."""
        return self.filter(ranked_q())

    def running_attempt(self, trial_id: int, attempt: int, token_hash: str) -> TrialQuerySet:
        """The trial, if it is still running that attempt (number and token hash)."""
        return self.filter(
            pk=trial_id, status=TrialStatus.RUNNING, attempt=attempt, token_hash=token_hash
        )


def ranked_q() -> models.Q:
    """The one rule of which trials count for "best": a succeeded or stopped trial (see
    Trial.RANKED) with a ranking-metric value that is a number, infinities included, not NaN
    (see scheduler.metric_values). Points stop with the trial, so the value is final."""
    has_value = models.Q(status__in=Trial.RANKED, metric_value__isnull=False)
    return has_value & ~models.Q(metric_value=math.nan)


def ranks(status: str, metric_value: float | None) -> bool:
    """Tell whether a trial with this status and value counts for "best" (as `ranked_q`)."""
    return status in Trial.RANKED and metric_value is not None and not math.isnan(metric_value)


class Trial(models.Model):
    """One run of a config at one rung of its bracket."""

    UNFINISHED = (TrialStatus.PENDING, TrialStatus.QUEUED, TrialStatus.RUNNING)
    OCCUPYING = (TrialStatus.QUEUED, TrialStatus.RUNNING)
    ENDED = (TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.STOPPED, TrialStatus.LOST)
    # Whose last metric value counts for "best so far": a stopped trial's value is real (the
    # trial that meets an early-stopping rule is stopped with the rest of its sweep).
    RANKED = (TrialStatus.SUCCEEDED, TrialStatus.STOPPED)
    MAX_REJECTIONS = 5

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="trials")
    # #1..#N within the sweep, in creation order: what people read (pages, events, exports).
    # The database assigns it as the row is inserted (migration 0007's trigger, under the
    # sweep's row lock), so every way of creating trials numbers them without gaps or repeats.
    number = models.PositiveIntegerField(db_default=0, editable=False)
    config = models.ForeignKey(Config, on_delete=models.CASCADE, related_name="trials")
    bracket = models.PositiveSmallIntegerField()
    rung = models.PositiveSmallIntegerField()
    resource = models.FloatField(null=True, blank=True)
    parent = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="child"
    )
    status = models.CharField(
        max_length=10, choices=TrialStatus.choices, default=TrialStatus.PENDING
    )
    attempt = models.PositiveSmallIntegerField(default=0)
    promoted = models.BooleanField(default=False)
    metric_value = models.FloatField(null=True, blank=True)
    last_metrics = models.JSONField(default=dict, blank=True)
    # The first early-stopping rule (index in the spec) a reported value of this trial met,
    # and that value; set as points are recorded, read by the scheduling step.
    met_rule = models.PositiveSmallIntegerField(null=True, blank=True)
    met_value = models.FloatField(null=True, blank=True)
    # Metric lines or points this trial sent that were not stored (malformed, or sent after
    # the trial ended): how many, and the reasons of the first few (MAX_REJECTIONS).
    rejected_points = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, blank=True)
    command = models.TextField(blank=True, default="")
    checkpoint_dir = models.CharField(max_length=500, blank=True, default="")
    token_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    # The runner (a machine with its own data directory) that last claimed this trial: the
    # host name or HBSITE_RUNNER_NAME. A promoted trial of a `resume: true` sweep is queued
    # for its parent's runner, which holds the config's checkpoint (scheduler.placement).
    runner = models.CharField(max_length=100, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    stdout_tail = models.TextField(blank=True, default="")
    stderr_tail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TrialQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "bracket", "rung", "config"], name="trial_once_per_rung"
            ),
            models.UniqueConstraint(fields=["sweep", "number"], name="trial_number_once"),
        ]
        indexes = [
            models.Index(fields=["sweep", "status"]),
            models.Index(fields=["sweep", "bracket", "rung"]),
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(
                fields=["sweep", "met_rule"],
                condition=models.Q(met_rule__isnull=False),
                name="trial_met_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"trial #{self.number} (sweep {self.sweep_id}, s={self.bracket}, rung {self.rung})"

    @property
    def has_ended(self) -> bool:
        return self.status in self.ENDED

    @property
    def duration(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class RungDecision(models.Model):
    """The promotion decided for one finished rung: how many went up and the cut-off value."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="decisions")
    bracket = models.PositiveSmallIntegerField()
    rung = models.PositiveSmallIntegerField()
    promoted = models.PositiveIntegerField()
    cutoff = models.FloatField(null=True, blank=True)
    decided_at = models.DateTimeField(default=timezone.now)
    # True while retried trials of the rung (or configs newly promoted into it) run: once
    # they end, the promotion is topped up to the planned count and the rung closes again.
    reopened = models.BooleanField(default=False)

    class Meta:
        ordering = ["sweep", "-bracket", "rung"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "bracket", "rung"], name="decide_rung_once")
        ]

    def __str__(self) -> str:
        return f"sweep {self.sweep_id} s={self.bracket} rung {self.rung}: {self.promoted} up"


class TrialAttempt(models.Model):
    """An earlier attempt of a trial, kept when the trial went back to pending for another:
    lost by its runner, stopped by a pause or a stopped sweep, or retried after failing.
    The trial row itself always holds its current attempt."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=TrialStatus.choices)
    why = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    metric_value = models.FloatField(null=True, blank=True)
    last_metrics = models.JSONField(default=dict, blank=True)
    # The highest MetricPoint id stored when the attempt ended: later points are newer
    # attempts'.
    last_point_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["trial", "number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "number"], name="attempt_kept_once")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of trial {self.trial_id}: {self.status}"


class MetricPoint(models.Model):
    # No index of its own: the (trial, name, step) index below serves every lookup by trial,
    # and one index fewer to keep up makes each stored point cheaper.
    trial = models.ForeignKey(
        Trial, on_delete=models.CASCADE, related_name="metric_points", db_index=False
    )
    name = models.CharField(max_length=100)
    step = models.FloatField()
    value = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["trial", "name", "step"])]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value}"


class Event(models.Model):
    """One entry of a sweep's history; `seq` grows by one per sweep."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sweep", "seq"]
        constraints = [models.UniqueConstraint(fields=["sweep", "seq"], name="event_seq_once")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} of sweep {self.sweep_id}"


class ShareLink(models.Model):
    """A revocable read-only link to one sweep."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    nonce = models.CharField(max_length=32, default=new_nonce)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"share link {self.pk} of sweep {self.sweep_id}"

    @property
    def is_valid(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


from .models_webhooks import Delivery, Webhook  # noqa: E402,F401 - registered with the others
