import datetime as dt
import json
import os

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from adjudicator import io as aio
from adjudicator import national_code as nc
from adjudicator import schema
from adjudicator.errors import InputError
from adjudicator.validate import ROW

M1 = nc.make("001234567")
M2 = nc.make("123456789")

HEADER = "claim_id,line_no,member_id,insurer_id,setting,provider_id,service_date,service_code,quantity,billed_amount,diagnosis_codes,note"
GOOD_CSV_ROWS = [
    f"C1,1,{M1},IHIO,outpatient,P1,2025-03-01,S1,1,1000,I10|E11,hello",
    f"C1,2,{M1},IHIO,outpatient,P1,1404/3/11,S2,2,2500,,",
    f"C2,1,{M2},SSO,emergency,P2,1404/03/12,S1,1,0,I10,",
]


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def csv_file(tmp_path, rows, name="claims.csv", header=HEADER):
    return write_text(tmp_path / name, "\n".join([header, *rows]) + "\n")


def test_csv_good_rows_typed(tmp_path):
    typed, q = aio.read_source(csv_file(tmp_path, GOOD_CSV_ROWS), "claims")
    assert q.is_empty()
    assert typed.columns == [*schema.CLAIM_LINES, ROW]  # the unknown 'note' column is left out
    assert typed[ROW].to_list() == [1, 2, 3]
    assert typed["service_date"].to_list() == [dt.date(2025, 3, 1), dt.date(2025, 6, 1), dt.date(2025, 6, 2)]
    assert typed["diagnosis_codes"].to_list() == [["I10", "E11"], None, ["I10"]]
    assert typed["billed_amount"].dtype == pl.Int64


BAD_ROWS = [
    # (csv row, column, reason fragment)
    ("C3,1,,IHIO,outpatient,P1,2025-03-01,S1,1,1000,,", "member_id", "missing required value"),
    ("C3,2,0012345678,IHIO,outpatient,P1,2025-03-01,S1,1,1000,,", "member_id", "bad national code: bad checksum"),
    ("C3,3,001234567,IHIO,outpatient,P1,2025-03-01,S1,1,1000,,", "member_id", "bad national code: wrong length"),
    ("C3,4,1111111111,IHIO,outpatient,P1,2025-03-01,S1,1,1000,,", "member_id", "all digits equal"),
    (f"C3,5,{M1},IHIO,outpatient,P1,1404/13/40,S1,1,1000,,", "service_date", "'1404/13/40' is not a date"),
    (f"C3,6,{M1},IHIO,outpatient,P1,2025-03-01,S1,1,12345.5,,", "billed_amount", "non-integer money"),
    (f"C3,7,{M1},IHIO,outpatient,P1,2025-03-01,S1,1,1000000.0,,", "billed_amount", "non-integer money"),
    (f"C3,8,{M1},IHIO,outpatient,P1,2025-03-01,S1,1,-5,,", "billed_amount", "negative money"),
    (f"C3,9,{M1},IHIO,home,P1,2025-03-01,S1,1,1000,,", "setting", "unknown setting 'home'"),
    (f"C3,10,{M1},IHIO,outpatient,P1,2025-03-01,S1,1.5,1000,,", "quantity", "non-integer quantity"),
    (f"C1,1,{M1},IHIO,outpatient,P1,2025-03-01,S1,1,1000,,", "line_no", "duplicate (claim_id, line_no)"),
]


def test_csv_each_bad_row_kind_quarantined_with_file_row_column_reason(tmp_path):
    rows = GOOD_CSV_ROWS + [r for r, _, _ in BAD_ROWS]
    typed, q = aio.read_source(csv_file(tmp_path, rows), "claims")
    assert len(typed) == 3 and len(q) == len(BAD_ROWS)
    assert q.schema == pl.Schema(schema.QUARANTINE)
    for i, (line, column, fragment) in enumerate(BAD_ROWS):
        r = q.row(i, named=True)
        assert r["file"] == "claims.csv" and r["source"] == "claims"
        assert r["row"] == 4 + i, r  # 1-based data rows, header not counted
        assert r["column"] == column, r
        assert fragment in r["error"], r
        raw = json.loads(r["raw"])
        assert raw["claim_id"] == line.split(",")[0] and "note" in raw


