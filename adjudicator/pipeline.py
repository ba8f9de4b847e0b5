"""The order of the batch stages — the only module that combines them.

eligibility → overlap → duplicates (engine findings) → ruleset selection → edits (rules, polars) → benefits (numba)
→ supplementary → decisions, claim totals, findings. Every line that entered comes out with a decision; money obeys
``billed = insurer_paid + supplementary_paid + member_pays + provider_deduction`` on every line (checked here).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from adjudicator import codes as catalogue
from adjudicator import schema
from adjudicator.benefits import stage as benefits
from adjudicator.dedup import duplicates as dup
from adjudicator.dedup import overlap as ovl
from adjudicator.eligibility.batch import eligibility
from adjudicator.errors import AdjudicatorError, RulesetConflictError
from adjudicator.rules import semantics
from adjudicator.rules.compiled import Ruleset
from adjudicator.rules.to_polars import FINDING_SCHEMA, condition

ENGINE = "engine"
STAGE_SEQ = {"ELIG": 10, "OVL": 20, "DUP": 30, "SUPP": 40, "NO_RULESET": 50}
# reason codes of engine denials: such lines never reached the edits, so they leave every count later on
ENGINE_DENY_CODES = frozenset(("NOT_ENROLLED", "NOT_IN_FORCE", "COVER_SUSPENDED", "MEMBER_DECEASED", "WRONG_INSURER",
                               "OTHER_PRIMARY", "DUPLICATE_EXACT", "SUPERSEDED", "VOIDED", "NO_RULESET"))
# engine findings that take the line out of counts (it skips the edits)
SKIPS_EDITS = "deny"


@dataclass
class Context:
    """Reference data for one run, prepared once."""

    members: pl.DataFrame
    coverage: pl.DataFrame
    providers: pl.DataFrame
    coverage_index: object
    overlaps: ovl.OverlapReport
    history: pl.DataFrame | None = None


@dataclass
class Stages:
    """What the stages before the edits produced."""

    lines: pl.DataFrame
    findings: pl.DataFrame
    superseded: pl.DataFrame  # (claim_id, line_no, source) of batch and history lines a replacement/void supersedes


def prefixed(frame: pl.DataFrame, key: str, prefix: str) -> pl.DataFrame:
    return frame.select(key, *[pl.col(c).alias(f"{prefix}.{c}") for c in frame.columns if c != key])


def widen(lines: pl.DataFrame, ctx: Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lines + coverage.*, supplementary.*, member.*, provider.* and the eligibility findings."""
    out, elig = eligibility(lines, ctx.coverage_index)
    members = prefixed(ctx.members.unique("member_id", keep="first"), "member_id", "member")
    providers = prefixed(ctx.providers.unique("provider_id", keep="first"), "provider_id", "provider")
    out = out.join(members, on="member_id", how="left", maintain_order="left")
    out = out.join(providers, on="provider_id", how="left", maintain_order="left")
    return out, elig


