"""Eligibility (استحقاق‌سنجی), the batch stage: for every claim line, the cover in force on its service date.

Which span answers for a line: among the member's *basic* spans of the *billed* insurer with
``start_date <= service_date <= end_date`` (end null = open; both bounds inclusive), the one that started latest;
ties go to the lowest plan (null plan last), then an active span, then the later end, then the earlier input row.
A later-starting span therefore overrides an earlier one, which is how suspensions and back-dated corrections are
recorded. The same order picks the *effective* span of every other insurer and the named supplementary span.

Reasons, at most one ELIG finding per line, in priority order (action ``deny``):

=================== ================= ========= ==========================================================
rule                reason            liability when
=================== ================= ========= ==========================================================
ELIG.DECEASED       MEMBER_DECEASED   member    the member died before the service (day of death is covered)
ELIG.NOT_ENROLLED   NOT_ENROLLED      member    the member is not in the members frame, or has no basic span
ELIG.WRONG_INSURER  WRONG_INSURER     provider  no span of the billed insurer that day, but another insurer's
                                                effective basic span that day is active
ELIG.SUSPENDED      COVER_SUSPENDED   member    the billed insurer's span that day is not ``active``
ELIG.NOT_IN_FORCE   NOT_IN_FORCE      member    no span of the billed insurer that day (not started / ended)
=================== ================= ========= ==========================================================

Supplementary validity (``SUPP.NOT_VALID``, flag, member) follows ``dedup.supplementary``. The work is one
numba pass over the lines against a ``CoverageIndex``; pass a prebuilt index as ``coverage`` to reuse it across
batches (the coverage registry changes far less often than claims arrive).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from adjudicator.dedup.supplementary import SUPP_REASONS, SUPP_RULE
from adjudicator.eligibility import kernels as K
from adjudicator.eligibility.index import DATE_NONE, CoverageIndex, as_array, build_index, date_days, encode

__all__ = [
    "ELIG_REASONS",
    "FINDINGS_SCHEMA",
    "COVERAGE_COLUMNS",
    "SUPPLEMENTARY_COLUMNS",
    "eligibility",
    "evaluate",
    "eligibility_report",
]

# code -> (rule_id, reason_code, action, liability)
ELIG_REASONS: dict[int, tuple[str, str, str, str]] = {
    K.DECEASED: ("ELIG.DECEASED", "MEMBER_DECEASED", "deny", "member"),
    K.NOT_ENROLLED: ("ELIG.NOT_ENROLLED", "NOT_ENROLLED", "deny", "member"),
    K.WRONG_INSURER: ("ELIG.WRONG_INSURER", "WRONG_INSURER", "deny", "provider"),
    K.SUSPENDED: ("ELIG.SUSPENDED", "COVER_SUSPENDED", "deny", "member"),
    K.NOT_IN_FORCE: ("ELIG.NOT_IN_FORCE", "NOT_IN_FORCE", "deny", "member"),
}

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.String,
    "line_no": pl.Int64,
    "rule_id": pl.String,
    "reason_code": pl.String,
    "action": pl.String,
    "liability": pl.String,
}

COVERAGE_COLUMNS: dict[str, pl.DataType] = {
    "coverage.insurer_id": pl.String,
    "coverage.kind": pl.String,
    "coverage.fund": pl.String,
    "coverage.plan": pl.String,
    "coverage.start_date": pl.Date,
    "coverage.end_date": pl.Date,
    "coverage.status": pl.String,
}
SUPPLEMENTARY_COLUMNS: dict[str, pl.DataType] = {
    "supplementary.insurer_id": pl.String,
    "supplementary.fund": pl.String,
    "supplementary.plan": pl.String,
    "supplementary.start_date": pl.Date,
    "supplementary.end_date": pl.Date,
    "supplementary.status": pl.String,
    "supplementary.waiting_days": pl.Int64,
    "supplementary.valid": pl.Boolean,
}


def evaluate(lines: pl.DataFrame, index: CoverageIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(basic span position, supplementary span position, ELIG code, SUPP code) per line, positions in CSR order."""
    mid = index.member_ids(lines["member_id"])
    lins = encode(lines["insurer_id"], index.insurers)
    if "supplementary_insurer_id" in lines.columns:
        lsup = encode(lines["supplementary_insurer_id"], index.insurers, missing=-1, null=-2)
    else:
        lsup = np.full(lines.height, -2, np.int32)
    ldate = date_days(lines["service_date"], -(2**31))
    return K.evaluate(mid, lins, lsup, ldate, index.off, index.known, index.death, index.kind, index.ins,
                      index.start, index.end, index.plan, index.active, index.waiting, index.row)


def _decode(vocab: list[str], codes: np.ndarray, valid: np.ndarray) -> pl.Series:
    idx = pl.Series(np.where(valid & (codes >= 0) & (codes < len(vocab)), codes, -1).astype(np.int64))
    idx = pl.select(pl.when(idx >= 0).then(idx)).to_series()
    return pl.Series(vocab, dtype=pl.String).gather(idx)


def _dates(days: np.ndarray, valid: np.ndarray) -> pl.Series:
    s = pl.Series(np.where(valid, days, DATE_NONE).astype(np.int32))
    return pl.select(pl.when(s != DATE_NONE).then(s)).to_series().cast(pl.Date)


