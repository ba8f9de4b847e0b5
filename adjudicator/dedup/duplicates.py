"""Duplicate lines: exact, suspect and cross-insurer duplicates, and replacement/void submissions.

Submissions first (``apply_submissions``): a claim whose ``submission`` is ``replacement`` or ``void`` names in
``replaces_claim_id`` the claim it supersedes. Every line of that claim — in the batch or in the history — is
*superseded*: it leaves every count (duplicates here, ``prior_count``/``prior_sum`` in the rules). Findings:

* a batch line superseded by a replacement/void in the same batch: ``DUP.SUPERSEDED`` / ``SUPERSEDED``, ``deny``,
  liability provider (the replacement is the one to pay);
* a line of a ``void`` claim: ``DUP.VOID`` / ``VOIDED``, ``deny``, liability provider. A void carries no service of
  its own: its only effect is to supersede, so it is not paid (the catalogue's ``VOIDED`` is a deny code). Void
  lines leave every count too.

Then ``duplicate_findings`` on the remaining lines, against the remaining history. Lines are compared on the same
member, service code and service date, on *another* claim. "Earlier" is the order (history before batch, then
service_date, claim_id, line_no): a history line is always earlier than a batch line, since it was committed first.

* ``DUP.EXACT`` / ``DUPLICATE_EXACT`` (deny, provider): an earlier line has the same provider, modifier,
  quantity and billed amount. The first occurrence is not a duplicate.
* ``DUP.SUSPECT`` / ``DUPLICATE_SUSPECT`` (pend, provider): not exact, and an earlier line has another provider or
  another billed amount.
* A line whose modifier is a repeat (76, 77, 91) is a legitimate repeat: neither exact nor suspect.
* ``DUP.CROSS_INSURER`` / ``CROSS_INSURER_DUPLICATE`` (flag, provider): some other line (earlier or later) bills
  the same member, code and date to another basic insurer; both batch lines are flagged.

Speed: a numba hash-count over a 64-bit hash of (member, code, date) (``shared_keys``) keeps only lines that share
a key with some other line (a few per cent); the exact comparisons run in polars on that small set, so a hash
collision can only add a candidate, never a finding.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

from adjudicator.chunks import each_chunk
from adjudicator.prefetch import prefetch

__all__ = ["REPEAT_MODIFIERS", "apply_submissions", "duplicate_findings"]

REPEAT_MODIFIERS = ("76", "77", "91")
FINDING_SCHEMA = {"claim_id": pl.String, "line_no": pl.Int64, "rule_id": pl.String, "reason_code": pl.String,
                  "action": pl.String, "liability": pl.String}
KEYS_SCHEMA = {"claim_id": pl.String, "line_no": pl.Int64, "source": pl.String}
_COMPARE = ("claim_id", "line_no", "member_id", "insurer_id", "provider_id", "service_code", "service_date",
            "modifier", "quantity", "billed_amount")


def _empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def _col(df: pl.DataFrame, name: str, dtype=pl.String) -> pl.Expr:
    return pl.col(name).cast(dtype) if name in df.columns else pl.lit(None, dtype).alias(name)


def apply_submissions(
    lines: pl.DataFrame, history: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(lines + Boolean ``dup.superseded`` and ``dup.void``, superseded keys (claim_id, line_no, source), findings)."""
    sub = lines.select(_col(lines, "submission"), _col(lines, "replaces_claim_id"), "claim_id")
    replaced = (sub.filter(pl.col("submission").is_in(["replacement", "void"])
                           & pl.col("replaces_claim_id").is_not_null()
                           & (pl.col("replaces_claim_id") != pl.col("claim_id")))
                ["replaces_claim_id"].unique())
    is_void = (sub["submission"] == "void").fill_null(False)
    if replaced.len():
        superseded = lines["claim_id"].is_in(replaced.implode()).fill_null(False)
    else:
        superseded = pl.Series(np.zeros(lines.height, np.bool_))
    out = lines.with_columns(superseded.alias("dup.superseded"), is_void.alias("dup.void"))
    keys = [out.filter(pl.col("dup.superseded")).select(
        "claim_id", pl.col("line_no").cast(pl.Int64), pl.lit("batch").alias("source"))]
    if history is not None and history.height and replaced.len():
        keys.append(history.filter(pl.col("claim_id").is_in(replaced.implode())).select(
            "claim_id", pl.col("line_no").cast(pl.Int64), pl.lit("history").alias("source")))
    keys_df = pl.concat(keys).cast(KEYS_SCHEMA) if keys else pl.DataFrame(schema=KEYS_SCHEMA)
    base = out.select("claim_id", pl.col("line_no").cast(pl.Int64), "dup.superseded", "dup.void")
    findings = pl.concat([
        base.filter(pl.col("dup.superseded")).select(
            "claim_id", "line_no", pl.lit("DUP.SUPERSEDED").alias("rule_id"), pl.lit("SUPERSEDED")
            .alias("reason_code"), pl.lit("deny").alias("action"), pl.lit("provider").alias("liability")),
        base.filter(pl.col("dup.void")).select(
            "claim_id", "line_no", pl.lit("DUP.VOID").alias("rule_id"), pl.lit("VOIDED").alias("reason_code"),
            pl.lit("deny").alias("action"), pl.lit("provider").alias("liability")),
    ])
    return out, keys_df, findings


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_AHEAD = 16


