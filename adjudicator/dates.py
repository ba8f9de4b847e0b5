"""Solar Hijri (Jalali) ⇄ Gregorian dates, one at a time and a column at a time.

Claims and rulesets in Iran carry dates in the Solar Hijri calendar (``1404/01/01``), sometimes ISO; inside the engine
every date is a ``datetime.date`` / polars ``Date``. The conversion is the arithmetic algorithm of jalaali-js
(Borkowski's table of 33-year-cycle breaks), which matches Iran's official calendar for 1178–1633 AP; outside that
range we refuse rather than guess. The arithmetic is written once as numba kernels: the scalar functions call them
one value at a time (the point-of-service path), the ``*_series`` / ``*_expr`` functions call them over whole
columns (the batch path) — so the two paths cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
from numba import njit

__all__ = [
    "MIN_JALALI_YEAR",
    "MAX_JALALI_YEAR",
    "to_jalali",
    "from_jalali",
    "is_leap_jalali",
    "jalali_year",
    "jalali_month_length",
    "parse_date",
    "format_jalali",
    "parse_date_series",
    "jalali_year_series",
    "jalali_year_expr",
    "jalali_to_date_series",
]

# The years for which the arithmetic agrees with the official (astronomical) calendar.
MIN_JALALI_YEAR = 1178
MAX_JALALI_YEAR = 1633
# A 4-digit year below this is Solar Hijri, even when written with dashes ("1404-01-01").
JALALI_YEAR_BELOW = 1700

_BREAKS = np.array(
    [-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324, 2394, 2456, 3178],
    dtype=np.int64,
)
_EPOCH_JDN = 2440588  # Julian day number of 1970-01-01, polars' day 0


# jalaali-js divides with truncation toward zero (JS `~~(a / b)`); Python and numba floor. Every divisor is positive.
@njit(cache=True)
def _div(a, b):
    q = a // b
    if q < 0 and q * b != a:
        q += 1
    return q


@njit(cache=True)
def _mod(a, b):
    return a - _div(a, b) * b


@njit(cache=True)
def _g2d(gy, gm, gd):
    d = _div((gy + _div(gm - 8, 6) + 100100) * 1461, 4) + _div(153 * _mod(gm + 9, 12) + 2, 5) + gd - 34840408
    return d - _div(_div(gy + 100100 + _div(gm - 8, 6), 100) * 3, 4) + 752


@njit(cache=True)
def _d2g(jdn):
    j = 4 * jdn + 139361631
    j = j + _div(_div(4 * jdn + 183187720, 146097) * 3, 4) * 4 - 3908
    i = _div(_mod(j, 1461), 4) * 5 + 308
    gd = _div(_mod(i, 153), 5) + 1
    gm = _mod(_div(i, 153), 12) + 1
    gy = _div(j, 1461) - 100100 + _div(8 - gm, 6)
    return gy, gm, gd


@njit(cache=True)
def _jal_cal(jy, breaks):
    """(leap, gy, march): years since the last leap year (0 = leap), Gregorian year, March day of 1 Farvardin."""
    gy = jy + 621
    leap_j = -14
    jp = breaks[0]
    jump = 0
    for i in range(1, breaks.shape[0]):
        jm = breaks[i]
        jump = jm - jp
        if jy < jm:
            break
        leap_j = leap_j + _div(jump, 33) * 8 + _div(_mod(jump, 33), 4)
        jp = jm
    n = jy - jp
    leap_j = leap_j + _div(n, 33) * 8 + _div(_mod(n, 33) + 3, 4)
    if _mod(jump, 33) == 4 and jump - n == 4:
        leap_j += 1
    leap_g = _div(gy, 4) - _div((_div(gy, 100) + 1) * 3, 4) - 150
    march = 20 + leap_j - leap_g
    if jump - n < 6:
        n = n - jump + _div(jump + 4, 33) * 33
    leap = _mod(_mod(n + 1, 33) - 1, 4)
    if leap == -1:
        leap = 4
    return leap, gy, march


@njit(cache=True)
def _month_length(jy, jm, breaks):
    if jm <= 6:
        return 31
    if jm <= 11:
        return 30
    return 30 if _jal_cal(jy, breaks)[0] == 0 else 29


@njit(cache=True)
def _j2d(jy, jm, jd, breaks):
    _, gy, march = _jal_cal(jy, breaks)
    return _g2d(gy, 3, march) + (jm - 1) * 31 - _div(jm, 7) * (jm - 7) + jd - 1


@njit(cache=True)
def _d2j(jdn, breaks):
    gy = _d2g(jdn)[0]
    jy = gy - 621
    leap, _, march = _jal_cal(jy, breaks)
    k = jdn - _g2d(gy, 3, march)
    if k >= 0:
        if k <= 185:
            return jy, 1 + _div(k, 31), _mod(k, 31) + 1
        k -= 186
    else:
        jy -= 1
        k += 179
        if leap == 1:
            k += 1
    return jy, 7 + _div(k, 30), _mod(k, 30) + 1


@njit(cache=True)
def _valid_jalali(jy, jm, jd, min_year, max_year, breaks):
    return min_year <= jy <= max_year and 1 <= jm <= 12 and 1 <= jd <= _month_length(jy, jm, breaks)


# The column kernels. Inputs are int64 arrays (nulls already filled); `ok` marks rows that produce a value.
@njit(cache=True)
def _jalali_to_days_kernel(ys, ms, ds, min_year, max_year, breaks):
    n = ys.shape[0]
    out = np.zeros(n, dtype=np.int32)
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if _valid_jalali(ys[i], ms[i], ds[i], min_year, max_year, breaks):
            out[i] = _j2d(ys[i], ms[i], ds[i], breaks) - _EPOCH_JDN
            ok[i] = True
    return out, ok


@njit(cache=True)
def _days_to_jalali_year_kernel(days, min_day, max_day, breaks):
    n = days.shape[0]
    out = np.zeros(n, dtype=np.int32)
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if min_day <= days[i] <= max_day:
            out[i] = _d2j(days[i] + _EPOCH_JDN, breaks)[0]
            ok[i] = True
    return out, ok


# --- scalar API ----------------------------------------------------------------------------------------------------


def _check_year(y: int) -> None:
    if not MIN_JALALI_YEAR <= y <= MAX_JALALI_YEAR:
        raise ValueError(
            f"Solar Hijri year {y} is outside the supported range {MIN_JALALI_YEAR}–{MAX_JALALI_YEAR}"
        )


def is_leap_jalali(y: int) -> bool:
    """True if the Solar Hijri year ``y`` has 366 days (Esfand has 30 days)."""
    _check_year(int(y))
    return bool(_jal_cal(int(y), _BREAKS)[0] == 0)


def jalali_month_length(y: int, m: int) -> int:
    """Days in month ``m`` of the Solar Hijri year ``y``."""
    _check_year(int(y))
    if not 1 <= m <= 12:
        raise ValueError(f"Solar Hijri month must be 1..12 (got {m})")
    return int(_month_length(int(y), int(m), _BREAKS))


def from_jalali(y: int, m: int, d: int) -> dt.date:
    """The Gregorian date of the Solar Hijri date y/m/d; ValueError if there is no such day."""
    y, m, d = int(y), int(m), int(d)
    length = jalali_month_length(y, m)
    if not 1 <= d <= length:
        leap = "" if m != 12 else (" (a leap year)" if length == 30 else f" ({y} is not a leap year)")
        raise ValueError(f"{y}/{m:02d}/{d:02d} is not a Solar Hijri date: month {m} of {y} has {length} days{leap}")
    return dt.date.fromordinal(int(_j2d(y, m, d, _BREAKS)) - _EPOCH_JDN + _ORDINAL_1970)


_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()
_MIN_DATE = dt.date.fromordinal(int(_j2d(MIN_JALALI_YEAR, 1, 1, _BREAKS)) - _EPOCH_JDN + _ORDINAL_1970)
_MAX_DATE = dt.date.fromordinal(
    int(_j2d(MAX_JALALI_YEAR + 1, 1, 1, _BREAKS)) - _EPOCH_JDN + _ORDINAL_1970 - 1
)


def to_jalali(d: dt.date) -> tuple[int, int, int]:
    """The Solar Hijri (year, month, day) of a Gregorian date."""
    if isinstance(d, dt.datetime):
        d = d.date()
    if not _MIN_DATE <= d <= _MAX_DATE:
        raise ValueError(f"{d.isoformat()} is outside the supported range {_MIN_DATE}–{_MAX_DATE}")
    jy, jm, jd = _d2j(d.toordinal() - _ORDINAL_1970 + _EPOCH_JDN, _BREAKS)
    return int(jy), int(jm), int(jd)


def jalali_year(d: dt.date) -> int:
    """The Solar Hijri year of a Gregorian date (the benefit year of Iranian insurers starts at Nowruz)."""
    return to_jalali(d)[0]


def format_jalali(d: dt.date) -> str:
    """``1404/01/01``: zero-padded Solar Hijri, the form Iranian documents use."""
    y, m, day = to_jalali(d)
    return f"{y:04d}/{m:02d}/{day:02d}"


# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits appear in hand-typed dates; both map to ASCII.
_DIGITS = {chr(0x06F0 + i): str(i) for i in range(10)} | {chr(0x0660 + i): str(i) for i in range(10)}
_DIGIT_TABLE = str.maketrans(_DIGITS)
_DATE_RE = re.compile(r"^(\d{4})([/-])(\d{1,2})([/-])(\d{1,2})$")
_DATE_PATTERN = _DATE_RE.pattern.replace(r"\d", "[0-9]")


def parse_date(value: object) -> dt.date:
    """A date from a date, an ISO string (``2025-03-21``) or a Solar Hijri one (``1404/01/01``, ``1404/1/1``).

    A four-digit year below 1700 means Solar Hijri whatever the separator (``1404-01-01`` too); the separators must
    match. Anything else is a ValueError naming the value.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"cannot read {value!r} as a date (expected YYYY-MM-DD or a Solar Hijri YYYY/MM/DD)")
    match = _DATE_RE.match(value.strip().translate(_DIGIT_TABLE))
    if match is None or match.group(2) != match.group(4):
        raise ValueError(f"cannot read {value!r} as a date (expected YYYY-MM-DD or a Solar Hijri YYYY/MM/DD)")
    y, m, d = int(match.group(1)), int(match.group(3)), int(match.group(5))
    try:
        if y < JALALI_YEAR_BELOW:
            return from_jalali(y, m, d)
        return dt.date(y, m, d)
    except ValueError as exc:
        raise ValueError(f"cannot read {value!r} as a date: {exc}") from None


