"""Reading input sources and writing result files: Parquet, CSV and NDJSON, deterministic and atomic.

``read_source`` turns a file or a frame into (typed rows, quarantine rows) through ``validate``: text formats are
read as text so that nothing is coerced before the contract is checked (``1000000.0`` stays visibly a float), and
Parquet is read typed, where a float money column rejects the whole file before anything is written.
``write_frame`` and ``write_json`` write byte-identical files for identical inputs and never leave a partial file
behind: they write a temporary file in the same directory, fsync it, and rename it into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import polars as pl

from adjudicator import schema
from adjudicator.errors import InputError
from adjudicator.validate import ROW, check_columns, validate

__all__ = ["FORMATS", "format_of", "read_source", "read_frame", "write_frame", "write_json"]

FORMATS = ("parquet", "csv", "ndjson")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}
FRAME_NAME = "<dataframe>"
LIST_SEPARATOR = "|"
_PARQUET_COMPRESSION = "zstd"
_PARQUET_LEVEL = 3


def format_of(path: str | os.PathLike[str]) -> str:
    """The file format named by the extension of ``path`` (parquet, csv or ndjson)."""
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        known = ", ".join(sorted(_EXTENSIONS))
        raise InputError(f"{Path(path).name}: unknown file type {suffix or '(none)'!r} (expected {known})") from None


# --- reading ------------------------------------------------------------------------------------------------------


def _money_type_check(df: pl.DataFrame | pl.LazyFrame, source: str, file: str) -> None:
    """Reject a typed input whose money column is not an integer type (floats would be rounded silently)."""
    cols = df.collect_schema()
    for c in schema.MONEY_COLUMNS.get(source, ()):
        dtype = cols.get(c)
        if dtype is None:
            continue
        fractional = dtype.is_float() or (isinstance(dtype, pl.Decimal) and (dtype.scale or 0) != 0)
        if fractional:
            raise InputError(f"{file}: column {c!r} is {dtype}; money must be an integer type")


def _read_csv(path: Path, file: str) -> pl.DataFrame:
    # Every column as text: the contract checks decide what a value is, not the reader's inference.
    return pl.read_csv(path, infer_schema=False, encoding="utf8")


_JSON_NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"


def _ndjson_lines(path: Path) -> pl.Series:
    # The non-blank lines, aligned with the rows read_ndjson returns (it skips blank lines too).
    lines = pl.scan_lines(path, name="line")
    return lines.filter(pl.col("line").str.strip_chars() != "").collect()["line"]


def _read_ndjson(path: Path, source: str, file: str) -> pl.DataFrame:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"["):  # a JSON array of objects
        return pl.read_json(path, infer_schema_length=None)
    df = pl.read_ndjson(path, infer_schema_length=None)
    # An integer column that came out as Float or String (mixed with text) has lost how its numbers were written:
    # 1000 and 1000.0 both read as 1000.0 (or as "1000"). Take the numbers' text from the JSON lines themselves
    # (a regex, ~20x faster than a JSON path per line; an escaped key inside a string value cannot match it).
    ints = [c for c, t in schema.SOURCES[source].items() if t == pl.Int64 and c in df.columns]
    lossy = [c for c in ints if not df.schema[c].is_integer() and df.schema[c] != pl.Null]
    if lossy:
        lines = _ndjson_lines(path)
        if len(lines) != df.height:  # pragma: no cover - defensive: alignment is what makes this correct
            raise InputError(f"{file}: cannot align {len(lines)} JSON lines with {df.height} rows read")
        written = pl.DataFrame({c: lines.str.extract(f'"{c}"\\s*:\\s*{_JSON_NUMBER}') for c in lossy})
        df = df.with_columns(pl.coalesce(written[c], pl.col(c).cast(pl.String)).alias(c) for c in lossy)
    # A list column mixing arrays and `|`-joined strings is read as text, the arrays as JSON text.
    lists = [c for c, t in schema.SOURCES[source].items() if isinstance(t, pl.List) and df.schema.get(c) == pl.String]
    for c in lists:
        text = pl.col(c)
        try:
            df = df.with_columns(
                pl.when(text.str.starts_with("["))
                .then(pl.when(text.str.starts_with("[")).then(text).str.json_decode(pl.List(pl.String)))
                .otherwise(text.str.split(LIST_SEPARATOR))
                .alias(c)
            )
        except pl.exceptions.PolarsError:  # a plain string that merely starts with "[": leave it to validation
            pass
    return df


def _read_file(path: Path, source: str, file: str) -> pl.DataFrame:
    fmt = format_of(path)
    if not path.exists():
        raise InputError(f"{file}: no such file ({path})")
    try:
        if fmt == "csv":
            return _read_csv(path, file)
        if fmt == "ndjson":
            return _read_ndjson(path, source, file)
        lf = pl.scan_parquet(path)
        _money_type_check(lf, source, file)
        return lf.collect()
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{file}: cannot read as {fmt}: {message}") from exc


def read_source(
    data: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame, source: str, *, file: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read one input source and validate it: (typed rows with ``__row``, quarantine rows).

    ``data`` is a path (.parquet/.pq, .csv, .ndjson/.jsonl/.json) or a polars DataFrame/LazyFrame. ``file`` names
    the input in messages and in the quarantine (default: the file name, or "<dataframe>"). Raises InputError when
    the input cannot be read at all, lacks a required column, or (typed inputs) holds money in a float column.
    """
    if source not in schema.SOURCES:
        raise InputError(f"unknown source {source!r} (expected one of {', '.join(schema.SOURCES)})")
    if isinstance(data, (pl.DataFrame, pl.LazyFrame)):
        name = file or FRAME_NAME
        _money_type_check(data, source, name)
        raw = data.collect() if isinstance(data, pl.LazyFrame) else data
        check_columns(raw.columns, source, name)
        if ROW not in raw.columns:
            raw = raw.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
        return validate(raw, source, name)
    path = Path(data)
    name = file or path.name
    raw = _read_file(path, source, name)
    check_columns(raw.columns, source, name)
    raw = raw.drop(ROW, strict=False).with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
    return validate(raw, source, name)


