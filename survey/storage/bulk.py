"""Bulk writes inside the session's open transaction: COPY on PostgreSQL, executemany on SQLite.

An import writes millions of answer rows; through ORM or Core inserts each row costs tens of microseconds
of parameter handling (and on PostgreSQL one pipelined statement per row), through COPY or the driver's
own executemany it costs about one. Rows go in the session's transaction, so they commit or roll back
with the rest of it. Column defaults of the model are not applied: callers give every column they need.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa


def next_ids(session, table: sa.Table, n: int) -> list[int]:
    """n fresh primary keys for ``table`` (its single integer id), reserved inside the transaction.

    PostgreSQL draws them from the column's sequence; SQLite continues after the largest id (the import
    holds SQLite's only write lock, so nobody else can take them meanwhile).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return connection.execute(sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                  {"t": table.name, "n": n}).scalars().all()
    first = (connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
    return list(range(first, first + n))


def insert_rows(session, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert rows (tuples in ``columns`` order, Python values: int, str, bytes, bool, datetime, None)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in columns]
    if any(processors):  # e.g. SQLite keeps datetimes as text: convert the way SQLAlchemy would
        rows = (tuple(p(v) if p else v for p, v in zip(processors, row)) for row in rows)
    marks = ", ".join("?" * len(columns))
    connection.connection.driver_connection.cursor().executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
