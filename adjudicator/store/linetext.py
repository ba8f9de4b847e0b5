"""The stored form of a batch run's line results: delimited text, cut into zlib-compressed blocks.

Why not Arrow like the other kinds: a point-of-service check reads one member's ~20 lines, and decoding an Arrow
block through polars costs more than the whole 1 ms budget; a slice of text split with ``str.split`` and a few
``int()`` calls costs a tenth of it. Encoding is polars expressions over the whole run (no Python per row); decoding
a whole run (exports, batch history) is polars expressions too.

One line is its contract columns joined by US (U+001F); lines are joined by RS (U+001E). A field is
  * a null of any type: FS (U+001C) alone;
  * text: the value, with ESC, GS, RS, US and FS written as ESC followed by ``0``-``4``;
  * an integer: decimal; a date: ISO ``YYYY-MM-DD``;
  * a list of text: empty for ``[]``, else each element (escaped as text) preceded by GS (U+001D).
So null, ``""``, ``[]`` and ``[""]`` stay apart, and any text, however odd, comes back as it went in. The member
directory keeps, for each member and block, the byte offset and length of the member's lines in the block's text.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Callable

import polars as pl

from adjudicator import schema

ESC, GS, RS, US, NULL = "\x1b", "\x1d", "\x1e", "\x1f", "\x1c"
_SPECIAL = (ESC, GS, RS, US, NULL)
_ESCAPED = tuple(ESC + str(i) for i in range(len(_SPECIAL)))
_SPECIAL_RE = "[\x1b\x1c\x1d\x1e\x1f]"
LEVEL = 1  # zlib: fast; text of ids, codes and amounts still shrinks ~4x

CONTRACT = schema.LINE_RESULTS
COLUMNS = list(CONTRACT)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adj-linetext")  # zlib releases the GIL


def _escape(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_many(list(_SPECIAL), list(_ESCAPED))


def _unescape(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_many(list(_ESCAPED), list(_SPECIAL))


def _needs_escape(frame: pl.DataFrame) -> set[str]:
    """The text and list columns that hold a separator character or a null list element."""
    checks = [pl.col(n).str.contains(_SPECIAL_RE).any().alias(n) for n, t in frame.schema.items() if t == pl.String]
    checks += [pl.col(n).list.eval(pl.element().str.contains(_SPECIAL_RE).fill_null(True).any())
               .list.first().any().alias(n) for n, t in frame.schema.items() if isinstance(t, pl.List)]
    found = frame.select(checks).row(0, named=True) if checks else {}
    return {name for name, hit in found.items() if hit}


def _text(escape: set[str]) -> pl.Expr:
    exprs = []
    for name, dtype in CONTRACT.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            items = col.list.eval(_escape(pl.element()).fill_null(NULL)) if name in escape else col
            expr = pl.when(col.list.len() == 0).then(pl.lit("")).otherwise(
                pl.lit(GS) + items.list.join(GS, ignore_nulls=False))
        elif dtype == pl.Date:
            expr = col.dt.to_string("%Y-%m-%d")
        elif dtype == pl.String:
            expr = _escape(col) if name in escape else col
        else:
            expr = col.cast(pl.String)
        exprs.append(expr.fill_null(NULL))
    return pl.concat_str(exprs, separator=US).alias("text")


def _separators() -> pl.Expr:
    """How many separator characters a line's text has when no value holds one: a US between fields, a GS per
    list element, an FS per null. Each separator character inside a value adds to the count."""
    count = pl.lit(len(CONTRACT) - 1, pl.Int64)
    for name, dtype in CONTRACT.items():
        count = count + pl.col(name).is_null().cast(pl.Int64)
        if isinstance(dtype, pl.List):
            count = count + pl.col(name).list.len().fill_null(0).cast(pl.Int64)
    return count.alias("expected")


def _null_elements() -> pl.Expr:
    """Whether a list holds a null element somewhere (its plain join is null though the list is not)."""
    found = [(pl.col(n).list.join("", ignore_nulls=False).is_null() & pl.col(n).is_not_null()).any()
             for n, t in CONTRACT.items() if isinstance(t, pl.List)]
    return pl.any_horizontal(found) if found else pl.lit(False)


def row_text(frame: pl.DataFrame) -> pl.Series:
    """One string per line of a frame with the contract's columns (contract dtypes). Written plainly first; when
    a list holds a null or a line's separator count is off (a value holds a separator), the columns that need it
    are written again escaped."""
    if not frame.select(_null_elements()).item():
        out = frame.select(_text(set()), _separators())
        if not out.select((pl.col("text").str.count_matches(_SPECIAL_RE) != pl.col("expected")).any()).item():
            return out["text"]
    return frame.select(_text(_needs_escape(frame))).to_series()


def encode(lines: pl.DataFrame, rows_per_block: int) -> tuple[list[tuple[int, int, bytes]], pl.DataFrame]:
    """Lines as (block_no, row_count, compressed text) blocks of whole members (about ``rows_per_block`` lines
    each, in order of first appearance), and the member directory: member_id, block_no, byte_start, byte_len of
    the member's lines in the block's UTF-8 text. Grouping by member is a hash aggregation, not a sort."""
    members = (pl.DataFrame({"member_id": lines["member_id"], "text": row_text(lines)})
               .group_by("member_id", maintain_order=True)
               .agg(pl.col("text").str.join(RS), pl.len().cast(pl.Int64).alias("n")))
    members = members.with_columns(
        ((pl.col("n").cum_sum() - pl.col("n")) // rows_per_block).alias("block_no"),
        (pl.col("text").str.len_bytes().cast(pl.Int64) + 1).alias("width"))
    members = members.with_columns((pl.col("width").cum_sum().over("block_no") - pl.col("width")).alias("byte_start"),
                                   (pl.col("width") - 1).alias("byte_len"))
    per_block = members.group_by("block_no", maintain_order=True).agg(pl.col("text").str.join(RS), pl.col("n").sum())
    texts = per_block["text"].to_list()
    datas = _POOL.map(lambda t: zlib.compress(t.encode(), LEVEL), texts)
    blocks = [(int(no), int(n), data) for no, n, data in zip(per_block["block_no"], per_block["n"], datas)]
    return blocks, members.select("member_id", "block_no", "byte_start", "byte_len")


def block_text(data: bytes | memoryview) -> str:
    return zlib.decompress(data).decode()


def block_texts(datas: list[bytes | memoryview]) -> list[str]:
    return list(_POOL.map(block_text, datas))


def member_text(data: bytes | memoryview, byte_start: int, byte_len: int) -> str:
    """A member's lines in a block: the directory's offsets count bytes of the UTF-8 text."""
    return zlib.decompress(data)[byte_start:byte_start + byte_len].decode()


def _list(f: str) -> list | None:
    if f == NULL:
        return None
    if f == "":
        return []
    items = f[1:].split(GS)
    return [None if v == NULL else v for v in items] if NULL in f else items


def _field(dtype: pl.DataType) -> Callable[[str], Any]:
    if isinstance(dtype, pl.List):
        return _list
    if dtype == pl.Date:
        return lambda f: None if f == NULL else date.fromisoformat(f)
    if dtype == pl.String:
        return lambda f: None if f == NULL else f
    return lambda f: None if f == NULL else int(f)


_FIELDS = [_field(t) for t in CONTRACT.values()]
_TEXT = {i for i, t in enumerate(CONTRACT.values()) if t == pl.String}
_LISTS = {i for i, t in enumerate(CONTRACT.values()) if isinstance(t, pl.List)}


def _unescape_text(value: str) -> str:
    head, *rest = value.split(ESC)  # every ESC starts an escape: ESC + the special character's digit
    return head + "".join(_SPECIAL[int(part[0])] + part[1:] for part in rest)


def decode_rows(text: str) -> list[dict[str, Any]]:
    """Line dicts (dates as ``date``, lists as ``list``) from a slice of a block's text: the point-of-service path."""
    if not text:
        return []
    out = []
    escaped = ESC in text
    for line in text.split(RS):
        fields = line.split(US)
        values = [f(v) for f, v in zip(_FIELDS, fields)]
        if escaped and ESC in line:
            for i in _TEXT:
                if values[i] is not None and ESC in values[i]:
                    values[i] = _unescape_text(values[i])
            for i in _LISTS:
                if values[i] is not None:
                    values[i] = [v if v is None else _unescape_text(v) for v in values[i]]
        out.append(dict(zip(COLUMNS, values)))
    return out


def decode_frame(texts: list[str]) -> pl.DataFrame:
    """The lines of whole blocks' texts as a frame of the contract (vectorized)."""
    if not texts:
        return schema.empty(CONTRACT)
    lines = pl.Series("line", texts, dtype=pl.String).str.split(RS).explode()
    fields = lines.str.split_exact(US, len(COLUMNS) - 1).struct.rename_fields(COLUMNS).struct.unnest()
    escaped = any(ESC in t for t in texts)
    exprs = []
    for name, dtype in CONTRACT.items():
        raw = pl.when(pl.col(name) != NULL).then(pl.col(name))
        if isinstance(dtype, pl.List):
            element = pl.when(pl.element() != NULL).then(pl.element())
            items = raw.str.slice(1).str.split(GS).list.eval(_unescape(element) if escaped else element)
            expr = pl.when(pl.col(name) == "").then(pl.lit([], dtype=dtype)).otherwise(items)
        elif dtype == pl.Date:
            expr = raw.str.to_date("%Y-%m-%d")
        elif dtype == pl.String:
            expr = _unescape(raw) if escaped else raw
        else:
            expr = raw.cast(dtype)
        exprs.append(expr.cast(dtype).alias(name))
    return fields.select(exprs)
