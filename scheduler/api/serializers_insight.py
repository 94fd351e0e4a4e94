"""Shapes of the importance and compare endpoints, for validation and the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers


def metric_number(**kwargs) -> serializers.JSONField:
    """A metric value: a number, or "NaN", "Infinity", "-Infinity" (see metric_values)."""
    return serializers.JSONField(help_text='a number, or "NaN", "Infinity", "-Infinity"', **kwargs)


class ImportanceQuery(serializers.Serializer):
    resource = serializers.FloatField(
        required=False,
        help_text="the rung (resource level) to explain; default: the highest with enough trials",
    )


class RungRef(serializers.Serializer):
    bracket = serializers.IntegerField()
    rung = serializers.IntegerField()


class Level(serializers.Serializer):
    resource = serializers.FloatField(allow_null=True, help_text="null: searches without one")
    rungs = RungRef(many=True)
    usable = serializers.IntegerField(help_text="succeeded or stopped with a non-NaN value")
    excluded = serializers.IntegerField(help_text="ended trials left out: failed, lost, NaN")
    trials = serializers.IntegerField(help_text="ended trials at this level")


class ParamShare(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="the matrix kind, e.g. loguniform")
    scale = serializers.ChoiceField(["linear", "log", "category"], help_text="its axis")
    share = serializers.FloatField(allow_null=True, help_text="share of the importance, 0..1")
    drop = serializers.FloatField(allow_null=True, help_text="mean fall in R² when shuffled")
    spread = serializers.FloatField(allow_null=True, help_text="its standard deviation")


class SlicePoint(serializers.Serializer):
    trial = serializers.IntegerField(help_text="the trial's id")
    number = serializers.IntegerField(help_text="the trial's number within its sweep")
    params = serializers.DictField()
    value = metric_number()


class ImportanceSerializer(serializers.Serializer):
    metric = serializers.CharField(allow_null=True)
    maximize = serializers.BooleanField()
    levels = Level(many=True)
    level = Level(allow_null=True, help_text="the level explained")
    min_trials = serializers.IntegerField()
    available = serializers.BooleanField()
    pending = serializers.BooleanField(help_text="being computed: ask again in a few seconds")
    reason = serializers.CharField(help_text="why not available; '' when it is")
    method = serializers.CharField()
    trials = serializers.IntegerField(help_text="how many trials the importance rests on")
    sampled_from = serializers.IntegerField(help_text="usable trials at the level")
    fit = serializers.FloatField(allow_null=True, help_text="the forest's out-of-bag R²")
    params = ParamShare(many=True)
    points = SlicePoint(many=True, help_text="each usable trial, for slice plots")


class CompareQuery(serializers.Serializer):
    ids = serializers.CharField(help_text="comma-separated ids, e.g. 12,15,19")


class TrialCompareRow(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField(help_text="the trial's number within its sweep")
    sweep = serializers.DictField()
    status = serializers.CharField()
    bracket = serializers.IntegerField()
    rung = serializers.IntegerField()
    resource = serializers.FloatField(allow_null=True)
    resource_name = serializers.CharField()
    metric_value = metric_number()
    params = serializers.DictField()
    curves = serializers.DictField(help_text="metric name -> [[step, value], ...]")


class TrialCompareSerializer(serializers.Serializer):
    metric = serializers.CharField(allow_null=True)
    params = serializers.ListField(child=serializers.CharField())
    metrics = serializers.ListField(child=serializers.CharField())
    trials = TrialCompareRow(many=True)


class BestSoFar(serializers.Serializer):
    spent = serializers.ListField(child=serializers.FloatField())
    best = serializers.ListField(child=metric_number())
    value = serializers.ListField(child=metric_number())
    trial = serializers.ListField(child=serializers.IntegerField())


class SweepCompareRow(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    algorithm = serializers.CharField()
    concurrency = serializers.IntegerField()
    seed = serializers.IntegerField()
    metric = serializers.CharField(allow_null=True)
    maximize = serializers.BooleanField()
    resource_name = serializers.CharField()
    plan = serializers.DictField()
    matrix = serializers.DictField(child=serializers.CharField())
    best = metric_number()
    best_trial = serializers.IntegerField(allow_null=True)
    best_so_far = BestSoFar()


class SweepCompareSerializer(serializers.Serializer):
    params = serializers.ListField(child=serializers.CharField())
    sweeps = SweepCompareRow(many=True)
