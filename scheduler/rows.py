"""Save fields of several locked rows of one model in one UPDATE statement.

A scheduling round ends and claims several trials at once (scheduler.handoff); saving each
with `Model.save(update_fields=...)` cost a round trip and ~0.7 ms of the ORM's CPU per row,
and Django's `bulk_update` builds a CASE expression per field and row, which costs more.
Here one `UPDATE ... FROM (VALUES ...)` writes them all: the values are prepared by each
field itself (`get_db_prep_save`), so they are stored exactly as `save` stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


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
    meta = model._meta
    if any(type(row) is not model or row.pk is None for row in rows):
        raise ValueError("save_fields takes saved rows of one model")
    columns = [meta.pk, *(meta.get_field(name) for name in dict.fromkeys(fields))]
    quote = connection.ops.quote_name
    casts = ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns)
    values = ", ".join([f"({casts})"] * len(rows))
    names = ", ".join(quote(field.column) for field in columns)
    assigned = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assigned} "
        f"FROM (VALUES {values}) AS v({names}) WHERE t.{pk} = v.{pk}"
    )
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
