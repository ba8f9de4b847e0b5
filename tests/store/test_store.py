"""The store on both backends: rulesets, runs, history, point-of-service commits and audit, exports."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from adjudicator import schema
from adjudicator.errors import StoreError
from adjudicator.store import SCHEMA_VERSION, Store, blocks, bulk, commands, open_store, run_key
from tests.store.synth_results import make_results

T0 = datetime(2025, 6, 1, 8, 0, 0)


def edge_lines() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Three lines whose values test the encoding: empty vs null text, empty vs null lists, quotes, commas,
    newlines, non-ASCII, a backslash, JSON-looking text, negative and large integers, dates at the edges."""
    base = {c: None for c in schema.LINE_RESULTS}
    rows = [
        base | {"claim_id": "C1", "line_no": 1, "member_id": "0012345678", "insurer_id": "IHIO",
                "setting": "outpatient", "provider_id": "P1", "service_date": date(2025, 1, 31),
                "service_code": "901910", "quantity": 1, "billed_amount": 9_223_372_036_854_775_807,
                "diagnosis_codes": ["J06.9", "R50.9"], "rules": [], "decision": "approved", "modifier": "",
                "message_like": None} ,
        base | {"claim_id": "C1", "line_no": 2, "member_id": "0012345678", "insurer_id": "IHIO",
                "setting": "inpatient", "provider_id": 'P "2", with comma', "service_date": date(1970, 1, 1),
                "admission_date": date(1969, 12, 31), "discharge_date": date(2099, 12, 31),
                "service_code": "line\nbreak", "quantity": -3, "billed_amount": 0, "diagnosis_codes": [],
                "rules": ["ihio.FREQ", 'x"y', "ب,ج|د"], "decision": "denied", "primary_reason": "گزارش \\ {}",
                "ruleset": '{"not": "json"}', "allowed_amount": -1},
        base | {"claim_id": "C2", "line_no": 1, "member_id": "0087654321", "insurer_id": "SSO",
                "setting": "emergency", "provider_id": "P1", "service_date": date(2025, 2, 1),
                "service_code": "NULL", "quantity": 2, "billed_amount": 5, "diagnosis_codes": None,
                "rules": None, "decision": "pended", "referral_id": ""},
    ]
    lines = pl.DataFrame([{c: r.get(c) for c in schema.LINE_RESULTS} for r in rows], schema=schema.LINE_RESULTS)
    findings = pl.DataFrame([
        {"claim_id": "C1", "line_no": 2, "ruleset": "ihio", "rule_id": "ihio.FREQ", "reason_code": "R151",
         "action": "deny", "amount_effect": -100, "liability": "provider", "message": 'too "often", again\n',
         "message_fa": "بیش از حد مجاز"},
        {"claim_id": "C2", "line_no": 1, "ruleset": "engine", "rule_id": "DUP.SUSPECT", "reason_code": "R018",
         "action": "pend", "amount_effect": None, "liability": None, "message": "", "message_fa": None},
    ], schema=schema.FINDINGS)
    claims = pl.DataFrame([
        {"claim_id": "C1", "member_id": "0012345678", "insurer_id": "IHIO", "setting": "outpatient",
         "provider_id": "P1", "decision": "partial", "line_count": 2, "approved_lines": 1, "adjusted_lines": 0,
         "denied_lines": 1, "pended_lines": 0, "quarantined_lines": 0, "billed_amount": 10, "allowed_amount": 5,
         "insurer_paid": 3, "supplementary_paid": 0, "member_pays": 2, "provider_deduction": 5},
        {"claim_id": "C2", "member_id": "0087654321", "insurer_id": "SSO", "setting": "emergency",
         "provider_id": "P1", "decision": "pended", "line_count": 1, "approved_lines": 0, "adjusted_lines": 0,
         "denied_lines": 0, "pended_lines": 1, "quarantined_lines": 1, "billed_amount": 5, "allowed_amount": None,
         "insurer_paid": None, "supplementary_paid": None, "member_pays": None, "provider_deduction": None},
    ], schema=schema.CLAIMS)
    return lines, findings, claims


