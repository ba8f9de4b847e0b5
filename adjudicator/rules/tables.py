"""Reference tables of a ruleset: loading, typing, validity checks, and the lookups both backends use.

A table is a CSV or Parquet file beside the ruleset. Keyed tables join each line by key (and, when versioned with
``valid: [from, to]``, by the service date: inclusive bounds, empty = open); pair tables hold (code_1, code_2,
modifier_ok) rows for bundling edits. Column types are inferred (int, bool, date, string) unless declared with
``types:``; key and pair columns are always strings so that ``059`` stays ``059``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adjudicator import dates
from adjudicator.rules import ir

TYPES = {"int": pl.Int64, "str": pl.String, "bool": pl.Boolean, "date": pl.Date, "list": pl.List(pl.String)}
DSL_TYPE = {"int": "num", "str": "str", "bool": "bool", "date": "date", "list": "list"}
FOUND = "__found"


class TableProblem(Exception):
    """A table cannot be used: (diagnostic code, message)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def read_raw(path: Path) -> pl.DataFrame:
    """The file as read: CSV as all-text columns, Parquet typed."""
    if not path.exists():
        raise TableProblem("E301", f"table file '{path}' does not exist")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False)
    except Exception as e:  # polars raises several types for unreadable files
        raise TableProblem("E301", f"table file '{path}' cannot be read: {e}") from None


def _infer(s: pl.Series) -> str:
    if s.dtype != pl.String:
        if s.dtype.is_integer():
            return "int"
        if s.dtype == pl.Boolean:
            return "bool"
        if s.dtype == pl.Date:
            return "date"
        if isinstance(s.dtype, pl.List):
            return "list"
        return "str"
    v = s.drop_nulls()
    v = v.filter(v != "")
    if v.len() == 0:
        return "str"
    if v.str.contains(r"^-?\d{1,18}$").all():
        return "int"
    if v.str.to_lowercase().is_in(["true", "false"]).all():
        return "bool"
    if v.str.contains(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}$").all():
        return "date"
    if v.str.contains("|", literal=True).any():
        return "list"
    return "str"


def convert(s: pl.Series, typ: str, where: str) -> pl.Series:
    """Convert one column to its declared type; raise TableProblem naming the first bad value."""
    if s.dtype == TYPES[typ] and typ != "str":
        return s
    text = s.cast(pl.String)
    text = pl.select(pl.when(text.str.strip_chars() == "").then(None).otherwise(text.str.strip_chars())).to_series()
    if typ == "str":
        out = text
    elif typ == "int":
        out = text.cast(pl.Int64, strict=False)
    elif typ == "bool":
        low = text.str.to_lowercase()
        out = pl.select(pl.when(low.is_in(["true", "1"])).then(True)
                        .when(low.is_in(["false", "0"])).then(False).otherwise(None)).to_series()
    elif typ == "date":
        out = dates.parse_date_series(text)
    else:
        out = text.str.split("|")
    bad = text.is_not_null() & out.is_null()
    if bad.any():
        first = text.filter(bad)[0]
        row = int(bad.arg_true()[0]) + 1
        raise TableProblem("E302", f"{where}: value {first!r} in row {row} is not a {typ}")
    return out.alias(s.name)


@dataclass
class LoadedTable:
    """A table's IR declaration and its typed frame."""

    decl: ir.Table
    frame: pl.DataFrame


def load(name: str, path: Path, *, key: tuple[tuple[str, str], ...], valid: tuple[str, str] | None,
         pair: tuple[str, str] | None, pair_within: str, types: dict[str, str], shown_path: str) -> LoadedTable:
    raw = read_raw(path)
    if pair and "modifier_ok" not in raw.columns:  # a pair table without bypass information never bypasses
        raw = raw.with_columns(pl.lit("0").alias("modifier_ok"))
    needed = [k for k, _ in key] + list(valid or ()) + list(pair or ())
    if pair:
        needed.append("modifier_ok")
    for col in [*needed, *types]:
        if col not in raw.columns:
            raise TableProblem("E302", f"table '{name}' ({shown_path}) has no column '{col}' "
                                       f"(columns: {', '.join(raw.columns)})")
    forced = {k: "str" for k, _ in key} | {c: "str" for c in (pair or ())}
    forced |= {c: "date" for c in (valid or ())}
    if pair:
        forced["modifier_ok"] = "int"
    cols, typed = [], []
    for c in raw.columns:
        typ = types.get(c) or forced.get(c) or _infer(raw[c])
        typed.append(convert(raw[c], typ, f"table '{name}' column '{c}'"))
        cols.append((c, typ))
    frame = pl.DataFrame(typed)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if valid:
        _check_validity(frame, name, [k for k, _ in key], valid)
    elif key:
        dup = frame.select([k for k, _ in key]).is_duplicated()
        if dup.any():
            first = frame.filter(dup).row(0)
            raise TableProblem("E303", f"table '{name}' has two rows for key {first[:len(key)]}; declare "
                                       f"valid: [from, to] if they are versions")
    decl = ir.Table(name=name, path=shown_path, key=key, valid=valid, pair=pair, pair_within=pair_within,
                    columns=tuple(cols), content_hash=digest)
    return LoadedTable(decl, frame)


