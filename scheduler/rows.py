"""Read and save the rows a scheduling round locks, with SQL written once.

A scheduling round locks its sweep and trials, ends and claims several trials at once
(scheduler.handoff). Through the ORM, each of those statements cost more CPU to compile
than PostgreSQL took to run it: a `Model.save(update_fields=...)` ~0.7 ms per row, a
`select_for_update()` query ~1 ms, a `raw()` query ~0.5 ms; Django's `bulk_update` builds a
CASE expression per field and row, which costs more still. Here:

- `fetch` runs a fixed SELECT of `columns(model)` and makes model instances of its rows,
  each value converted by its field as the ORM converts it (`from_db_value`);
- `save_fields` writes fields of several rows in one `UPDATE ... FROM (VALUES ...)`, each
  value prepared by its field (`get_db_prep_save`), so it is stored as `save` stores it.

Both keep what they work out of a model (columns, casts, statements) for the next call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def quote(name: str) -> str:
    """Quote a table or column name as PostgreSQL does (no connection needed: statements
    are built at import, also where no database is configured)."""
    return f'"{name}"'


@functools.cache
def columns(model: type[models.Model]) -> str:
    """Return the model's columns, quoted, in the order `fetch` reads them."""
    return ", ".join(quote(field.column) for field in model._meta.concrete_fields)


@functools.cache
def _readers(model: type[models.Model]) -> tuple[list[str], list[tuple[int, Callable[..., Any]]]]:
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    return names, converters


def fetch(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """Run `sql`, a SELECT of `columns(model)` (in that order), and return its rows as saved
    instances of `model`."""
    names, converters = _readers(model)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = []
    for row in found:
        values = list(row)
        for index, convert in converters:
            values[index] = convert(values[index], None, connection)
        rows.append(model.from_db(connection.alias, names, values))
    return rows


@functools.lru_cache(maxsize=256)  # a model's field sets, times the rows a round has
def _update(
    model: type[models.Model], fields: tuple[str, ...], count: int
) -> tuple[str, list[models.Field[Any, Any]]]:
    meta = model._meta
    written = [meta.pk, *(meta.get_field(name) for name in fields)]
    casts = ", ".join(f"%s::{cast_type(field)}" for field in written)
    values = ", ".join([f"({casts})"] * count)
    names = ", ".join(quote(field.column) for field in written)
    assigned = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in written[1:])
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assigned} "
        f"FROM (VALUES {values}) AS v({names}) WHERE t.{pk} = v.{pk}"
    )
    return sql, written  # type: ignore[return-value]


def cast_type(field: models.Field[Any, Any]) -> str:
    """Return the type a VALUES row casts a field's value to: its own, but a text field's
    without its length, since an explicit cast to varchar(n) cuts a longer value short
    where the column's own check refuses it (as `save` has it refused)."""
    if isinstance(field, models.CharField):
        return connection.ops.cast_char_field_without_max_length
    return field.cast_db_type(connection)


def save_fields(rows: Sequence[models.Model], fields: Iterable[str]) -> None:
    """Write `fields` (model field names) of `rows`, saved instances of one model, in one
    statement; nothing when `rows` is empty.

    Meant for rows the caller has locked in its transaction: every row gets all of `fields`,
    so a field changed on one row only is written unchanged on the others. Neither `save`'s
    signals nor a field's `pre_save` (auto_now) run. Raises ValueError for an unsaved row or
    rows of several models.
    """
    if not rows:
        return
    model = type(rows[0])
    if any(type(row) is not model or row.pk is None for row in rows):
        raise ValueError("save_fields takes saved rows of one model")
    sql, written = _update(model, tuple(dict.fromkeys(fields)), len(rows))
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in written
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
