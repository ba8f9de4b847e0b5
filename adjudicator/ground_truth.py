"""Scores the engine's findings against the anomalies that ``synth`` labelled: per anomaly type, how many labelled
lines there are (expected), how many lines the engine flagged with the type's reason code (detected), how many of
those are labelled (true positives), and precision and recall.

A line counts as detected for a type when it has at least one finding whose ``reason_code`` is the type's code in
``REASON_CODES``; member-level truth rows (``line_no`` null) are not lines and are not scored. Only lines present in
``lines`` are counted, so scoring a subset of a batch is meaningful. Precision is null when nothing was detected,
recall null when nothing was expected.
"""

from __future__ import annotations

import polars as pl

__all__ = ["REASON_CODES", "SCORE", "score"]

REASON_CODES: dict[str, str] = {
    "sex_conflict": "SEX_CONFLICT",
    "age_conflict": "AGE_CONFLICT",
    "excess_units": "UNITS_EXCEED_LIMIT",
    "over_tariff": "ABOVE_TARIFF",
    "missing_referral": "REFERRAL_MISSING",
    "duplicate_exact": "DUPLICATE_EXACT",
    "overlapping_cover": "OTHER_PRIMARY",
    "overlapping_cover_choose": "MEMBER_MUST_CHOOSE",
    "out_of_cover": "NOT_IN_FORCE",
}
SCORE: dict[str, pl.DataType] = {"anomaly": pl.String, "expected": pl.Int64, "detected": pl.Int64,
                                 "true_positives": pl.Int64, "precision": pl.Float64, "recall": pl.Float64}
_KEY = ["claim_id", "line_no"]


def score(truth: pl.DataFrame, lines: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """One row per anomaly type of ``REASON_CODES`` (in that order), with the columns of ``SCORE``."""
    types = pl.DataFrame({"anomaly": list(REASON_CODES), "reason_code": list(REASON_CODES.values())})
    keys = lines.select(pl.col("claim_id").cast(pl.String), pl.col("line_no").cast(pl.Int64)).unique()
    labelled = (truth.filter(pl.col("line_no").is_not_null())
                .select("anomaly", pl.col("claim_id").cast(pl.String), pl.col("line_no").cast(pl.Int64))
                .join(keys, on=_KEY, how="semi").unique())
    flagged = (findings.select(pl.col("claim_id").cast(pl.String), pl.col("line_no").cast(pl.Int64), "reason_code")
               .join(keys, on=_KEY, how="semi")
               .join(types, on="reason_code")
               .select("anomaly", *_KEY).unique())
    hits = labelled.join(flagged, on=["anomaly", *_KEY], how="semi")

    def count(df: pl.DataFrame, name: str) -> pl.DataFrame:
        return df.group_by("anomaly").agg(pl.len().cast(pl.Int64).alias(name))

    out = (types.select("anomaly")
           .join(count(labelled, "expected"), on="anomaly", how="left", maintain_order="left")
           .join(count(flagged, "detected"), on="anomaly", how="left", maintain_order="left")
           .join(count(hits, "true_positives"), on="anomaly", how="left", maintain_order="left")
           .with_columns(pl.col("expected", "detected", "true_positives").fill_null(0)))
    return out.with_columns(
        precision=pl.when(pl.col("detected") > 0).then(pl.col("true_positives") / pl.col("detected")),
        recall=pl.when(pl.col("expected") > 0).then(pl.col("true_positives") / pl.col("expected")),
    ).cast(SCORE)
