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
from adjudicator.eligibility.index import DATE_NONE, CoverageIndex, build_index, date_days, encode

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
    """(ELIG code, SUPP code, basic span fields, supplementary span fields) per line (see ``kernels.O_*``)."""
    mid = index.member_ids(lines["member_id"])
    lins = encode(lines["insurer_id"], index.insurers)
    if "supplementary_insurer_id" in lines.columns:
        lsup = encode(lines["supplementary_insurer_id"], index.insurers, missing=-1, null=-2)
    else:
        lsup = np.full(lines.height, -2, np.int32)
    ldate = date_days(lines["service_date"], -(2**31))
    return K.evaluate(mid, lins, lsup, ldate, index.mem, index.sp)


def _span_exprs(index: CoverageIndex, prefix: str, supplementary: bool) -> list[pl.Expr]:
    """Decode the kernel's code/day columns (named ``{prefix}#{field}``) into contract values."""

    def code(field: int, vocab: list[str], name: str) -> pl.Expr:
        c = pl.col(f"{prefix}#{field}")
        if not vocab:
            return pl.lit(None, pl.String).alias(f"{prefix}.{name}")
        return pl.lit(pl.Series(vocab, dtype=pl.String)).gather(
            pl.when((c >= 0) & (c < len(vocab))).then(c)).alias(f"{prefix}.{name}")

    def day(field: int, name: str) -> pl.Expr:
        c = pl.col(f"{prefix}#{field}")
        return pl.when(c != DATE_NONE).then(c).cast(pl.Date).alias(f"{prefix}.{name}")

    exprs = [code(K.O_INS, index.insurers, "insurer_id")]
    if not supplementary:
        exprs.append(pl.when(pl.col(f"{prefix}#{K.O_INS}") >= 0).then(pl.lit("basic")).alias(f"{prefix}.kind"))
    exprs += [
        code(K.O_FUND, index.funds, "fund"),
        code(K.O_PLAN, index.plans, "plan"),
        day(K.O_START, "start_date"),
        day(K.O_END, "end_date"),
        code(K.O_STATUS, index.statuses, "status"),
    ]
    if supplementary:
        w = pl.col(f"{prefix}#{K.O_WAIT}")
        exprs.append(pl.when(w != K.WAIT_NULL).then(w).cast(pl.Int64).alias(f"{prefix}.waiting_days"))
    return exprs


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
    elig, supp, cov_out, sup_out = evaluate(lines, index)
    raw = pl.DataFrame(
        {**{f"coverage#{f}": cov_out[f] for f in (K.O_INS, K.O_FUND, K.O_PLAN, K.O_STATUS, K.O_START, K.O_END)},
         **{f"supplementary#{f}": sup_out[f] for f in range(K.NO)},
         "_supp": supp},
    )
    valid = pl.when(pl.col("_supp") != K.SUPP_NONE).then(pl.col("_supp") == K.SUPP_VALID)
    cols = raw.select(
        *_span_exprs(index, "coverage", supplementary=False),
        *_span_exprs(index, "supplementary", supplementary=True),
        valid.alias("supplementary.valid"),
    )
    out = lines.with_columns(cols.get_columns())
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