@njit(cache=True, inline="always")
def _slot(k, shift):
    return (k * _GOLDEN) >> shift


@njit(cache=True, inline="always")
def _find(table, k, shift, mask):
    """The slot of key k in the table, or the empty slot where it would go."""
    s = _slot(k, shift)
    while table[s, 1] != 0 and table[s, 0] != k:
        s = (s + np.uint64(1)) & mask
    return s


@njit(cache=True)
def _count_keys(keys, probes, table, shared, hit):
    mask = np.uint64(table.shape[0] - 1)
    shift = np.uint64(64 - int(np.log2(table.shape[0])))
    n = keys.shape[0]
    m = probes.shape[0]
    for i in range(n):
        if i + _AHEAD < n:
            prefetch(table, _slot(keys[i + _AHEAD], shift))
        s = _find(table, keys[i], shift, mask)
        if table[s, 1] == 0:
            table[s, 0] = keys[i]
            table[s, 1] = i + 1
            shared[i] = False
        else:  # this key and its first occurrence are shared
            shared[i] = True
            shared[table[s, 1] - 1] = True
    for j in range(m):
        if j + _AHEAD < m:
            prefetch(table, _slot(probes[j + _AHEAD], shift))
        s = _find(table, probes[j], shift, mask)
        hit[j] = table[s, 1] != 0
        if hit[j]:
            shared[table[s, 1] - 1] = True


def shared_keys(keys: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per key: does it occur more than once among keys and probes; per probe: is it among the keys).

    64-bit hashes in a numba open-addressing table of (hash, first row holding it): a repeat marks itself and that
    first row. The table is far larger than cache: the loops prefetch the slots of the keys ahead.
    """
    size = 1024
    while size < keys.shape[0] * 3 // 2:
        size *= 2
    # numpy allocates (huge pages; numba's first-touch page faults would cost more than the counting)
    shared, hit = np.empty(keys.shape[0], np.bool_), np.empty(probes.shape[0], np.bool_)
    _count_keys(keys, probes, np.zeros((size, 2), np.uint64), shared, hit)
    return shared, hit


def _key_hash(df: pl.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (member, service code, service date), computed a chunk at a time."""
    key = (pl.col("member_id").cast(pl.String).hash(11) ^ pl.col("service_code").cast(pl.String).hash(23)
           ^ pl.col("service_date").cast(pl.Date).hash(37))
    out = np.empty(df.height, np.uint64)

    def part(off: int, n: int) -> None:
        out[off:off + n] = df.slice(off, n).select(key).to_series().to_numpy()

    each_chunk(df.height, part)
    return out


def _active(df: pl.DataFrame, superseded: pl.DataFrame | None, source: str) -> pl.Series:
    keep = pl.Series(np.ones(df.height, np.bool_))
    if "submission" in df.columns:
        keep = keep & (df["submission"].cast(pl.String) != "void").fill_null(True)
    if "dup.superseded" in df.columns:
        keep = keep & ~df["dup.superseded"].fill_null(False)
    if superseded is not None and superseded.height:
        gone = superseded.filter(pl.col("source") == source).select("claim_id", "line_no")
        if gone.height:
            hit = df.select("claim_id", pl.col("line_no").cast(pl.Int64)).join(
                gone.with_columns(_x=pl.lit(True)), on=["claim_id", "line_no"], how="left", maintain_order="left")
            keep = keep & hit["_x"].is_null()
    return keep


