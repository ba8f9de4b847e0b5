"""The coverage index: coverage spans and members laid out for fast lookups, built once per coverage snapshot.

Member ids become int64 keys: a checksum-valid national code is ten digits, so its integer value is the key; if any
id in the registry is not ten digits the index falls back to a dense rank over the sorted distinct ids. A numba
hash table maps keys to dense member ids; spans are grouped per member (CSR, a counting sort — no global sort) and
ordered best first within each member (``kernels.order_groups``). Low-cardinality strings (insurer, fund, plan,
status) are kept as codes into small sorted vocabularies, and a span's kind, insurer, status and so on as one
*class* code (``kernels`` describes the layout). Both the batch stage and the point-of-service ``MemberIndex`` read
this structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from adjudicator.eligibility import kernels as K
from adjudicator.rules.encode import bucket, dense

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
    """Codes of the values in a vocabulary of distinct strings (missing value -> ``missing``, null -> ``null``).

    The code is the value's position in ``vocab``: the physical code of a cast to ``pl.Enum(vocab)``, an exact
    lookup that is several times faster than ``replace_strict`` on millions of lines.
    """
    s = series.cast(pl.String)
    if not vocab:
        codes = pl.select(pl.when(s.is_null()).then(null).otherwise(missing)).to_series()
        return as_array(codes, np.int32)
    codes = as_array(s.cast(pl.Enum(vocab), strict=False).to_physical().cast(pl.Int32).fill_null(missing), np.int32)
    if null != missing and s.null_count():
        np.copyto(codes, np.int32(null), where=s.is_null().to_numpy())
    return codes


def date_days(series: pl.Series, null: int) -> np.ndarray:
    return as_array(series.cast(pl.Int32).fill_null(null), np.int32)


def member_keys(member_id: pl.Series, numeric: bool, id_vocab: pl.DataFrame | None) -> np.ndarray:
    if numeric:
        s = member_id.cast(pl.String)
        k = s.cast(pl.Int64, strict=False)  # the parse of str.to_integer; "+123456789" is excluded below
        keys = pl.select(pl.when((s.str.len_bytes() == 10) & ~s.str.starts_with("+") & (k >= 0)).then(k)
                         .otherwise(-1)).to_series()
        return as_array(keys, np.int64)
    df = pl.DataFrame({"member_id": member_id.cast(pl.String)})
    keys = df.join(id_vocab, on="member_id", how="left", maintain_order="left")["key"]
    return as_array(keys.fill_null(-1), np.int64)


@dataclass(frozen=True, eq=False)
class CoverageIndex:
    """Spans per member (CSR, best first) and members' facts, keyed by dense member id (layout: ``kernels``)."""

    numeric_ids: bool                 # member keys are the ten-digit codes themselves
    id_vocab: pl.DataFrame | None     # fallback: (member_id, key) for non-numeric registries
    tkeys: np.ndarray                 # hash table: member key -> dense id
    tvals: np.ndarray
    n_members: int
    meminfo: np.ndarray               # int64 [n_members + 1]: (first span << 32) | death day (kernels.NOT_A_MEMBER)
    spans: np.ndarray                 # int32 [n_spans, kernels.NS]: start, end, waiting days, class
    classes: np.ndarray               # int32 [n_classes, kernels.NC]: kind, insurer, active, fund, plan, status
    insurers: list[str]
    funds: list[str]
    plans: list[str]
    statuses: list[str]

    def member(self, m: int) -> tuple[int, int, bool, int]:
        """(first span, end of spans, in the members frame, death day or DATE_NONE) of dense member id m."""
        info = int(self.meminfo[m])
        death = info & 0xFFFFFFFF
        death = death - 2**32 if death >= 2**31 else death
        known = death != K.NOT_A_MEMBER
        return info >> 32, int(self.meminfo[m + 1]) >> 32, known, death if known else int(DATE_NONE)

    def member_keys(self, member_id: pl.Series) -> np.ndarray:
        """int64 keys of member ids (-1 for null or an id the registry does not hold)."""
        return member_keys(member_id, self.numeric_ids, self.id_vocab)


