"""Input validation: split a source frame as read into typed rows and quarantine rows, by the data contract.

``validate`` takes the columns of one input source as read (text for CSV/NDJSON, possibly typed for Parquet or a
DataFrame) and returns the rows that keep the contract, typed as ``schema.SOURCES[source]``, and one quarantine row
for every row that breaks it, with every problem named. Each check is one polars expression yielding an error
message or null; the messages of a row are joined with "; " and the first offending column is recorded. No row is
dropped: rows in = typed rows + quarantine rows, which ``validate`` asserts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from adjudicator import national_code, schema
from adjudicator.dates import parse_date_series
from adjudicator.errors import InputError

__all__ = ["ROW", "validate", "check_columns", "raw_json_expr"]

ROW = "__row"  # the 1-based data row number (header not counted) that travels with a row

_INT_TEXT = r"^[+-]?[0-9]+$"
_TRUE = ("true", "1")
_FALSE = ("false", "0")
_LEVELS = (1, 2, 3)

# Allowed values of the enumerated text columns, per source; a null passes unless the column is required.
_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "claims": {"setting": schema.SETTINGS, "submission": schema.SUBMISSIONS},
    "members": {"sex": schema.SEXES, "relationship": schema.RELATIONSHIPS},
    "coverage": {"kind": schema.COVER_KINDS, "status": schema.COVER_STATUSES},
    "providers": {"provider_type": schema.PROVIDER_TYPES, "sector": schema.SECTORS},
}
# Defaults applied to nulls before the typed frame is returned.
_DEFAULTS: dict[str, dict[str, object]] = {
    "claims": {"submission": "original"},
    "coverage": {"status": "active", "waiting_days": 0},
}


def _v(c: str) -> str:
    return f"__v_{c}"


def _t(c: str) -> str:
    return f"__t_{c}"


@dataclass
class _Checks:
    """The checks of one source as (column, condition, message), in the order their columns are reported.

    The condition is a cheap Boolean evaluated on every row; the message is built only for the rows that fail.
    """

    items: list[tuple[str, pl.Expr, pl.Expr]] = field(default_factory=list)

    def add(self, column: str, condition: pl.Expr, message: pl.Expr | str) -> None:
        if isinstance(message, str):
            message = pl.lit(message)
        self.items.append((column, condition, message))


def check_columns(columns: list[str] | tuple[str, ...], source: str, file: str) -> None:
    """Raise InputError when a required column of ``source`` is absent from ``columns``."""
    if source not in schema.SOURCES:
        raise InputError(f"{file}: unknown source {source!r} (expected one of {', '.join(schema.SOURCES)})")
    missing = [c for c in schema.REQUIRED[source] if c not in columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        plural = "s" if len(missing) > 1 else ""
        raise InputError(f"{file}: missing required column{plural} {names} for {source}")


def _text_expr(c: str, dtype: pl.DataType) -> pl.Expr:
    """The value as text, trimmed, empty → null (for typed columns: the value cast to text)."""
    if dtype == pl.String:
        t = pl.col(c).str.strip_chars()
    elif isinstance(dtype, pl.List):
        t = pl.col(c).list.eval(pl.element().cast(pl.String)).list.join("|")
    elif dtype == pl.Null:
        t = pl.col(c).cast(pl.String)
    elif isinstance(dtype, (pl.Struct, pl.Array, pl.Object)):
        t = pl.struct(pl.col(c)).struct.json_encode()
    else:
        t = pl.col(c).cast(pl.String)
    return pl.when(t != "").then(t).otherwise(pl.lit(None, pl.String))


def raw_json_expr(columns: dict[str, pl.DataType]) -> pl.Expr:
    """The row as read, as a JSON object of text values (lists `|`-joined), in column order."""
    parts = []
    for c, dtype in columns.items():
        if dtype == pl.String:
            parts.append(pl.col(c))
        elif isinstance(dtype, pl.List):
            parts.append(pl.col(c).list.eval(pl.element().cast(pl.String)).list.join("|").alias(c))
        elif isinstance(dtype, (pl.Struct, pl.Array, pl.Object)):
            parts.append(pl.struct(pl.col(c)).struct.json_encode().alias(c))
        else:
            parts.append(pl.col(c).cast(pl.String).alias(c))
    if not parts:
        return pl.lit("{}")
    return pl.struct(parts).struct.json_encode()


def _quoted(t: pl.Expr) -> pl.Expr:
    # Long garbage would swamp the message; the raw row keeps the full value.
    return pl.when(t.str.len_chars() > 40).then(t.str.slice(0, 40) + "…").otherwise(t)


def _parse_dates(s: pl.Series) -> pl.Series:
    # A file holds few distinct dates: parse each once (10x faster on a million lines).
    distinct = s.unique()
    return s.replace_strict(distinct, parse_date_series(distinct), default=None, return_dtype=pl.Date)


def _int_value(c: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(Int64 value or null, whether the text is written as an integer)."""
    if dtype.is_integer():
        return pl.col(c).cast(pl.Int64, strict=False), pl.col(c).is_not_null()
    t = pl.col(_t(c))
    # A text the cast accepts but the pattern does not is still quarantined by the "non-integer" check.
    return t.str.strip_prefix("+").cast(pl.Int64, strict=False), t.str.contains(_INT_TEXT)