def _check_validity(frame: pl.DataFrame, name: str, keys: list[str], valid: tuple[str, str]) -> None:
    lo, hi = valid
    f = (frame.select([*keys, lo, hi])
         .with_columns(pl.col(lo).fill_null(dt.date(1, 1, 1)), pl.col(hi).fill_null(dt.date(9999, 12, 31)))
         .sort([*keys, lo]))
    bad = f.filter((pl.col(hi) < pl.col(lo)))
    if bad.height:
        raise TableProblem("E303", f"table '{name}': row for {bad.row(0)[:len(keys)]} ends before it starts")
    prev_hi = pl.col(hi).shift(1).over(keys) if keys else pl.col(hi).shift(1)
    clash = f.filter(prev_hi >= pl.col(lo))
    if clash.height:
        row = clash.row(0)
        raise TableProblem("E303", f"table '{name}': two rows of key {row[:len(keys)]} are valid on "
                                   f"{row[len(keys)]} (validity ranges overlap)")


class Lookup:
    """Point-of-service lookups into a keyed table: key (a scalar for a one-column key) → a ready dict of the
    prefixed fields ``cols`` (column, name in the line) plus ``<table>.__found``, so a line takes a table row with one
    ``dict.update``; a miss gives ``self.miss`` (all null). Versioned tables keep each key's rows sorted by start."""

    def __init__(self, decl: ir.Table, frame: pl.DataFrame, cols: list[tuple[str, str]]):
        found = decl.name + "." + FOUND
        self.miss = dict.fromkeys([name for _, name in cols] + [found])
        if cols:  # the per-row dicts straight from polars (a Python loop over 10^4 rows × columns is ~10× slower)
            rows = frame.select(*[pl.col(c).alias(name) for c, name in cols],
                                pl.lit(True).alias(found)).to_dicts()
        else:
            rows = [{found: True}] * frame.height
        keys = frame[decl.key[0][0]].to_list() if len(decl.key) == 1 else frame.select([k for k, _ in decl.key]).rows()
        if decl.valid is None:
            self.index = dict(zip(keys, rows))
            return
        lo, hi = decl.valid
        spans: dict = {}
        for k, start, end, row in zip(keys, frame[lo].to_list(), frame[hi].to_list(), rows):
            spans.setdefault(k, []).append((start or dt.date.min, end or dt.date.max, row))
        self.index = {}
        for k, v in spans.items():
            v.sort(key=lambda t: t[0])
            self.index[k] = ([t[0] for t in v], [(t[1], t[2]) for t in v])

    def find(self, key, day: dt.date) -> dict:
        spans = self.index.get(key)
        if spans is None:
            return self.miss
        starts, rows = spans
        i = bisect.bisect_right(starts, day) - 1
        if i < 0 or rows[i][0] < day:
            return self.miss
        return rows[i][1]


class PairLookup:
    """Point-of-service pair lookups: code_2 → {code_1: modifier_ok}, rows with modifier_ok = 9 dropped.

    Built on first use (a table of millions of pairs costs seconds to index; most checks never need all of it)."""

    def __init__(self, decl: ir.Table, frame: pl.DataFrame):
        self.decl, self.frame = decl, frame

    @functools.cached_property
    def by_code2(self) -> dict[str, dict[str, int]]:
        """Per second code, its first codes and their modifier_ok (built on first use, then a plain attribute)."""
        c1, c2 = self.decl.pair
        # a pair listed twice keeps its strictest row (one that never bypasses wins), as in the batch
        g = (self.frame.filter(pl.col("modifier_ok").fill_null(0) != 9)
             .group_by(c2, c1).agg(pl.col("modifier_ok").fill_null(0).min())
             .group_by(c2).agg(pl.col(c1), pl.col("modifier_ok")))
        return {k: dict(zip(a, m)) for k, a, m in zip(g[c2].to_list(), g[c1].to_list(), g["modifier_ok"].to_list())}
