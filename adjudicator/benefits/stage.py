"""The benefits stage: member share, deductibles and caps for the lines a ruleset adjudicated.

The conditions of the ``benefits:`` block (share rows, deductible rows, cap ``where``) are translated by the same
backends as the rules; the sequential part (what is left of a deductible or a cap at each line) is the numba kernel
in ``accumulate.py``, fed with dense group ids. Batch: polars computes the conditions and group ids over history +
batch lines, one kernel pass in the total order. Point of service: the same conditions in Python, the same kernel
over the claim's lines with the state loaded from the member's history.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from adjudicator.benefits.accumulate import accumulate, b1, i64
from adjudicator.rules import ir
from adjudicator.rules.check import PSEUDO_KEYS
from adjudicator.rules.to_polars import condition, translate

ORDER = ["service_date", "claim_id", "line_no"]


def key_cols(per: tuple[str, ...]) -> list[str]:
    return [PSEUDO_KEYS.get(k, k) for k in per]


def share_expr(b: ir.Benefits, override: str | None) -> pl.Expr:
    """Member share in basis points: a `set: member_share` wins, else the first matching row, else 0."""
    expr = pl.lit(0, pl.Int64)
    for row in reversed(b.member_share):
        expr = pl.when(condition(row.when)).then(translate(row.rate).cast(pl.Int64)).otherwise(expr)
    if override:
        expr = pl.when(pl.col(override).is_not_null()).then(pl.col(override).cast(pl.Int64)).otherwise(expr)
    return expr


def deductible_row_expr(b: ir.Benefits) -> pl.Expr:
    expr = pl.lit(-1, pl.Int64)
    for i in reversed(range(len(b.deductible))):
        expr = pl.when(condition(b.deductible[i].when)).then(i).otherwise(expr)
    return expr


def _dense_ids(frame: pl.DataFrame, cols: list[str], active: pl.Expr) -> np.ndarray:
    """Dense group ids (0..G-1) over ``cols`` for rows where ``active``; −1 elsewhere."""
    keyed = frame.select(pl.int_range(pl.len()).alias("__i"), active.alias("__a"), *cols)
    groups = keyed.filter(pl.col("__a")).select(cols).unique(maintain_order=True).with_row_index("__g")
    joined = keyed.join(groups, on=cols, how="left", nulls_equal=True, maintain_order="left")
    return joined.select(pl.when(pl.col("__a")).then(pl.col("__g").cast(pl.Int64)).otherwise(-1)).to_series() \
        .to_numpy().astype(np.int64)


def apply(b: ir.Benefits, frame: pl.DataFrame, *, share_override: str | None) -> pl.DataFrame:
    """Amounts for ``frame`` (history rows first with ``__fixed``; batch rows with the rule outputs).

    Adds deductible_applied, member_share_amount, insurer_paid (before supplementary) and one ``__capx{j}`` column
    of cap excess per cap. ``frame`` must hold ``__fixed``, ``__active`` (not denied), ``allowed_amount`` and, for
    fixed rows, ``deductible_applied`` and ``insurer_paid``.
    """
    f = frame.with_row_index("__pos").sort(ORDER, maintain_order=True)
    f = f.with_columns(share_expr(b, share_override).alias("__rate"), deductible_row_expr(b).alias("__drow"))
    n = f.height
    ded_gid = np.full(n, -1, np.int64)
    ded_amount = np.zeros(n, np.int64)
    if b.deductible:
        cols = ["__drow", *sorted({c for d in b.deductible for c in key_cols(d.per)})]
        per_row = [set(key_cols(d.per)) for d in b.deductible]
        # a key a row does not use is blanked, so rows group by their own keys only
        f = f.with_columns([pl.when(pl.col("__drow").is_in([i for i, s in enumerate(per_row) if c in s]))
                            .then(pl.col(c)).otherwise(None).alias(f"__dk.{c}") for c in cols[1:]])
        ded_gid = _dense_ids(f, ["__drow", *[f"__dk.{c}" for c in cols[1:]]], pl.col("__drow") >= 0)
        amounts = {i: d.amount for i, d in enumerate(b.deductible)}
        ded_amount = f.select(pl.col("__drow").replace_strict(amounts | {-1: 0}, return_dtype=pl.Int64)) \
            .to_series().to_numpy()
    ncap = len(b.caps)
    cap_gid = np.full((n, ncap), -1, np.int64)
    offset = 0
    for j, cap in enumerate(b.caps):
        ids = _dense_ids(f, key_cols(cap.per), condition(cap.where))
        cap_gid[:, j] = np.where(ids >= 0, ids + offset, -1)
        offset += int(ids.max()) + 1 if n and ids.max() >= 0 else 0
    cols = f.select(
        pl.col("allowed_amount").fill_null(0).cast(pl.Int64), pl.col("__active").fill_null(False),
        pl.col("__fixed"), pl.col("deductible_applied").fill_null(0).cast(pl.Int64),
        pl.col("insurer_paid").fill_null(0).cast(pl.Int64), pl.col("__rate").fill_null(0))
    ded, share, paid, excess = accumulate(
        i64(cols[:, 0]), b1(cols[:, 1]), b1(cols[:, 2]), i64(cols[:, 3]), i64(cols[:, 4]), i64(cols[:, 5]),
        i64(ded_gid), i64(ded_amount), np.zeros(max(int(ded_gid.max()) + 1, 1) if n else 1, np.int64),
        np.ascontiguousarray(cap_gid), i64([c.amount for c in b.caps]), np.zeros(max(offset, 1), np.int64))
    out = f.select("__pos", "__fixed").with_columns(
        pl.Series("deductible_applied", ded), pl.Series("member_share_amount", share),
        pl.Series("insurer_paid", paid), *[pl.Series(f"__capx{j}", excess[:, j]) for j in range(ncap)])
    return out.filter(~pl.col("__fixed")).sort("__pos").drop("__pos", "__fixed")
