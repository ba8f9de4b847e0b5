"""The stored form of a batch run's line results: delimited UTF-8 text, cut into blocks of whole members.

Why not Arrow like the other kinds: a point-of-service check reads one member's ~20 lines, and decoding an Arrow
block through polars costs more than the whole 1 ms budget; a slice of text split with ``str.split`` and a few
``int()`` calls costs a tenth of it. Encoding is polars expressions over the whole run (no Python per row); decoding
a whole run (exports, batch history) is polars expressions too.

One line is its contract columns joined by US (U+001F); lines are joined by RS (U+001E). A field is
  * a null of any type: FS (U+001C) alone;
  * text: the value, with ESC, GS, RS, US and FS written as ESC followed by ``0``-``4``;
  * an integer: decimal; a date: ISO ``YYYY-MM-DD``;
  * a list of text: empty for ``[]``, else each element (escaped as text; a null element as FS) preceded by GS;
  * a dictionary-coded column: the decimal index of the value in the run's ``Dictionary``.
So null, ``""``, ``[]`` and ``[""]`` stay apart, and any text, however odd, comes back as it went in. The member
directory keeps, for each member and block, the byte offset and length of the member's lines in the block's text.

Columns that hold few distinct values in a run (insurer, setting, decision, ruleset and its 64-character digest, …)
are dictionary-coded: they are almost half of a line's text otherwise.

The blocks are not compressed here: zlib, the fastest codec in the standard library, cost more than all the rest of
storing a run, on SQLite and on PostgreSQL alike (measured: 3M lines into PostgreSQL 26.1 s with zlib blocks, 20.1 s
plain). PostgreSQL compresses them itself (lz4 TOAST, in the server); on SQLite a run of 10M lines takes ~1.6 GB.
Plain text also lets the point lookup fetch only the member's bytes (``substr``).
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Callable

import numba
import numpy as np
import polars as pl

from adjudicator import schema

ESC, GS, RS, US, NULL = "\x1b", "\x1d", "\x1e", "\x1f", "\x1c"
_SPECIAL = (ESC, GS, RS, US, NULL)
_ESCAPED = tuple(ESC + str(i) for i in range(len(_SPECIAL)))
_SPECIAL_RE = "[\x1b\x1c\x1d\x1e\x1f]"
_SPECIAL_BYTES = tuple(c.encode() for c in _SPECIAL)

CONTRACT = schema.LINE_RESULTS
COLUMNS = list(CONTRACT)
DICTIONARY_COLUMNS = ("insurer_id", "supplementary_insurer_id", "setting", "modifier", "submission", "decision",
                      "primary_reason", "ruleset", "supplementary_ruleset", "ruleset_digest")
DICTIONARY_MAX = 4096  # a column with more distinct values than this in a run is written as text
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adj-linetext")  # polars' CSV writer releases the GIL


# --- field decoders (the point path) --------------------------------------------------------------------------

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


def _coded(values: list[str]) -> Callable[[str], Any]:
    return lambda f: None if f == NULL else values[int(f)]


class Dictionary:
    """A run's dictionary: for each dictionary-coded column its values in index order, and the decoders of a
    line's fields under it."""

    def __init__(self, values: dict[str, list[str]]):
        self.values = values
        self.fields = [_coded(values[name]) if name in values else _field(dtype) for name, dtype in CONTRACT.items()]
        # the fields written as (possibly escaped) text: not the coded ones, whose values come from the dictionary
        self.text = [i for i, (n, t) in enumerate(CONTRACT.items()) if t == pl.String and n not in values]
        self.lists = [i for i, (n, t) in enumerate(CONTRACT.items()) if isinstance(t, pl.List) and n not in values]

    @classmethod
    def of(cls, lines: pl.DataFrame) -> Dictionary:
        found = lines.select(pl.col(c).drop_nulls().unique().sort().implode() for c in DICTIONARY_COLUMNS).row(0)
        return cls({c: values for c, values in zip(DICTIONARY_COLUMNS, found) if len(values) <= DICTIONARY_MAX})

    def to_bytes(self) -> bytes:
        return json.dumps({"columns": self.values}, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview | None) -> Dictionary:
        return cls(json.loads(bytes(data))["columns"] if data is not None else {})

    def code(self, name: str) -> pl.Expr:
        """The index of each value: the physical code of an Enum of the dictionary's values (printed in decimal)."""
        return pl.col(name).cast(pl.Enum(self.values[name])).to_physical()

    def uncode(self, name: str, expr: pl.Expr) -> pl.Expr:
        values = self.values[name]
        return expr.replace_strict([str(i) for i in range(len(values))], values, return_dtype=pl.String)


