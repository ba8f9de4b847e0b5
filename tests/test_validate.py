import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator import national_code as nc
from adjudicator import schema
from adjudicator.errors import InputError
from adjudicator.validate import ROW, validate

M1 = nc.make("001234567")  # 0012345679
M2 = nc.make("123456789")  # 1234567891


def claim(**over):
    row = dict(
        claim_id="C1", line_no="1", member_id=M1, insurer_id="IHIO", setting="outpatient", provider_id="P1",
        service_date="2025-03-01", service_code="S1", quantity="1", billed_amount="1000",
    )
    row.update(over)
    return row


def frame(rows, columns=None):
    names = columns or sorted({k for r in rows for k in r}, key=lambda k: (k not in schema.CLAIM_LINES, k))
    df = pl.DataFrame([{k: r.get(k) for k in names} for r in rows], schema={k: pl.String for k in names})
    return df.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))


def run(rows, source="claims"):
    typed, quarantine = validate(frame(rows), source, f"{source}.csv")
    assert len(typed) + len(quarantine) == len(rows)
    return typed, quarantine


def one_error(row, source="claims"):
    typed, q = run([row], source)
    assert typed.is_empty(), typed
    assert q.height == 1
    return q.row(0, named=True)


def test_good_claim_is_typed_in_contract_order():
    typed, q = run([claim(diagnosis_codes="I10| E11 ||", service_date="1404/3/11", prior_auth_id="")])
    assert q.is_empty()
    assert typed.columns == [*schema.CLAIM_LINES, ROW]
    assert typed.schema == pl.Schema({**schema.CLAIM_LINES, ROW: pl.Int64})
    r = typed.row(0, named=True)
    assert r["line_no"] == 1 and r["quantity"] == 1 and r["billed_amount"] == 1000
    assert r["diagnosis_codes"] == ["I10", "E11"]
    assert r["submission"] == "original"
    assert r["prior_auth_id"] is None
    assert r["service_date"] == dt.date(2025, 6, 1)  # 1404/03/11


def test_quarantine_schema_and_raw_json():
    r = one_error(claim(billed_amount="12345.5", extra="x y"))
    q_typed, q = run([claim(billed_amount="12345.5")])
    assert q.schema == pl.Schema(schema.QUARANTINE)
    assert r["source"] == "claims" and r["file"] == "claims.csv" and r["row"] == 1
    raw = json.loads(r["raw"])
    assert raw["billed_amount"] == "12345.5"
    assert raw["extra"] == "x y"  # the row as read, unknown columns included
    assert all(v is None or isinstance(v, str) for v in raw.values())


@pytest.mark.parametrize("col", schema.CLAIM_LINES_REQUIRED)
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_missing_required_value(col, empty):
    r = one_error(claim(**{col: empty}))
    assert r["column"] == col
    assert r["error"] == f"missing required value in '{col}'"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("001234567", "wrong length"), ("0012345678", "bad checksum"), ("1111111111", "all digits equal"),
     ("00123x5679", "not all digits")],
)
def test_bad_national_code(value, reason):
    r = one_error(claim(member_id=value))
    assert r["column"] == "member_id"
    assert r["error"] == f"bad national code: {reason} in 'member_id'"


@pytest.mark.parametrize("value", ["1404/13/40", "2025-02-30", "yesterday", "1404-03-11x"])
def test_unparseable_date(value):
    r = one_error(claim(service_date=value))
    assert r["column"] == "service_date"
    assert f"'{value}' is not a date" in r["error"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [("12345.5", "non-integer money"), ("1000000.0", "non-integer money"), ("1e6", "non-integer money"),
     ("abc", "non-integer money"), ("-5", "negative money"), ("99999999999999999999", "out of range")],
)
def test_bad_money(value, kind):
    r = one_error(claim(billed_amount=value))
    assert r["column"] == "billed_amount"
    assert kind in r["error"] and value in r["error"]


@pytest.mark.parametrize("value", ["0", "+7", "0012"])
def test_integer_money_forms_pass(value):
    typed, q = run([claim(billed_amount=value)])
    assert q.is_empty() and typed["billed_amount"][0] == int(value)