def record(store: Store, lines, findings, claims, *, inputs=None, digests=("d1",)):
    return store.record_run(inputs=inputs or {"claims": "sha-claims", "members": "sha-members"},
                            ruleset_digests=list(digests), lines=lines, findings=findings, claims=claims,
                            timings={"read": 0.5, "total": 2.25}, started_at=T0, finished_at=T0 + timedelta(1))


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("runs", "result_blocks", "member_blocks", "moved_lines", "pos_lines", "pos_findings",
                          "pos_checks", "rulesets")}


def by_line(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("claim_id", "line_no")


# --- rulesets -----------------------------------------------------------------------------------------------------

def test_rulesets_saved_once_per_digest_and_activated(store):
    store.save_ruleset("ihio.outpatient", "2025.1", "a" * 64, "rules: []\n")
    store.save_ruleset("ihio.outpatient", "2025.1", "a" * 64, "rules: []\n")  # idempotent
    store.save_ruleset("ihio.outpatient", "2025.2", "b" * 64, "rules: [x]\n")
    assert store.rulesets().height == 2
    assert store.rulesets()["active"].to_list() == [False, False]
    store.activate("ihio.outpatient", "2025.2")
    frame = store.rulesets()
    assert frame.filter(pl.col("active"))["version"].to_list() == ["2025.2"]
    assert frame.schema["activated_at"] == pl.Datetime("us")
    store.activate("ihio.outpatient", "2025.1")
    assert store.rulesets().filter(pl.col("active"))["version"].to_list() == ["2025.1"]
    assert store.ruleset_source("b" * 64) == "rules: [x]\n"


def test_ruleset_version_reused_with_another_digest_is_refused(store):
    store.save_ruleset("sso", "1", "a" * 64, "x")
    with pytest.raises(StoreError, match="another digest"):
        store.save_ruleset("sso", "1", "c" * 64, "y")
    with pytest.raises(StoreError, match="no ruleset sso@9"):
        store.activate("sso", "9")


# --- runs ---------------------------------------------------------------------------------------------------------

def test_run_round_trips_every_dtype_and_edge_value(store):
    lines, findings, claims = edge_lines()
    info = record(store, lines, findings, claims)
    assert info.reused is False
    got = store.run_results(info.run_id)
    assert_frame_equal(got["lines"], by_line(lines))
    assert_frame_equal(got["findings"], findings.sort("claim_id", "line_no", "ruleset", "rule_id"))
    assert_frame_equal(got["claims"], claims.sort("claim_id"))
    assert_frame_equal(store.history(), lines.sort("service_date", "claim_id", "line_no"))


def test_run_round_trips_a_realistic_batch(store):
    lines, findings, claims = make_results(3_000, seed=7)
    info = record(store, lines, findings, claims)
    assert_frame_equal(by_line(store.history()), by_line(lines))
    got = store.run_results(info.run_id)
    assert_frame_equal(got["findings"], findings.sort("claim_id", "line_no", "ruleset", "rule_id"))
    assert_frame_equal(got["claims"], claims.sort("claim_id"))


def test_same_inputs_and_rulesets_store_no_second_copy(store):
    lines, findings, claims = make_results(500, seed=1)
    first = record(store, lines, findings, claims, digests=("d2", "d1"))
    before = table_counts(store)
    again = record(store, lines, findings, claims, digests=("d1", "d2", "d1"))  # order and repeats don't matter
    assert again.run_id == first.run_id and again.reused is True
    assert table_counts(store) == before
    other = record(store, lines, findings, claims, digests=("d3",))  # new rulesets: a new run
    assert other.reused is False and other.run_id != first.run_id
    assert store.history().height == lines.height  # the history holds each line once


def test_a_later_run_replaces_a_lines_result_in_the_history(store):
    lines, findings, claims = edge_lines()
    record(store, lines, findings, claims, digests=("old",))
    redo = lines.filter(pl.col("claim_id") == "C1").with_columns(decision=pl.lit("adjusted"),
                                                                   ruleset=pl.lit("ihio@2"))
    second = record(store, redo, findings.clear(), claims.filter(pl.col("claim_id") == "C1"), digests=("new",))
    hist = by_line(store.history())
    assert hist.height == 3
    assert hist["decision"].to_list() == ["adjusted", "adjusted", "pended"]
    assert store.run_results(second.run_id)["lines"].height == 2
    assert store.run_results(1)["lines"]["decision"].to_list() == ["approved", "denied", "pended"]  # kept


def test_a_line_readjudicated_under_another_member_leaves_the_first_members_history(store):
    lines, findings, claims = make_results(200, seed=5)
    record(store, lines, findings, claims, digests=("one",))
    claim = lines.filter(pl.col("line_no") == 1)["claim_id"][0]
    old_member = lines.filter(pl.col("claim_id") == claim)["member_id"][0]
    first_line = lines.filter(pl.col("claim_id") == claim, pl.col("line_no") == 1)
    record(store, first_line.with_columns(member_id=pl.lit("9999999999")), findings.clear(), claims.clear(),
           digests=("two",))
    old = store.member_history(old_member)
    assert_frame_equal(old, store.history([old_member]))
    assert old.filter(pl.col("claim_id") == claim)["line_no"].to_list() == \
        lines.filter(pl.col("claim_id") == claim, pl.col("line_no") != 1)["line_no"].sort().to_list()
    assert store.member_history("9999999999")[["claim_id", "line_no"]].rows() == [(claim, 1)]
    assert store.history().height == lines.height  # moved, not copied
    # and back again: the newest run decides
    record(store, first_line, findings.clear(), claims.clear(), digests=("three",))
    assert store.member_history("9999999999").height == 0
    assert_frame_equal(store.member_history(old_member), lines.filter(pl.col("member_id") == old_member)
                       .sort("service_date", "claim_id", "line_no"))


def test_many_small_blocks_read_back_whole(store, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 7)  # one member (~20 lines) per block
    lines, findings, claims = make_results(600, seed=6)
    info = record(store, lines, findings, claims)
    for member in lines["member_id"].unique().sort().to_list()[:15]:
        expected = lines.filter(pl.col("member_id") == member).sort("service_date", "claim_id", "line_no")
        assert_frame_equal(store.member_history(member), expected)
        assert_frame_equal(store.history([member]), expected)
    assert_frame_equal(store.run_results(info.run_id)["lines"], by_line(lines))
    with store.engine.connect() as conn:
        n_blocks = conn.execute(sa.text("SELECT count(*) FROM result_blocks WHERE kind = 'lines'")).scalar()
    assert n_blocks == lines["member_id"].n_unique()


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("fail_at", ["lines", "claims", "member_blocks", "moved_lines"])
def test_a_run_that_fails_midway_leaves_the_store_as_it_was(store, monkeypatch, fail_at):
    lines, findings, claims = make_results(400, seed=2)
    record(store, lines, findings, claims, digests=("first",))
    store.save_ruleset("r", "1", "f" * 64, "src")
    before, history_before = table_counts(store), store.history()

    real_rows, real_frame = bulk.insert_rows, bulk.insert_frame

    def failing_rows(conn, table, columns, rows):
        real_rows(conn, table, columns, rows)  # written, then the failure: the transaction must undo it
        if rows and rows[0][1] == fail_at:
            raise Boom(f"injected failure after the {fail_at} blocks")

    def failing_frame(conn, table, frame):
        real_frame(conn, table, frame)
        if table == fail_at:
            raise Boom(f"injected failure after {table}")

    monkeypatch.setattr(bulk, "insert_rows", failing_rows)
    monkeypatch.setattr(bulk, "insert_frame", failing_frame)
    more, more_f, more_c = make_results(300, seed=3, claim_offset=10_000)
    moved = lines.head(1).with_columns(member_id=pl.lit("someone-else"))  # so that moved_lines gets a row
    with pytest.raises(Boom):
        record(store, pl.concat([more, moved]), more_f, more_c, digests=("second",))
    assert table_counts(store) == before
    assert_frame_equal(store.history(), history_before)
    monkeypatch.undo()
    assert record(store, more, more_f, more_c, digests=("second",)).reused is False  # and it can be retried


def test_duplicate_line_keys_are_a_store_error_and_nothing_is_written(store):
    lines, findings, claims = edge_lines()
    before = table_counts(store)
    with pytest.raises(StoreError, match="unique"):
        record(store, pl.concat([lines, lines.head(1)]), findings, claims)
    assert table_counts(store) == before


def test_frames_that_break_the_contract_are_refused(store):
    lines, findings, claims = edge_lines()
    with pytest.raises(StoreError, match="missing column.*decision"):
        record(store, lines.drop("decision"), findings, claims)


def test_runs_show_and_counts(store):
    lines, findings, claims = edge_lines()
    info = record(store, lines, findings, claims)
    runs = store.runs()
    assert runs["run_id"].to_list() == [info.run_id]
    assert runs.row(0, named=True)["denied"] == 1
    shown = store.show(info.run_id)
    assert shown["lines_by_decision"] == {"approved": 1, "adjusted": 0, "denied": 1, "pended": 1}
    assert shown["claims_by_decision"]["partial"] == 1
    assert shown["timings"] == {"read": 0.5, "total": 2.25}
    assert shown["inputs"] == {"claims": "sha-claims", "members": "sha-members"}
    assert shown["run_key"] == run_key({"members": "sha-members", "claims": "sha-claims"}, ["d1"])
    assert shown["started_at"] == T0 and shown["line_count"] == 3
    with pytest.raises(StoreError, match="no run 99"):
        store.show(99)


@pytest.mark.parametrize("fmt", ["parquet", "ndjson", "csv"])
def test_export_writes_the_runs_frames(store, tmp_path, fmt):
    lines, findings, claims = edge_lines()
    info = record(store, lines, findings, claims)
    paths = store.export(info.run_id, tmp_path / "out", fmt)
    assert sorted(paths) == ["claims", "findings", "lines"]
    assert all(p.exists() for p in paths.values())
    if fmt == "parquet":
        assert_frame_equal(pl.read_parquet(paths["lines"]), by_line(lines))
        assert_frame_equal(pl.read_parquet(paths["claims"]), claims)
    if fmt == "csv":
        assert "J06.9|R50.9" in paths["lines"].read_text()
    with pytest.raises(StoreError, match="format"):
        store.export(info.run_id, tmp_path, "xlsx")


# --- history ------------------------------------------------------------------------------------------------------

def test_history_by_members_and_before_a_date(store):
    lines, findings, claims = make_results(2_000, seed=4)
    record(store, lines, findings, claims)
    members = lines["member_id"].unique().sort().to_list()
    few = members[:3]
    assert_frame_equal(store.history(few), lines.filter(pl.col("member_id").is_in(few))
                       .sort("service_date", "claim_id", "line_no"))
    cut = date(2024, 7, 1)
    assert_frame_equal(store.history(few, before=cut),
                       lines.filter(pl.col("member_id").is_in(few), pl.col("service_date") < cut)
                       .sort("service_date", "claim_id", "line_no"))
    many = members[:700] + ["0000000000-unknown"]  # above the IN-list limit: a temporary table
    assert_frame_equal(store.history(many), lines.filter(pl.col("member_id").is_in(many))
                       .sort("service_date", "claim_id", "line_no"))
    assert store.history([]).schema == pl.Schema(schema.LINE_RESULTS)
    assert store.history(["nobody"]).schema == pl.Schema(schema.LINE_RESULTS)


def test_member_history_frame_and_rows(store):
    lines, findings, claims = edge_lines()
    record(store, lines, findings, claims)
    expected = lines.filter(pl.col("member_id") == "0012345678").sort("service_date", "claim_id", "line_no")
    assert_frame_equal(store.member_history("0012345678"), expected)
    rows = store.member_history_rows("0012345678")
    assert rows == expected.to_dicts()
    assert isinstance(rows[0]["service_date"], date) and rows[0]["rules"] == ["ihio.FREQ", 'x"y', "ب,ج|د"]
    assert store.member_history_rows("nobody") == []
    assert store.member_history("nobody").schema == pl.Schema(schema.LINE_RESULTS)


# --- point of service ---------------------------------------------------------------------------------------------

def test_commit_claim_is_idempotent_and_feeds_the_history(store):
    lines, findings, _ = edge_lines()
    claim = lines.filter(pl.col("claim_id") == "C1")
    assert store.commit_claim(claim.to_dicts(), findings.filter(pl.col("claim_id") == "C1").to_dicts()) is True
    before = table_counts(store)
    assert store.commit_claim(claim, findings.filter(pl.col("claim_id") == "C1")) is False
    assert table_counts(store) == before
    assert store.member_history_rows("0012345678") == claim.sort("service_date", "line_no").to_dicts()
    assert store.runs().height == 0  # the point-of-service pseudo-run is not a batch run
    assert store.show(0)["status"] == "point-of-service"


def test_a_commit_that_fails_leaves_nothing(store, monkeypatch):
    lines, _, _ = edge_lines()
    bad_finding = {"claim_id": "C2", "line_no": None, "rule_id": "x"}  # line_no is required
    with pytest.raises(StoreError):
        store.commit_claim(lines.filter(pl.col("claim_id") == "C2"), [bad_finding])
    assert table_counts(store)["pos_lines"] == 0 and store.member_history_rows("0087654321") == []
    with pytest.raises(StoreError, match="one claim"):
        store.commit_claim(lines)


def test_batch_run_after_a_commit_takes_over_the_line(store):
    lines, findings, claims = edge_lines()
    store.commit_claim(lines.filter(pl.col("claim_id") == "C2"))
    record(store, lines.with_columns(decision=pl.lit("approved")), findings, claims)
    assert store.member_history_rows("0087654321")[0]["decision"] == "approved"
    assert store.history().height == 3


def test_point_of_service_checks_are_audited(store):
    asked = datetime(2025, 6, 1, 10, 30, tzinfo=timezone(timedelta(hours=3, minutes=30)))
    store.record_check("P1", "0012345678", "C9", asked, {"decision": "approved", "paid": 120_000,
                                                         "on": date(2025, 6, 1), "reasons": []})
    store.record_check("P2", "0012345678", None, T0, {"decision": "denied"})
    audit = store.checks(member_id="0012345678")
    assert audit["provider_id"].to_list() == ["P1", "P2"]  # oldest first: 10:30+03:30 is 07:00 UTC, before 08:00
    assert audit["asked_at"].to_list() == [datetime(2025, 6, 1, 7, 0), T0]
    assert '"on": "2025-06-01"' in audit["answer"][0]
    assert store.checks(provider_id="P2").height == 1
    store.record_check(None, None, None, T0, {"errors": ["no provider"]})  # a malformed claim is audited too
    assert store.checks().height == 3
    with pytest.raises(StoreError, match="not JSON"):
        store.record_check("P1", "m", None, T0, {"x": object()})


# --- opening ------------------------------------------------------------------------------------------------------

def test_open_store_and_commands(store_url, tmp_path):
    assert open_store(None) is None
    info = commands.init(store_url)
    assert info["schema_version"] == SCHEMA_VERSION
    with Store(store_url) as s:
        lines, findings, claims = edge_lines()
        run_id = record(s, lines, findings, claims).run_id
    assert commands.runs(store_url)["run_id"].to_list() == [run_id]
    assert commands.show(store_url, run_id)["line_count"] == 3
    paths = commands.export(store_url, run_id, tmp_path / "x")
    assert pl.read_parquet(paths["findings"]).height == 2
    assert commands.init(store_url)["upgraded_from"] == SCHEMA_VERSION


def test_a_plain_path_is_a_sqlite_store(tmp_path):
    with open_store(tmp_path / "plain.db") as s:
        assert s.dialect == "sqlite" and s.schema_version == SCHEMA_VERSION
    with pytest.raises(StoreError, match="unsupported store backend"):
        Store("mysql://nobody@localhost/x")


def test_an_empty_run_is_recorded(store):
    info = record(store, *(schema.empty(s) for s in (schema.LINE_RESULTS, schema.FINDINGS, schema.CLAIMS)))
    assert store.show(info.run_id)["line_count"] == 0
    assert store.run_results(info.run_id)["lines"].schema == pl.Schema(schema.LINE_RESULTS)


def test_the_same_run_recorded_twice_at_once_is_stored_once(store_url):
    import threading

    lines, findings, claims = make_results(2_000, seed=9)
    stores = [Store(store_url), Store(store_url)]
    results, errors = [], []

    def go(s):
        try:
            results.append(record(s, lines, findings, claims))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert not errors
    assert sorted(r.reused for r in results) == [False, True]
    assert results[0].run_id == results[1].run_id
    with Store(store_url) as s:
        assert s.history().height == lines.height and s.runs().height == 1


def test_the_package_exports_what_it_promises():
    import adjudicator.store as store_pkg

    assert sorted(store_pkg.__all__) == sorted(n for n in vars(store_pkg) if not n.startswith("_") and n not in {
        "annotations", "commands", "migrations", "repository", "models", "codec", "bulk", "blocks", "linetext"})