# --- encoding (vectorized) ------------------------------------------------------------------------------------

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


def _fields(escape: set[str], dictionary: Dictionary) -> list[pl.Expr]:
    """The columns as the CSV writer is to print them: coded, escaped, lists joined; the rest as they are (the
    writer prints integers in decimal, dates as ISO and nulls as FS)."""
    exprs = []
    for name, dtype in CONTRACT.items():
        col = pl.col(name)
        if name in dictionary.values:
            expr = dictionary.code(name)
        elif isinstance(dtype, pl.List):
            items = col.list.eval(_escape(pl.element()).fill_null(NULL)) if name in escape else col
            expr = pl.when(col.list.len() == 0).then(pl.lit("")).otherwise(
                pl.lit(GS) + items.list.join(GS, ignore_nulls=False))
        elif dtype == pl.String and name in escape:
            expr = _escape(col)
        else:
            expr = col
        exprs.append(expr.alias(name))
    return exprs


def _csv(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False, separator=US, line_terminator=RS, quote_style="never",
                    null_value=NULL, date_format="%Y-%m-%d")
    return buf.getvalue()


def _text(frame: pl.DataFrame) -> list[np.ndarray]:
    """The lines' text, each line ended by RS, in the frame's order, as two buffers: the CSV writer over the two
    halves of the frame at once."""
    half = (frame.height + 1) // 2
    return [np.frombuffer(b, dtype=np.uint8) for b in _POOL.map(_csv, [frame.slice(0, half), frame.slice(half)])]


@numba.njit(cache=True)
def _scan(buf):  # pragma: no cover - compiled
    """The positions of RS in ``buf``, and how many of each separator byte it holds (ESC, FS, GS, RS, US)."""
    counts = np.zeros(5, np.int64)
    for j in range(buf.size):
        b = buf[j]
        if 0x1b <= b <= 0x1f:
            counts[b - 0x1b] += 1
    ends = np.empty(counts[3], np.int64)
    k = 0
    for j in range(buf.size):
        if buf[j] == 0x1e:
            ends[k] = j
            k += 1
    return ends, counts


@numba.njit(cache=True, parallel=True)
def _gather_lines(first, second, split, starts, lengths, order, positions, out):  # pragma: no cover - compiled
    """Copy line ``order[k]`` (of ``first`` below line ``split``, else of ``second``) to ``positions[k]`` of
    ``out``, lines spread over the cores."""
    for k in numba.prange(order.size):
        i = order[k]
        src = first if i < split else second
        start, pos = starts[i], positions[k]
        for j in range(lengths[i]):  # a plain loop: a slice assignment per line costs a view each
            out[pos + j] = src[start + j]


def _expected(frame: pl.DataFrame) -> np.ndarray:
    """How many of each separator byte (ESC, FS, GS, RS, US) the text of ``frame`` holds when no value holds one:
    an FS per null, a GS per list element, an RS after and a US between the fields of each line. A value holding
    one adds to its count; a list holding a null is printed as one FS in place of its GS-led elements."""
    nulls = sum(frame[c].null_count() for c in CONTRACT)
    elements = frame.select(pl.sum_horizontal(pl.col(c).list.len().sum() for c, t in CONTRACT.items()
                                              if isinstance(t, pl.List))).item() or 0
    return np.array([0, nulls, elements, frame.height, frame.height * (len(CONTRACT) - 1)], np.int64)


def _member_order(member_id: pl.Series) -> np.ndarray:
    """A permutation that brings each member's lines together: sorted by a hash of member_id (an integer sort),
    or by (hash, member_id) in the unlikely case that two members share a hash and their lines interleave."""
    frame = pl.DataFrame({"member_id": member_id, "h": member_id.hash(seed=11)})
    order = frame["h"].arg_sort()
    ordered = frame.select(pl.all().gather(order))
    runs = ordered.select((pl.col("member_id") != pl.col("member_id").shift(1)).fill_null(True).sum(),
                          (pl.col("h") != pl.col("h").shift(1)).fill_null(True).sum()).row(0)
    if runs[0] != runs[1]:
        order = frame.with_row_index("i").sort("h", "member_id")["i"]
    return order.cast(pl.Int64).to_numpy()