def test_csv_bad_line_is_quarantined_alone(tmp_path):
    rows = [GOOD_CSV_ROWS[0], f"C1,2,{M1},IHIO,outpatient,P1,2025-03-01,S2,1,-1,,", GOOD_CSV_ROWS[2]]
    typed, q = aio.read_source(csv_file(tmp_path, rows), "claims")
    assert typed["claim_id"].to_list() == ["C1", "C2"] and q["row"].to_list() == [2]


def test_ndjson_float_money_is_detected_even_mixed_with_ints(tmp_path):
    base = dict(claim_id="C1", member_id=M1, insurer_id="IHIO", setting="outpatient", provider_id="P1",
                service_date="2025-03-01", service_code="S1", quantity=1)
    lines = [
        dict(base, line_no=1, billed_amount=1000, diagnosis_codes=["I10", "E11"]),
        dict(base, line_no=2, billed_amount=1000000.0),
        dict(base, line_no=3, billed_amount=12345.5),
        dict(base, line_no=4, billed_amount="2000", diagnosis_codes="I10|E11"),
        dict(base, line_no=5, billed_amount=-5),
    ]
    path = write_text(tmp_path / "claims.ndjson", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    typed, q = aio.read_source(path, "claims")
    assert typed["line_no"].to_list() == [1, 4]
    assert typed["billed_amount"].to_list() == [1000, 2000]
    assert typed["diagnosis_codes"].to_list() == [["I10", "E11"], ["I10", "E11"]]
    assert q["row"].to_list() == [2, 3, 5]
    assert [e.split(" '")[0] for e in q["error"]] == ["non-integer money", "non-integer money", "negative money"]
    assert json.loads(q["raw"][0])["billed_amount"] == "1000000.0"


def test_json_array_file(tmp_path):
    rows = [dict(provider_id="P1", level=2, contracted_insurers=["IHIO"]), dict(provider_id="P2", level=9)]
    typed, q = aio.read_source(write_text(tmp_path / "providers.json", json.dumps(rows)), "providers")
    assert typed["contracted_insurers"].to_list() == [["IHIO"]] and q["error"].to_list() == ["unknown level '9'"]


def typed_claims():
    return pl.DataFrame(
        {
            "claim_id": ["C1", "C1", "C2"],
            "line_no": [1, 2, 1],
            "member_id": [M1, M1, M2],
            "insurer_id": ["IHIO", "IHIO", "SSO"],
            "setting": ["outpatient", "inpatient", "emergency"],
            "provider_id": ["P1", "P1", "P2"],
            "service_date": [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 6, 1)],
            "admission_date": [None, dt.date(2025, 3, 1), None],
            "discharge_date": [None, dt.date(2025, 3, 4), None],
            "service_code": ["S1", "S2", "S1"],
            "quantity": [1, 3, 1],
            "billed_amount": [1000, 250000, 0],
            "diagnosis_codes": [["I10", "E11"], None, ["J45"]],
            "submission": ["original", "original", "void"],
            "replaces_claim_id": [None, None, "C0"],
            "note": ["x", "y", "z"],
        }
    )


@pytest.mark.parametrize("ext", ["parquet", "csv", "ndjson"])
def test_round_trip_write_then_read_source(tmp_path, ext):
    df = typed_claims()
    expected, _ = aio.read_source(df, "claims")
    path = aio.write_frame(df, tmp_path / f"claims.{ext}", ext)
    typed, q = aio.read_source(path, "claims")
    assert q.is_empty()
    assert_frame_equal(typed, expected)


@pytest.mark.parametrize("ext", ["parquet", "csv", "ndjson"])
def test_write_frame_read_frame_round_trip(tmp_path, ext):
    df = aio.read_source(typed_claims(), "claims")[0].drop(ROW)
    path = aio.write_frame(df, tmp_path / f"out.{ext}")
    back = aio.read_frame(path, schema.CLAIM_LINES)
    assert_frame_equal(back.select(df.columns), df)