def test_quantity_must_be_integer_but_zero_or_negative_is_for_the_rules():
    assert "non-integer quantity '1.5'" in one_error(claim(quantity="1.5"))["error"]
    assert "non-integer quantity" in one_error(claim(quantity="2.0"))["error"]
    typed, q = run([claim(quantity="0"), claim(line_no="2", quantity="-3")])
    assert q.is_empty() and typed["quantity"].to_list() == [0, -3]


@pytest.mark.parametrize("value", ["0", "-1", "1.0", "x"])
def test_line_no_integer_at_least_one(value):
    r = one_error(claim(line_no=value))
    assert r["column"] == "line_no"


def test_unknown_setting():
    r = one_error(claim(setting="Outpatient "))
    assert r["error"] == "unknown setting 'Outpatient'"
    assert r["column"] == "setting"


def test_submission_default_and_replacement_needs_target():
    typed, q = run([claim(submission="replacement", replaces_claim_id="C0"), claim(claim_id="C2", submission="")])
    assert q.is_empty()
    assert typed["submission"].to_list() == ["replacement", "original"]
    r = one_error(claim(submission="void"))
    assert r["column"] == "replaces_claim_id"
    assert "missing required value in 'replaces_claim_id'" in r["error"]
    assert one_error(claim(submission="cancel"))["error"] == "unknown submission 'cancel'"


def test_inpatient_needs_stay_dates_and_emergency_does_not():
    r = one_error(claim(setting="inpatient"))
    assert r["column"] == "admission_date"
    ok, q = run([
        claim(setting="inpatient", admission_date="2025-03-01", discharge_date="1403/12/12"),
        claim(line_no="2", setting="emergency"),
    ])
    assert q.is_empty() and ok["discharge_date"][0] == dt.date(2025, 3, 2)
    r = one_error(claim(setting="inpatient", admission_date="2025-03-05", discharge_date="2025-03-01"))
    assert r["error"] == "discharge_date before admission_date"


def test_duplicate_claim_line_second_and_later_quarantined():
    rows = [claim(), claim(line_no="2"), claim(billed_amount="5"), claim(line_no="01"), claim(claim_id="C2")]
    typed, q = run(rows)
    assert typed[ROW].to_list() == [1, 2, 5]
    assert q["row"].to_list() == [3, 4]
    assert q["error"].to_list() == ["duplicate (claim_id, line_no)"] * 2


def test_duplicate_is_decided_by_row_number_not_frame_order():
    df = frame([claim(), claim(billed_amount="7")]).reverse()
    typed, q = validate(df, "claims", "x.csv")
    assert typed[ROW].to_list() == [1] and q["row"].to_list() == [2]


def test_several_errors_joined_first_column_reported():
    r = one_error(claim(member_id="123", billed_amount="-1", setting="home"))
    assert r["column"] == "member_id"
    assert r["error"] == (
        "bad national code: wrong length in 'member_id'; unknown setting 'home'; negative money '-1' in 'billed_amount'"
    )


def test_missing_required_column_raises():
    df = frame([claim()]).drop("billed_amount")
    with pytest.raises(InputError, match=r"claims\.csv.*'billed_amount'"):
        validate(df, "claims", "claims.csv")


def test_absent_optional_columns_are_null_and_row_added_when_missing():
    df = frame([claim()]).drop(ROW)
    typed, q = validate(df, "claims", "c.csv")
    assert q.is_empty() and typed[ROW].to_list() == [1] and typed["modifier"].null_count() == 1


def test_typed_input_parquet_like():
    df = pl.DataFrame({
        "claim_id": ["C1", "C1"], "line_no": pl.Series([1, 2], dtype=pl.Int32), "member_id": [M1, M2],
        "insurer_id": ["SSO", "SSO"], "setting": ["outpatient", "outpatient"], "provider_id": ["P", "P"],
        "service_date": [dt.date(2025, 1, 1), None], "service_code": ["S", "S"],
        "quantity": pl.Series([1, 2], dtype=pl.UInt8), "billed_amount": [10, -1],
        "diagnosis_codes": [["I10"], []],
    })
    typed, q = validate(df, "claims", "c.parquet")
    assert typed["line_no"].to_list() == [1] and typed["diagnosis_codes"].to_list() == [["I10"]]
    assert q["row"].to_list() == [2]
    assert q["error"][0] == "missing required value in 'service_date'; negative money '-1' in 'billed_amount'"
    assert json.loads(q["raw"][0])["line_no"] == "2"