def encode(lines: pl.DataFrame, rows_per_block: int, *, escape: set[str] | None = None
           ) -> tuple[list[tuple[int, int, bytes]], pl.DataFrame, Dictionary]:
    """Lines as (block_no, row_count, text) blocks of whole members (about ``rows_per_block`` lines
    each), the member directory (member_id, block_no, byte_start, byte_len of the member's lines in the block's
    UTF-8 text) and the run's dictionary.

    The text is printed by polars' CSV writer (US between fields, RS after each line, never quoted), then its lines
    are put in member order by a numba copy. Values are printed plainly unless one holds a separator character or
    a list a null: the count of each separator byte shows it (``_expected``), and then the columns that need it
    are printed again, escaped."""
    dictionary = Dictionary.of(lines)
    if lines.height == 0:
        return [], pl.DataFrame(schema={"member_id": pl.String, "block_no": pl.Int64, "byte_start": pl.Int64,
                                        "byte_len": pl.Int64}), dictionary
    first, second = _text(lines.select(_fields(escape or set(), dictionary)))
    (ends_1, counts_1), (ends_2, counts_2) = _scan(first), _scan(second)
    if escape is None and not np.array_equal(counts_1 + counts_2, _expected(lines)):
        return encode(lines, rows_per_block, escape=_needs_escape(lines))
    split = ends_1.size
    ends = np.concatenate((ends_1, ends_2))
    starts = np.concatenate(([0], ends_1[:-1] + 1, [0], ends_2[:-1] + 1))[:lines.height]
    lengths = ends + 1 - starts
    order = _member_order(lines["member_id"])
    widths = lengths[order]
    ordered = np.empty(first.size + second.size, np.uint8)
    _gather_lines(first, second, split, starts, lengths, order, np.cumsum(widths) - widths, ordered)
    out = pl.DataFrame({"member_id": lines["member_id"].gather(order), "width": widths})
    out = out.with_columns((pl.col("width").cum_sum() - pl.col("width")).alias("offset"),
                           ((pl.col("member_id") != pl.col("member_id").shift(1)).fill_null(True).cum_sum() - 1)
                           .alias("m"))
    members = out.group_by("m", maintain_order=True).agg(
        pl.col("member_id").first(), pl.len().cast(pl.Int64).alias("n"), pl.col("offset").first(),
        pl.col("width").sum())
    members = members.with_columns(((pl.col("n").cum_sum() - pl.col("n")) // rows_per_block).alias("block_no"))
    per_block = members.group_by("block_no", maintain_order=True).agg(
        pl.col("offset").first(), pl.col("width").sum().alias("bytes"), pl.col("n").sum())
    directory = members.join(per_block.select("block_no", pl.col("offset").alias("block_offset")), on="block_no") \
        .select("member_id", "block_no", (pl.col("offset") - pl.col("block_offset")).alias("byte_start"),
                (pl.col("width") - 1).alias("byte_len"))
    text = memoryview(ordered)  # blocks are views of it: no copy until the driver takes them
    rows = per_block.select("block_no", "n", "offset", "bytes").rows()
    return [(int(no), int(n), text[o:o + w - 1]) for no, n, o, w in rows], directory, dictionary


# --- decoding -------------------------------------------------------------------------------------------------

def block_texts(datas: list[bytes | memoryview]) -> list[str]:
    return [bytes(d).decode() for d in datas]


def _unescape_text(value: str) -> str:
    head, *rest = value.split(ESC)  # every ESC starts an escape: ESC + the special character's digit
    return head + "".join(_SPECIAL[int(part[0])] + part[1:] for part in rest)


def decode_rows(text: str, dictionary: Dictionary) -> list[dict[str, Any]]:
    """Line dicts (dates as ``date``, lists as ``list``) from a slice of a block's text: the point-of-service path."""
    if not text:
        return []
    out = []
    escaped = ESC in text
    fields = dictionary.fields
    for line in text.split(RS):
        values = [f(v) for f, v in zip(fields, line.split(US))]
        if escaped and ESC in line:
            for i in dictionary.text:
                if values[i] is not None and ESC in values[i]:
                    values[i] = _unescape_text(values[i])
            for i in dictionary.lists:
                if values[i] is not None:
                    values[i] = [v if v is None else _unescape_text(v) for v in values[i]]
        out.append(dict(zip(COLUMNS, values)))
    return out


def decode_frame(texts: list[str], dictionary: Dictionary) -> pl.DataFrame:
    """The lines of whole blocks' texts (of one run) as a frame of the contract (vectorized)."""
    if not texts:
        return schema.empty(CONTRACT)
    lines = pl.Series("line", texts, dtype=pl.String).str.split(RS).explode()
    fields = lines.str.split_exact(US, len(COLUMNS) - 1).struct.rename_fields(COLUMNS).struct.unnest()
    escaped = any(ESC in t for t in texts)
    exprs = []
    for name, dtype in CONTRACT.items():
        raw = pl.when(pl.col(name) != NULL).then(pl.col(name))
        if name in dictionary.values:
            expr = dictionary.uncode(name, raw)
        elif isinstance(dtype, pl.List):
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
