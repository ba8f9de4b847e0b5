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
from adjudicator.rules import encode

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


@numba.njit(cache=True, nogil=True)
def prior_sweep(bounds, days, starts, flags, values):  # pragma: no cover - compiled
    """For each line, in sorted order (keys are the runs ``bounds[g]:bounds[g+1]``, each in the total order):
    count and sum of the earlier flagged lines of its key whose day ≥ its window start. ``values`` are summed
    where flagged (a null value counts as 0), in the key's own order from 0 — as the Python backend sums them."""
    n = days.shape[0]
    count = np.zeros(n, np.int64)
    total = np.zeros(n, values.dtype)
    for g in range(bounds.shape[0] - 1):
        s, e = bounds[g], bounds[g + 1]
        lo = s
        cum_c = lo_c = 0
        cum_v = lo_v = total[s]  # zero of the values' type; per-key prefix sums, as the Python backend adds
        for p in range(s, e):
            while lo < p and days[lo] < starts[p]:
                lo_c += 1 if flags[lo] else 0
                lo_v += values[lo] if flags[lo] else 0
                lo += 1
            count[p] = cum_c - lo_c
            total[p] = cum_v - lo_v
            if flags[p]:
                cum_c += 1
                cum_v += values[p]
    return count, total


@numba.njit(cache=True, nogil=True)
def sort_groups(order, bounds, low):  # pragma: no cover - compiled
    """Sort each run ``order[bounds[g]:bounds[g+1]]`` by ``low`` (in place); returns ``low`` in that order."""
    n = order.shape[0]
    out = np.empty(n, low.dtype)
    for p in range(n):
        out[p] = low[order[p]]
    for g in range(bounds.shape[0] - 1):
        s, e = bounds[g], bounds[g + 1]
        if e - s <= 16:  # insertion sort: most keys have a handful of lines
            for p in range(s + 1, e):
                v, r = out[p], order[p]
                q = p - 1
                while q >= s and out[q] > v:
                    out[q + 1], order[q + 1] = out[q], order[q]
                    q -= 1
                out[q + 1], order[q + 1] = v, r
        else:
            perm = np.argsort(out[s:e])
            out[s:e] = out[s:e][perm]
            order[s:e] = order[s:e][perm]
    return out


@numba.njit(cache=True, nogil=True)
def tied_runs(bounds, days, claim):  # pragma: no cover - compiled
    """Positions (in sorted order) of the lines whose (key, day) run holds more than one claim, and a run number
    for each: only there does the order of claim ids — strings, not known here — decide which line is earlier."""
    n = days.shape[0]
    pos = np.empty(n, np.int64)
    run = np.empty(n, np.int64)
    m = 0
    r = 0
    for g in range(bounds.shape[0] - 1):
        s, end = bounds[g], bounds[g + 1]
        while s < end:
            e = s + 1
            mixed = False
            while e < end and days[e] == days[s]:
                if claim[e] != claim[s]:
                    mixed = True
                e += 1
            if mixed:
                for p in range(s, e):
                    pos[m] = p
                    run[m] = r
                    m += 1
                r += 1
            s = e
    return pos[:m], run[:m]


def _span(a: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``a`` shifted to start at 0, the shift, and the bits its largest value needs."""
    if a.shape[0] == 0:
        return a.astype(np.int64), 0, 1
    lo = int(a.min())
    out = a.astype(np.int64) - lo
    return out, lo, max(1, int(out.max()).bit_length())


class SweepOrder:
    """Lines grouped by a key and, within it, in the total order (service_date, claim_id, line_no).

    ``order``: rows in that order; ``bounds``: where each key's run starts (n_keys + 1 long); ``days``: the
    service day (int32) in that order. Keys are bucketed by a counting sort of their dense ids, each bucket sorted
    on one integer (day, claim id, line_no) — the claims' dense ids stand in for their strings — and then, only
    inside (key, day) runs that hold several claims, put right by the strings."""

    def __init__(self, key: np.ndarray, n_keys: int, days: np.ndarray, claim: np.ndarray, n_claims: int,
                 line_no: np.ndarray, claim_ids: pl.Series):
        order, bounds = encode.bucket(key, n_keys)
        d, d0, db = _span(days)
        ln, _, lb = _span(line_no)
        cb = max(1, (n_claims - 1).bit_length())
        if db + cb + lb <= 63:
            low = sort_groups(order, bounds, ((d << cb | claim) << lb) | ln)
            sd = (low >> (cb + lb)) + d0
            sc = (low >> lb) & ((1 << cb) - 1)
        else:  # too wide for one integer: sort on the columns
            order = np.lexsort((line_no, claim, days, key))
            sd, sc = days[order], claim[order]
        pos, run = tied_runs(bounds, sd, sc)
        if pos.shape[0]:
            rows = order[pos]
            tied = pl.DataFrame({"run": run, "claim": claim_ids.gather(rows), "line": line_no[rows]})
            perm = tied.select(pl.arg_sort_by("run", "claim", "line")).to_series().to_numpy()
            order[pos] = rows[perm]
        self.order, self.bounds = np.ascontiguousarray(order), bounds
        self.days = np.ascontiguousarray(sd.astype(np.int32))

    def gather(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[self.order])

    def scatter(self, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        out[self.order] = a
        return out


def window_starts(so: SweepOrder, day: pl.Series, within: tuple[int, str] | None) -> np.ndarray:
    """``window_start_expr`` of every line, in the sweep's order, as int32 days."""
    if within is None:
        return np.full(so.days.shape[0], NO_START, np.int32)
    n, unit = within
    if unit == "d":
        return np.maximum(so.days.astype(np.int64) - (n - 1), NO_START).astype(np.int32)
    return so.gather(arr(pl.select(window_start_expr(pl.lit(day), within).fill_null(NO_START)).to_series()))


def arr(s: pl.Series) -> np.ndarray:
    """A contiguous, writable numpy array (read-only or strided arrays make numba recompile)."""
    return np.ascontiguousarray(s.to_numpy(writable=True))