def _column_checks(
    source: str, c: str, dtype: pl.DataType, raw_dtype: pl.DataType
) -> tuple[pl.Expr, Callable[[_Checks], None]]:
    """The typed value of column ``c`` and a function registering its checks."""
    t = pl.col(_t(c))
    val = pl.col(_v(c))  # conditions read the computed value column rather than recompute it
    present = t.is_not_null()
    q = _quoted(t)
    errors: list[tuple[pl.Expr, pl.Expr]] = []  # (condition, message)

    if dtype == pl.Int64:
        v, written_int = _int_value(c, raw_dtype)
        out_of_range = written_int & val.is_null()
        if c in schema.MONEY_COLUMNS.get(source, ()):
            errors += [
                (present & ~written_int, pl.format("non-integer money '{}' in '{}'", q, pl.lit(c))),
                (out_of_range, pl.format("money '{}' out of range in '{}'", q, pl.lit(c))),
                (val < 0, pl.format("negative money '{}' in '{}'", q, pl.lit(c))),
            ]
        else:
            errors += [
                (present & ~written_int, pl.format("non-integer {} '{}'", pl.lit(c), q)),
                (out_of_range, pl.format("{} '{}' out of range", pl.lit(c), q)),
            ]
            bound = {"line_no": 1, "waiting_days": 0}.get(c)
            if bound is not None:
                errors.append((val < bound, pl.format("{} '{}' must be ≥ {}", pl.lit(c), q, pl.lit(bound))))
            if c == "level":
                errors.append((~val.is_in(_LEVELS), pl.format("unknown level '{}'", q)))
    elif dtype == pl.Date:
        if raw_dtype == pl.Date:
            v = pl.col(c)
        elif isinstance(raw_dtype, pl.Datetime):
            v = pl.col(c).dt.date()
        else:
            v = t.map_batches(_parse_dates, return_dtype=pl.Date, is_elementwise=True)
        errors.append((present & val.is_null(), pl.format("'{}' is not a date in '{}'", q, pl.lit(c))))
    elif dtype == pl.Boolean:
        if raw_dtype == pl.Boolean:
            v = pl.col(c)
        else:
            low = t.str.to_lowercase()
            v = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
        errors.append((present & val.is_null(), pl.format("'{}' is not a boolean in '{}'", q, pl.lit(c))))
    elif isinstance(dtype, pl.List):
        if isinstance(raw_dtype, pl.List):
            items = pl.col(c).list.eval(pl.element().cast(pl.String).str.strip_chars())
        else:
            items = t.str.split("|").list.eval(pl.element().str.strip_chars())
        items = items.list.eval(pl.element().filter(pl.element().is_not_null() & (pl.element() != "")))
        v = pl.when(items.list.len() > 0).then(items).otherwise(pl.lit(None, dtype))
    else:  # text
        v = t
        allowed = _ENUMS.get(source, {}).get(c)
        if allowed is not None:
            errors.append((~t.is_in(allowed), pl.format("unknown {} '{}'", pl.lit(c), q)))
        if c in schema.NATIONAL_CODE_COLUMNS.get(source, ()):
            reason = national_code.invalid_reason_expr(t)
            errors.append((~national_code.valid_expr(t), pl.format("bad national code: {} in '{}'", reason, pl.lit(c))))

    required = c in schema.REQUIRED[source]

    def register(checks: _Checks) -> None:
        if required:
            checks.add(c, ~present, f"missing required value in '{c}'")
        for cond, message in errors:
            checks.add(c, cond, message)

    return v, register


