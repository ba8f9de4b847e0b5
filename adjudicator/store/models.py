"""The store's tables, as SQLAlchemy Core ``Table`` objects of the current schema version.

Result tables take their columns from the data contract (``schema.py``) so that a frame goes in and comes back with
the same names and dtypes: text as TEXT, integers and money as BIGINT, dates as DATE (ISO text on SQLite), and the
list columns (``diagnosis_codes``, ``rules``) as a JSON array in a TEXT column — one encoding that both SQLite and
PostgreSQL load in bulk and query (``json_extract`` / ``::jsonb``). Every run keeps its own copy of its results;
``history`` is a narrow pointer table that names, for each (claim_id, line_no), the run whose result is current, so
that replacing a line's result is one upsert of four values, not a rewrite of a wide row.
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

line_results = sa.Table(
    "line_results", metadata,
    sa.Column("run_id", sa.Integer, nullable=False),
    *contract_columns(schema.LINE_RESULTS, LINE_KEYS),
    sa.PrimaryKeyConstraint("run_id", "claim_id", "line_no"),
)

findings = sa.Table(
    "findings", metadata,
    sa.Column("run_id", sa.Integer, nullable=False),
    *contract_columns(schema.FINDINGS, LINE_KEYS),
    sa.Index("ix_findings_run_line", "run_id", "claim_id", "line_no"),
)

claims = sa.Table(
    "claims", metadata,
    sa.Column("run_id", sa.Integer, nullable=False),
    *contract_columns(schema.CLAIMS, ("claim_id",)),
    sa.PrimaryKeyConstraint("run_id", "claim_id"),
)

history = sa.Table(
    "history", metadata,
    sa.Column("claim_id", sa.Text, nullable=False),
    sa.Column("line_no", sa.BigInteger, nullable=False),
    sa.Column("member_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("claim_id", "line_no"),
    sa.Index("ix_history_member", "member_id"),
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

RESULT_TABLES = {"lines": (line_results, schema.LINE_RESULTS), "findings": (findings, schema.FINDINGS),
                 "claims": (claims, schema.CLAIMS)}
