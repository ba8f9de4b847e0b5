"""The coverage index: coverage spans and members laid out for fast lookups, built once per coverage snapshot.

Member ids become int64 keys: a checksum-valid national code is ten digits, so its integer value is the key; if any
id in the registry is not ten digits the index falls back to a dense rank over the sorted distinct ids. A numba
hash table maps keys to dense member ids; spans are grouped per member (CSR, a counting sort — no global sort).
Low-cardinality strings (insurer, fund, plan, status) are kept as codes into small sorted vocabularies.
Both the batch stage and the point-of-service ``MemberIndex`` read this structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from adjudicator.eligibility import kernels as K

__all__ = ["CoverageIndex", "build_index", "as_array"]

DATE_NONE = np.int32(2**31 - 1)


def as_array(series: pl.Series, dtype) -> np.ndarray:
    """A C-contiguous, writable numpy array (what numba kernels expect: no read-only respecialisation)."""
    arr = series.to_numpy()
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, dtype=dtype, order="C", copy=True)
    return arr


def _vocab(*series: pl.Series) -> list[str]:
    parts = [s.cast(pl.String).drop_nulls().unique() for s in series if s is not None]
    if not parts:
        return []
    return sorted(pl.concat(parts).unique().to_list())


def encode(series: pl.Series, vocab: list[str], missing: int = -1, null: int = -1) -> np.ndarray:
    """Codes of the values in a sorted vocabulary (missing value -> ``missing``, null -> ``null``)."""
    s = series.cast(pl.String)
    if not vocab:
        codes = pl.select(pl.when(s.is_null()).then(null).otherwise(missing)).to_series()
    else:
        codes = s.replace_strict(vocab, list(range(len(vocab))), default=missing, return_dtype=pl.Int32)
        if s.null_count():
            codes = pl.select(pl.when(s.is_null()).then(null).otherwise(codes)).to_series()
    return as_array(codes, np.int32)


def date_days(series: pl.Series, null: int) -> np.ndarray:
    return as_array(series.cast(pl.Int32).fill_null(null), np.int32)


def member_keys(member_id: pl.Series, numeric: bool, id_vocab: pl.DataFrame | None) -> np.ndarray:
    if numeric:
        s = member_id.cast(pl.String)
        ok = (s.str.len_bytes() == 10) & ~s.str.starts_with("+")  # to_integer would accept "+123456789"
        keys = s.str.to_integer(strict=False)
        keys = pl.select(pl.when(ok & (keys >= 0)).then(keys).otherwise(-1)).to_series()
        return as_array(keys.cast(pl.Int64).fill_null(-1), np.int64)
    df = pl.DataFrame({"member_id": member_id.cast(pl.String)})
    keys = df.join(id_vocab, on="member_id", how="left", maintain_order="left")["key"]
    return as_array(keys.fill_null(-1), np.int64)


@dataclass(frozen=True, eq=False)
class CoverageIndex:
    """Spans per member (CSR, packed rows) and members' facts, keyed by dense member id."""

    numeric_ids: bool                 # member keys are the ten-digit codes themselves
    id_vocab: pl.DataFrame | None     # fallback: (member_id, key) for non-numeric registries
    tkeys: np.ndarray                 # hash table: member key -> dense id
    tvals: np.ndarray
    n_members: int
    mem: np.ndarray                   # int64 [n_members, 4]: first span, end of spans, known, death day
    sp: np.ndarray                    # int32 [n_spans, kernels.NF]: the spans in CSR order, fields kernels.F_*
    insurers: list[str]
    funds: list[str]
    plans: list[str]
    statuses: list[str]

    # column views of the packed arrays (for the point-of-service path)
    off = property(lambda self: np.append(self.mem[:, K.M_LO], self.mem[-1, K.M_HI] if self.n_members else 0))
    known = property(lambda self: self.mem[:, K.M_KNOWN])
    death = property(lambda self: self.mem[:, K.M_DEATH])
    kind = property(lambda self: self.sp[:, K.F_KIND])
    ins = property(lambda self: self.sp[:, K.F_INS])
    start = property(lambda self: self.sp[:, K.F_START])
    end = property(lambda self: self.sp[:, K.F_END])
    plan = property(lambda self: self.sp[:, K.F_PLAN])
    active = property(lambda self: self.sp[:, K.F_ACTIVE])
    waiting = property(lambda self: self.sp[:, K.F_WAIT])
    row = property(lambda self: self.sp[:, K.F_ROW])
    fund = property(lambda self: self.sp[:, K.F_FUND])
    status = property(lambda self: self.sp[:, K.F_STATUS])

    def member_keys(self, member_id: pl.Series) -> np.ndarray:
        """int64 keys of member ids (-1 for null or an id the registry does not hold)."""
        return member_keys(member_id, self.numeric_ids, self.id_vocab)

    def member_ids(self, member_id: pl.Series) -> np.ndarray:
        """Dense member ids (-1 when not in the registry)."""
        return K.probe(self.member_keys(member_id), self.tkeys, self.tvals)


