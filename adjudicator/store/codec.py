"""Frames to stored values and back, exactly: the contract's dtypes go in and come out unchanged.

The row tables (point-of-service commits; the result tables of stores before schema v3, read once by the migration)
store Date as DATE (ISO text on SQLite, where it sorts and compares as a date), List(String) as a compact JSON array
in TEXT (``["A10","B20"]``; null stays NULL, an empty list stays ``[]``), text and integers as themselves.
``value_to_db`` writes one value, ``row_from_db`` reads one row (the point path), ``decode`` reads a whole frame
with polars expressions.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl

from adjudicator.errors import StoreError

LIST_DTYPE = pl.List(pl.String)


def conform(frame: pl.DataFrame, contract: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    """``frame`` with exactly the contract's columns, in its order and dtypes; StoreError names what is wrong."""
    missing = [c for c in contract if c not in frame.columns]
    if missing:
        raise StoreError(f"{what}: missing column(s) {', '.join(missing)}")
    try:
        return frame.select([pl.col(c).cast(t) for c, t in contract.items()])
    except pl.exceptions.PolarsError as exc:
        raise StoreError(f"{what}: a column does not have its contract type ({exc})") from exc


def storage_dtype(dtype: pl.DataType, *, dates_as_text: bool) -> pl.DataType:
    """The polars dtype of a stored value as the driver hands it over."""
    if isinstance(dtype, pl.List) or (dtype == pl.Date and dates_as_text):
        return pl.String
    return dtype


def decode(frame: pl.DataFrame, contract: dict[str, pl.DataType]) -> pl.DataFrame:
    """The contract frame back from its stored form (lists as JSON text, dates as ISO text on SQLite)."""
    exprs = []
    for name, dtype in contract.items():
        have = frame.schema[name]
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(name).str.json_decode(LIST_DTYPE))
        elif dtype == pl.Date and have == pl.String:
            exprs.append(pl.col(name).str.to_date("%Y-%m-%d"))
        elif have != dtype:
            exprs.append(pl.col(name).cast(dtype))
    return (frame.with_columns(exprs) if exprs else frame).select(list(contract))


def value_to_db(value: Any, dtype: pl.DataType, *, dates_as_text: bool) -> Any:
    """One Python value (as a line dict holds it) in stored form."""
    if value is None:
        return None
    if isinstance(dtype, pl.List):
        return json.dumps(list(value), ensure_ascii=False, separators=(",", ":"))
    if dtype == pl.Date:
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return value.isoformat() if dates_as_text else value
    return value


def row_from_db(row: tuple, columns: list[str], dates: frozenset[str], lists: frozenset[str]) -> dict[str, Any]:
    """A stored row as a line dict with Python values: ``date`` for dates, ``list[str]`` for lists."""
    out = dict(zip(columns, row))
    for name in dates:
        value = out[name]
        if value.__class__ is str:
            out[name] = date.fromisoformat(value)
    for name in lists:
        value = out[name]
        if value is not None:
            out[name] = json.loads(value)
    return out