# --- vectorized API ------------------------------------------------------------------------------------------------


def _contiguous_int64(s: pl.Series) -> np.ndarray:
    # polars may hand back read-only or strided buffers, which make numba compile a new specialisation.
    return np.require(s.fill_null(0).cast(pl.Int64).to_numpy(), dtype=np.int64, requirements=["C", "W"])


def _masked(values: pl.Series, ok: np.ndarray) -> pl.Series:
    """``values`` with null wherever ``ok`` is false."""
    return pl.DataFrame({"v": values, "ok": ok}).select(pl.when("ok").then("v").alias(values.name)).to_series()


def jalali_to_date_series(y: pl.Series, m: pl.Series, d: pl.Series) -> pl.Series:
    """Date column from integer Solar Hijri year/month/day columns; null where any part is null or the day invalid."""
    present = (y.is_not_null() & m.is_not_null() & d.is_not_null()).to_numpy()
    days, ok = _jalali_to_days_kernel(
        _contiguous_int64(y), _contiguous_int64(m), _contiguous_int64(d), MIN_JALALI_YEAR, MAX_JALALI_YEAR, _BREAKS
    )
    return _masked(pl.Series(y.name, days, dtype=pl.Int32).cast(pl.Date), ok & present)


def parse_date_series(s: pl.Series) -> pl.Series:
    """String column → Date column; ISO and Solar Hijri may be mixed; null where empty or unparseable."""
    if s.dtype == pl.Date:
        return s
    if s.dtype == pl.Datetime:
        return s.dt.date()
    text = s.cast(pl.String).str.strip_chars().str.replace_many(_DIGITS)
    parts = text.str.extract_groups(_DATE_PATTERN).struct.unnest()
    sep_ok = parts[:, 1] == parts[:, 3]
    y = parts[:, 0].cast(pl.Int64)
    m = parts[:, 2].cast(pl.Int64)
    d = parts[:, 4].cast(pl.Int64)
    jalali = sep_ok & (y < JALALI_YEAR_BELOW)
    gregorian = sep_ok & (y >= JALALI_YEAR_BELOW)
    jal_dates = jalali_to_date_series(y, m, d)
    greg_text = y.cast(pl.String) + "-" + m.cast(pl.String) + "-" + d.cast(pl.String)
    greg_dates = greg_text.str.to_date("%Y-%m-%d", strict=False)
    frame = pl.DataFrame({"jalali": jalali, "gregorian": gregorian, "j": jal_dates, "g": greg_dates})
    out = frame.select(pl.when("jalali").then("j").when("gregorian").then("g").alias(s.name))
    return out.to_series()


_MIN_DAY = (_MIN_DATE - dt.date(1970, 1, 1)).days
_MAX_DAY = (_MAX_DATE - dt.date(1970, 1, 1)).days


def jalali_year_series(s: pl.Series) -> pl.Series:
    """Solar Hijri year (Int32) of each date; null for null dates and dates outside 1178–1633 AP."""
    days = s.cast(pl.Date).to_physical()
    years, ok = _days_to_jalali_year_kernel(_contiguous_int64(days), _MIN_DAY, _MAX_DAY, _BREAKS)
    return _masked(pl.Series(s.name, years, dtype=pl.Int32), ok & days.is_not_null().to_numpy())


def jalali_year_expr(e: pl.Expr) -> pl.Expr:
    """Expression form of :func:`jalali_year_series`, for lazy plans (the DSL's ``jalali_year(date)``)."""
    return e.map_batches(jalali_year_series, return_dtype=pl.Int32, is_elementwise=True)