def _cross_checks(source: str, checks: _Checks) -> None:
    """Checks that read several columns; they see the typed values (null where a value was bad)."""
    v = lambda c: pl.col(_v(c))  # noqa: E731
    if source == "claims":
        sub = v("submission")
        checks.add(
            "replaces_claim_id",
            sub.is_in(("replacement", "void")) & v("replaces_claim_id").is_null(),
            pl.format("missing required value in 'replaces_claim_id' (submission '{}')", sub),
        )
        inpatient = v("setting") == "inpatient"
        for c in ("admission_date", "discharge_date"):
            checks.add(c, inpatient & pl.col(_t(c)).is_null(), f"missing required value in '{c}' (inpatient)")
        checks.add(
            "discharge_date", v("discharge_date") < v("admission_date"), "discharge_date before admission_date"
        )
        key_ok = v("claim_id").is_not_null() & v("line_no").is_not_null()
        # The frame is in row order here (validate sorts it), so "later" = not the first of its key.
        later = ~pl.struct(_v("claim_id"), _v("line_no")).is_first_distinct()
        checks.add("line_no", key_ok & later, "duplicate (claim_id, line_no)")
    elif source == "coverage":
        checks.add("end_date", v("end_date") < v("start_date"), "end_date before start_date")


def validate(raw: pl.DataFrame, source: str, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``raw`` into (typed rows, quarantine rows) by the contract of ``source``.

    ``raw`` holds the columns as read plus an Int64 ``__row`` (1-based data row number; added when absent). The
    typed frame has exactly the columns of ``schema.SOURCES[source]``, in order, plus ``__row``; the quarantine
    frame has exactly the columns of ``schema.QUARANTINE``. Unknown columns are ignored (but kept in ``raw``).
    Raises InputError when a required column is missing.
    """
    check_columns(raw.columns, source, file)
    if ROW not in raw.columns:
        raw = raw.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
    if not raw[ROW].is_sorted():
        raw = raw.sort(ROW)
    cols = schema.SOURCES[source]
    raw_schema = {c: d for c, d in raw.schema.items() if c != ROW}
    present_dtype = {c: raw_schema.get(c, pl.String) for c in cols}

    text = []
    for c, dtype in cols.items():
        if c in raw_schema:
            text.append(_text_expr(c, raw_schema[c]).alias(_t(c)))
        else:
            text.append(pl.lit(None, pl.String).alias(_t(c)))
    # Absent optional columns are treated as all-null text.
    absent = [pl.lit(None, pl.String).alias(c) for c in cols if c not in raw_schema]

    checks = _Checks()
    values = []
    for c, dtype in cols.items():
        v, register = _column_checks(source, c, dtype, present_dtype[c])
        values.append(v.cast(dtype).alias(_v(c)))
        register(checks)
    _cross_checks(source, checks)

    conds = [cond.fill_null(False).alias(f"__c{i}") for i, (_, cond, _) in enumerate(checks.items)]
    cond_names = [f"__c{i}" for i in range(len(conds))]
    checked = (
        raw.lazy()
        .with_columns(absent)
        .with_columns(text)
        .with_columns(values)
        .with_columns(conds)
        .with_columns(pl.any_horizontal(cond_names).alias("__bad"))
        .select([*(pl.col(_v(c)) for c in cols), ROW, "__bad", *cond_names, *raw_schema])
        .collect()
    )

    defaults = _DEFAULTS.get(source, {})
    typed = checked.filter(~pl.col("__bad")).select(
        [
            (pl.col(_v(c)).fill_null(pl.lit(defaults[c], dtype)) if c in defaults else pl.col(_v(c))).alias(c)
            for c, dtype in cols.items()
        ]
        + [pl.col(ROW).cast(pl.Int64)]
    )
    # Messages are built for the failing rows only: formatting strings for every row costs more than all checks.
    messages = [pl.when(pl.col(n)).then(msg) for n, (_, _, msg) in zip(cond_names, checks.items)]
    first_column = pl.coalesce([pl.when(pl.col(n)).then(pl.lit(c)) for n, (c, _, _) in zip(cond_names, checks.items)])
    bad = (
        checked.lazy()
        .filter(pl.col("__bad"))
        .with_columns(absent)
        .with_columns(text)
        .select(
            pl.lit(source, pl.String).alias("source"),
            pl.lit(file, pl.String).alias("file"),
            pl.col(ROW).cast(pl.Int64).alias("row"),
            first_column.alias("column"),
            pl.concat_str(messages, separator="; ", ignore_nulls=True).alias("error"),
            raw_json_expr(raw_schema).alias("raw"),
        )
        .collect()
    )
    assert bad.schema == pl.Schema(schema.QUARANTINE), bad.schema
    assert len(typed) + len(bad) == len(raw), (len(typed), len(bad), len(raw))
    return typed, bad
