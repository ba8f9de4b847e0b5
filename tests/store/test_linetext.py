"""The line-text codec of stored batch runs: any contract frame comes back exactly, whole (polars) and one member at
a time (the point-of-service decoder), whatever characters its text holds."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from adjudicator import schema
from adjudicator.store import linetext
from tests.store.synth_results import make_results
from tests.store.test_store import edge_lines

ORDER = ["claim_id", "line_no"]


def round_trip(frame: pl.DataFrame, rows_per_block: int) -> None:
    blocks, directory, dictionary = linetext.encode(frame, rows_per_block)
    dictionary = linetext.Dictionary.from_bytes(dictionary.to_bytes())  # as a reader gets it back
    assert sum(n for _, n, _ in blocks) == frame.height
    datas = {no: bytes(data) for no, _, data in blocks}
    whole = linetext.decode_frame(linetext.block_texts([d for _, _, d in blocks]), dictionary)
    assert_frame_equal(whole.sort(ORDER), frame.sort(ORDER))
    assert directory["member_id"].n_unique() == directory.height == frame["member_id"].n_unique()
    for member, block_no, start, length in directory.iter_rows():
        rows = linetext.decode_rows(datas[block_no][start:start + length].decode(), dictionary)
        expected = frame.filter(pl.col("member_id") == member)
        assert sorted(rows, key=lambda r: (r["claim_id"], r["line_no"])) == expected.sort(ORDER).to_dicts()


def test_edge_values_and_a_realistic_batch():
    lines, _, _ = edge_lines()
    round_trip(lines, 1)
    round_trip(make_results(3_000, seed=3)[0], 50)


def test_dictionary_coded_columns_and_a_column_with_too_many_values(monkeypatch):
    lines = make_results(500, seed=4)[0]
    _, _, dictionary = linetext.encode(lines, 50)
    assert {"ruleset_digest", "decision", "setting"} <= set(dictionary.values)
    monkeypatch.setattr(linetext, "DICTIONARY_MAX", 3)  # decision has 4 values: written as text
    _, _, small = linetext.encode(lines, 50)
    assert "decision" not in small.values and "ruleset_digest" in small.values
    round_trip(lines, 50)


def test_separator_characters_null_elements_and_non_ascii():
    lines, _, _ = edge_lines()
    odd = lines.head(1).with_columns(
        claim_id=pl.lit("C\x1b0\x1e\x1f\x1c\x1d9"), line_no=pl.lit(7, pl.Int64), primary_reason=pl.lit("\x1b"),
        diagnosis_codes=pl.lit(["a\x1eb", None, "", "\x1b1", "\x1c"], dtype=pl.List(pl.String)))
    odd2 = lines.head(1).with_columns(line_no=pl.lit(8, pl.Int64), rules=pl.lit([None], dtype=pl.List(pl.String)),
                                      diagnosis_codes=pl.lit([""], dtype=pl.List(pl.String)))
    round_trip(pl.concat([lines, odd, odd2]), 2)
    for alone in (odd, odd2, odd2.with_columns(rules=pl.lit([None, None], dtype=pl.List(pl.String)))):
        round_trip(alone, 1)  # each oddity found by itself


TEXT = st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
                 st.sampled_from(["", "\x1c", "\x1b", "\x1b0", "\x1d", "a\x1eb", "\x1f"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, st.one_of(st.none(), st.lists(TEXT, max_size=3)),
                          st.one_of(st.none(), st.integers(-2**63, 2**63 - 1))), min_size=1, max_size=12),
       st.integers(1, 5))
def test_any_text_round_trips(values, rows_per_block):
    base = {c: None for c in schema.LINE_RESULTS}
    rows = [base | {"claim_id": f"C{i}", "line_no": i, "member_id": f"M{i % 3}", "service_date": date(2025, 1, 1),
                    "provider_id": a, "ruleset": b, "rules": lst, "billed_amount": n}
            for i, (a, b, lst, n) in enumerate(values)]
    round_trip(pl.DataFrame(rows, schema=schema.LINE_RESULTS), rows_per_block)