def test_float_money_in_a_frame_is_per_row_non_integer():
    df = pl.DataFrame([claim()]).with_columns(billed_amount=pl.Series([1000000.0]))
    r = validate(df, "claims", "c")[1].row(0, named=True)
    assert "non-integer money '1000000.0'" in r["error"]


def test_members():
    rows = [
        dict(member_id=M1, birth_date="1360/01/01", sex="F", relationship="head", rural="TRUE"),
        dict(member_id=M2, birth_date="2001-05-05", sex="M", rural="0", death_date=""),
        dict(member_id=M1, birth_date="2001-05-05", sex="X"),
        dict(member_id=M1, birth_date="2001-05-05", sex="M", relationship="cousin", rural="yes"),
    ]
    typed, q = run(rows, "members")
    assert typed.columns == [*schema.MEMBERS, ROW]
    assert typed["rural"].to_list() == [True, False]
    assert typed["birth_date"][0] == dt.date(1981, 3, 21)
    assert q["error"].to_list() == [
        "unknown sex 'X'", "unknown relationship 'cousin'; 'yes' is not a boolean in 'rural'"
    ]


def test_coverage():
    base = dict(member_id=M1, insurer_id="IHIO", kind="basic", start_date="2025-01-01")
    rows = [
        base,
        dict(base, kind="supplementary", status="suspended", waiting_days="90", end_date="2025-12-31"),
        dict(base, kind="gold"),
        dict(base, status="frozen"),
        dict(base, end_date="2024-12-31"),
        dict(base, waiting_days="-1"),
        dict(base, waiting_days="1.5"),
        dict(base, end_date="2025-01-01"),  # one-day cover is fine: dates are inclusive
    ]
    typed, q = run(rows, "coverage")
    assert typed["status"].to_list() == ["active", "suspended", "active"]
    assert typed["waiting_days"].to_list() == [0, 90, 0]
    assert q["column"].to_list() == ["kind", "status", "end_date", "waiting_days", "waiting_days"]
    assert q["error"][2] == "end_date before start_date"


def test_providers():
    rows = [
        dict(provider_id="P1", provider_type="hospital", sector="public", level="3", contracted_insurers="IHIO|SSO"),
        dict(provider_id="P2"),
        dict(provider_id="P3", level="4"),
        dict(provider_id="P4", sector="state", provider_type="spa"),
    ]
    typed, q = run(rows, "providers")
    assert typed["contracted_insurers"].to_list() == [["IHIO", "SSO"], None]
    assert typed["level"].to_list() == [3, None]
    assert q["error"].to_list() == ["unknown level '4'", "unknown provider_type 'spa'; unknown sector 'state'"]


def test_empty_frame():
    df = pl.DataFrame(schema={**{c: pl.String for c in schema.CLAIM_LINES_REQUIRED}, ROW: pl.Int64})
    typed, q = validate(df, "claims", "e.csv")
    assert typed.is_empty() and q.is_empty() and q.schema == pl.Schema(schema.QUARANTINE)


_cell = st.one_of(
    st.none(), st.just(""), st.text(max_size=8), st.sampled_from(["1", "0", "-2", "1.5", "1e3", M1, "2025-01-31",
                                                                   "1404/3/11", "1404/13/40", "outpatient", "void"]),
)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.fixed_dictionaries({c: _cell for c in schema.CLAIM_LINES}), min_size=0, max_size=25))
def test_garbage_never_crashes_never_loses_a_row(rows):
    df = frame(rows, columns=list(schema.CLAIM_LINES)) if rows else frame([claim()]).head(0)
    typed, q = validate(df, "claims", "g.csv")
    assert sorted(typed[ROW].to_list() + q["row"].to_list()) == list(range(1, len(rows) + 1))
    assert q["error"].null_count() == 0 and q["column"].null_count() == 0
    assert (q["error"] != "").all()
