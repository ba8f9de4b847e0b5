"""Synthetic adjudication results (line results, findings, claim totals) with realistic shapes, for store tests
and ``benchmarks/bench_store.py``: ~3 lines a claim, ~20 lines a member, mostly short low-cardinality text, the
optional columns mostly empty, ~0.4 findings a line. Vectorized with numpy so that 10M lines take seconds."""

from __future__ import annotations

import numpy as np
import polars as pl

from adjudicator import schema

DECISION_P = {"approved": 0.70, "adjusted": 0.15, "denied": 0.10, "pended": 0.05}
REASONS = [f"R{i:03d}" for i in range(30)]
DIGESTS = [f"{i:064x}" for i in (0x5EED, 0xBEEF, 0xC0DE)]


def _choice(rng, values, n, p=None):
    idx = rng.choice(len(values), size=n, p=p)
    return pl.Series(values, dtype=pl.String).gather(idx)


def _maybe(rng, s: pl.Series, share: float) -> pl.Series:
    """``s`` kept on about ``share`` of the rows, null elsewhere."""
    keep = pl.Series(rng.random(len(s)) < share)
    return pl.select(pl.when(keep).then(s)).to_series().rename(s.name)


def make_results(n: int, *, seed: int = 0, claim_offset: int = 0, members: int | None = None):
    """(lines, findings, claims) for ``n`` line results, contract dtypes, sorted by (claim_id, line_no)."""
    rng = np.random.default_rng(seed)
    per_claim = rng.integers(1, 6, size=n // 2 + 2)  # 1..5 lines, mean 3
    claim_of_line = np.repeat(np.arange(len(per_claim)), per_claim)[:n]
    starts = np.r_[0, np.flatnonzero(np.diff(claim_of_line)) + 1]
    line_no = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    n_members = members or max(1, n // 20)
    member_of_claim = rng.integers(0, n_members, size=len(per_claim))
    settings = _choice(rng, list(schema.SETTINGS), len(per_claim), [0.85, 0.10, 0.05])
    provider_of_claim = rng.integers(0, 20_000, size=len(per_claim))
    day_of_claim = rng.integers(0, 365, size=len(per_claim))
    c = pl.Series(claim_of_line)
    setting = settings.gather(c)
    inpatient = setting == "inpatient"
    start = pl.date(2024, 1, 1)
    decision = _choice(rng, list(DECISION_P), n, list(DECISION_P.values()))
    billed = rng.integers(50_000, 50_000_000, size=n) // 1000 * 1000
    allowed = np.where(decision.to_numpy() == "denied", 0, (billed * rng.uniform(0.6, 1.0, size=n)).astype(np.int64))
    insurer_paid = allowed * 7 // 10
    member_pays = allowed - insurer_paid
    deduction = billed - allowed
    supp = _maybe(rng, _choice(rng, ["SUPP1", "SUPP2", "SUPP3", "SUPP4", "SUPP5"], len(per_claim)), 0.3).gather(c)
    def lists(lengths: np.ndarray, prefix: str, modulo: int, name: str) -> pl.Series:
        """Ragged lists of codes ``prefix + k``, element count per row from ``lengths`` (built without Python)."""
        ends = np.cumsum(lengths)
        ranges = pl.int_ranges(pl.Series(ends - lengths), pl.Series(ends))
        return pl.select(ranges.list.eval(pl.lit(prefix) + (pl.element() * 7919 % modulo).cast(pl.String))) \
            .to_series().rename(name)

    decided = decision.to_numpy() != "approved"
    diagnosis = lists(rng.integers(1, 4, size=n), "J", 300, "diagnosis_codes")
    diagnosis = pl.select(pl.when(pl.Series(rng.random(n) < 0.9)).then(diagnosis)).to_series()
    rules = lists(np.where(decided, rng.integers(1, 3, size=n), 0), "ihio.outpatient.R", 7, "rules")
    ruleset = pl.select(pl.when(setting == "inpatient").then(pl.lit("ihio.inpatient@2025.1"))
                        .otherwise(pl.lit("ihio.outpatient@2025.1"))).to_series()
    lines = pl.DataFrame({
        "claim_id": (pl.Series(claim_of_line + claim_offset).cast(pl.String).str.pad_start(10, "0")),
        "line_no": pl.Series(line_no + 1, dtype=pl.Int64),
        "member_id": pl.Series(member_of_claim).gather(c).cast(pl.String).str.pad_start(10, "0"),
        "insurer_id": _choice(rng, ["IHIO", "SSO", "AFMO", "IKRF"], len(per_claim), [0.5, 0.4, 0.05, 0.05]).gather(c),
        "supplementary_insurer_id": supp,
        "setting": setting,
        "provider_id": pl.Series(provider_of_claim).gather(c).cast(pl.String).str.pad_start(6, "0"),
        "prescriber_id": _maybe(rng, pl.Series(rng.integers(10_000, 99_999, size=n)).cast(pl.String), 0.6),
        "service_date": pl.select(start + pl.duration(days=pl.Series(day_of_claim).gather(c))).to_series(),
        "admission_date": None, "discharge_date": None,
        "service_code": pl.Series(rng.integers(100_000, 103_000, size=n)).cast(pl.String),
        "modifier": _maybe(rng, _choice(rng, ["76", "22", "50"], n), 0.05),
        "quantity": pl.Series(rng.integers(1, 6, size=n), dtype=pl.Int64),
        "billed_amount": pl.Series(billed, dtype=pl.Int64),
        "diagnosis_codes": diagnosis,
        "referral_id": _maybe(rng, pl.Series(rng.integers(10**7, 10**8, size=n)).cast(pl.String), 0.4),
        "prior_auth_id": _maybe(rng, pl.Series(rng.integers(10**7, 10**8, size=n)).cast(pl.String), 0.05),
        "submission": pl.Series(["original"] * n),
        "replaces_claim_id": None,
        "decision": decision,
        "allowed_quantity": pl.Series(rng.integers(0, 6, size=n), dtype=pl.Int64),
        "allowed_amount": pl.Series(allowed, dtype=pl.Int64),
        "insurer_paid": pl.Series(insurer_paid, dtype=pl.Int64),
        "supplementary_paid": pl.Series(np.zeros(n, dtype=np.int64)),
        "member_pays": pl.Series(member_pays, dtype=pl.Int64),
        "provider_deduction": pl.Series(deduction, dtype=pl.Int64),
        "member_share_amount": pl.Series(member_pays, dtype=pl.Int64),
        "deductible_applied": pl.Series(np.zeros(n, dtype=np.int64)),
        "primary_reason": pl.select(pl.when(decision != "approved").then(_choice(rng, REASONS, n))).to_series(),
        "rules": rules,
        "ruleset": ruleset,
        "supplementary_ruleset": pl.select(pl.when(supp.is_not_null()).then(pl.lit("supp.basic@2025.1"))).to_series(),
        "ruleset_digest": _choice(rng, DIGESTS, n),
    }).with_columns(
        pl.when(inpatient).then(pl.col("service_date")).alias("admission_date"),
        pl.when(inpatient).then(pl.col("service_date") + pl.duration(days=3)).alias("discharge_date"),
    ).select([pl.col(k).cast(t) for k, t in schema.LINE_RESULTS.items()])

    flagged = lines.filter(pl.col("decision") != "approved")
    extra = lines.gather_every(7)
    findings = pl.concat([
        flagged.select("claim_id", "line_no", pl.lit("ihio.outpatient").alias("ruleset"),
                       pl.lit("ihio.outpatient.TARIFF").alias("rule_id"), pl.col("primary_reason").alias("reason_code"),
                       pl.lit("cap_amount").alias("action"), (pl.col("allowed_amount") - pl.col("billed_amount"))
                       .alias("amount_effect"), pl.lit("provider").alias("liability"),
                       pl.lit("billed above the tariff").alias("message"), pl.lit("بیش از تعرفه").alias("message_fa")),
        extra.select("claim_id", "line_no", pl.lit("engine").alias("ruleset"), pl.lit("DUP.SUSPECT").alias("rule_id"),
                     pl.lit("R018").alias("reason_code"), pl.lit("flag").alias("action"),
                     pl.lit(None, dtype=pl.Int64).alias("amount_effect"), pl.lit(None, dtype=pl.String).alias("liability"),
                     pl.lit("suspect duplicate").alias("message"), pl.lit(None, dtype=pl.String).alias("message_fa")),
    ]).select([pl.col(k).cast(t) for k, t in schema.FINDINGS.items()]).sort("claim_id", "line_no", "rule_id")

    claims = lines.group_by("claim_id", maintain_order=True).agg(
        pl.col("member_id", "insurer_id", "setting", "provider_id").first(),
        pl.when((pl.col("decision") == "pended").any()).then(pl.lit("pended"))
        .when((pl.col("decision") == "denied").all()).then(pl.lit("denied"))
        .when((pl.col("decision") == "approved").all()).then(pl.lit("approved"))
        .when(pl.col("decision").is_in(["approved", "adjusted"]).all()).then(pl.lit("adjusted"))
        .otherwise(pl.lit("partial")).alias("decision"),
        pl.len().cast(pl.Int64).alias("line_count"),
        *[(pl.col("decision") == d).sum().cast(pl.Int64).alias(f"{d}_lines") for d in ("approved", "adjusted", "denied", "pended")],
        pl.lit(0, dtype=pl.Int64).alias("quarantined_lines"),
        pl.col("billed_amount", "allowed_amount", "insurer_paid", "supplementary_paid", "member_pays",
               "provider_deduction").sum(),
    ).select([pl.col(k).cast(t) for k, t in schema.CLAIMS.items()])
    return lines, findings, claims