def engine_findings(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Stage findings (claim_id, line_no, rule_id, reason_code, action, liability) → the full findings schema."""
    parts = [p.select("claim_id", pl.col("line_no").cast(pl.Int64), "rule_id", "reason_code", "action",
                      "liability") for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    f = pl.concat(parts)
    seq = pl.col("rule_id").str.split(".").list.first().replace_strict(STAGE_SEQ, default=90, return_dtype=pl.Int64)
    sev = pl.col("action").replace_strict(semantics.SEVERITY, default=0, return_dtype=pl.Int64)
    return f.with_columns(pl.lit(ENGINE).alias("ruleset"), pl.lit(0, pl.Int64).alias("amount_effect"),
                          seq.alias("__seq"), sev.alias("__sev")).pipe(with_messages).select(list(FINDING_SCHEMA))


def with_messages(f: pl.DataFrame, extra: dict | None = None) -> pl.DataFrame:
    codes = f["reason_code"].unique().to_list()
    en, fa = {}, {}
    for c in codes:
        rc = (extra or {}).get(c) or catalogue.CATALOGUE.get(c)
        en[c], fa[c] = (rc.en, rc.fa) if rc else (c, c)
    return f.with_columns(pl.col("reason_code").replace_strict(en, return_dtype=pl.String).alias("message"),
                          pl.col("reason_code").replace_strict(fa, return_dtype=pl.String).alias("message_fa"))


def before_edits(lines: pl.DataFrame, ctx: Context) -> Stages:
    """Eligibility, overlap, submissions and duplicates; ``__skip`` marks lines that skip the edits."""
    lines, superseded, sub_f = dup.apply_submissions(lines, ctx.history)
    # a void carries no service of its own: it is not paid (denied, provider liability)
    sub_f = sub_f.with_columns(pl.when(pl.col("rule_id") == "DUP.VOID").then(pl.lit("deny"))
                               .otherwise(pl.col("action")).alias("action"))
    wide, elig_f = widen(lines, ctx)
    ovl_f = ovl.overlap_findings(lines, ctx.overlaps)
    dup_f = dup.duplicate_findings(lines, ctx.history, superseded)
    findings = engine_findings([sub_f, elig_f, ovl_f, dup_f])
    skip = findings.filter(pl.col("action") == SKIPS_EDITS).select("claim_id", "line_no").unique() \
        .with_columns(pl.lit(True).alias("__skip"))
    wide = wide.join(skip, on=["claim_id", "line_no"], how="left", maintain_order="left") \
        .with_columns(pl.col("__skip").fill_null(False))
    return Stages(wide, findings, superseded)


def select_rulesets(wide: pl.DataFrame, rulesets: list[Ruleset]) -> pl.Series:
    """The basic ruleset index per line (−1: none). Two matching rulesets stop the run."""
    basic = [r for r in rulesets if r.kind == "basic"]
    if not basic:
        return pl.Series("__rs", [-1] * wide.height, pl.Int64)
    cols = []
    for i, r in enumerate(basic):
        m = condition(r.ir.scope)
        if r.ir.effective_from:
            m = m & (pl.col("service_date") >= r.ir.effective_from)
        if r.ir.effective_to:
            m = m & (pl.col("service_date") <= r.ir.effective_to)
        cols.append(m.alias(f"__m{i}"))
    m = wide.select(*cols)
    count = m.select(pl.sum_horizontal(pl.all().cast(pl.Int64))).to_series()
    if (count > 1).any():
        bad = wide.filter(count > 1).head(5)
        rows = m.filter(count > 1).row(0)
        names = [basic[i].ref for i, hit in enumerate(rows) if hit]
        sample = ", ".join(f"{c}/{n}" for c, n in bad.select("claim_id", "line_no").rows())
        raise RulesetConflictError(
            f"rulesets {' and '.join(names)} both match {int((count > 1).sum())} line(s) (e.g. claim/line "
            f"{sample}); make their scope or effective ranges disjoint")
    idx = m.select(pl.coalesce([pl.when(pl.col(f"__m{i}")).then(i) for i in range(len(basic))])
                   .fill_null(-1).cast(pl.Int64)).to_series()
    return idx.alias("__rs")


def run_ruleset(rs: Ruleset, wide: pl.DataFrame, context: pl.DataFrame | None,
                history: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rules then benefits for the lines of one ruleset: (lines with amounts, findings incl. cap findings).

    ``context`` holds the earlier lines aggregates and pairs see besides ``wide`` itself: the batch's other lines
    and the history, each with ``__counts``. Accumulators start from ``history`` lines of this same ruleset.
    """
    lines, findings = rs.polars.evaluate(wide, context if context is not None and context.height else None)
    hist = history
    if hist is not None and hist.height:
        hist = hist.filter(pl.col("ruleset").str.starts_with(rs.id + "@") & pl.col("__counts"))
    share_field = "member_share" if "member_share" in rs.polars.set_fields else None
    b = rs.ir.benefits
    batch = lines.with_columns(pl.lit(False).alias("__fixed"), (~pl.col("__denied")).alias("__active"),
                               pl.lit(None, pl.Int64).alias("deductible_applied"),
                               pl.lit(None, pl.Int64).alias("insurer_paid"))
    if hist is not None and hist.height and (b.deductible or b.caps):
        prepared = rs.polars.prepare(hist).with_columns(
            pl.lit(True).alias("__fixed"), pl.lit(False).alias("__active"),
            *[pl.lit(None).alias(s) for s in rs.polars.set_fields if s not in hist.columns])
        frame = pl.concat([prepared, batch], how="diagonal_relaxed")
    else:
        frame = batch
    amounts = benefits.apply(b, frame, share_override=share_field)
    lines = pl.concat([lines, amounts], how="horizontal")
    cap_f = cap_findings(rs, lines, semantics.SEQ_CAPS, semantics.SEVERITY["cap"])
    for j, cap in enumerate(b.caps):
        lines = lines.with_columns(
            pl.when(pl.col(f"__capx{j}") > 0).then(pl.col("rules").list.concat(pl.lit([f"{rs.id}:{cap.id}"])))
            .otherwise(pl.col("rules")).alias("rules"))
    capx = pl.sum_horizontal([pl.col(f"__capx{j}") for j in range(len(b.caps))]) if b.caps else pl.lit(0)
    lines = lines.with_columns(capx.cast(pl.Int64).alias("__cap_excess"),
                               (pl.col("__adjusted") | (capx > 0)).alias("__adjusted"))
    return lines, pl.concat([findings, cap_f]) if cap_f.height else findings


def cap_findings(rs: Ruleset, lines: pl.DataFrame, seq: int, severity: int) -> pl.DataFrame:
    """One finding per cap that lowered a line's payment (``__capx{j}`` > 0), liability member."""
    parts = []
    for j, cap in enumerate(rs.ir.benefits.caps):
        rc = rs.polars.codes.get(cap.reason) or catalogue.get(cap.reason)
        parts.append(lines.filter(pl.col(f"__capx{j}") > 0).select(
            "claim_id", "line_no", pl.lit(rs.id).alias("ruleset"), pl.lit(cap.id).alias("rule_id"),
            pl.lit(cap.reason).alias("reason_code"), pl.lit("cap").alias("action"),
            pl.col(f"__capx{j}").alias("amount_effect"), pl.lit("member").alias("liability"),
            pl.lit(rc.en).alias("message"), pl.lit(rc.fa).alias("message_fa"),
            pl.lit(seq + j, pl.Int64).alias("__seq"), pl.lit(severity, pl.Int64).alias("__sev")))
    return pl.concat(parts) if parts else pl.DataFrame(schema=FINDING_SCHEMA)


class ConservationError(AdjudicatorError):
    """A line broke billed = insurer + supplementary + member + provider deduction (a bug, never input)."""


def check_conservation(lines: pl.DataFrame) -> None:
    parts = ["insurer_paid", "supplementary_paid", "member_pays", "provider_deduction"]
    bad = lines.filter((pl.col("billed_amount") != pl.sum_horizontal(parts))
                       | pl.any_horizontal([pl.col(p) < 0 for p in parts])
                       | (pl.col("allowed_amount") > pl.col("billed_amount")))
    if bad.height:
        raise ConservationError(f"{bad.height} line(s) break the conservation law, e.g. "
                                f"{bad.select('claim_id', 'line_no', 'billed_amount', *parts).row(0)}")


def decide(lines: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """decision and primary_reason from the state flags and the findings (most severe, ties → earlier)."""
    primary = findings.filter(pl.col("__sev") > 0).sort(["claim_id", "line_no", "__sev", "__seq"],
                                                         descending=[False, False, True, False]) \
        .group_by(["claim_id", "line_no"], maintain_order=True).first() \
        .select("claim_id", "line_no", pl.col("reason_code").alias("__primary"))
    lines = lines.join(primary, on=["claim_id", "line_no"], how="left", maintain_order="left")
    decision = (pl.when(pl.col("__denied")).then(pl.lit("denied"))
                .when(pl.col("__pended")).then(pl.lit("pended"))
                .when(pl.col("__adjusted")).then(pl.lit("adjusted")).otherwise(pl.lit("approved")))
    return lines.with_columns(decision.alias("decision")).with_columns(
        pl.when(pl.col("decision") == "approved").then(None).otherwise(pl.col("__primary")).alias("primary_reason"))


def claims_frame(lines: pl.DataFrame, quarantine_counts: pl.DataFrame | None) -> pl.DataFrame:
    money = ["billed_amount", "allowed_amount", "insurer_paid", "supplementary_paid", "member_pays",
             "provider_deduction"]
    c = lines.group_by("claim_id").agg(
        pl.col("member_id").first(), pl.col("insurer_id").first(), pl.col("setting").first(),
        pl.col("provider_id").first(), pl.len().cast(pl.Int64).alias("line_count"),
        *[(pl.col("decision") == d).sum().cast(pl.Int64).alias(f"{d}_lines")
          for d in ("approved", "adjusted", "denied", "pended")],
        *[pl.col(m).sum().cast(pl.Int64) for m in money])
    decision = (pl.when(pl.col("pended_lines") > 0).then(pl.lit("pended"))
                .when(pl.col("denied_lines") == pl.col("line_count")).then(pl.lit("denied"))
                .when(pl.col("approved_lines") == pl.col("line_count")).then(pl.lit("approved"))
                .when(pl.col("approved_lines") + pl.col("adjusted_lines") == pl.col("line_count"))
                .then(pl.lit("adjusted")).otherwise(pl.lit("partial")))
    c = c.with_columns(decision.alias("decision"))
    if quarantine_counts is not None and quarantine_counts.height:
        c = c.join(quarantine_counts, on="claim_id", how="left").with_columns(
            pl.col("quarantined_lines").fill_null(0).cast(pl.Int64))
    else:
        c = c.with_columns(pl.lit(0, pl.Int64).alias("quarantined_lines"))
    return c.select(list(schema.CLAIMS)).sort("claim_id")
