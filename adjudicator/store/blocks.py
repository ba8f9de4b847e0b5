"""Result blocks: a batch run's frames stored as blocks, and the member directory over the line blocks.

A run's line results are grouped by member and cut into blocks of about ``BLOCK_ROWS`` lines of text
(``linetext.py``, whole members per block), one binary value each. The member directory names, for each member of
the run, the block holding its lines and their byte range there, so that one member's history is one index lookup
plus one slice of a block and a split, and a run of 10M lines is ~40k binary values and ~500k directory rows instead
of 10M indexed rows; the run's dictionary of coded line columns is one more value. Findings, claim totals and the
run's (claim_id, member_id) pairs are Arrow IPC files (lz4) of up to ``BLOCK_ROWS * 256`` rows in the order given:
they are read per run (and sorted then), never per member, and Arrow keeps the contract's dtypes exactly.

The format is part of the stored schema: a change to it is a migration (``migrations.py``).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import sqlalchemy as sa

from adjudicator.store import bulk, linetext

BLOCK_ROWS = 256
COMPRESSION = "lz4"
CLAIM_ORDER = {"lines": ("claim_id", "line_no"), "findings": ("claim_id", "line_no", "ruleset", "rule_id"),
               "claims": ("claim_id",)}

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adj-blocks")  # polars releases the GIL in IPC I/O


def encode_block(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf, compression=COMPRESSION)
    return buf.getvalue()


def decode_block(data: bytes | memoryview) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(bytes(data)))


def cut(frame: pl.DataFrame, rows: int = BLOCK_ROWS) -> list[tuple[int, int, bytes]]:
    """``frame`` (already in storage order) as (block_no, row_count, data) blocks of at most ``rows`` rows."""
    starts = range(0, frame.height, rows)
    datas = _POOL.map(lambda start: encode_block(frame.slice(start, rows)), starts)
    return [(no, min(rows, frame.height - start), data) for no, (start, data) in enumerate(zip(starts, datas))]


def decode_all(datas: list[bytes | memoryview]) -> list[pl.DataFrame]:
    return list(_POOL.map(decode_block, datas))


def store_run(conn: sa.Connection, run_id: int, lines: pl.DataFrame, findings: pl.DataFrame,
              claims: pl.DataFrame) -> None:
    """Write a run's frames (contract dtypes) as blocks, with the member directory, inside the caller's
    transaction."""
    line_blocks, directory, dictionary = linetext.encode(lines, BLOCK_ROWS)
    frames = {  # in the order given: readers sort (run_results) or do not care (moved lines)
        "findings": findings,
        "claims": claims,
        "claim_members": lines.select("claim_id", "member_id").unique(maintain_order=True),
    }
    cols = ("run_id", "kind", "block_no", "row_count", "data")
    bulk.insert_rows(conn, "result_blocks", cols, [(run_id, "lines", no, n, data) for no, n, data in line_blocks]
                     + [(run_id, "dictionary", 0, len(dictionary.values), dictionary.to_bytes())])
    for kind, frame in frames.items():
        bulk.insert_rows(conn, "result_blocks", cols,
                         [(run_id, kind, no, n, data) for no, n, data in cut(frame, BLOCK_ROWS * 256)])
    bulk.insert_frame(conn, "member_blocks", directory.select(
        "member_id", pl.lit(run_id, pl.Int64).alias("run_id"), "block_no", "byte_start", "byte_len"))
