"""Integer encodings of a batch, computed once and shared by the table lookups, aggregates and pairs.

String comparisons, sorts and hash joins on strings were most of the batch backend's time. Here a column becomes
dense integer ids (0..n-1, in order of first appearance) from polars' 64-bit hash and an open-addressing table in
numba; the ids are then checked against the strings (each row equals the first row of its id), so a hash collision
can never merge two keys: on one, the column is encoded again with another seed, and finally by a sort. Several
columns combine into one id through a mixed-radix number that is encoded the same way (injective, so exact).
Table keys go through an ``Enum`` of the table's keys (codes outside it are -1) and a compiled lookup that picks
the row, versioned rows by the service date, so a join is a gather of the table's rows.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl

from adjudicator.prefetch import prefetch

SEEDS = (0x5EED, 0x0DDBA11, 0xC0FFEE)
NO_DAY = np.iinfo(np.int32).min  # a null service date: matches no version


AHEAD = 16  # how many keys ahead ``dense_ids`` prefetches its table slot (a miss costs about that many keys' work)


@numba.njit(cache=True, nogil=True)
def dense_ids(keys, bits):  # pragma: no cover - compiled
    """``ids[i]``: the number of ``keys[i]`` among the distinct keys in order of first appearance; ``first[g]``: the
    first row of id ``g``. ``bits``: log2 of the table size (≥ 1 + log2 of the row count, so it never fills). The
    slot of the key ``AHEAD`` rows on is prefetched (a table of millions of slots misses the cache on most keys)."""
    n = keys.shape[0]
    size = np.int64(1) << bits
    mask = size - 1
    slot_key = np.empty(size, np.uint64)
    slot_id = np.full(size, -1, np.int32)
    ids = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    mul = np.uint64(0x9E3779B97F4A7C15)
    shift = np.uint64(64 - bits)
    g = 0
    for i in range(n):
        if i + AHEAD < n:
            ahead = np.int64((keys[i + AHEAD] * mul) >> shift)
            prefetch(slot_id, ahead)
            prefetch(slot_key, ahead)
        k = keys[i]
        s = np.int64((k * mul) >> shift)
        while True:
            v = slot_id[s]
            if v < 0:
                slot_id[s] = g
                slot_key[s] = k
                ids[i] = g
                first[g] = i
                g += 1
                break
            if slot_key[s] == k:
                ids[i] = v
                break
            s = (s + 1) & mask
    return ids, first[:g]


@numba.njit(cache=True, nogil=True)
def bucket(ids, n_ids):  # pragma: no cover - compiled
    """A stable counting sort of rows by dense id: (rows in id order, start of each id's run; n_ids + 1 long)."""
    n = ids.shape[0]
    start = np.zeros(n_ids + 1, np.int64)
    for i in range(n):
        start[ids[i] + 1] += 1
    for g in range(n_ids):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        g = ids[i]
        order[fill[g]] = i
        fill[g] += 1
    return order, start


def _bits(n: int) -> int:
    return max(4, int(n).bit_length() + 1)


def dense(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of integer keys (exact: equal ids ⇔ equal keys)."""
    return dense_ids(np.ascontiguousarray(keys.astype(np.uint64, copy=False)), _bits(keys.shape[0]))


def _checked(s: pl.Series, ids: np.ndarray, first: np.ndarray) -> bool:
    """Every row equals the first row of its id (nulls equal nulls)."""
    if s.len() == 0:
        return True
    rep = s.gather(row_series(first[ids]))
    return not s.ne_missing(rep).any()


def _hash(s: pl.Series, seed: int) -> np.ndarray:
    return s.hash(seed).to_numpy()


def encode(s: pl.Series) -> tuple[np.ndarray, int]:
    """Exact dense ids of one column (any dtype; null is one more value): (int64 ids, number of distinct)."""
    for seed in SEEDS:
        ids, first = dense(_hash(s, seed))
        if _checked(s, ids, first):
            return ids, first.shape[0]
    # three colliding seeds: not seen in practice, but never wrong — rank by sorting the values
    ids, first = dense(s.rank("dense").fill_null(0).to_numpy())
    return ids, first.shape[0]


def combine(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """Dense ids of a tuple of encoded columns (a mixed-radix number of the parts' ids, then made dense)."""
    if len(parts) == 1:
        return parts[0]
    ids, first = _combine(parts)
    return ids, first.shape[0]


def _combine(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    ids, n = parts[0]
    for nxt, m in parts[1:]:
        if n * m >= 2**62:
            ids, first = dense(ids)
            n = first.shape[0]
        ids, n = ids * m + nxt, n * m
    return dense(ids)


def dense_rows(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of the rows of a 2-d integer array, and the first row of each id."""
    parts = []
    for w in range(words.shape[1]):
        ids, first = dense(words[:, w])
        parts.append((ids, first.shape[0]))
    return _combine(parts)


# --- keyed tables as integer lookups ----------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def versioned_rows(code, day, off, lo, hi):  # pragma: no cover - compiled
    """Row of the version valid on ``day`` for each line (-1: none). Rows of code ``c`` are ``off[c]:off[c+1]``,
    sorted by their first day ``lo``; ``hi`` is the last valid day (inclusive)."""
    n = code.shape[0]
    out = np.full(n, -1, np.int64)
    for i in range(n):
        c = code[i]
        d = day[i]
        if c < 0 or d == NO_DAY:
            continue
        a, b = off[c], off[c + 1]
        # the last version starting on or before d
        while a < b:
            m = (a + b) >> 1
            if lo[m] <= d:
                a = m + 1
            else:
                b = m
        r = a - 1
        if r >= off[c] and hi[r] >= d:
            out[i] = r
    return out


class CodeDomain:
    """The distinct values of one frame column that some table is keyed by: an ``Enum`` whose physical ids index
    the tables' row arrays (values outside the domain encode as -1)."""

    def __init__(self, values: pl.Series):
        self.values = values.drop_nulls().unique().sort()
        self.enum = pl.Enum(self.values.to_list())

    def __len__(self) -> int:
        return self.values.len()

    def ids_of(self, s: pl.Series) -> np.ndarray:
        """Ids of table-side values (all in the domain)."""
        return s.cast(self.enum).to_physical().cast(pl.Int64).to_numpy()

    def encode(self, s: pl.Series) -> np.ndarray:
        """Ids of a frame column (-1 for a null or unknown value)."""
        if s.dtype != pl.String:
            s = s.cast(pl.String)
        return s.cast(self.enum, strict=False).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()


def row_series(rows: np.ndarray) -> pl.Series:
    """Row numbers with -1 as null, for ``gather`` (a null row number gathers nulls), in polars' index type (an
    Int64 index would be cast once per gathered column); the non-strict cast makes -1 null."""
    return pl.Series("__row", rows).cast(pl.get_index_type(), strict=False)
