"""Schema versions: an older store is upgraded with its data kept; a newer or foreign database is refused."""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa

import pytest
from adjudicator import schema
from adjudicator.errors import StoreError
from adjudicator.store import SCHEMA_VERSION, Store
from adjudicator.store.migrations import _V1_CLAIMS, _V1_FINDINGS, _V1_LINES


def v1_ddl(dialect: str) -> list[str]:
    """The DDL adjudicator's store had at schema version 1, written out by hand as an old release made it."""
    serial = "INTEGER PRIMARY KEY" if dialect == "sqlite" else "SERIAL PRIMARY KEY"
    sql_type = {"s": "TEXT", "i": "BIGINT", "d": "DATE", "l": "TEXT"}

    def cols(spec: str, keys: tuple[str, ...]) -> str:
        out = []
        for item in spec.split():
            name, kind = item.split(":")
            out.append(f"{name} {sql_type[kind]}{' NOT NULL' if name in keys else ''}")
        return ", ".join(out)

    return [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (1)",
        "CREATE TABLE rulesets (digest VARCHAR(128) PRIMARY KEY, ruleset_id TEXT NOT NULL, version TEXT NOT NULL,"
        " source_text TEXT NOT NULL, saved_at TIMESTAMP NOT NULL, activated_at TIMESTAMP)",
        f"CREATE TABLE runs (run_id {serial}, run_key VARCHAR(64) NOT NULL UNIQUE, status TEXT NOT NULL,"
        " inputs JSON NOT NULL, ruleset_digests JSON NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP,"
        " recorded_at TIMESTAMP NOT NULL, line_count BIGINT NOT NULL, finding_count BIGINT NOT NULL,"
        " claim_count BIGINT NOT NULL, counts JSON NOT NULL)",
        f"CREATE TABLE line_results (run_id INTEGER NOT NULL, {cols(_V1_LINES, ('claim_id', 'line_no'))},"
        " PRIMARY KEY (run_id, claim_id, line_no))",
        f"CREATE TABLE findings (run_id INTEGER NOT NULL, {cols(_V1_FINDINGS, ('claim_id', 'line_no'))})",
        "CREATE INDEX ix_findings_run_line ON findings (run_id, claim_id, line_no)",
        f"CREATE TABLE claims (run_id INTEGER NOT NULL, {cols(_V1_CLAIMS, ('claim_id',))},"
        " PRIMARY KEY (run_id, claim_id))",
        "CREATE TABLE history (claim_id TEXT NOT NULL, line_no BIGINT NOT NULL, member_id TEXT NOT NULL,"
        " run_id INTEGER NOT NULL, PRIMARY KEY (claim_id, line_no))",
        "CREATE INDEX ix_history_member ON history (member_id)",
        # what a v1 release had written: one ruleset, one run of one line
        "INSERT INTO rulesets VALUES ('" + "a" * 64 + "', 'ihio', '2024.1', 'rules: []', '2024-05-01 10:00:00',"
        " NULL)",
        "INSERT INTO runs (run_key, status, inputs, ruleset_digests, started_at, finished_at, recorded_at,"
        " line_count, finding_count, claim_count, counts) VALUES ('k1', 'complete', '{\"claims\": \"h\"}',"
        " '[\"d\"]', '2024-05-01 10:00:00', '2024-05-01 10:01:00', '2024-05-01 10:01:00', 1, 0, 1,"
        " '{\"lines\": {\"approved\": 1}}')",
        "INSERT INTO line_results (run_id, claim_id, line_no, member_id, insurer_id, setting, provider_id,"
        " service_date, service_code, quantity, billed_amount, diagnosis_codes, decision, rules)"
        " VALUES (1, 'C1', 1, 'M1', 'IHIO', 'outpatient', 'P1', '2024-04-30', '901910', 1, 1000, '[\"J06\"]',"
        " 'approved', '[]')",
        "INSERT INTO history VALUES ('C1', 1, 'M1', 1)",
    ]


def raw_execute(url: str, statements: list[str]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement.replace("%", "%%") if url.startswith("postgresql") else statement)
    finally:
        engine.dispose()


