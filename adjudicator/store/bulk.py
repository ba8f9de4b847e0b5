"""Bulk movement of frames between polars and the database, by dialect, inside the caller's transaction.

PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` fed by polars' CSV writer, and ``COPY (query) TO STDOUT`` read back
by polars' CSV reader — the server parses, no Python per row. CSV keeps NULL (an empty field) apart from the empty
string (``""``) in both directions. SQLite: ``executemany`` over large batches of plain tuples built column by
column; reads go through ``fetchall`` into one frame. Binary blocks (``insert_rows``) go in by binary ``COPY`` on
PostgreSQL and ``executemany`` on SQLite. Nothing goes through the ORM.
"""

from __future__ import annotations

import io
import struct

import polars as pl
import sqlalchemy as sa

from adjudicator.store import codec

SQLITE_BATCH = 100_000
COPY_BATCH = 500_000
READ_BATCH = 200_000
COPY_BINARY_ROWS = 2_000  # blocks per COPY: ~150 MB of line text


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
    """Insert rows of ``int`` (INTEGER columns), ``str`` and ``bytes`` values — the binary blocks of a run.

    SQLite: ``executemany`` (bytes go in as BLOBs). PostgreSQL: ``COPY ... (FORMAT binary)``, so that a block's
    bytes travel as they are instead of being escaped to hex text and parsed back by the server.
    """
    if not rows:
        return
    cursor = dbapi(conn).cursor()
    try:
        if conn.dialect.name == "postgresql":
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
            for start in range(0, len(rows), COPY_BINARY_ROWS):
                cursor.copy_expert(sql, io.BytesIO(_pgcopy(rows[start:start + COPY_BINARY_ROWS])))
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def _pgcopy(rows: list[tuple]) -> bytes:
    """PostgreSQL's binary COPY stream: signature, flags, no extension; per row the field count and each field
    as a length and its bytes (int as 4-byte big-endian INTEGER, str as UTF-8, bytes as they are); a -1 trailer."""
    parts = [b"PGCOPY\n\xff\r\n\x00", struct.pack("!ii", 0, 0)]
    for row in rows:
        parts.append(struct.pack("!h", len(row)))
        for value in row:
            if isinstance(value, int):
                data = struct.pack("!i", value)
            elif isinstance(value, str):
                data = value.encode()
            else:
                data = bytes(value)
            parts.append(struct.pack("!i", len(data)))
            parts.append(data)
    parts.append(struct.pack("!h", -1))
    return b"".join(parts)


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
    frames = []
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(READ_BATCH):  # Python tuples for one batch at a time, not the whole result
            frames.append(pl.DataFrame(rows, schema=schema, orient="row"))
    finally:
        cursor.close()
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def read_contract(conn: sa.Connection, sql: str, params: dict, contract: dict[str, pl.DataType],
                  dates_as_text: bool) -> pl.DataFrame:
    """The rows of ``sql`` as a frame of ``contract`` (read in their stored form, then decoded)."""
    stored = {c: codec.storage_dtype(t, dates_as_text=dates_as_text) for c, t in contract.items()}
    return codec.decode(read_frame(conn, sql, params, stored), contract)
