"""Validation of supplementary insurers: when a named supplementary cover may pay for a line.

A supplementary cover is valid on a date only if its span of that insurer is in force and active, the date is on or
after ``start_date + waiting_days`` (null waiting = 0), and the member holds an eligible basic cover that day: the
member is known and alive (a service on the day of death is covered) and some basic insurer's effective span that
day is active (see ``eligibility.batch`` for which span is effective). Otherwise the line gets ``SUPP.NOT_VALID`` —
reason ``SUPP_WAITING_PERIOD`` when the waiting period is the only problem, ``SUPP_NOT_VALID`` otherwise — with
action ``flag`` and liability ``member``: the supplementary pays 0, the basic decision is unchanged.

``supplementary_code`` is the one definition of the rule; the batch kernel calls it compiled, the point-of-service
index calls its plain Python form (``supplementary_code.py_func``).
"""

from __future__ import annotations

import polars as pl
from numba import njit

__all__ = ["SUPP_RULE", "SUPP_REASONS", "supplementary_code", "supplementary_findings", "supplementary_finding"]

SUPP_RULE = "SUPP.NOT_VALID"
# code -> reason (code 0 = valid, -1 = no supplementary insurer named)
SUPP_REASONS = {1: "SUPP_NOT_VALID", 2: "SUPP_WAITING_PERIOD"}


@njit(cache=True)
def supplementary_code(has_span, span_active, date, start, waiting, basic_ok):
    """0 valid, 1 not valid, 2 only the waiting period is not over."""
    if not has_span or not span_active or not basic_ok:
        return 1
    if date < start + max(waiting, 0):
        return 2
    return 0


def supplementary_finding(code: int) -> tuple[str, str, str, str] | None:
    """The finding tuple (rule_id, reason_code, action, liability) for a supplementary code, None when valid."""
    reason = SUPP_REASONS.get(code)
    return None if reason is None else (SUPP_RULE, reason, "flag", "member")


def supplementary_findings(claim_id: pl.Series, line_no: pl.Series, codes: pl.Series) -> pl.DataFrame:
    """Stage findings for lines whose supplementary code is 1 or 2 (vectorized)."""
    df = pl.DataFrame({"claim_id": claim_id, "line_no": line_no, "_c": codes.cast(pl.Int8)}).filter(
        pl.col("_c") > 0
    )
    return df.select(
        "claim_id",
        pl.col("line_no").cast(pl.Int64),
        pl.lit(SUPP_RULE).alias("rule_id"),
        pl.col("_c").replace_strict(SUPP_REASONS, return_dtype=pl.String).alias("reason_code"),
        pl.lit("flag").alias("action"),
        pl.lit("member").alias("liability"),
    )