def read_frame(path: str | os.PathLike[str], schema_: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """Read a result file written by ``write_frame`` back into a frame.

    With ``schema_`` (e.g. ``schema.LINE_RESULTS``) the columns it names are restored to their types — CSV holds
    only text, with lists `|`-joined and dates ISO; without it CSV columns are inferred.
    """
    path = Path(path)
    fmt = format_of(path)
    if fmt == "parquet":
        df = pl.read_parquet(path)
    elif fmt == "ndjson":
        df = pl.read_ndjson(path, infer_schema_length=None) if path.stat().st_size else pl.DataFrame()
    else:
        if schema_ is None:
            return pl.read_csv(path, try_parse_dates=True) if path.stat().st_size else pl.DataFrame()
        df = pl.read_csv(path, infer_schema=False) if path.stat().st_size else pl.DataFrame()
    if schema_ is None:
        return df
    return df.with_columns(_restore(c, df.schema[c], dtype) for c, dtype in schema_.items() if c in df.columns)


def _restore(c: str, have: pl.DataType, want: pl.DataType) -> pl.Expr:
    """Bring column ``c`` from its type in the file (text for CSV) back to its contract type."""
    col = pl.col(c)
    if have == want:
        return col
    if have == pl.String:
        if isinstance(want, pl.List):
            return col.str.split(LIST_SEPARATOR).cast(want)
        if want == pl.Date:
            return col.str.to_date("%Y-%m-%d")
        if want == pl.Boolean:
            return col.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
    return col.cast(want)


# --- writing ------------------------------------------------------------------------------------------------------


def _atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write through ``write`` into a temporary sibling of ``path``, fsync it, and rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _csv_ready(df: pl.DataFrame) -> pl.DataFrame:
    """Lists `|`-joined, nested values as JSON text; everything else is written by polars as is (dates ISO)."""
    exprs = []
    for c, dtype in df.schema.items():
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(c).list.eval(pl.element().cast(pl.String)).list.join(LIST_SEPARATOR))
        elif isinstance(dtype, (pl.Struct, pl.Array)):
            exprs.append(pl.struct(pl.col(c)).struct.json_encode().alias(c))
    return df.with_columns(exprs) if exprs else df


def write_frame(df: pl.DataFrame | pl.LazyFrame, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``df`` to ``path`` as parquet, csv or ndjson (default: by extension), deterministically and atomically.

    Parquet: zstd level 3, no statistics, one row group per 1M rows; CSV: lists `|`-joined, dates ISO, nulls empty.
    """
    frame = df.collect() if isinstance(df, pl.LazyFrame) else df
    fmt = fmt or format_of(path)
    if fmt == "parquet":

        def write(fh: IO[bytes]) -> None:
            frame.write_parquet(
                fh,
                compression=_PARQUET_COMPRESSION,
                compression_level=_PARQUET_LEVEL,
                statistics=False,
                row_group_size=1_000_000,
            )

    elif fmt == "csv":
        text_frame = _csv_ready(frame)

        def write(fh: IO[bytes]) -> None:
            text_frame.write_csv(fh, line_terminator="\n", date_format="%Y-%m-%d", null_value="")

    elif fmt == "ndjson":

        def write(fh: IO[bytes]) -> None:
            frame.write_ndjson(fh)

    else:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return _atomic_write(path, write)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as JSON (sorted keys, UTF-8 unescaped, indent 2, final newline), atomically."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    data = text.encode("utf-8")
    return _atomic_write(path, lambda fh: fh.write(data) and None)