def build_index(coverage: pl.DataFrame, members: pl.DataFrame | None) -> CoverageIndex:
    """Build the index from contract frames (coverage and members as in schema.COVERAGE / schema.MEMBERS)."""
    if members is None:
        members = pl.DataFrame(schema={"member_id": pl.String, "death_date": pl.Date})
    # parse once: the registry is numeric when every non-null id gave a key
    cov_keys = member_keys(coverage["member_id"], True, None)
    mem_keys = member_keys(members["member_id"], True, None)
    numeric = ((cov_keys >= 0).sum() == coverage["member_id"].count()
               and (mem_keys >= 0).sum() == members["member_id"].count())
    id_vocab = None
    if not numeric:
        ids = _vocab(coverage["member_id"], members["member_id"])
        id_vocab = pl.DataFrame({"member_id": ids, "key": np.arange(len(ids), dtype=np.int64)},
                                schema={"member_id": pl.String, "key": pl.Int64})
        cov_keys = member_keys(coverage["member_id"], numeric, id_vocab)
        mem_keys = member_keys(members["member_id"], numeric, id_vocab)

    size = K.table_size(len(cov_keys) + len(mem_keys))
    tkeys = np.full(size, K.EMPTY, np.int64)
    tvals = np.full(size, -1, np.int32)
    cov_ids, n_ids = K.assign_ids(cov_keys, tkeys, tvals, 0)
    mem_ids, n_ids = K.assign_ids(mem_keys, tkeys, tvals, n_ids)

    mem = np.zeros((n_ids, 4), np.int64)
    mem[:, K.M_DEATH] = DATE_NONE
    ok = mem_ids >= 0
    mem[mem_ids[ok], K.M_KNOWN] = 1
    if "death_date" in members.columns:
        dd = date_days(members["death_date"], int(DATE_NONE))
        mem[mem_ids[ok], K.M_DEATH] = dd[ok]

    valid = cov_ids >= 0
    if not valid.all():  # a span with an unusable member id belongs to nobody
        cov_ids = np.where(valid, cov_ids, n_ids)
    off, perm = K.csr_order(cov_ids, n_ids + (0 if valid.all() else 1))
    mem[:, K.M_LO] = off[:n_ids]
    mem[:, K.M_HI] = off[1: n_ids + 1]

    def col(name: str) -> pl.Series:
        if name in coverage.columns:
            return coverage[name]
        return pl.Series(name, [None] * coverage.height, dtype=pl.String)

    insurers = _vocab(col("insurer_id"))
    funds = _vocab(col("fund"))
    plans = _vocab(col("plan"))
    statuses = _vocab(col("status"))
    kind_s = col("kind").cast(pl.String)
    status_s = col("status").cast(pl.String)
    wait_s = col("waiting_days") if "waiting_days" in coverage.columns else pl.Series(
        [None] * coverage.height, dtype=pl.Int64)
    fields = {
        K.F_KIND: as_array(pl.select(pl.when(kind_s == "basic").then(0).when(kind_s == "supplementary").then(1)
                                     .otherwise(2).cast(pl.Int32)).to_series(), np.int32),
        K.F_INS: encode(col("insurer_id"), insurers),
        K.F_START: date_days(col("start_date"), int(DATE_NONE)),
        K.F_END: date_days(col("end_date"), int(DATE_NONE)),
        K.F_PLAN: encode(col("plan"), plans, null=len(plans)),
        K.F_ACTIVE: as_array((status_s == "active").fill_null(False).cast(pl.Int32), np.int32),
        K.F_WAIT: as_array(wait_s.cast(pl.Int32).fill_null(int(K.WAIT_NULL)), np.int32),
        K.F_ROW: np.arange(coverage.height, dtype=np.int32),
        K.F_FUND: encode(col("fund"), funds),
        K.F_STATUS: encode(status_s, statuses),
    }
    columns = np.empty((K.NF, coverage.height), np.int32)
    for f, values in fields.items():
        columns[f] = values
    sp = K.pack_rows(columns, perm)
    return CoverageIndex(
        numeric_ids=numeric, id_vocab=id_vocab, tkeys=tkeys, tvals=tvals, n_members=int(n_ids), mem=mem, sp=sp,
        insurers=insurers, funds=funds, plans=plans, statuses=statuses,
    )
