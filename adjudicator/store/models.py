"""The store's tables, as SQLAlchemy Core ``Table`` objects of the current schema version.

Result tables take their columns from the data contract (``schema.py``) so that a frame goes in and comes back with
the same names and dtypes: text as TEXT, integers and money as BIGINT, dates as DATE (ISO text on SQLite), and the
list columns (``diagnosis_codes``, ``rules``) as a JSON array in a TEXT column — one encoding that both SQLite and
PostgreSQL load in bulk and query (``json_extract`` / ``::jsonb``) — the point-of-service rows. Batch runs are
kept as blocks (line text, Arrow) with a member directory (``blocks.py``): a 10M-line run is a few thousand binary
values, not 10M indexed rows. The current result of a line is the one from the latest run that holds it (point
commits count as run 0, before every batch run), except where ``moved_lines`` says it went to another member.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from adjudicator import schema

metadata = sa.MetaData()

POS_RUN_ID = 0  # the pseudo-run that owns point-of-service commits


def sql_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    """The column type a contract dtype is stored as."""
    if dtype == pl.Int64:
        return sa.BigInteger()
    if dtype == pl.Date:
        return sa.Date()
    return sa.Text()  # String, and List(String) as JSON text


def contract_columns(contract: dict[str, pl.DataType], keys: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(name, sql_type(dtype), nullable=name not in keys) for name, dtype in contract.items()]


schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))

rulesets = sa.Table(
    "rulesets", metadata,
    sa.Column("digest", sa.String(128), primary_key=True),
    sa.Column("ruleset_id", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("source_text", sa.Text, nullable=False),
    sa.Column("saved_at", sa.DateTime, nullable=False),
    sa.Column("activated_at", sa.DateTime),
    sa.Index("ix_rulesets_id_version", "ruleset_id", "version"),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("ruleset_digests", sa.JSON, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("line_count", sa.BigInteger, nullable=False),
    sa.Column("finding_count", sa.BigInteger, nullable=False),
    sa.Column("claim_count", sa.BigInteger, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),  # {"lines": {decision: n}, "claims": {decision: n}}
    sa.Column("timings", sa.JSON, nullable=False),  # added in schema v2
)

LINE_KEYS = ("claim_id", "line_no")

# Batch runs: each run's frames as blocks (``blocks.py``): kind = lines (text), dictionary, findings, claims,
# claim_members (Arrow IPC).
result_blocks = sa.Table(  # added in schema v3
    "result_blocks", metadata,
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("block_no", sa.Integer, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "kind", "block_no"),
)

# Where each member's lines are in a run's line blocks (one row per member and block), and two kinds of marker row
# (negative block_no) that tell the point lookup whether the member has point-of-service commits or moved lines.
POS_MARKER, MOVED_MARKER = -1, -2
member_blocks = sa.Table(  # added in schema v3
    "member_blocks", metadata,
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("block_no", sa.Integer, nullable=False),
    sa.Column("byte_start", sa.Integer, nullable=False),
    sa.Column("byte_len", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("member_id", "run_id", "block_no"),
    sqlite_with_rowid=False,
)

# A line re-adjudicated under another member: its result in ``member_id``'s runs before ``run_id`` is superseded.
moved_lines = sa.Table(  # added in schema v3
    "moved_lines", metadata,
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("claim_id", sa.Text, nullable=False),
    sa.Column("line_no", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("member_id", "claim_id", "line_no", "run_id"),
)

# Point-of-service commits, a claim at a time: plain rows (run 0 in the history's order, below every batch run).
pos_lines = sa.Table(  # added in schema v3 (v1-v2 kept them in line_results under run 0)
    "pos_lines", metadata,
    *contract_columns(schema.LINE_RESULTS, LINE_KEYS),
    sa.PrimaryKeyConstraint("claim_id", "line_no"),
    sa.Index("ix_pos_lines_member", "member_id"),
)

pos_findings = sa.Table(  # added in schema v3
    "pos_findings", metadata,
    *contract_columns(schema.FINDINGS, LINE_KEYS),
    sa.Index("ix_pos_findings_line", "claim_id", "line_no"),
)

pos_checks = sa.Table(  # added in schema v2
    "pos_checks", metadata,
    sa.Column("check_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("provider_id", sa.Text),  # a claim that names no provider is still audited
    sa.Column("member_id", sa.Text),
    sa.Column("claim_id", sa.Text),
    sa.Column("asked_at", sa.DateTime, nullable=False),
    sa.Column("answer", sa.JSON, nullable=False),
    sa.Index("ix_pos_checks_member", "member_id", "asked_at"),
    sa.Index("ix_pos_checks_provider", "provider_id", "asked_at"),
)

RESULT_CONTRACTS = {"lines": schema.LINE_RESULTS, "findings": schema.FINDINGS, "claims": schema.CLAIMS}