@pytest.mark.parametrize("ext", ["parquet", "csv", "ndjson"])
def test_rewrite_is_byte_identical(tmp_path, ext):
    df = aio.read_source(typed_claims(), "claims")[0]
    a = aio.write_frame(df, tmp_path / f"a.{ext}")
    b = aio.write_frame(df.clone(), tmp_path / f"b.{ext}")
    first = a.read_bytes()
    assert first == b.read_bytes()
    aio.write_frame(df, a)
    assert a.read_bytes() == first


def test_csv_lists_are_pipe_joined_and_dates_iso(tmp_path):
    df = aio.read_source(typed_claims(), "claims")[0]
    text = aio.write_frame(df, tmp_path / "x.csv").read_text()
    assert "I10|E11" in text and "2025-03-01" in text and "[" not in text


def test_float_money_parquet_rejects_the_file(tmp_path):
    df = typed_claims().with_columns(pl.col("billed_amount").cast(pl.Float64))
    path = tmp_path / "claims.parquet"
    df.write_parquet(path)
    with pytest.raises(InputError, match=r"^claims\.parquet: column 'billed_amount' is Float64; money must be an integer type$"):
        aio.read_source(path, "claims")
    with pytest.raises(InputError, match="billed_amount"):
        aio.read_source(df.lazy(), "claims")


def test_missing_required_column(tmp_path):
    path = csv_file(tmp_path, ["C1,1"], header="claim_id,line_no")
    with pytest.raises(InputError, match=r"claims\.csv: missing required columns 'member_id'"):
        aio.read_source(path, "claims")
    path = tmp_path / "m.parquet"
    pl.DataFrame({"member_id": [M1], "sex": ["F"]}).write_parquet(path)
    with pytest.raises(InputError, match=r"m\.parquet: missing required column 'birth_date'"):
        aio.read_source(path, "members")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("claims.csv", b""),
        ("claims.csv", b"claim_id,line_no\n\xff\xfe,1\n"),
        ("claims.ndjson", b'{"claim_id": "C1"}\nnot json\n'),
        ("claims.parquet", b"PAR1 this is not parquet"),
        ("claims.txt", b"a,b\n"),
    ],
)
def test_unreadable_file_is_an_input_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        aio.read_source(path, "claims")
    assert str(info.value).startswith(f"{name}: ")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv"):
        aio.read_source(tmp_path / "nope.csv", "claims")


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.parquet"
    aio.write_frame(pl.DataFrame({"a": [1]}), target)
    before = target.read_bytes()

    def boom(self, fh, **kwargs):
        fh.write(b"partial bytes")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        aio.write_frame(pl.DataFrame({"a": [2]}), target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]
    with pytest.raises(RuntimeError):
        aio.write_frame(pl.DataFrame({"a": [2]}), tmp_path / "new.parquet")
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]


def test_write_json(tmp_path):
    path = aio.write_json({"b": 1, "a": {"z": "کسورات", "y": [1, 2]}}, tmp_path / "x.json")
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "a": {\n    "y": [\n      1,\n      2\n    ],\n    "z": "کسورات"\n  },\n  "b": 1\n}\n'
    assert os.listdir(tmp_path) == ["x.json"]


_cell = st.one_of(
    st.just(""), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.sampled_from(["1", "0", "-2", "1.5", "1e3", M1, "2025-01-31", "1404/3/11", "1404/13/40", "outpatient",
                     '"', ",", "a|b", "\\", "null", "true"]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cell, min_size=len(schema.CLAIM_LINES), max_size=len(schema.CLAIM_LINES)),
                     min_size=1, max_size=20),
       fmt=st.sampled_from(["csv", "ndjson"]))
def test_random_garbage_never_crashes_never_loses_a_row(tmp_path, rows, fmt):
    df = pl.DataFrame(rows, schema=list(schema.CLAIM_LINES), orient="row")
    path = tmp_path / f"g.{fmt}"
    if fmt == "csv":
        df.write_csv(path)
    else:
        df.write_ndjson(path)
    typed, q = aio.read_source(path, "claims")
    assert len(typed) + len(q) == len(rows)
    assert sorted(typed[ROW].to_list() + q["row"].to_list()) == list(range(1, len(rows) + 1))
