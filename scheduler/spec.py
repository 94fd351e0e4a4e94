"""Polyaxon v0 group polyaxonfile (`kind: group` with `hptuning`) -> frozen SweepSpec.

`parse(text)` returns a SweepSpec or raises SpecError listing every problem found, each with
the 1-based line and column of the offending key or value. Pure Python: no Django.

Choices, where the brief or Polyaxon v0 left room:

- `run.cmd` is a string, or a list of strings joined with " && " (as Polyaxon v0 did).
- `early_stopping[*].optimization` is required: Polyaxon v0 defaulted it to maximize, which
  silently inverts a loss rule. `hyperband.metric.optimization` defaults to minimize and
  `hyperband.resource.type` to int, each with a warning, since Polyaxon v0 defaulted to
  maximize and float. Polyaxon's spellings `maximize/MAXIMIZE/Maximize` (and the same for
  minimize, int, float) are accepted.
- `early_stopping[*].policy` may be `all` or `group` (stop the whole sweep, which is what
  hbsite does); `experiment` is rejected.
- Template values come from `declarations` (scalars only), `inputs` (their `value`, else
  `default`) and the top-level `params` section, which sets values of declared inputs.
  A template name may be defined once: clashes with matrix params or the resource are errors.
- Matrix param names, declaration names and input names must be identifiers, so `{{ name }}`
  can reach them. Only `{{ identifier }}` templates exist; `{{ a.b }}` is an error.
- A null optional field means "not set". A null algorithm section (`grid_search:`) means an
  empty one.
- Guards: max_iter <= 1e6, n_experiments <= 100000 (and so a grid without n_experiments),
  concurrency <= 10000, 0 <= seed < 2**63, max_retries <= 100, name <= 200 characters.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from scheduler import yamlsource
from scheduler.space import PVALUES_TOLERANCE, Distribution, Space, SpaceError, parse_param
from scheduler.yamlsource import Path, Position

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
ALGORITHMS = ("hyperband", "random_search", "grid_search")
SIZINGS = ("algorithm1", "table1")
MAX_ITER = 1_000_000
MAX_EXPERIMENTS = 100_000
MAX_CONCURRENCY = 10_000
MAX_SEED = 2**63 - 1
MAX_RETRIES = 100
MAX_NAME = 200

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")  # no backtracking: linear on "{{{{..."
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- public types ------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Issue:
    """One problem (or warning) at a 1-based line and column."""

    line: int
    column: int
    message: str

    def format(self, filename: str) -> str:
        """Return the issue as `FILE:LINE:COL: message`."""
        return f"{filename}:{self.line}:{self.column}: {self.message}"


class SpecError(ValueError):
    """The polyaxonfile is invalid; `issues` holds every error, sorted by position."""

    def __init__(self, issues: list[Issue] | tuple[Issue, ...]) -> None:
        self.issues = tuple(sorted(issues))
        lines = [f"{i.line}:{i.column}: {i.message}" for i in self.issues]
        super().__init__("\n".join(lines) or "invalid polyaxonfile")


@dataclass(frozen=True)
class Metric:
    """The metric Hyperband ranks trials by."""

    name: str
    optimization: str

    def better(self, a: float, b: float) -> bool:
        """Return True if `a` is strictly better than `b`; NaN is never better than a number."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.optimization == MAXIMIZE else a < b

    def reached(self, value: float, threshold: float) -> bool:
        """Return True if `value` is at least as good as `threshold` (False for NaN)."""
        return value >= threshold if self.optimization == MAXIMIZE else value <= threshold


@dataclass(frozen=True)
class Resource:
    """The budget Hyperband grows per rung, e.g. num_steps of type int."""

    name: str
    type: str


@dataclass(frozen=True)
class Hyperband:
    """The `hyperband` section."""

    max_iter: int | float
    eta: int
    resource: Resource
    metric: Metric
    resume: bool
    sizing: str