def _span_columns(index: CoverageIndex, pos: np.ndarray, prefix: str, supplementary: bool) -> list[pl.Series]:
    valid = pos >= 0
    p = np.where(valid, pos, 0)
    if index.ins.shape[0] == 0:
        valid = np.zeros_like(valid)
        p = np.zeros_like(p)
        take = lambda a: np.zeros(pos.shape[0], a.dtype)  # noqa: E731
    else:
        take = lambda a: a[p]  # noqa: E731
    cols = [_decode(index.insurers, take(index.ins), valid).alias(f"{prefix}.insurer_id")]
    if not supplementary:
        cols.append(pl.select(pl.when(pl.Series(valid)).then(pl.lit("basic"))).to_series()
                    .alias(f"{prefix}.kind"))
    cols += [
        _decode(index.funds, take(index.fund), valid).alias(f"{prefix}.fund"),
        _decode(index.plans, take(index.plan), valid).alias(f"{prefix}.plan"),
        _dates(take(index.start), valid).alias(f"{prefix}.start_date"),
        _dates(take(index.end), valid & ~take(index.end_open)).alias(f"{prefix}.end_date"),
        _decode(index.statuses, take(index.status), valid).alias(f"{prefix}.status"),
    ]
    if supplementary:
        w = pl.Series(take(index.waiting).astype(np.int64))
        ok = pl.Series(valid & ~take(index.waiting_null))
        cols.append(pl.select(pl.when(ok).then(w)).to_series().alias(f"{prefix}.waiting_days"))
    return cols


def _findings(lines: pl.DataFrame, elig: np.ndarray, supp: np.ndarray) -> pl.DataFrame:
    table = {**{k: v for k, v in ELIG_REASONS.items()},
             **{100 + k: (SUPP_RULE, r, "flag", "member") for k, r in SUPP_REASONS.items()}}
    codes = np.where(elig > 0, elig.astype(np.int16), 0)
    scodes = np.where(supp > 0, supp.astype(np.int16) + 100, 0)
    base = pl.DataFrame({"claim_id": lines["claim_id"], "line_no": lines["line_no"].cast(pl.Int64)})
    parts = []
    for c in (codes, scodes):
        mask = c > 0
        if mask.any():
            parts.append(base.filter(pl.Series(mask)).with_columns(_c=pl.Series(c[mask])))
    if not parts:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    df = pl.concat(parts)
    out = df.select(
        "claim_id", "line_no",
        *[pl.col("_c").replace_strict({k: v[i] for k, v in table.items()}, return_dtype=pl.String).alias(name)
          for i, name in enumerate(("rule_id", "reason_code", "action", "liability"))],
    )
    return out


def eligibility(
    lines: pl.DataFrame, coverage: pl.DataFrame | CoverageIndex, members: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(lines with ``coverage.*`` and ``supplementary.*`` columns, stage findings). Row order and count kept."""
    index = coverage if isinstance(coverage, CoverageIndex) else build_index(coverage, members)
    cov, sup, elig, supp = evaluate(lines, index)
    named = supp != K.SUPP_NONE
    valid_s = pl.Series(supp == K.SUPP_VALID)
    cols = _span_columns(index, cov, "coverage", supplementary=False)
    cols += _span_columns(index, sup, "supplementary", supplementary=True)
    cols.append(pl.select(pl.when(pl.Series(named)).then(valid_s)).to_series().alias("supplementary.valid"))
    out = lines.with_columns(cols)
    return out, _findings(lines, elig, supp)


def _read_claims(claims: pl.DataFrame | str | Path) -> pl.DataFrame:
    if isinstance(claims, pl.DataFrame):
        return claims
    path = Path(claims)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix in (".ndjson", ".jsonl"):
        return pl.read_ndjson(path)
    return pl.read_csv(path, try_parse_dates=True, schema_overrides={"member_id": pl.String, "line_no": pl.Int64})


def eligibility_report(
    claims: pl.DataFrame | str | Path,
    coverage: pl.DataFrame | CoverageIndex,
    members: pl.DataFrame | None,
    out_dir: str | Path,
) -> dict:
    """Write ``eligibility.parquet`` (keys + coverage columns), ``findings.parquet`` and ``summary.json``."""
    lines = _read_claims(claims)
    out, findings = eligibility(lines, coverage, members)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = [c for c in ("claim_id", "line_no", "member_id", "insurer_id", "supplementary_insurer_id",
                        "service_date") if c in out.columns]
    out.select(*keep, *COVERAGE_COLUMNS, *SUPPLEMENTARY_COLUMNS).write_parquet(out_dir / "eligibility.parquet")
    findings.write_parquet(out_dir / "findings.parquet")
    by_reason = findings.group_by("reason_code").len().sort("reason_code")
    elig_denied = findings.filter(pl.col("rule_id").str.starts_with("ELIG.")).height
    summary = {
        "lines": out.height,
        "eligible": out.height - elig_denied,
        "not_eligible": elig_denied,
        "by_reason": dict(zip(by_reason["reason_code"].to_list(), by_reason["len"].to_list())),
        "supplementary_named": int(out["supplementary.valid"].is_not_null().sum()),
        "supplementary_valid": int(out["supplementary.valid"].sum() or 0),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary
