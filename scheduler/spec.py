"""Polyaxon v0 group polyaxonfile (`kind: group` with `hptuning`) -> frozen SweepSpec.

`parse(text)` returns a SweepSpec or raises SpecError listing every problem found, each with
the 1-based line and column of the offending key or value. Pure Python: no Django.
This module checks the top level and `run`; the result types are in `spec_types`, the check
machinery in `spec_fields`, and the sections in `spec_hptuning` and `spec_templates`.

Choices, where the brief or Polyaxon v0 left room:

- `run.cmd` is a string, or a list of strings, each rendered on its own and joined with
  " && " (as Polyaxon v0 did); `scheduler.command` rejects placeholders it cannot quote.
- Defaults are Polyaxon v0.5's, each with a warning where it may surprise (see
  `spec_hptuning`): no algorithm section is a grid search over the whole matrix; a metric or
  early-stopping rule without `optimization` is maximized; a resource without `type` is a
  float. Polyaxon's spellings `maximize/MAXIMIZE/Maximize` (and the same for minimize, int,
  float) are accepted.
- `early_stopping[*].policy` may be `all` or `group` (stop the whole sweep, which is what
  hbsite does); `experiment` is rejected.
- Template values come from `declarations` (scalars only), `inputs` (their `value`, else
  `default`) and the top-level `params` section, which sets values of declared inputs (or,
  with no inputs, gives plain values as `declarations` do). A declaration, input or param may
  share its name with a matrix parameter or the Hyperband resource, with a warning: the
  matrix value wins, and the rung's resource wins over both. Polyaxon v0.5 let the input's
  default win instead, which its maintainers called a bug (polyaxon/polyaxon#768, #595): the
  quick-start files then searched nothing. A matrix parameter named as the resource is an error.
- Matrix param names, declaration names and input names must be identifiers, so `{{ name }}`
  can reach them. Only `{{ identifier }}` templates exist; `{{ a.b }}` is an error.
- A null optional field means "not set". A null algorithm section (`grid_search:`) means an
  empty one.
- Guards: max_iter <= 1e6, n_experiments <= 100000 (and so a grid without n_experiments),
  concurrency <= 10000, 0 <= seed < 2**63, max_retries <= 100, name <= 200 characters;
  and in `spec_limits`: <= 1000 matrix parameters, <= 100 early-stopping rules, <= 10000
  entries in any other list, a plan of <= 100000 trials, and matrix values that are finite.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from scheduler import tags as sweep_tags
from scheduler import yamlsource
from scheduler.spec_fields import (
    BAD,
    Context,
    Field,
    dotted,
    integer,
    is_bad,
    is_number,
    number,
    section,
    show,
    string,
)
from scheduler.spec_hptuning import check_hptuning
from scheduler.spec_limits import DEFAULT_MAX_PLAN_TRIALS, check_counts, check_spec
from scheduler.spec_templates import (
    check_declarations,
    check_inputs,
    check_names,
    check_templates,
    template_names,
    template_values,
)
from scheduler.spec_types import (
    ALGORITHMS,
    MAX_CONCURRENCY,
    MAX_EXPERIMENTS,
    MAX_ITER,
    MAX_NAME,
    MAX_RETRIES,
    MAX_SEED,
    MAXIMIZE,
    MINIMIZE,
    SIZINGS,
    EarlyStoppingRule,
    GridSearch,
    Hyperband,
    Issue,
    Metric,
    RandomSearch,
    Resource,
    Run,
    SpecError,
    SweepSpec,
)
from scheduler.yamlsource import Path

__all__ = [
    "ALGORITHMS",
    "MAXIMIZE",
    "MAX_CONCURRENCY",
    "MAX_EXPERIMENTS",
    "MAX_ITER",
    "MAX_NAME",
    "MAX_RETRIES",
    "MAX_SEED",
    "MINIMIZE",
    "SIZINGS",
    "EarlyStoppingRule",
    "GridSearch",
    "Hyperband",
    "Issue",
    "Metric",
    "RandomSearch",
    "Resource",
    "Run",
    "SpecError",
    "SweepSpec",
    "parse",
    "template_names",
]


def parse(text: str, *, max_plan_trials: int | None = DEFAULT_MAX_PLAN_TRIALS) -> SweepSpec:
    """Parse and validate a group polyaxonfile; raise SpecError listing every problem.

    Counts and the plan size are bounded (see `spec_limits`); `max_plan_trials=None` skips
    the plan size, for reading back a sweep stored under another limit.
    """
    if len(text) <= yamlsource.MAX_BYTES:
        too_many = check_counts(text)
        if too_many:
            raise SpecError(too_many)
    try:
        doc = yamlsource.load(text)
    except yamlsource.YamlSourceError as exc:
        raise SpecError([Issue(p.line, p.column, p.message) for p in exc.problems]) from None
    ctx = Context(doc)
    spec = _build(ctx)
    if spec is not None and not ctx.errors:
        check_spec(spec, max_plan_trials, ctx.error)
    if spec is None or ctx.errors:
        raise SpecError(ctx.errors or [Issue(1, 1, "invalid polyaxonfile")])
    return spec


# --- top level -----------------------------------------------------------------------------


_IGNORED_TOP = {
    name: f"section '{name}' is ignored: {why}"
    for name, why in {
        "build": "trials run as local processes in hbsite's environment",
        "environment": "trials run as local processes; resources come from the workers",
        "framework": "hbsite runs any command; there is no framework integration",
        "backend": "hbsite runs trials itself",
        "logging": "trial output is captured by hbsite",
        "description": "hbsite does not store a description",
        "settings": "old Polyaxon settings are not read; use hptuning",
        "project": "the sweep belongs to the team it is uploaded to",
        "outputs": "hbsite does not manage outputs",
    }.items()
}


def _version(ctx: Context, path: Path, value: Any) -> Any:
    if is_number(value) and value == 1:
        return 1
    return ctx.error(path, f"version must be 1 (Polyaxon v0 polyaxonfile), got {show(value)}")


def _kind(ctx: Context, path: Path, value: Any) -> Any:
    if value == "group":
        return "group"
    message = f"kind must be 'group' (an hptuning sweep), got {show(value)}"
    return ctx.error(path, message)


def _build(ctx: Context) -> SweepSpec | None:
    root = ctx.doc.value
    if not isinstance(root, dict):
        what = "empty" if root is None else f"{show(root)}, not a mapping of sections"
        ctx.error((), f"the file is {what}: expected version, kind, hptuning and run")
        return None
    top = section(ctx, (), root, _TOP_FIELDS, _IGNORED_TOP)
    assert top is not None  # root is a mapping
    params = template_values(ctx, root, top)
    check_names(ctx, root)
    check_templates(ctx, root, params)
    return _assemble(ctx, top, params)


def _assemble(ctx: Context, top: dict[str, Any], params: dict[str, Any]) -> SweepSpec | None:
    hp, run = top["hptuning"], top["run"]
    if is_bad(*top.values()) or ctx.errors:
        return None
    return SweepSpec(
        version=top["version"],
        kind=top["kind"],
        name=top["name"],
        concurrency=hp["concurrency"],
        seed=hp["seed"],
        algorithm=hp["algorithm"],
        hyperband=hp["hyperband"],
        random_search=hp["random_search"],
        grid_search=hp["grid_search"],
        bo=hp["bo"],
        matrix=hp["matrix"],
        early_stopping=hp["early_stopping"],
        params=MappingProxyType(params),
        run=run,
        warnings=tuple(sorted(ctx.warnings)),
        tags=top["tags"],
    )


# --- tags -----------------------------------------------------------------------------------


def _tags(ctx: Context, path: Path, value: Any) -> Any:
    """Check Polyaxon's `tags:` list (see scheduler.tags); a single string is one tag."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return ctx.error(path, f"{dotted(path)} must be a list of strings, got {show(value)}")
    try:
        return tuple(sweep_tags.clean(items))
    except sweep_tags.TagError as exc:
        for i, message in exc.problems:
            at = (*path, i) if i >= 0 and not isinstance(value, str) else path
            ctx.error(at, f"{dotted(at)}: {message}")
        return BAD