def duplicate_findings(
    lines: pl.DataFrame, history: pl.DataFrame | None = None, superseded: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``DUP.EXACT`` / ``DUP.SUSPECT`` / ``DUP.CROSS_INSURER`` findings for the batch lines (line order)."""
    # row numbers, not filtered frames: only the few candidate rows are ever copied
    b_active = _active(lines, superseded, "batch")
    h_rows = np.empty(0, np.int64)
    if history is not None and history.height:
        h_rows = np.flatnonzero(_active(history, superseded, "history").to_numpy())
    hb = _key_hash(lines)
    if b_active.all():  # (the usual case: no copy of the hashes)
        b_rows = None
    else:
        b_rows = np.flatnonzero(b_active.to_numpy())
        if b_rows.size == 0:
            return _empty_findings()
        hb = hb[b_rows]
    hh = _key_hash(history)[h_rows] if h_rows.size else np.empty(0, np.uint64)
    shared, hit = shared_keys(hb, hh)
    shared = np.flatnonzero(shared) if b_rows is None else b_rows[shared]

    def prep(df: pl.DataFrame, rows: np.ndarray, src: int) -> pl.DataFrame:
        part = df.select(c for c in _COMPARE if c in df.columns)[pl.Series(rows)]
        return part.select(
            *[_col(part, c) if c == "modifier" else pl.col(c) for c in _COMPARE if c != "line_no"],
            pl.col("line_no").cast(pl.Int64),
            (pl.lit(pl.Series(rows)) if src else pl.lit(None, pl.UInt32)).cast(pl.Int64).alias("_row"),
            pl.lit(src, pl.Int8).alias("_src"),
        )

    parts = [prep(lines, shared, 1)]
    if hit.any():
        parts.append(prep(history, h_rows[hit], 0))
    cand = pl.concat(parts)
    if cand.height == 0:
        return _empty_findings()
    cand = (cand.with_columns(pl.col("modifier").cast(pl.String).fill_null(""))
            .sort("_src", "service_date", "claim_id", "line_no")
            .with_row_index("_ord"))
    key = ["member_id", "service_code", "service_date"]
    x = cand.filter(pl.col("_src") == 1)
    pairs = (x.join(cand, on=key, how="inner", suffix="_y")
             .filter(pl.col("claim_id") != pl.col("claim_id_y")))
    repeat = pl.col("modifier").is_in(list(REPEAT_MODIFIERS))
    earlier = pl.col("_ord_y") < pl.col("_ord")
    same = ((pl.col("provider_id") == pl.col("provider_id_y")) & (pl.col("modifier") == pl.col("modifier_y"))
            & (pl.col("quantity") == pl.col("quantity_y")) & (pl.col("billed_amount") == pl.col("billed_amount_y")))
    differs = ((pl.col("provider_id") != pl.col("provider_id_y"))
               | (pl.col("billed_amount") != pl.col("billed_amount_y")))
    per = pairs.group_by("_row").agg(
        (earlier & same & ~repeat).any().alias("exact"),
        (earlier & differs & ~repeat).any().alias("suspect"),
        (pl.col("insurer_id") != pl.col("insurer_id_y")).any().alias("cross"),
        pl.col("claim_id").first(), pl.col("line_no").first(),
    )
    out = pl.concat([
        per.filter("exact").select("_row", "claim_id", "line_no", pl.lit(0).alias("_k")),
        per.filter(~pl.col("exact") & pl.col("suspect")).select("_row", "claim_id", "line_no", pl.lit(1).alias("_k")),
        per.filter("cross").select("_row", "claim_id", "line_no", pl.lit(2).alias("_k")),
    ]).sort("_row", "_k")
    table = {0: ("DUP.EXACT", "DUPLICATE_EXACT", "deny"), 1: ("DUP.SUSPECT", "DUPLICATE_SUSPECT", "pend"),
             2: ("DUP.CROSS_INSURER", "CROSS_INSURER_DUPLICATE", "flag")}
    return out.select(
        "claim_id", "line_no",
        *[pl.col("_k").replace_strict({k: v[i] for k, v in table.items()}, return_dtype=pl.String).alias(n)
          for i, n in enumerate(("rule_id", "reason_code", "action"))],
        pl.lit("provider").alias("liability"),
    ).cast(FINDING_SCHEMA)