@dataclass(frozen=True)
class RandomSearch:
    """The `random_search` section; `metric` (optional, an hbsite extension) ranks trials."""

    n_experiments: int
    metric: Metric | None = None


@dataclass(frozen=True)
class GridSearch:
    """The `grid_search` section; n_experiments None means the whole grid."""

    n_experiments: int | None
    metric: Metric | None = None


@dataclass(frozen=True)
class EarlyStoppingRule:
    """Stop the sweep once any trial's `metric` reaches `value` in its direction."""

    metric: str
    value: float
    optimization: str

    def reached(self, value: float) -> bool:
        """Return True if `value` meets the rule (inclusive); False for NaN."""
        if self.optimization == MAXIMIZE:
            return value >= self.value
        return value <= self.value

    def describe(self) -> str:
        """Return the rule as text, e.g. `accuracy >= 0.9`."""
        sign = ">=" if self.optimization == MAXIMIZE else "<="
        return f"{self.metric} {sign} {self.value!r}"


@dataclass(frozen=True)
class Run:
    """The `run` section: the command template and hbsite's execution options."""

    cmd: str
    workdir: str | None
    timeout: float | None
    max_retries: int | None


@dataclass(frozen=True)
class SweepSpec:
    """A validated group polyaxonfile."""

    version: int
    kind: str
    name: str | None
    concurrency: int
    seed: int | None
    algorithm: str
    hyperband: Hyperband | None
    random_search: RandomSearch | None
    grid_search: GridSearch | None
    matrix: Space
    early_stopping: tuple[EarlyStoppingRule, ...]
    params: Mapping[str, Any] = field(hash=False)
    run: Run
    warnings: tuple[Issue, ...]

    @property
    def metric(self) -> Metric | None:
        """Return the metric that ranks trials (required for Hyperband, optional otherwise)."""
        section = self.hyperband or self.random_search or self.grid_search
        return section.metric if section is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe summary for storage and display."""
        sections = (self.hyperband, self.random_search, self.grid_search)
        hb, rs, gs = (asdict(s) if s is not None else None for s in sections)
        return {
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
            "algorithm": self.algorithm,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "hyperband": hb,
            "random_search": rs,
            "grid_search": gs,
            "matrix": {p.name: p.describe() for p in self.matrix.params},
            "matrix_kinds": {p.name: p.kind for p in self.matrix.params},
            "matrix_size": self.matrix.size,
            "early_stopping": [asdict(r) | {"rule": r.describe()} for r in self.early_stopping],
            "params": dict(self.params),
            "run": asdict(self.run),
            "warnings": [asdict(w) for w in self.warnings],
        }


def template_names(cmd: str) -> set[str]:
    """Return the names used as `{{ name }}` in a command."""
    return set(_TEMPLATE.findall(cmd))


def parse(text: str) -> SweepSpec:
    """Parse and validate a group polyaxonfile; raise SpecError listing every problem."""
    try:
        doc = yamlsource.load(text)
    except yamlsource.YamlSourceError as exc:
        raise SpecError([Issue(p.line, p.column, p.message) for p in exc.problems]) from None
    ctx = _Ctx(doc)
    spec = _build(ctx)
    if spec is None or ctx.errors:
        raise SpecError(ctx.errors or [Issue(1, 1, "invalid polyaxonfile")])
    return spec


# --- collecting issues -------------------------------------------------------------------


class _Bad:
    """Marks a value whose error has already been reported."""

    def __repr__(self) -> str:
        return "<invalid>"


_BAD: Any = _Bad()

Check = Callable[["_Ctx", Path, Any], Any]


class _Ctx:
    """The document being checked and the issues found so far."""

    def __init__(self, doc: yamlsource.Document) -> None:
        self.doc = doc
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self.valueless: set[str] = set()  # optional inputs without a value

    def where(self, path: Path, at_key: bool) -> Position:
        if not path:
            return yamlsource.START
        return self.doc.key_position(path) if at_key else self.doc.position(path)

    def error(self, path: Path, message: str, at_key: bool = False) -> Any:
        pos = self.where(path, at_key)
        self.errors.append(Issue(pos.line, pos.column, message))
        return _BAD

    def warn(self, path: Path, message: str, at_key: bool = False) -> None:
        pos = self.where(path, at_key)
        self.warnings.append(Issue(pos.line, pos.column, message))


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "the file"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 42 else text[:39] + "..."


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _is_bad(*values: Any) -> bool:
    return any(v is _BAD for v in values)


# --- a small table-driven section validator ------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """How one key of a section is checked."""

    check: Check
    required: bool = False
    default: Any = None
    keep_null: bool = False  # pass a null value to the check instead of using the default


def _section(
    ctx: _Ctx,
    path: Path,
    value: Any,
    fields: Mapping[str, _Field],
    ignored: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """Check a mapping against its field table; return the checked values (_BAD if invalid)."""
    if not isinstance(value, dict):
        ctx.error(path, f"{_dotted(path)} must be a mapping, got {_show(value)}")
        return None
    _unknown_keys(ctx, path, value, fields, ignored or {})
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        child = (*path, name)
        if name in value and (value[name] is not None or spec.keep_null or spec.required):
            out[name] = spec.check(ctx, child, value[name])
        elif spec.required:
            out[name] = ctx.error(path, f"{_dotted(path)} is missing '{name}'", at_key=True)
        else:
            out[name] = spec.default
    return out


_MOVED = {
    "matrix": "hptuning.matrix",
    "concurrency": "hptuning.concurrency",
    "hyperband": "hptuning.hyperband",
    "random_search": "hptuning.random_search",
    "grid_search": "hptuning.grid_search",
    "early_stopping": "hptuning.early_stopping",
    "seed": "hptuning.seed",
    "cmd": "run.cmd",
}


def _unknown_keys(
    ctx: _Ctx,
    path: Path,
    value: dict[Any, Any],
    fields: Mapping[str, Any],
    ignored: Mapping[str, str],
) -> None:
    for key in value:
        if key in fields:
            continue
        if key in ignored:
            ctx.warn((*path, key), ignored[key], at_key=True)
            continue
        where = f"in {_dotted(path)}" if path else "at the top level"
        hint = _hint(str(key), list(fields))
        if not path and key in _MOVED:
            hint = f"; did you mean '{_MOVED[key]}'?"
        ctx.error((*path, key), f"unknown key {_show(key)} {where}{hint}", at_key=True)


# --- scalar checks --------------------------------------------------------------------------


def _integer(minimum: int, maximum: int | None = None) -> Check:
    def check(ctx: _Ctx, path: Path, value: Any) -> Any:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and value >= minimum and (maximum is None or value <= maximum):
            return value
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        return ctx.error(path, f"{_dotted(path)} must be an integer {bound}, got {_show(value)}")

    return check


def _number(minimum: float, maximum: float | None = None, strict: bool = False) -> Check:
    def check(ctx: _Ctx, path: Path, value: Any) -> Any:
        if _is_number(value) and _within(value, minimum, maximum, strict):
            return value
        low = f"> {minimum}" if strict else f">= {minimum}"
        bound = low if maximum is None else f"{low} and <= {maximum}"
        return ctx.error(path, f"{_dotted(path)} must be a number {bound}, got {_show(value)}")

    return check


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too big for a float: no field here can use it
        return False


def _within(value: float, minimum: float, maximum: float | None, strict: bool) -> bool:
    above = value > minimum if strict else value >= minimum
    return above and (maximum is None or value <= maximum)


def _finite(ctx: _Ctx, path: Path, value: Any) -> Any:
    if _is_number(value):
        return float(value)
    return ctx.error(path, f"{_dotted(path)} must be a finite number, got {_show(value)}")


def _string(max_length: int | None = None) -> Check:
    def check(ctx: _Ctx, path: Path, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and len(value) <= (max_length or len(value)):
            return value
        limit = f" of at most {max_length} characters" if max_length else ""
        return ctx.error(
            path, f"{_dotted(path)} must be a non-empty string{limit}, got {_show(value)}"
        )

    return check


def _identifier(ctx: _Ctx, path: Path, value: Any) -> Any:
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return value
    message = f"{_dotted(path)} must be an identifier (letters, digits, _), got {_show(value)}"
    return ctx.error(path, message)


def _boolean(ctx: _Ctx, path: Path, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return ctx.error(path, f"{_dotted(path)} must be true or false, got {_show(value)}")


def _spellings(*words: str) -> dict[str, str]:
    """Accept each word as written, in capitals and capitalized (Polyaxon's spellings)."""
    return {form: word for word in words for form in (word, word.upper(), word.capitalize())}


def _choice(accepted: Mapping[str, str]) -> Check:
    canonical = sorted(set(accepted.values()))

    def check(ctx: _Ctx, path: Path, value: Any) -> Any:
        if isinstance(value, str) and value in accepted:
            return accepted[value]
        hint = _hint(str(value).lower(), canonical) if isinstance(value, str) else ""
        options = " or ".join(repr(c) for c in canonical)
        return ctx.error(path, f"{_dotted(path)} must be {options}, got {_show(value)}{hint}")

    return check


_OPTIMIZATION = _choice(_spellings(MINIMIZE, MAXIMIZE))


def _scalar_value(ctx: _Ctx, path: Path, value: Any) -> Any:
    """Accept a template value: a string, a boolean or a finite number."""
    if isinstance(value, str | bool) or _is_number(value):
        return value
    message = f"{_dotted(path)} must be a string, number or boolean, got {_show(value)}"
    return ctx.error(path, message)


# --- top level -----------------------------------------------------------------------------


_IGNORED_TOP = {
    name: f"section '{name}' is ignored: {why}"
    for name, why in {
        "build": "trials run as local processes in hbsite's environment",
        "environment": "trials run as local processes; resources come from the workers",
        "framework": "hbsite runs any command; there is no framework integration",
        "backend": "hbsite runs trials itself",
        "logging": "trial output is captured by hbsite",
        "tags": "hbsite does not use tags",
        "description": "hbsite does not store a description",
        "settings": "old Polyaxon settings are not read; use hptuning",
        "project": "the sweep belongs to the team it is uploaded to",
        "outputs": "hbsite does not manage outputs",
    }.items()
}


def _version(ctx: _Ctx, path: Path, value: Any) -> Any:
    if _is_number(value) and value == 1:
        return 1
    return ctx.error(path, f"version must be 1 (Polyaxon v0 polyaxonfile), got {_show(value)}")


def _kind(ctx: _Ctx, path: Path, value: Any) -> Any:
    if value == "group":
        return "group"
    message = f"kind must be 'group' (an hptuning sweep), got {_show(value)}"
    return ctx.error(path, message)


def _build(ctx: _Ctx) -> SweepSpec | None:
    root = ctx.doc.value
    if not isinstance(root, dict):
        what = "empty" if root is None else f"{_show(root)}, not a mapping of sections"
        ctx.error((), f"the file is {what}: expected version, kind, hptuning and run")
        return None
    top = _section(ctx, (), root, _TOP_FIELDS, _IGNORED_TOP)
    assert top is not None  # root is a mapping
    params = _template_values(ctx, root, top)
    _check_names(ctx, root)
    _check_templates(ctx, root, params)
    return _assemble(ctx, top, params)


def _assemble(ctx: _Ctx, top: dict[str, Any], params: dict[str, Any]) -> SweepSpec | None:
    hp, run = top["hptuning"], top["run"]
    if _is_bad(*top.values()) or ctx.errors:
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
        matrix=hp["matrix"],
        early_stopping=hp["early_stopping"],
        params=MappingProxyType(params),
        run=run,
        warnings=tuple(sorted(ctx.warnings)),
    )


