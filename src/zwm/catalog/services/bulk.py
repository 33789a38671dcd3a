"""Fast multi-row inserts on SQLite, PostgreSQL and MariaDB, for the sync's hot path.

A first sync writes tens of thousands of task rows. Profiled, the ORM's per-object work and
the drivers' quirks cost more than the database itself, so rows go through here instead:

* **one statement for many rows**, never ``executemany``: SQLite's driver releases and
  re-takes the GIL for every row it steps, and each re-take waits behind the threads
  parsing exports (up to the 5 ms switch interval) -- one statement pays that once;
* **SQLite's real parameter limit** (250,000 since 3.32), not the 999 Django assumes, and
  qmark placeholders handed to the driver as they are;
* **PostgreSQL is different**: Django's psycopg cursors bind client-side, escaping every
  value with regular expressions, and psycopg parses long statements' placeholders in
  Python -- together over half the CPU of a first sync, profiled -- so there a short
  statement is pipelined for every row by a cursor that binds server-side;
* **at most** :data:`ROWS_PER_STATEMENT` rows per statement: task parameters can be large,
  and MariaDB refuses a packet over ``max_allowed_packet``.

Values must already be database values (``field.get_db_prep_save``). Only quoted
identifiers of our own tables are interpolated into SQL; every value is a parameter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import Model

ROWS_PER_STATEMENT = 200


def _max_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return connection.features.max_query_params or 65_535


@contextmanager
def _django_errors() -> Iterator[None]:
    """Raise the drivers' errors as Django's, as Django's own cursors do.

    The statements here go to the drivers' cursors directly (see the module docstring), so
    a duplicate key arrives as ``sqlite3.IntegrityError`` or ``psycopg.errors.UniqueViolation``
    -- which a caller's ``except django.db.IntegrityError`` does not catch. Django's wrapper
    maps them (and marks the connection's transaction state correctly).
    """
    with connection.wrap_database_errors:
        yield


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: str | None = None,
    types: Sequence[str] | None = None,
) -> list[Any]:
    """Insert ``rows`` in as few statements as allowed; the ``returning`` column's values, in order.

    ``types`` (PostgreSQL type names of the columns) allow a binary ``COPY`` on PostgreSQL.
    """
    if not rows:
        return []
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608
    sqlite = connection.vendor == "sqlite"
    row_sql = "(" + ", ".join(["?" if sqlite else "%s"] * len(columns)) + ")"
    tail = f" RETURNING {quote(returning)}" if returning else ""
    returned: list[Any] = []
    if connection.vendor == "postgresql":
        with _django_errors():
            if returning is None and types is not None:
                _copy_pg(table, columns, types, rows)
                return []
            return _insert_pg(head + row_sql + tail, rows, returning=returning is not None)
    per_statement = max(1, min(ROWS_PER_STATEMENT, _max_params() // len(columns)))
    with connection.cursor() as cursor, _django_errors():
        # SQLite: qmark placeholders straight to the driver's cursor. Django's wrapper would
        # rewrite every ``%s`` of a statement of thousands with a regular expression first.
        execute = partial(sqlite3.Cursor.execute, cursor.cursor) if sqlite else cursor.execute
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            execute(head + ", ".join([row_sql] * len(chunk)) + tail, [v for row in chunk for v in row])
            if returning:
                returned.extend(row[0] for row in cursor.fetchall())
    return returned


def _copy_pg(table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL without ``RETURNING``: a binary ``COPY`` -- no statement to parse, no value
    to escape (text ``COPY`` escapes JSON's backslashes with regular expressions)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        raw: Any = cursor.cursor  # psycopg's own cursor, for COPY
        sql = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN (FORMAT BINARY)"
        with raw.copy(sql) as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)


def _insert_pg(sql: str, rows: Sequence[Sequence[Any]], *, returning: bool) -> list[Any]:
    """PostgreSQL: one single-row statement, sent for every row in a pipeline (psycopg's
    ``executemany``) by a cursor that binds server-side. psycopg parses a statement's
    placeholders in Python and caches only short statements, so a multi-row ``VALUES`` list
    costs more to prepare than this costs to send."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.executemany(sql, rows, returning=returning)
        if not returning:
            return []
        returned: list[Any] = []
        while True:
            returned.extend(row[0] for row in cursor.fetchall())
            if not cursor.nextset():
                return returned


def insert_models(objs: Sequence[Model]) -> None:
    """Insert new model instances of one model and set their primary keys.

    Through :func:`insert_rows` where the backend returns inserted rows (SQLite, PostgreSQL,
    MariaDB), in order; otherwise Django's ``bulk_create``.
    """
    if not objs:
        return
    model = type(objs[0])
    if not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.bulk_create(objs)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    pk = model._meta.pk
    assert pk is not None
    ids = insert_rows(model._meta.db_table, [str(f.column) for f in fields], rows, returning=pk.column)
    for obj, value in zip(objs, ids, strict=True):
        obj.pk = value
        obj._state.adding = False