def _classes(fields: list[np.ndarray], radices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(class of each span, class table [n_classes, NC]): the distinct combinations of the class fields.

    Each field value v (>= -1) and its radix r (> v + 1) give one mixed-radix int64 key per span; the classes are
    its distinct keys, numbered in order of first appearance (``rules.encode.dense``). Vocabularies too large for 63
    bits fall back to a dense rank of the field tuple.
    """
    n = fields[0].shape[0]
    if int(np.prod([float(r) for r in radices])) < 2**62:
        key = np.zeros(n, np.int64)
        for values, r in zip(fields, radices):
            key *= r
            key += values.astype(np.int64) + 1
    else:
        frame = pl.DataFrame({str(i): f for i, f in enumerate(fields)})
        key = as_array(frame.select(pl.struct(pl.all()).rank("dense")).to_series(), np.int64)
    ids, first = dense(key)
    cls = ids.astype(np.int32)
    table = np.empty((first.shape[0], K.NC), np.int32)
    for f, values in enumerate(fields):
        table[:, f] = values[first]
    return cls, table


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
    cov_ids = np.empty(len(cov_keys), np.int64)
    mem_ids = np.empty(len(mem_keys), np.int64)
    n_ids = K.assign_ids(cov_keys, tkeys, tvals, 0, cov_ids)
    n_ids = K.assign_ids(mem_keys, tkeys, tvals, n_ids, mem_ids)

    death = np.full(n_ids, K.NOT_A_MEMBER, np.int32)
    ok = mem_ids >= 0
    death[mem_ids[ok]] = DATE_NONE
    if "death_date" in members.columns:
        dd = date_days(members["death_date"], int(DATE_NONE))
        death[mem_ids[ok]] = dd[ok]

    valid = cov_ids >= 0
    if not valid.all():  # a span with an unusable member id belongs to nobody
        cov_ids = np.where(valid, cov_ids, n_ids)
    perm, off = bucket(cov_ids, n_ids + (0 if valid.all() else 1))

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
    start = date_days(col("start_date"), int(DATE_NONE))
    end = date_days(col("end_date"), int(DATE_NONE))
    plan = encode(col("plan"), plans, null=len(plans))
    active = as_array((status_s == "active").fill_null(False).cast(pl.Int32), np.int32)
    K.order_groups(perm, off, start, plan, active, end)

    kind = as_array(pl.select(pl.when(kind_s == "basic").then(K.BASIC).when(kind_s == "supplementary")
                              .then(K.SUPPLEMENTARY).otherwise(K.OTHER_KIND).cast(pl.Int32)).to_series(), np.int32)
    fields = [np.empty(0, np.int32)] * K.NC
    fields[K.C_KIND], fields[K.C_INS], fields[K.C_ACTIVE] = kind, encode(col("insurer_id"), insurers), active
    fields[K.C_FUND], fields[K.C_PLAN], fields[K.C_STATUS] = encode(col("fund"), funds), plan, encode(status_s,
                                                                                                       statuses)
    radices = [0] * K.NC  # each field's values lie in -1 .. radix - 2
    radices[K.C_KIND], radices[K.C_INS], radices[K.C_ACTIVE] = 4, len(insurers) + 1, 3
    radices[K.C_FUND], radices[K.C_PLAN], radices[K.C_STATUS] = len(funds) + 1, len(plans) + 2, len(statuses) + 1
    cls, classes = _classes(fields, radices)
    wait = as_array(wait_s.cast(pl.Int32).fill_null(int(K.WAIT_NULL)), np.int32)
    spans = K.pack_spans(perm, start, end, wait, cls, np.empty((coverage.height, K.NS), np.int32))

    meminfo = np.empty(n_ids + 1, np.int64)
    meminfo[:n_ids] = (off[:n_ids] << 32) | death.view(np.uint32).astype(np.int64)
    meminfo[n_ids] = off[n_ids] << 32
    return CoverageIndex(
        numeric_ids=numeric, id_vocab=id_vocab, tkeys=tkeys, tvals=tvals, n_members=int(n_ids), meminfo=meminfo,
        spans=spans, classes=classes, insurers=insurers, funds=funds, plans=plans, statuses=statuses,
    )
