"""Bulk movement of frames between polars and the database, by dialect, inside the caller's transaction.

PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` fed by polars' CSV writer, and ``COPY (query) TO STDOUT`` read back
by polars' CSV reader — the server parses, no Python per row. CSV keeps NULL (an empty field) apart from the empty
string (``""``) in both directions. SQLite: ``executemany`` over large batches of plain tuples built column by
column; reads go through ``fetchall`` into one frame. Neither path goes through the ORM.
"""

from __future__ import annotations

import io

import polars as pl
import sqlalchemy as sa

SQLITE_BATCH = 100_000
COPY_BATCH = 500_000


def dbapi(conn: sa.Connection):
    """The driver connection under a SQLAlchemy connection (same transaction)."""
    return conn.connection.dbapi_connection


def insert_frame(conn: sa.Connection, table: str, frame: pl.DataFrame) -> None:
    """Insert an encoded frame (its columns named as the table's) into ``table``."""
    if frame.height == 0:
        return
    cols = ", ".join(frame.columns)
    cursor = dbapi(conn).cursor()
    try:
        if conn.dialect.name == "postgresql":
            sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)"
            for offset in range(0, frame.height, COPY_BATCH):
                buf = io.BytesIO()
                frame.slice(offset, COPY_BATCH).write_csv(buf, include_header=False)
                buf.seek(0)
                cursor.copy_expert(sql, buf)
        else:
            marks = ", ".join("?" * frame.width)
            sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
            for offset in range(0, frame.height, SQLITE_BATCH):
                chunk = frame.slice(offset, SQLITE_BATCH)
                cursor.executemany(sql, zip(*(s.to_list() for s in chunk.get_columns())))
    finally:
        cursor.close()


def insert_rows(conn: sa.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert a few large rows (binary blocks) with ``executemany``: the driver passes bytes as BLOB / bytea."""
    if not rows:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cursor = dbapi(conn).cursor()
    try:
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})",
                           rows)
    finally:
        cursor.close()


def read_frame(conn: sa.Connection, sql: str, params: dict, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of ``sql`` (``:name`` parameters) as a frame of the given storage schema."""
    if conn.dialect.name == "postgresql":
        cursor = dbapi(conn).cursor()
        try:
            compiled = sa.text(sql).bindparams(**params).compile(dialect=conn.dialect)
            query = cursor.mogrify(str(compiled), compiled.params).decode()
            buf = io.BytesIO()
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buf)
        finally:
            cursor.close()
        if buf.tell() == 0:
            return pl.DataFrame(schema=schema)
        buf.seek(0)
        return pl.read_csv(buf, has_header=False, new_columns=list(schema), schema=schema)
    cursor = dbapi(conn).cursor()  # sqlite3 takes :name parameters as they are
    try:
        rows = cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema, orient="row")
