"""Aggregate windows (``prior_count`` / ``prior_sum``): where a window starts, and the compiled sweep.

"Running count / sum per key, in order" is sequential by nature, so it is one numba pass over lines sorted by
(key, service_date, claim_id, line_no) instead of a polars window expression (which hashes groups even when the
frame is sorted). Both backends compute the window start with the functions here:
``"Nd"`` → (date − N days, date]; ``"Nm"``/``"Ny"`` → from the day after the same date N calendar months/years
earlier (clamped to the month's end, as polars' ``offset_by`` does); ``"benefit_year"`` → from Nowruz of the date's
Solar Hijri year; no window → every earlier line.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numba
import numpy as np
import polars as pl

from adjudicator import dates

NO_START = -(2**31)  # window start for "every earlier line"
EPOCH = dt.date(1970, 1, 1)


def add_months(d: dt.date, months: int) -> dt.date:
    """``d`` moved by whole calendar months, the day clamped to the month's end (polars' offset_by)."""
    m0 = d.year * 12 + (d.month - 1) + months
    y, m = divmod(m0, 12)
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def window_start(day: dt.date, within: tuple[int, str] | None) -> dt.date | None:
    """The first service date inside the window of a line dated ``day`` (None: no lower bound)."""
    if within is None:
        return None
    n, unit = within
    if unit == "d":
        return day - dt.timedelta(days=n - 1)
    if unit == "m":
        return add_months(day, -n) + dt.timedelta(days=1)
    if unit == "y":
        return add_months(day, -12 * n) + dt.timedelta(days=1)
    return dates.from_jalali(dates.jalali_year(day), 1, 1)


def window_start_expr(day: pl.Expr, within: tuple[int, str] | None) -> pl.Expr:
    """Vectorized ``window_start`` → Int32 days since 1970-01-01 (NO_START when unbounded)."""
    if within is None:
        return pl.lit(NO_START, pl.Int32)
    n, unit = within
    if unit == "d":
        start = day - pl.duration(days=n - 1)
    elif unit in ("m", "y"):
        months = n if unit == "m" else 12 * n
        start = day.dt.offset_by(f"-{months}mo") + pl.duration(days=1)
    else:
        year = dates.jalali_year_expr(day)
        start = year.map_batches(_nowruz_days, return_dtype=pl.Int32)
        return start
    return start.cast(pl.Int32)


def _nowruz_days(years: pl.Series) -> pl.Series:
    uniq = years.drop_nulls().unique().to_list()
    table = {y: (dates.from_jalali(int(y), 1, 1) - EPOCH).days for y in uniq}
    return years.replace_strict(table, default=None, return_dtype=pl.Int32)


@numba.njit(cache=True)
def prior_sweep(new_group, days, starts, flags, values):  # pragma: no cover - compiled
    """For each line (sorted by key then total order): count and sum of the earlier flagged lines of its group
    whose day ≥ its window start. ``values`` are summed where flagged (a null value counts as 0)."""
    n = days.shape[0]
    count = np.zeros(n, np.int64)
    total = np.zeros(n, values.dtype)
    cum_c = np.zeros(n + 1, np.int64)
    cum_v = np.zeros(n + 1, values.dtype)
    lo = 0
    for i in range(n):
        if new_group[i]:
            lo = i
        while lo < i and days[lo] < starts[i]:
            lo += 1
        count[i] = cum_c[i] - cum_c[lo]
        total[i] = cum_v[i] - cum_v[lo]
        cum_c[i + 1] = cum_c[i] + (1 if flags[i] else 0)
        cum_v[i + 1] = cum_v[i] + (values[i] if flags[i] else 0)
    return count, total


def run_sweep(frame: pl.DataFrame, keys: list[str], day_col: str, start_col: str, flag_col: str,
              value_col: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``prior_sweep`` over a frame already sorted by ``keys`` then the total order."""
    n = frame.height
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boundary = pl.lit(False)
    for k in keys:
        boundary = boundary | pl.col(k).ne_missing(pl.col(k).shift(1))
    cols = frame.select(
        pl.when(pl.int_range(pl.len()) == 0).then(True).otherwise(boundary).alias("new"),
        pl.col(day_col).cast(pl.Int32).alias("day"),
        pl.col(start_col).cast(pl.Int32).alias("start"),
        pl.col(flag_col).fill_null(False).alias("flag"),
        (pl.col(value_col).fill_null(0) if value_col else pl.lit(0, pl.Int64)).alias("value"),
    )
    values = cols["value"]
    values = values.cast(pl.Float64) if values.dtype.is_float() else values.cast(pl.Int64)
    return prior_sweep(_arr(cols["new"]), _arr(cols["day"]), _arr(cols["start"]), _arr(cols["flag"]), _arr(values))


def _arr(s: pl.Series) -> np.ndarray:
    """A contiguous, writable numpy array (read-only or strided arrays make numba recompile)."""
    return np.ascontiguousarray(s.to_numpy(writable=True))
