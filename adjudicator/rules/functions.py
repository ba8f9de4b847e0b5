"""The one catalogue of DSL functions: signature, polars form and Python form side by side.

Both backends look functions up here, so a function cannot mean one thing in batch and another at the counter.
Every function is null in, null out: a null argument gives null (the Python forms are only called with non-null
arguments — the generated code checks — and the polars forms are wrapped the same way by ``null_guard``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from adjudicator import dates

NUM, STR, BOOL, DATE, LIST, RATE, ANY = "num", "str", "bool", "date", "list", "rate", "any"


@dataclass(frozen=True)
class Function:
    """A DSL function: argument types (``variadic`` repeats the last), result type, and its two forms."""

    name: str
    args: tuple[str, ...]
    returns: str
    polars: Callable[..., pl.Expr]
    python: Callable[..., object]
    variadic: bool = False
    literal_args: tuple[int, ...] = ()  # argument positions that must be literals
    reads: tuple[str, ...] = ()         # frame columns the function reads implicitly
    doc: str = ""

    def arity_ok(self, n: int) -> bool:
        return n >= len(self.args) if self.variadic else n == len(self.args)

    def arg_type(self, i: int) -> str:
        return self.args[min(i, len(self.args) - 1)]


def null_guard(args: list[pl.Expr], expr: pl.Expr) -> pl.Expr:
    """Null when any argument is null, else ``expr``."""
    return pl.when(pl.any_horizontal([a.is_null() for a in args])).then(None).otherwise(expr)


def _age_years(birth_year, birth_month, birth_day, year, month, day):
    """Completed years; a 29 February birthday is reached on 1 March in common years."""
    return year - birth_year - ((month, day) < (birth_month, birth_day))


def _py_age_at(birth: dt.date | None, d: dt.date) -> int | None:
    if birth is None:
        return None
    return _age_years(birth.year, birth.month, birth.day, d.year, d.month, d.day)


def polars_age(birth: pl.Expr, d: pl.Expr) -> pl.Expr:
    """Completed Gregorian years from ``birth`` to ``d``, vectorized."""
    before = (d.dt.month() < birth.dt.month()) | (
        (d.dt.month() == birth.dt.month()) & (d.dt.day() < birth.dt.day())
    )
    return (d.dt.year().cast(pl.Int64) - birth.dt.year().cast(pl.Int64) - before.cast(pl.Int64))


@numba.njit(cache=True)
def _ymd(days):  # pragma: no cover - compiled
    """Days since 1970-01-01 → yyyymmdd, proleptic Gregorian (``dates``' own day → date conversion)."""
    y, m, d = dates._d2g(days + dates._EPOCH_JDN)
    return y * 10000 + m * 100 + d


@numba.njit(cache=True)
def _ymds(days, valid):  # pragma: no cover - compiled
    """``_ymd`` of every valid day, through a table over the days' range when it is not too wide (dates of a
    batch span years, not millennia: one conversion per distinct day instead of one per line)."""
    n = days.shape[0]
    out = np.zeros(n, np.int64)
    lo, hi = np.int64(2**40), np.int64(-(2**40))
    for i in range(n):
        if valid[i]:
            lo = min(lo, np.int64(days[i]))
            hi = max(hi, np.int64(days[i]))
    if hi < lo:
        return out
    if hi - lo < 4 * n + 1024:
        table = np.empty(hi - lo + 1, np.int64)
        for d in range(lo, hi + 1):
            table[d - lo] = _ymd(d)
        for i in range(n):
            if valid[i]:
                out[i] = table[np.int64(days[i]) - lo]
    else:
        for i in range(n):
            if valid[i]:
                out[i] = _ymd(np.int64(days[i]))
    return out


def age_series(birth: pl.Series, day: pl.Series) -> pl.Series:
    """``polars_age`` of two eager Date columns, computed in compiled passes: whole years are the yyyymmdd
    difference floored to 10,000s (a month-day before the birthday takes one year off)."""
    valid = (birth.is_not_null() & day.is_not_null()).to_numpy()
    b = _ymds(birth.cast(pl.Int32).fill_null(0).to_numpy(), valid)
    d = _ymds(day.cast(pl.Int32).fill_null(0).to_numpy(), valid)
    out = pl.Series((d - b) // 10000)
    return out if valid.all() else pl.select(pl.when(pl.lit(pl.Series(valid))).then(out)).to_series()


def _pl_round(x: pl.Expr) -> pl.Expr:
    # round half up, to an integer (the same float arithmetic as the Python form)
    return (x + 0.5).floor().cast(pl.Int64)


def _py_round(x):
    return math.floor(x + 0.5)


def _len_series(s: pl.Series) -> pl.Series:
    return (s.list.len() if isinstance(s.dtype, pl.List) else s.str.len_chars()).cast(pl.Int64)


def _pl_len(x: pl.Expr) -> pl.Expr:
    # decided by the column's dtype when the plan runs: a name alone does not say whether it is a list (table
    # columns typed list, set fields, if/else of lists)
    return x.map_batches(_len_series, return_dtype=pl.Int64, is_elementwise=True)


def _pl_any_startswith(lst: pl.Expr, prefixes: pl.Expr, *, literals: tuple) -> pl.Expr:
    pref = tuple(str(p) for p in literals[1])
    cond = pl.lit(False)
    for p in pref:
        cond = cond | pl.element().str.starts_with(p).fill_null(False)
    return lst.list.eval(cond).list.any()


def _py_any_startswith(lst, prefixes):
    pref = tuple(str(p) for p in prefixes)
    return any(x is not None and x.startswith(pref) for x in lst)


CATALOGUE: dict[str, Function] = {
    f.name: f
    for f in (
        Function("min", (NUM, NUM), NUM, lambda *a: pl.min_horizontal(*a), lambda *a: min(a), variadic=True,
                 doc="smallest of its arguments"),
        Function("max", (NUM, NUM), NUM, lambda *a: pl.max_horizontal(*a), lambda *a: max(a), variadic=True,
                 doc="largest of its arguments"),
        Function("abs", (NUM,), NUM, lambda x: x.abs(), abs, doc="absolute value"),
        Function("round", (NUM,), NUM, _pl_round, _py_round, doc="round half up to a whole number"),
        Function("len", (ANY,), NUM, _pl_len, len, doc="length of a list or a string"),
        Function("startswith", (STR, STR), BOOL, lambda s, p: s.str.starts_with(p), lambda s, p: s.startswith(p),
                 doc="the string starts with the prefix"),
        Function("any_startswith", (LIST, LIST), BOOL, _pl_any_startswith, _py_any_startswith, literal_args=(1,),
                 doc="some element of the list starts with one of the literal prefixes"),
        Function("days_between", (DATE, DATE), NUM, lambda a, b: (b - a).dt.total_days().cast(pl.Int64),
                 lambda a, b: (b - a).days, doc="b − a in days"),
        Function("age_at", (DATE,), NUM, lambda d: polars_age(pl.col("member.birth_date"), d),
                 lambda d, birth: _py_age_at(birth, d), reads=("member.birth_date",),
                 doc="the member's completed years on the date"),
        Function("jalali_year", (DATE,), NUM, lambda d: dates.jalali_year_expr(d).cast(pl.Int64), dates.jalali_year,
                 doc="the Solar Hijri year of the date"),
    )
}

AGGREGATES = ("prior_count", "prior_sum")
SPECIAL = ("pair",)

# Operators shared by both backends: the same callables work on pl.Expr and on plain values (ibis' habit).
import operator as _op  # noqa: E402

BINARY = {"+": _op.add, "-": _op.sub, "*": _op.mul, "/": _op.truediv, "//": _op.floordiv}
COMPARE = {"==": _op.eq, "!=": _op.ne, "<": _op.lt, "<=": _op.le, ">": _op.gt, ">=": _op.ge}
