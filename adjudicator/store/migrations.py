"""Versioned DDL: the store's schema version and the ordered steps that bring a store up to it.

``MIGRATIONS[v]`` takes a store from version ``v - 1`` to ``v`` inside the opening transaction, so an upgrade
either completes or leaves the store as it was. A step describes the schema as it was *at that version*: it never
refers to ``models.py``, which only knows the current tables. A store newer than this code is refused, never used.

History:
    1  rulesets, runs, line_results, findings, claims, history
    2  point-of-service: ``pos_checks`` audit, ``runs.timings``, the pseudo-run 0 that owns committed claims
    3  batch runs as blocks — line text and Arrow (``result_blocks``) — with a member directory (``member_blocks``) and
       ``moved_lines``; point-of-service commits in ``pos_lines`` / ``pos_findings``; ``line_results``,
       ``findings``, ``claims`` and ``history`` are converted and dropped
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import polars as pl
import sqlalchemy as sa

from adjudicator.errors import StoreError
from adjudicator.store import blocks, bulk

SCHEMA_VERSION = 3

# The contract's result columns as they stood at version 1 (s = text, i = bigint, d = date, l = JSON list as text).
_V1_LINES = (
    "claim_id:s line_no:i member_id:s insurer_id:s supplementary_insurer_id:s setting:s provider_id:s prescriber_id:s "
    "service_date:d admission_date:d discharge_date:d service_code:s modifier:s quantity:i billed_amount:i "
    "diagnosis_codes:l referral_id:s prior_auth_id:s submission:s replaces_claim_id:s decision:s allowed_quantity:i "
    "allowed_amount:i insurer_paid:i supplementary_paid:i member_pays:i provider_deduction:i member_share_amount:i "
    "deductible_applied:i primary_reason:s rules:l ruleset:s supplementary_ruleset:s ruleset_digest:s"
)
_V1_FINDINGS = ("claim_id:s line_no:i ruleset:s rule_id:s reason_code:s action:s amount_effect:i liability:s "
                "message:s message_fa:s")
_V1_CLAIMS = (
    "claim_id:s member_id:s insurer_id:s setting:s provider_id:s decision:s line_count:i approved_lines:i "
    "adjusted_lines:i denied_lines:i pended_lines:i quarantined_lines:i billed_amount:i allowed_amount:i "
    "insurer_paid:i supplementary_paid:i member_pays:i provider_deduction:i"
)
_TYPES = {"s": sa.Text, "i": sa.BigInteger, "d": sa.Date, "l": sa.Text}
_DTYPES = {"s": pl.String, "i": pl.Int64, "d": pl.Date, "l": pl.List(pl.String)}


def _contract(spec: str) -> dict[str, pl.DataType]:
    return {name: _DTYPES[kind] for name, kind in (item.split(":") for item in spec.split())}


def _columns(spec: str, keys: tuple[str, ...]) -> list[sa.Column]:
    cols = []
    for item in spec.split():
        name, kind = item.split(":")
        cols.append(sa.Column(name, _TYPES[kind](), nullable=name not in keys))
    return cols


def _v1(conn: sa.Connection) -> None:
    md = sa.MetaData()
    sa.Table("schema_version", md, sa.Column("version", sa.Integer, nullable=False))
    sa.Table(
        "rulesets", md,
        sa.Column("digest", sa.String(128), primary_key=True),
        sa.Column("ruleset_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("saved_at", sa.DateTime, nullable=False),
        sa.Column("activated_at", sa.DateTime),
        sa.Index("ix_rulesets_id_version", "ruleset_id", "version"),
    )
    sa.Table(
        "runs", md,
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
        sa.Column("counts", sa.JSON, nullable=False),
    )
    sa.Table("line_results", md, sa.Column("run_id", sa.Integer, nullable=False),
             *_columns(_V1_LINES, ("claim_id", "line_no")), sa.PrimaryKeyConstraint("run_id", "claim_id", "line_no"))
    sa.Table("findings", md, sa.Column("run_id", sa.Integer, nullable=False),
             *_columns(_V1_FINDINGS, ("claim_id", "line_no")),
             sa.Index("ix_findings_run_line", "run_id", "claim_id", "line_no"))
    sa.Table("claims", md, sa.Column("run_id", sa.Integer, nullable=False), *_columns(_V1_CLAIMS, ("claim_id",)),
             sa.PrimaryKeyConstraint("run_id", "claim_id"))
    sa.Table(
        "history", md,
        sa.Column("claim_id", sa.Text, nullable=False),
        sa.Column("line_no", sa.BigInteger, nullable=False),
        sa.Column("member_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "line_no"),
        sa.Index("ix_history_member", "member_id"),
    )
    md.create_all(conn)


def _v2(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN timings JSON NOT NULL DEFAULT '{}'"))
    md = sa.MetaData()
    checks = sa.Table(
        "pos_checks", md,
        sa.Column("check_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("provider_id", sa.Text),  # a claim that names no provider is still audited
        sa.Column("member_id", sa.Text),
        sa.Column("claim_id", sa.Text),
        sa.Column("asked_at", sa.DateTime, nullable=False),
        sa.Column("answer", sa.JSON, nullable=False),
        sa.Index("ix_pos_checks_member", "member_id", "asked_at"),
        sa.Index("ix_pos_checks_provider", "provider_id", "asked_at"),
    )
    checks.create(conn)
    runs = sa.table(
        "runs", sa.column("run_id", sa.Integer), sa.column("run_key", sa.Text), sa.column("status", sa.Text),
        sa.column("inputs", sa.JSON), sa.column("ruleset_digests", sa.JSON), sa.column("recorded_at", sa.DateTime),
        sa.column("line_count", sa.BigInteger), sa.column("finding_count", sa.BigInteger),
        sa.column("claim_count", sa.BigInteger), sa.column("counts", sa.JSON), sa.column("timings", sa.JSON))
    conn.execute(sa.insert(runs).values(
        run_id=0, run_key="point-of-service", status="point-of-service", inputs={}, ruleset_digests=[],
        recorded_at=datetime.now(), line_count=0, finding_count=0, claim_count=0, counts={}, timings={}))


def _v3(conn: sa.Connection) -> None:
    sqlite = conn.dialect.name == "sqlite"
    md = sa.MetaData()
    sa.Table("result_blocks", md,
             sa.Column("run_id", sa.Integer, nullable=False), sa.Column("kind", sa.Text, nullable=False),
             sa.Column("block_no", sa.Integer, nullable=False), sa.Column("row_count", sa.Integer, nullable=False),
             sa.Column("data", sa.LargeBinary, nullable=False), sa.PrimaryKeyConstraint("run_id", "kind", "block_no"))
    sa.Table("member_blocks", md,
             sa.Column("member_id", sa.Text, nullable=False), sa.Column("run_id", sa.Integer, nullable=False),
             sa.Column("block_no", sa.Integer, nullable=False), sa.Column("byte_start", sa.Integer, nullable=False),
             sa.Column("byte_len", sa.Integer, nullable=False),
             sa.PrimaryKeyConstraint("member_id", "run_id", "block_no"), sqlite_with_rowid=False)
    sa.Table("moved_lines", md,
             sa.Column("member_id", sa.Text, nullable=False), sa.Column("claim_id", sa.Text, nullable=False),
             sa.Column("line_no", sa.BigInteger, nullable=False), sa.Column("run_id", sa.Integer, nullable=False),
             sa.PrimaryKeyConstraint("member_id", "claim_id", "line_no", "run_id"))
    sa.Table("pos_lines", md, *_columns(_V1_LINES, ("claim_id", "line_no")),
             sa.PrimaryKeyConstraint("claim_id", "line_no"), sa.Index("ix_pos_lines_member", "member_id"))
    sa.Table("pos_findings", md, *_columns(_V1_FINDINGS, ("claim_id", "line_no")),
             sa.Index("ix_pos_findings_line", "claim_id", "line_no"))
    md.create_all(conn)
    if not sqlite:  # the line blocks are plain text: the server compresses them (lz4 where built in; else pglz)
        has_lz4 = conn.execute(sa.text("SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
                                       "AND 'lz4' = ANY(enumvals)")).scalar()
        if has_lz4:
            conn.execute(sa.text("ALTER TABLE result_blocks ALTER COLUMN data SET COMPRESSION lz4"))
    lines_cols, findings_cols = ", ".join(_contract(_V1_LINES)), ", ".join(_contract(_V1_FINDINGS))
    # point-of-service commits (run 0) move to their own row tables
    conn.execute(sa.text(f"INSERT INTO pos_lines ({lines_cols}) SELECT {lines_cols} FROM line_results "
                         "WHERE run_id = 0"))
    conn.execute(sa.text(f"INSERT INTO pos_findings ({findings_cols}) SELECT {findings_cols} FROM findings "
                         "WHERE run_id = 0"))
    # a line whose current result (history) is under another member: superseded in the older member's runs
    conn.execute(sa.text(
        "INSERT INTO moved_lines (member_id, claim_id, line_no, run_id) SELECT DISTINCT l.member_id, l.claim_id, "
        "l.line_no, h.run_id FROM line_results l JOIN history h ON h.claim_id = l.claim_id "
        "AND h.line_no = l.line_no WHERE h.member_id <> l.member_id"))
    # the directory's marker rows (models.POS_MARKER, models.MOVED_MARKER as of v3)
    conn.execute(sa.text("INSERT INTO member_blocks (member_id, run_id, block_no, byte_start, byte_len) "
                         "SELECT DISTINCT member_id, 0, -1, 0, 0 FROM pos_lines"))
    conn.execute(sa.text("INSERT INTO member_blocks (member_id, run_id, block_no, byte_start, byte_len) "
                         "SELECT DISTINCT member_id, run_id, -2, 0, 0 FROM moved_lines"))
    # each batch run's rows become its blocks
    specs = {"lines": (_V1_LINES, "line_results"), "findings": (_V1_FINDINGS, "findings"),
             "claims": (_V1_CLAIMS, "claims")}
    run_ids = conn.execute(sa.text("SELECT run_id FROM runs WHERE run_id <> 0 ORDER BY run_id")).scalars().all()
    for run_id in run_ids:
        frames = {}
        for kind, (spec, table) in specs.items():
            contract = _contract(spec)
            frames[kind] = bulk.read_contract(conn, f"SELECT {', '.join(contract)} FROM {table} WHERE run_id = :r",
                                              {"r": run_id}, contract, dates_as_text=sqlite)
        blocks.store_run(conn, run_id, frames["lines"], frames["findings"], frames["claims"])
    for table in ("history", "line_results", "findings", "claims"):
        conn.execute(sa.text(f"DROP TABLE {table}"))


MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _v1, 2: _v2, 3: _v3}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def current_version(conn: sa.Connection) -> int:
    """The version a store is at: 0 when it is empty; StoreError when it holds tables that are not a store's."""
    names = set(sa.inspect(conn).get_table_names())
    if "schema_version" not in names:
        if names:
            raise StoreError(f"the database holds tables that are not an adjudicator store: {sorted(names)[:5]}")
        return 0
    rows = conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all()
    if len(rows) != 1:
        raise StoreError(f"the store's schema_version table holds {len(rows)} rows, expected one")
    return int(rows[0])


def upgrade(conn: sa.Connection) -> tuple[int, int]:
    """Bring the store on ``conn`` to SCHEMA_VERSION inside the caller's transaction; (from, to) versions."""
    found = current_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store is at schema version {found}, newer than this adjudicator ({SCHEMA_VERSION}); "
            "upgrade adjudicator to use it")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](conn)
        if version == 1:
            conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (1)"))
        else:
            conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": version})
    return found, SCHEMA_VERSION