# --- run ------------------------------------------------------------------------------------


def _cmd(ctx: Context, path: Path, value: Any) -> Any:
    if isinstance(value, list) and value:
        parts = [string()(ctx, (*path, i), part) for i, part in enumerate(value)]
        return BAD if is_bad(*parts) else tuple(parts)
    if isinstance(value, str) and value.strip():
        return value
    message = f"{dotted(path)} must be a command string or a list of them, got {show(value)}"
    return ctx.error(path, message)


def _run(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _RUN_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    timeout = None if got["timeout"] is None else float(got["timeout"])
    cmd = got["cmd"]
    parts: tuple[str, ...] = cmd if isinstance(cmd, tuple) else ()
    joined = " && ".join(parts) if parts else cmd
    return Run(joined, got["workdir"], timeout, got["max_retries"], parts)


# --- field tables ---------------------------------------------------------------------------


_RUN_FIELDS = {
    "cmd": Field(_cmd, required=True),
    "workdir": Field(string()),
    "timeout": Field(number(0, strict=True)),
    "max_retries": Field(integer(0, MAX_RETRIES)),
}
_TOP_FIELDS = {
    "version": Field(_version, required=True),
    "kind": Field(_kind, required=True),
    "name": Field(string(MAX_NAME)),
    "declarations": Field(check_declarations, default={}),
    "inputs": Field(check_inputs, default=[]),
    "params": Field(check_declarations, default={}),
    "hptuning": Field(check_hptuning, required=True),
    "run": Field(_run, required=True),
    "tags": Field(_tags, default=()),
}