# --- hptuning -------------------------------------------------------------------------------


def _hyperband(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, {} if value is None else value, _HYPERBAND_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    max_iter = _max_iter_for(ctx, (*path, "max_iter"), got["max_iter"], got["resource"])
    if max_iter is _BAD:
        return _BAD
    if max_iter < got["eta"]:
        ctx.warn((*path, "max_iter"), "max_iter < eta: Hyperband runs a single bracket")
    return Hyperband(
        max_iter, got["eta"], got["resource"], got["metric"], got["resume"], got["sizing"]
    )


def _max_iter_for(ctx: _Ctx, path: Path, max_iter: Any, resource: Resource) -> Any:
    if resource.type == "float" or isinstance(max_iter, int):
        return max_iter
    if float(max_iter).is_integer():
        return int(max_iter)
    message = f"{_dotted(path)} must be an integer when the resource type is int, got {max_iter!r}"
    return ctx.error(path, message)


def _resource(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, value, _RESOURCE_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    if got["type"] is None:
        ctx.warn(
            path, f"{_dotted(path)}.type not given: using 'int' (Polyaxon v0 used float)", True
        )
    return Resource(got["name"], got["type"] or "int")


def _metric(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, value, _METRIC_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    if got["optimization"] is None:
        message = (
            f"{_dotted(path)}.optimization not given: using 'minimize' (Polyaxon v0: maximize)"
        )
        ctx.warn(path, message, True)
    return Metric(got["name"], got["optimization"] or MINIMIZE)


def _random_search(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, {} if value is None else value, _RANDOM_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    return RandomSearch(got["n_experiments"], got["metric"])


def _grid_search(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, {} if value is None else value, _GRID_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    return GridSearch(got["n_experiments"], got["metric"])


def _bayesian(ctx: _Ctx, path: Path, value: Any) -> Any:
    message = "bayesian optimization ('bo') is not supported: use " + " or ".join(ALGORITHMS)
    return ctx.error(path, message, at_key=True)


def _matrix(ctx: _Ctx, path: Path, value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        what = "empty" if value == {} else _show(value)
        message = f"{_dotted(path)} must map parameter names to kinds, got {what}"
        return ctx.error(path, message)
    params = [_param(ctx, (*path, name), name, entry) for name, entry in value.items()]
    if _is_bad(*params):
        return _BAD
    try:
        return Space(params=tuple(params))
    except SpaceError as exc:
        return ctx.error(path, str(exc))


def _param(ctx: _Ctx, path: Path, name: Any, entry: Any) -> Distribution | Any:
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        message = (
            f"matrix parameter names must be identifiers (letters, digits, _), got {_show(name)}"
        )
        return ctx.error(path, message, at_key=True)
    try:
        dist = parse_param(name, entry)
    except SpaceError as exc:
        return ctx.error(path, str(exc))
    except (ValueError, ArithmeticError) as exc:  # e.g. a number too big for a float
        return ctx.error(path, f"Parameter '{name}': cannot be read ({exc}).")
    total = sum(dist.weights or (1.0,))
    if total < 1 - PVALUES_TOLERANCE:
        message = f"Parameter '{name}': pvalues probabilities sum to {total:g}, not 1; "
        ctx.warn(path, message + "they are used in proportion")
    return dist


def _early_stopping(ctx: _Ctx, path: Path, value: Any) -> Any:
    if not isinstance(value, list):
        return ctx.error(path, f"{_dotted(path)} must be a list of rules, got {_show(value)}")
    rules = [_rule(ctx, (*path, index), item) for index, item in enumerate(value)]
    return _BAD if _is_bad(*rules) else tuple(rules)


def _rule(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, value, _RULE_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    return EarlyStoppingRule(got["metric"], got["value"], got["optimization"])


def _policy(ctx: _Ctx, path: Path, value: Any) -> Any:
    accepted = _spellings("all", "group")
    if isinstance(value, str) and value in accepted:
        return accepted[value]
    message = f"{_dotted(path)} must be 'all' (hbsite stops the whole sweep), got {_show(value)}"
    return ctx.error(path, message)


def _hptuning(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, value, _HPTUNING_FIELDS)
    if got is None:
        return _BAD
    got["algorithm"] = _algorithm(ctx, path, value)
    if got["algorithm"] == "grid_search" and not _is_bad(got["matrix"], got["grid_search"]):
        _check_grid(ctx, path, got["matrix"], got["grid_search"])
    return _BAD if _is_bad(*got.values()) else got


def _algorithm(ctx: _Ctx, path: Path, value: dict[Any, Any]) -> Any:
    present = [name for name in value if name in ALGORITHMS]
    if not present and "bo" in value:
        return _BAD  # reported by the bo check
    if not present:
        message = f"hptuning needs a search algorithm: {', '.join(ALGORITHMS)}"
        return ctx.error(path, message, at_key=True)
    for extra in present[1:]:
        message = f"only one search algorithm is allowed, found {' and '.join(present)}"
        ctx.error((*path, extra), message, at_key=True)
    return present[0] if len(present) == 1 else _BAD


def _check_grid(ctx: _Ctx, path: Path, space: Space, grid: GridSearch) -> None:
    for param in space.params:
        if not param.is_discrete:
            message = f"grid_search needs discrete parameters, but '{param.name}' is {param.kind}"
            ctx.error((*path, "matrix", param.name), message)
    size = space.size
    if grid.n_experiments is None and size is not None and size > MAX_EXPERIMENTS:
        message = f"the grid has {size} points; set grid_search.n_experiments <= {MAX_EXPERIMENTS}"
        ctx.error((*path, "grid_search"), message, at_key=True)


# --- run ------------------------------------------------------------------------------------


def _cmd(ctx: _Ctx, path: Path, value: Any) -> Any:
    if isinstance(value, list) and value:
        parts = [_string()(ctx, (*path, i), part) for i, part in enumerate(value)]
        return _BAD if _is_bad(*parts) else " && ".join(parts)
    if isinstance(value, str) and value.strip():
        return value
    message = f"{_dotted(path)} must be a command string or a list of them, got {_show(value)}"
    return ctx.error(path, message)


def _run(ctx: _Ctx, path: Path, value: Any) -> Any:
    got = _section(ctx, path, value, _RUN_FIELDS)
    if got is None or _is_bad(*got.values()):
        return _BAD
    timeout = None if got["timeout"] is None else float(got["timeout"])
    return Run(got["cmd"], got["workdir"], timeout, got["max_retries"])


# --- declarations, inputs, params -----------------------------------------------------------


def _declarations(ctx: _Ctx, path: Path, value: Any) -> Any:
    if not isinstance(value, dict):
        return ctx.error(path, f"{_dotted(path)} must be a mapping, got {_show(value)}")
    out = {}
    for name, item in value.items():
        child = (*path, name)
        if isinstance(name, str) and _IDENTIFIER.fullmatch(name):
            out[name] = _scalar_value(ctx, child, item)
        else:
            message = f"{_dotted(path)} names must be identifiers (letters, digits, _)"
            out[name] = ctx.error(child, f"{message}, got {_show(name)}", at_key=True)
    return _BAD if _is_bad(*out.values()) else out


def _inputs(ctx: _Ctx, path: Path, value: Any) -> Any:
    if not isinstance(value, list):
        return ctx.error(path, f"inputs must be a list, got {_show(value)}")
    items = [_section(ctx, (*path, i), item, _INPUT_FIELDS) for i, item in enumerate(value)]
    if any(item is None or _is_bad(*item.values()) for item in items):
        return _BAD
    return items


def _input_type(ctx: _Ctx, path: Path, value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    return ctx.error(
        path, f"{_dotted(path)} must be a type name like int or str, got {_show(value)}"
    )


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: _is_number(v),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
}


def _template_values(ctx: _Ctx, root: dict[Any, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge declarations, input values and `params` into the template namespace."""
    values: dict[str, Any] = {}
    if isinstance(top["declarations"], dict):
        values.update(top["declarations"])
    if top["inputs"] is _BAD:
        return values  # params cannot be matched to inputs that failed their own checks
    inputs = top["inputs"]
    given = top["params"] if isinstance(top["params"], dict) else {}
    declared = {item["name"] for item in inputs}
    for name in given:
        if name not in declared:
            hint = _hint(name, sorted(declared))
            ctx.error(("params", name), f"params sets '{name}', which is not an input{hint}", True)
    for index, item in enumerate(inputs):
        _input_value(ctx, ("inputs", index), item, given, values)
    return values


def _input_value(
    ctx: _Ctx, path: Path, item: dict[str, Any], given: dict[str, Any], values: dict[str, Any]
) -> None:
    name = item["name"]
    if name in values:
        ctx.error((*path, "name"), f"input '{name}' is defined twice (declarations or inputs)")
        return
    source, value = _input_source(item, given)
    if source is None:
        ctx.valueless.add(name)
        if not item["is_optional"]:
            ctx.error((*path, "name"), f"input '{name}' has no value: give a default or params")
        return
    test = _TYPE_TESTS.get((item["type"] or "").lower())
    if test is not None and not test(value):
        where = ("params", name) if source == "params" else (*path, source)
        ctx.error(where, f"input '{name}' is of type {item['type']}, got {_show(value)}")
        return
    values[name] = value


def _input_source(item: dict[str, Any], given: dict[str, Any]) -> tuple[str | None, Any]:
    for source, value in (("params", given.get(item["name"])), ("value", item["value"])):
        if value is not None:
            return source, value
    return ("default", item["default"]) if item["default"] is not None else (None, None)


# --- cross-section checks -------------------------------------------------------------------


def _raw(root: Any, *path: Any) -> Any:
    node = root
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _resource_name(root: dict[Any, Any]) -> str | None:
    name = _raw(root, "hptuning", "hyperband", "resource", "name")
    return name if isinstance(name, str) else None


def _matrix_names(root: dict[Any, Any]) -> list[str]:
    matrix = _raw(root, "hptuning", "matrix")
    return [k for k in matrix if isinstance(k, str)] if isinstance(matrix, dict) else []


def _value_names(root: dict[Any, Any]) -> list[tuple[Path, str]]:
    """Return each declaration and input name with the path where it is defined."""
    names: list[tuple[Path, str]] = []
    declarations = _raw(root, "declarations")
    if isinstance(declarations, dict):
        names += [(("declarations", k), k) for k in declarations if isinstance(k, str)]
    inputs = _raw(root, "inputs")
    for index, item in enumerate(inputs if isinstance(inputs, list) else []):
        name = _raw(item, "name")
        if isinstance(name, str):
            names.append((("inputs", index, "name"), name))
    return names


def _check_names(ctx: _Ctx, root: dict[Any, Any]) -> None:
    """Report names that would mean two things in a command template."""
    resource = _resource_name(root)
    matrix = _matrix_names(root)
    if resource is not None and resource in matrix:
        message = f"matrix parameter '{resource}' has the name of the hyperband resource"
        ctx.error(("hptuning", "matrix", resource), message, at_key=True)
    taken = set(matrix) | ({resource} if resource else set())
    for path, name in _value_names(root):
        if name in taken:
            message = f"'{name}' is already a matrix parameter or the hyperband resource"
            ctx.error(path, message, at_key=path[0] == "declarations")


def _check_templates(ctx: _Ctx, root: dict[Any, Any], params: Mapping[str, Any]) -> None:
    """Report every `{{ ... }}` in run.cmd that names nothing known."""
    known = set(_matrix_names(root)) | set(params) | {_resource_name(root) or ""}
    # Names whose definition failed are reported there; do not report every use as well.
    known |= {name for _, name in _value_names(root)} - ctx.valueless
    cmd = _raw(root, "run", "cmd")
    pieces = list(enumerate(cmd)) if isinstance(cmd, list) else [(None, cmd)]
    for index, piece in pieces:
        if isinstance(piece, str):
            path: Path = ("run", "cmd") if index is None else ("run", "cmd", index)
            _check_piece(ctx, path, piece, known)


def _check_piece(ctx: _Ctx, path: Path, text: str, known: set[str]) -> None:
    for match in _ANY_TEMPLATE.finditer(text):
        if not _IDENTIFIER.fullmatch(match.group(1).strip()):
            message = f"unsupported template {match.group(0)!r}: only {{{{ name }}}} is allowed"
            ctx.error(path, message)
    unknown = sorted(template_names(text) - known)
    for name in sorted(set(unknown) & ctx.valueless):
        message = f"run.cmd uses input '{name}', which has no value: give it a default"
        ctx.error(path, message)
    unknown = [name for name in unknown if name not in ctx.valueless]
    if unknown:
        names = ", ".join(f"'{n}'" for n in unknown)
        hint = _hint(unknown[0], sorted(known - {""})) if len(unknown) == 1 else ""
        ctx.error(path, f"run.cmd uses unknown template variable(s) {names}{hint}")


# --- field tables ---------------------------------------------------------------------------


_RESOURCE_FIELDS = {
    "name": _Field(_identifier, required=True),
    "type": _Field(_choice(_spellings("int", "float"))),
}
_METRIC_FIELDS = {
    "name": _Field(_string(), required=True),
    "optimization": _Field(_OPTIMIZATION),
}
_HYPERBAND_FIELDS = {
    "max_iter": _Field(_number(1, MAX_ITER), required=True),
    "eta": _Field(_integer(2), required=True),
    "resource": _Field(_resource, required=True),
    "metric": _Field(_metric, required=True),
    "resume": _Field(_boolean, default=False),
    "sizing": _Field(_choice({s: s for s in SIZINGS}), default=SIZINGS[0]),
}
_RANDOM_FIELDS = {
    "n_experiments": _Field(_integer(1, MAX_EXPERIMENTS), required=True),
    "metric": _Field(_metric),
}
_GRID_FIELDS = {"n_experiments": _Field(_integer(1, MAX_EXPERIMENTS)), "metric": _Field(_metric)}
_RULE_FIELDS = {
    "metric": _Field(_string(), required=True),
    "value": _Field(_finite, required=True),
    "optimization": _Field(_OPTIMIZATION, required=True),
    "policy": _Field(_policy, default="all"),
}
_HPTUNING_FIELDS = {
    "concurrency": _Field(_integer(1, MAX_CONCURRENCY), default=1),
    "seed": _Field(_integer(0, MAX_SEED)),
    "hyperband": _Field(_hyperband, keep_null=True),
    "random_search": _Field(_random_search, keep_null=True),
    "grid_search": _Field(_grid_search, keep_null=True),
    "bo": _Field(_bayesian, keep_null=True),
    "matrix": _Field(_matrix, required=True),
    "early_stopping": _Field(_early_stopping, default=()),
}
_RUN_FIELDS = {
    "cmd": _Field(_cmd, required=True),
    "workdir": _Field(_string()),
    "timeout": _Field(_number(0, strict=True)),
    "max_retries": _Field(_integer(0, MAX_RETRIES)),
}
_INPUT_FIELDS = {
    "name": _Field(_identifier, required=True),
    "type": _Field(_input_type),
    "default": _Field(_scalar_value),
    "value": _Field(_scalar_value),
    "is_optional": _Field(_boolean, default=False),
    "description": _Field(_string()),
    "is_list": _Field(_boolean, default=False),
    "is_flag": _Field(_boolean, default=False),
    "options": _Field(lambda ctx, path, value: value),
}
_TOP_FIELDS = {
    "version": _Field(_version, required=True),
    "kind": _Field(_kind, required=True),
    "name": _Field(_string(MAX_NAME)),
    "declarations": _Field(_declarations, default={}),
    "inputs": _Field(_inputs, default=[]),
    "params": _Field(_declarations, default={}),
    "hptuning": _Field(_hptuning, required=True),
    "run": _Field(_run, required=True),
}
