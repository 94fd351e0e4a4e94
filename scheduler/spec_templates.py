"""Command templates: the values `{{ name }}` can take, and the names run.cmd may use.

Values come from `declarations`, `inputs` and the top-level `params`; the checks here also
report names that would mean two things in a template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from scheduler import command
from scheduler.spec_fields import (
    BAD,
    IDENTIFIER,
    Context,
    Field,
    boolean,
    dotted,
    identifier,
    is_bad,
    is_number,
    scalar_value,
    section,
    show,
    string,
    suggestion,
)
from scheduler.yamlsource import Path

_ANY_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")  # no backtracking: linear on "{{{{..."


def template_names(cmd: str) -> set[str]:
    """Return the names used as `{{ name }}` in a command."""
    return set(command.PLACEHOLDER.findall(cmd))


# --- declarations, inputs, params -----------------------------------------------------------


def check_declarations(ctx: Context, path: Path, value: Any) -> Any:
    """Check `declarations` (or `params`): identifiers mapped to scalar values."""
    if not isinstance(value, dict):
        return ctx.error(path, f"{dotted(path)} must be a mapping, got {show(value)}")
    out = {}
    for name, item in value.items():
        child = (*path, name)
        if isinstance(name, str) and IDENTIFIER.fullmatch(name):
            out[name] = scalar_value(ctx, child, item)
        else:
            message = f"{dotted(path)} names must be identifiers (letters, digits, _)"
            out[name] = ctx.error(child, f"{message}, got {show(name)}", at_key=True)
    return BAD if is_bad(*out.values()) else out


def check_inputs(ctx: Context, path: Path, value: Any) -> Any:
    """Check the `inputs` list; return its checked items, or BAD."""
    if not isinstance(value, list):
        return ctx.error(path, f"inputs must be a list, got {show(value)}")
    items = [section(ctx, (*path, i), item, _INPUT_FIELDS) for i, item in enumerate(value)]
    if any(item is None or is_bad(*item.values()) for item in items):
        return BAD
    return items


def _input_type(ctx: Context, path: Path, value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    return ctx.error(path, f"{dotted(path)} must be a type name like int or str, got {show(value)}")


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: is_number(v),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
}

_INPUT_FIELDS = {
    "name": Field(identifier, required=True),
    "type": Field(_input_type),
    "default": Field(scalar_value),
    "value": Field(scalar_value),
    "is_optional": Field(boolean, default=False),
    "description": Field(string()),
    "is_list": Field(boolean, default=False),
    "is_flag": Field(boolean, default=False),
    "options": Field(lambda ctx, path, value: value),
}


def template_values(ctx: Context, root: dict[Any, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge declarations, input values and `params` into the template namespace.

    Without inputs, `params` are plain values like `declarations` (Polyaxon v0.5 renamed
    declarations to params: `BaseOpConfig.get_params` returns them as they are when no input
    is declared); with inputs, each of them must set an input.
    """
    values: dict[str, Any] = {}
    if isinstance(top["declarations"], dict):
        values.update(top["declarations"])
    if top["inputs"] is BAD:
        return values  # params cannot be matched to inputs that failed their own checks
    inputs = top["inputs"]
    given = top["params"] if isinstance(top["params"], dict) else {}
    if not inputs:
        for name, value in given.items():
            if name in values:
                message = f"'{name}' is set in both declarations and params"
                ctx.error(("params", name), message, at_key=True)
            values[name] = value
        return values
    declared = {item["name"] for item in inputs}
    for name in given:
        if name not in declared:
            hint = suggestion(name, sorted(declared))
            ctx.error(("params", name), f"params sets '{name}', which is not an input{hint}", True)
    for index, item in enumerate(inputs):
        _input_value(ctx, ("inputs", index), item, given, values)
    return values


def _input_value(
    ctx: Context, path: Path, item: dict[str, Any], given: dict[str, Any], values: dict[str, Any]
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
        ctx.error(where, f"input '{name}' is of type {item['type']}, got {show(value)}")
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
    params = _raw(root, "params")
    if not inputs and isinstance(params, dict):  # params are plain values without inputs
        names += [(("params", k), k) for k in params if isinstance(k, str)]
    return names


def check_names(ctx: Context, root: dict[Any, Any]) -> None:
    """Report names that would mean two things in a command template.

    A declaration or input may share its name with a matrix parameter or the Hyperband
    resource, as Polyaxon's quick-start files do (every hyperparameter an input with a default,
    some searched in the matrix): each trial gets the matrix value, and the rung's resource
    beats both. That is a note (warning). A matrix parameter named as the resource is an error.
    """
    resource = _resource_name(root)
    matrix = _matrix_names(root)
    if resource is not None and resource in matrix:
        message = f"matrix parameter '{resource}' has the name of the hyperband resource"
        ctx.error(("hptuning", "matrix", resource), message, at_key=True)
    for path, name in _value_names(root):
        if name == resource:
            what = "the hyperband resource: each trial gets its rung's resource"
        elif name in matrix:
            what = "a matrix parameter: each trial gets its matrix value"
        else:
            continue
        kind = {"inputs": "input", "params": "param"}.get(str(path[0]), "declaration")
        message = f"{kind} '{name}' is also {what}, not the value given here"
        ctx.warn(path, message, at_key=path[0] != "inputs")


def check_templates(ctx: Context, root: dict[Any, Any], params: Mapping[str, Any]) -> None:
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


def _check_piece(ctx: Context, path: Path, text: str, known: set[str]) -> None:
    for problem in command.problems(text):
        ctx.error(path, problem)
    for match in _ANY_TEMPLATE.finditer(text):
        if not IDENTIFIER.fullmatch(match.group(1).strip()):
            message = f"unsupported template {match.group(0)!r}: only {{{{ name }}}} is allowed"
            ctx.error(path, message)
    unknown = sorted(template_names(text) - known)
    for name in sorted(set(unknown) & ctx.valueless):
        message = f"run.cmd uses input '{name}', which has no value: give it a default"
        ctx.error(path, message)
    unknown = [name for name in unknown if name not in ctx.valueless]
    if unknown:
        names = ", ".join(f"'{n}'" for n in unknown)
        hint = suggestion(unknown[0], sorted(known - {""})) if len(unknown) == 1 else ""
        ctx.error(path, f"run.cmd uses unknown template variable(s) {names}{hint}")
