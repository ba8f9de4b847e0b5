"""Solar Hijri ⇄ Gregorian: known dates, every day of two centuries, scalar == vectorized, bad input."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator import dates as D

KNOWN = [
    ((1404, 1, 1), dt.date(2025, 3, 21)),  # Nowruz 1404
    ((1403, 12, 30), dt.date(2025, 3, 20)),  # 1403 is leap
    ((1403, 1, 1), dt.date(2024, 3, 20)),
    ((1399, 12, 30), dt.date(2021, 3, 20)),
    ((1402, 12, 29), dt.date(2024, 3, 19)),
    ((1400, 1, 1), dt.date(2021, 3, 21)),
    ((1367, 6, 31), dt.date(1988, 9, 22)),
    ((1357, 11, 22), dt.date(1979, 2, 11)),
    ((1348, 10, 11), dt.date(1970, 1, 1)),
    ((1404, 3, 11), dt.date(2025, 6, 1)),
    ((1404, 7, 1), dt.date(2025, 9, 23)),
    ((1404, 12, 29), dt.date(2026, 3, 20)),
    ((1178, 1, 1), dt.date(1799, 3, 21)),
]


def _jalali_days(first: int, last: int):
    """Every valid (y, m, d) of Solar Hijri years first..last, in order."""
    for y in range(first, last + 1):
        for m in range(1, 13):
            for d in range(1, D.jalali_month_length(y, m) + 1):
                yield y, m, d


@pytest.mark.parametrize(("jalali", "gregorian"), KNOWN)
def test_known_pairs(jalali, gregorian):
    assert D.from_jalali(*jalali) == gregorian
    assert D.to_jalali(gregorian) == jalali


def test_every_day_1300_to_1500_round_trips_and_is_consecutive():
    previous = None
    for y, m, d in _jalali_days(1300, 1500):
        g = D.from_jalali(y, m, d)
        assert D.to_jalali(g) == (y, m, d)
        if previous is not None:
            assert g - previous == dt.timedelta(days=1)
        previous = g


def test_vectorized_equals_scalar_over_1300_to_1500():
    days = list(_jalali_days(1300, 1500))
    texts = [f"{y}/{m}/{d}" if i % 2 else f"{y:04d}/{m:02d}/{d:02d}" for i, (y, m, d) in enumerate(days)]
    parsed = D.parse_date_series(pl.Series("d", texts))
    expected = [D.from_jalali(*t) for t in days]
    assert parsed.dtype == pl.Date
    assert parsed.to_list() == expected
    assert D.jalali_year_series(parsed).to_list() == [t[0] for t in days]


def test_year_boundary_at_nowruz():
    assert D.jalali_year(dt.date(2025, 3, 20)) == 1403
    assert D.jalali_year(dt.date(2025, 3, 21)) == 1404
    s = pl.Series([dt.date(2025, 3, 20), dt.date(2025, 3, 21)])
    assert D.jalali_year_series(s).to_list() == [1403, 1404]


def test_leap_years():
    leap = [y for y in range(1395, 1415) if D.is_leap_jalali(y)]
    assert leap == [1395, 1399, 1403, 1408, 1412]
    assert not D.is_leap_jalali(1404)
    assert D.jalali_month_length(1403, 12) == 30
    assert D.jalali_month_length(1404, 12) == 29


def test_invalid_jalali_date_names_the_reason():
    with pytest.raises(ValueError, match="1404 is not a leap year"):
        D.from_jalali(1404, 12, 30)
    for bad in [(1404, 13, 1), (1404, 0, 1), (1404, 7, 31), (1404, 1, 0), (1100, 1, 1), (1700, 1, 1)]:
        with pytest.raises(ValueError):
            D.from_jalali(*bad)
    with pytest.raises(ValueError, match="outside the supported range"):
        D.to_jalali(dt.date(1700, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-21", dt.date(2025, 3, 21)),
        ("1404/01/01", dt.date(2025, 3, 21)),
        ("1404/1/1", dt.date(2025, 3, 21)),
        ("1404-01-01", dt.date(2025, 3, 21)),
        (" 1404/3/11 ", dt.date(2025, 6, 1)),
        ("۱۴۰۴/۰۳/۱۱", dt.date(2025, 6, 1)),  # Persian digits
        (dt.date(2025, 3, 21), dt.date(2025, 3, 21)),
        (dt.datetime(2025, 3, 21, 10, 30), dt.date(2025, 3, 21)),
    ],
)
def test_parse_date_accepts(text, expected):
    assert D.parse_date(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "1404/12/30", "2025-02-30", "1404/01-01", "14040101", "25-03-21", None, 3])
def test_parse_date_rejects_naming_the_value(bad):
    with pytest.raises(ValueError, match="cannot read"):
        D.parse_date(bad)


def test_parse_date_series_nulls_mixed_forms_and_bad_values():
    s = pl.Series("service_date", ["1404/1/1", "2025-03-21", "", None, "abc", "1404/12/30", "1404-01-01", "2025-02-30"])
    out = D.parse_date_series(s)
    assert out.name == "service_date"
    assert out.to_list() == [dt.date(2025, 3, 21), dt.date(2025, 3, 21), None, None, None, None,
                             dt.date(2025, 3, 21), None]  # fmt: skip


def test_parse_date_series_all_null_and_empty():
    assert D.parse_date_series(pl.Series([None, None], dtype=pl.String)).to_list() == [None, None]
    assert D.parse_date_series(pl.Series([], dtype=pl.String)).dtype == pl.Date


def test_jalali_year_expr_in_a_lazy_plan_keeps_nulls():
    lf = pl.LazyFrame({"d": [dt.date(2025, 3, 20), None, dt.date(2025, 3, 21), dt.date(1700, 1, 1)]})
    out = lf.select(D.jalali_year_expr(pl.col("d")).alias("y")).collect()
    assert out.schema["y"] == pl.Int32
    assert out["y"].to_list() == [1403, None, 1404, None]


def test_format_jalali_zero_pads():
    assert D.format_jalali(dt.date(2025, 6, 1)) == "1404/03/11"


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2250, 12, 31)))
def test_hypothesis_scalar_and_vectorized_agree(d):
    text = D.format_jalali(d)
    assert D.parse_date(text) == d
    y, m, day = D.to_jalali(d)
    unpadded = f"{y}-{m}-{day}"
    assert D.parse_date_series(pl.Series([text, unpadded, d.isoformat()])).to_list() == [d, d, d]
    assert D.jalali_year_series(pl.Series([d])).item() == y