def test_a_version_1_store_is_upgraded_and_keeps_its_data(store_url):
    raw_execute(store_url, v1_ddl(sa.engine.make_url(store_url).get_backend_name()))
    with Store(store_url) as store:
        assert (store.upgraded_from, store.schema_version) == (1, SCHEMA_VERSION)
        hist = store.history()
        assert hist.schema == pl.Schema(schema.LINE_RESULTS)
        row = hist.row(0, named=True)
        assert (row["claim_id"], row["service_date"], row["diagnosis_codes"]) == ("C1", date(2024, 4, 30), ["J06"])
        assert store.show(1)["timings"] == {}  # the column v2 added, filled for the old run
        assert store.runs()["run_id"].to_list() == [1]
        assert store.rulesets()["version"].to_list() == ["2024.1"]
        store.record_check("P1", "M1", "C1", store.show(1)["recorded_at"], {"ok": True})  # v2's audit works
        assert store.commit_claim([row | {"claim_id": "C2"}]) is True
    with Store(store_url) as store:  # opening again changes nothing
        assert store.upgraded_from == SCHEMA_VERSION
        assert store.member_history("M1").height == 2


def test_older_runs_and_their_history_pointers_become_blocks(store_url):
    """v1/v2 kept every run's rows and a pointer to each line's current run; v3 keeps blocks and moved lines.
    Run 2 re-adjudicated C1 line 1 under member M2: M1 keeps only C1 line 2, M2 has line 1 from run 2."""
    more = [
        "INSERT INTO line_results (run_id, claim_id, line_no, member_id, insurer_id, setting, provider_id,"
        " service_date, service_code, quantity, billed_amount, decision) VALUES (1, 'C1', 2, 'M1', 'IHIO',"
        " 'outpatient', 'P1', '2024-04-30', '901915', 1, 500, 'denied')",
        "INSERT INTO history VALUES ('C1', 2, 'M1', 1)",
        "INSERT INTO runs (run_key, status, inputs, ruleset_digests, recorded_at, line_count, finding_count,"
        " claim_count, counts) VALUES ('k2', 'complete', '{}', '[]', '2024-06-01 10:00:00', 1, 1, 0, '{}')",
        "INSERT INTO line_results (run_id, claim_id, line_no, member_id, insurer_id, setting, provider_id,"
        " service_date, service_code, quantity, billed_amount, decision) VALUES (2, 'C1', 1, 'M2', 'IHIO',"
        " 'outpatient', 'P1', '2024-04-30', '901910', 1, 1000, 'adjusted')",
        "INSERT INTO findings (run_id, claim_id, line_no, ruleset, rule_id, action) VALUES (2, 'C1', 1, 'ihio',"
        " 'ihio.X', 'adjust')",
        "UPDATE history SET run_id = 2, member_id = 'M2' WHERE claim_id = 'C1' AND line_no = 1",
    ]
    raw_execute(store_url, v1_ddl(sa.engine.make_url(store_url).get_backend_name()) + more)
    with Store(store_url) as store:
        assert store.upgraded_from == 1
        assert store.member_history("M1")[["claim_id", "line_no", "decision"]].rows() == [("C1", 2, "denied")]
        assert store.member_history("M2")[["claim_id", "line_no", "decision"]].rows() == [("C1", 1, "adjusted")]
        assert store.history().height == 2
        assert store.run_results(1)["lines"]["line_no"].to_list() == [1, 2]
        assert store.run_results(2)["findings"]["rule_id"].to_list() == ["ihio.X"]
        names = set(sa.inspect(store.engine).get_table_names())
        assert not names & {"line_results", "findings", "claims", "history"}


def test_a_store_newer_than_the_code_is_refused(store_url):
    Store(store_url).close()
    raw_execute(store_url, [f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}"])
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        Store(store_url)


def test_a_database_that_is_not_a_store_is_refused(store_url):
    raw_execute(store_url, ["CREATE TABLE payroll (x INTEGER)"])
    with pytest.raises(StoreError, match="not an adjudicator store"):
        Store(store_url)


def test_the_tables_match_the_data_contract(store_url):
    """A column added to the contract needs a migration: the tables the migrations create must carry exactly its
    columns, in its order (line blocks are decoded by that order too)."""
    Store(store_url).close()
    engine = sa.create_engine(store_url)
    try:
        columns = sa.inspect(engine).get_columns
        assert [c["name"] for c in columns("pos_lines")] == list(schema.LINE_RESULTS)
        assert [c["name"] for c in columns("pos_findings")] == list(schema.FINDINGS)
    finally:
        engine.dispose()


def test_v1_snapshot_of_the_contract_is_what_the_current_tables_hold():
    """Until a migration changes result columns, the frozen v1 column lists equal today's contract."""
    assert [i.split(":")[0] for i in _V1_LINES.split()] == list(schema.LINE_RESULTS)
    assert [i.split(":")[0] for i in _V1_FINDINGS.split()] == list(schema.FINDINGS)
    assert [i.split(":")[0] for i in _V1_CLAIMS.split()] == list(schema.CLAIMS)
