"""Engine: holds compiled rulesets and reference data; ``adjudicate`` runs the batch pipeline over a claims file.

The engine reads and validates inputs (bad rows → quarantine), prepares the coverage index and the overlap report
once, runs the stages in ``pipeline`` order per basic ruleset, pays the supplementary share, and assembles the four
result frames. It checks the run's invariants every time: rows in = line results + quarantine, and the conservation
of money on every line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from adjudicator import io, pipeline, schema
from adjudicator.benefits import stage as benefits
from adjudicator.dedup import overlap as ovl
from adjudicator.eligibility.index import build_index
from adjudicator.errors import AdjudicatorError
from adjudicator.rules import semantics
from adjudicator.rules.compiled import Ruleset, load_ruleset
from adjudicator.rules.to_polars import FINDING_SCHEMA, condition

ENGINE_RULESET = pipeline.ENGINE


@dataclass
class Result:
    """The four result frames of a run, and its summary."""

    lines: pl.DataFrame
    findings: pl.DataFrame
    claims: pl.DataFrame
    quarantine: pl.DataFrame
    summary: dict = field(default_factory=dict)


def load_rulesets(items) -> list[Ruleset]:
    """Ruleset objects, files, or folders (every ``*.yaml`` with a top-level ``ruleset:`` key, recursively)."""
    out = []
    for item in items if isinstance(items, list | tuple) else [items]:
        if isinstance(item, Ruleset):
            out.append(item)
            continue
        p = Path(item)
        files = sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
        for f in files:
            if p.is_dir() and not _is_ruleset(f):
                continue
            out.append(load_ruleset(f))
    return out


def _is_ruleset(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            return any(line.startswith("ruleset:") for line in fh)
    except OSError:
        return False


class Engine:
    """Compiled rulesets + members, coverage, providers (+ an optional store for history and audit)."""

    def __init__(self, rulesets, members=None, coverage=None, providers=None, store=None,
                 policy: str | Path | ovl.Policy | None = None):
        self.rulesets = load_rulesets(rulesets)
        self.quarantine_parts: list[pl.DataFrame] = []
        self.members = self._reference(members, "members")
        self.coverage = self._reference(coverage, "coverage")
        self.providers = self._reference(providers, "providers")
        self.policy = ovl.load_policy(policy) if policy is not None and not isinstance(policy, ovl.Policy) \
            else (policy or ovl.load_policy())
        self.coverage_index = build_index(self.coverage, self.members)
        self.overlaps = ovl.find_overlaps(self.coverage, self.policy, self.members)
        self.store = store
        if isinstance(store, str):
            from adjudicator.store import open_store
            self.store = open_store(store)
        self._point = None

    def _reference(self, data, source: str) -> pl.DataFrame:
        if data is None:
            return schema.empty(schema.SOURCES[source])
        typed, quarantine = io.read_source(data, source)
        self.quarantine_parts.append(quarantine)
        return typed.drop("__row", strict=False)

    # -- point of service ----------------------------------------------------------------------------------------
    @property
    def point(self):
        """The in-memory indexes of the point-of-service path (built on first use)."""
        if self._point is None:
            from adjudicator.point import PointEngine
            self._point = PointEngine(self)
        return self._point

    def check(self, claim, *, audit: bool = True):
        """Check one claim (a list of line dicts with DATA.md columns, or a FHIR R4 Claim) → Decision.

        Nothing is recorded in the history: ``commit`` does that. With a store, the member's history is loaded on
        first sight and the check is written to the audit."""
        input_errors = []
        if isinstance(claim, dict) and claim.get("resourceType") == "Claim":
            from adjudicator import fhir
            mapped = fhir.claim_to_lines(claim)
            lines = mapped.lines
            input_errors = [{"line_no": e.sequence, "errors": [f"{e.path}: {e.message}"], "code": e.code}
                            for e in mapped.errors]
        else:
            # the point engine only reads the caller's dicts (no copy); other mappings become dicts
            lines = [x if type(x) is dict else dict(x) for x in claim]
        point = self.point
        if self.store is not None:
            members = {x.get("member_id") for x in lines}
            if not point.loaded.issuperset(members):  # (the usual case: every member already loaded)
                for m in members - {None}:
                    point.load_member(m, self.store)  # (a no-op for a member already loaded)
        decision = point.check(lines)
        decision.errors = input_errors + decision.errors
        if audit and self.store is not None and lines:
            import datetime as dt
            first = lines[0]
            self.store.record_check(first.get("provider_id"), first.get("member_id"), decision.claim_id,
                                    dt.datetime.now(dt.timezone.utc),
                                    {"decision": decision.decision, "lines": [
                                        {k: line[k] for k in ("line_no", "decision", "insurer_paid", "member_pays",
                                                              "primary_reason")} for line in decision.lines]})
        return decision

    def eligibility(self, member_id: str, insurer_id: str, date, supplementary_insurer_id: str | None = None
                    ) -> dict:
        """Is this member covered by this insurer on this date, by which plan (the point-of-service answer)."""
        from adjudicator import dates
        day = dates.parse_date(date)
        e = self.point.elig.lookup(member_id, insurer_id, supplementary_insurer_id, day)
        reasons = [f for f in e["findings"] if f[0].startswith("ELIG.")]
        reasons += [(r, c, a, li) for r, c, a, li in self.point.ovl.findings(member_id, insurer_id, day)
                    if a == "deny"]
        return {"member_id": member_id, "insurer_id": insurer_id, "date": day.isoformat(),
                "eligible": not reasons, "reason": reasons[0][1] if reasons else None,
                "plan": e.get("coverage.plan"), "fund": e.get("coverage.fund"),
                "start_date": e.get("coverage.start_date"), "end_date": e.get("coverage.end_date"),
                "supplementary_valid": e.get("supplementary.valid")}

    def check_eligibility(self, request: dict, *, created: str) -> dict:
        """A FHIR R4 CoverageEligibilityRequest → CoverageEligibilityResponse (an error entry, never a crash)."""
        from adjudicator import fhir
        q = fhir.eligibility_request_to_query(request)
        if not (q.get("member_id") and q.get("insurer_id") and q.get("date")):
            answer = {"eligible": False, "reason": "NOT_ENROLLED", "insurer_id": q.get("insurer_id")}
        else:
            answer = self.eligibility(q["member_id"], q["insurer_id"], q["date"])
        return fhir.eligibility_response(request, answer, created=created)

    def commit(self, decision) -> bool:
        """Record an accepted claim in the history the next check sees (idempotent on claim_id). With a store the
        claim is written first, in one transaction, so a crash never loses what was committed."""
        if self.store is not None and decision.lines:
            lines = [{k: line[k] for k in schema.LINE_RESULTS} for line in decision.lines]
            findings = [{k: f[k] for k in schema.FINDINGS} for f in decision.findings]
            self.store.commit_claim(lines, findings)
        return self.point.commit(decision)

    # -- batch ---------------------------------------------------------------------------------------------------
    def adjudicate(self, claims, *, history: pl.DataFrame | None = None, progress=None) -> Result:
        """Adjudicate a claims file or frame: every line gets a decision, amounts and reasons."""
        t0 = time.perf_counter()
        timings = {}
        lines, quarantine = io.read_source(claims, "claims")
        rows_in = lines.height + quarantine.height
        timings["read"] = time.perf_counter() - t0
        if history is None and self.store is not None:
            history = self.store.history(lines["member_id"].unique().to_list())
        ctx = pipeline.Context(self.members, self.coverage, self.providers, self.coverage_index, self.overlaps,
                               history)
        tick = progress or (lambda name: None)
        t = time.perf_counter()
        stages = pipeline.before_edits(lines.drop("__row"), ctx)
        timings["stages"] = time.perf_counter() - t
        tick("stages")
        wide = stages.lines.with_columns(pipeline.select_rulesets(stages.lines, self.rulesets))
        hist_wide = None
        if history is not None and history.height:
            hist_wide, _ = pipeline.widen(history.select([c for c in schema.LINE_RESULTS if c in history.columns]),
                                          ctx)
            gone = stages.superseded.filter(pl.col("source") == "history").select("claim_id", "line_no")
            counted = ~pl.col("primary_reason").is_in(list(pipeline.ENGINE_DENY_CODES)).fill_null(False)
            # superseded history leaves every count (aggregates and accumulators)
            hist_wide = hist_wide.join(gone, on=["claim_id", "line_no"], how="anti").with_columns(
                counted.alias("__counts"))
        t = time.perf_counter()
        done, findings = [], [stages.findings]
        basic = [r for r in self.rulesets if r.kind == "basic"]
        counted = wide.with_columns((~pl.col("__skip")).alias("__counts"))
        for i, rs in enumerate(basic):
            mine = (pl.col("__rs") == i) & ~pl.col("__skip")
            sub = counted.filter(mine)
            if sub.height == 0:
                continue
            context = counted.filter(~mine)
            if hist_wide is not None:
                context = pl.concat([context, hist_wide], how="diagonal_relaxed")
            if not (rs.polars.aggregates or rs.polars.pairs):
                context = None
            elif rs.polars.member_local:
                context = context.join(sub.select("member_id").unique(), on="member_id", how="semi")
            out, f = pipeline.run_ruleset(rs, sub, context, hist_wide)
            done.append(out.with_columns(pl.lit(rs.ref).alias("ruleset"), pl.lit(rs.digest).alias("ruleset_digest")))
            findings.append(f)
            tick(rs.ref)
        timings["rules_and_benefits"] = time.perf_counter() - t
        no_rs = wide.filter((pl.col("__rs") < 0) & ~pl.col("__skip"))
        if no_rs.height:
            findings.append(pipeline.engine_findings([no_rs.select(
                "claim_id", "line_no", pl.lit("NO_RULESET").alias("rule_id"), pl.lit("NO_RULESET").alias(
                    "reason_code"), pl.lit("deny").alias("action"), pl.lit("provider").alias("liability"))]))
        skipped = wide.filter(pl.col("__skip") | (pl.col("__rs") < 0))
        all_findings = pl.concat([f.select(list(FINDING_SCHEMA)) for f in findings if f.height]) if any(
            f.height for f in findings) else pl.DataFrame(schema=FINDING_SCHEMA)
        out = self._assemble(wide, done, skipped, all_findings)
        t = time.perf_counter()
        out, supp_f = self._supplementary(out, hist_wide)
        timings["supplementary"] = time.perf_counter() - t
        if supp_f.height:
            all_findings = pl.concat([all_findings, supp_f.select(list(FINDING_SCHEMA))])
        out = pipeline.decide(out, all_findings)
        rules = all_findings.sort(["claim_id", "line_no", "__seq"]).group_by(["claim_id", "line_no"]).agg(
            (pl.col("ruleset") + ":" + pl.col("rule_id")).alias("__rules"))
        out = out.join(rules, on=["claim_id", "line_no"], how="left", maintain_order="left").with_columns(
            pl.col("__rules").fill_null(pl.lit([], pl.List(pl.String))).alias("rules"))
        result_lines = out.select([pl.col(c).cast(t) for c, t in schema.LINE_RESULTS.items()]).sort(
            ["claim_id", "line_no"])
        pipeline.check_conservation(result_lines)
        findings_out = all_findings.sort(["claim_id", "line_no", "__seq"]).select(
            [pl.col(c).cast(t) for c, t in schema.FINDINGS.items()])
        quarantine_all = pl.concat([quarantine, *self.quarantine_parts]) if self.quarantine_parts else quarantine
        qcounts = quarantine.select(pl.col("raw").str.json_path_match("$.claim_id").alias("claim_id")) \
            .drop_nulls().group_by("claim_id").agg(pl.len().cast(pl.Int64).alias("quarantined_lines"))
        claims_out = pipeline.claims_frame(result_lines, qcounts)
        if result_lines.height + quarantine.height != rows_in:
            raise AdjudicatorError(f"lost rows: {rows_in} read, {result_lines.height} results + "
                                   f"{quarantine.height} quarantined")
        timings["total"] = time.perf_counter() - t0
        summary = summarize(result_lines, findings_out, quarantine_all, rows_in, timings, self.rulesets)
        return Result(result_lines, findings_out, claims_out, quarantine_all.sort(["source", "file", "row"]),
                      summary)

    def _assemble(self, wide, done, skipped, findings) -> pl.DataFrame:
        """One frame: lines that went through a ruleset and lines that skipped the edits, with basic money."""
        deny_liab = findings.filter((pl.col("ruleset") == ENGINE_RULESET) & (pl.col("action") == "deny")) \
            .sort(["claim_id", "line_no", "__seq"]).group_by(["claim_id", "line_no"], maintain_order=True) \
            .first().select("claim_id", "line_no", (pl.col("liability") == "member").alias("__skip_member"))
        pended = findings.filter((pl.col("ruleset") == ENGINE_RULESET) & (pl.col("action") == "pend")) \
            .select("claim_id", "line_no").unique().with_columns(pl.lit(True).alias("__engine_pend"))
        sk = skipped.join(deny_liab, on=["claim_id", "line_no"], how="left", maintain_order="left").with_columns(
            pl.lit(0, pl.Int64).alias("allowed_quantity"), pl.lit(0, pl.Int64).alias("allowed_amount"),
            pl.lit(True).alias("__denied"), pl.lit(False).alias("__pended"), pl.lit(False).alias("__adjusted"),
            pl.when(pl.col("__skip_member").fill_null(False)).then(pl.col("billed_amount")).otherwise(0)
            .cast(pl.Int64).alias("__member_red"),
            *[pl.lit(0, pl.Int64).alias(c) for c in ("deductible_applied", "member_share_amount", "insurer_paid",
                                                     "__cap_excess")],
            pl.lit(None, pl.String).alias("ruleset"), pl.lit(None, pl.String).alias("ruleset_digest"))
        base_cols = list(wide.columns)
        keep = [*base_cols, "allowed_quantity", "allowed_amount", "__denied", "__pended", "__adjusted",
                "__member_red", "deductible_applied", "member_share_amount", "insurer_paid", "__cap_excess",
                "ruleset", "ruleset_digest"]
        parts = [d.select([c for c in keep if c in d.columns]) for d in done] + [sk.select(keep)]
        out = pl.concat(parts, how="diagonal_relaxed")
        out = out.join(pended, on=["claim_id", "line_no"], how="left", maintain_order="left").with_columns(
            (pl.col("__pended") | pl.col("__engine_pend").fill_null(False)).alias("__pended"))
        return out.with_columns(
            (pl.col("billed_amount") - pl.col("allowed_amount") - pl.col("__member_red")).alias("provider_deduction"),
            (pl.col("__member_red") + pl.col("deductible_applied") + pl.col("member_share_amount")
             + pl.col("__cap_excess")).alias("__member_liability"),
            pl.lit(0, pl.Int64).alias("supplementary_paid"),
            pl.lit(None, pl.String).alias("supplementary_ruleset"))

    def _supplementary(self, out: pl.DataFrame, hist_wide) -> tuple[pl.DataFrame, pl.DataFrame]:
        supp = [r for r in self.rulesets if r.kind == "supplementary"]
        findings = []
        out = out.with_row_index("__k")
        paid_parts = []
        for rs in supp:
            m = condition(rs.ir.scope) & pl.col("supplementary.valid").fill_null(False)
            if rs.ir.effective_from:
                m = m & (pl.col("service_date") >= rs.ir.effective_from)
            if rs.ir.effective_to:
                m = m & (pl.col("service_date") <= rs.ir.effective_to)
            taken = pl.concat([p.select("__k") for p in paid_parts]) if paid_parts else None
            sub = out.filter(m & (pl.col("__member_liability") > 0))
            if taken is not None:
                sub = sub.join(taken, on="__k", how="anti")
            if sub.height == 0:
                continue
            sub = sub.with_columns(
                pl.col("allowed_amount").alias("basic.allowed_amount"),
                pl.col("insurer_paid").alias("basic.insurer_paid"),
                pl.col("member_share_amount").alias("basic.member_share"),
                pl.col("deductible_applied").alias("basic.deductible"),
                pl.col("__member_liability").alias("basic.member_liability"))
            base_cols = [c for c in sub.columns if not c.startswith("__") or c == "__k"]
            raw = sub.select([c for c in base_cols if c not in semantics.STATE and c not in (
                "rules", "deductible_applied", "member_share_amount", "insurer_paid")])
            lines, f = rs.polars.evaluate(raw.drop("__k").with_columns(pl.lit(True).alias("__counts")), None)
            lines = lines.with_columns(sub["__k"], sub["__member_liability"].alias("__base"))
            frame = lines.with_columns(
                pl.lit(False).alias("__fixed"), (~pl.col("__denied")).alias("__active"),
                pl.col("__base").alias("allowed_amount"),
                pl.lit(None, pl.Int64).alias("deductible_applied"), pl.lit(None, pl.Int64).alias("insurer_paid"))
            b = rs.ir.benefits
            if hist_wide is not None and (b.caps or b.deductible) and "supplementary_ruleset" in hist_wide.columns:
                # what this supplementary ruleset already paid (history) counts in its caps
                hist = hist_wide.filter((pl.col("supplementary_ruleset") == rs.ref) & pl.col("__counts"))
                if hist.height:
                    prepared = rs.polars.prepare(hist).with_columns(
                        pl.lit(True).alias("__fixed"), pl.lit(False).alias("__active"),
                        pl.lit(0, pl.Int64).alias("deductible_applied"),
                        pl.col("supplementary_paid").alias("insurer_paid"))
                    frame = pl.concat([prepared, frame], how="diagonal_relaxed")
            share_field = "member_share" if "member_share" in rs.polars.set_fields else None
            amounts = benefits.apply(b, frame, share_override=share_field)
            paid = pl.concat([lines.select("__k"), amounts.select(pl.col("insurer_paid").alias("__supp_paid"))],
                             how="horizontal").with_columns(pl.lit(rs.ref).alias("__supp_rs"))
            paid_parts.append(paid)
            f = f.with_columns(pl.col("__seq") + semantics.SEQ_SUPP)
            capped = pl.concat([lines.select("claim_id", "line_no"), amounts.select(pl.col("^__capx.*$"))],
                               how="horizontal")
            f = pl.concat([f, pipeline.cap_findings(rs, capped, semantics.SEQ_SUPP + semantics.SEQ_CAPS, 0)])
            # supplementary findings never change the basic decision: severity 0
            findings.append(f.with_columns(pl.lit(0, pl.Int64).alias("__sev")))
        if paid_parts:
            paid = pl.concat(paid_parts)
            out = out.join(paid, on="__k", how="left").sort("__k").with_columns(
                pl.col("__supp_paid").fill_null(0).alias("supplementary_paid"),
                pl.col("__supp_rs").alias("supplementary_ruleset"))
        out = out.with_columns((pl.col("__member_liability") - pl.col("supplementary_paid")).alias("member_pays"))
        fr = pl.concat(findings) if findings else pl.DataFrame(schema=FINDING_SCHEMA)
        return out.drop("__k"), fr



def summarize(lines: pl.DataFrame, findings: pl.DataFrame, quarantine: pl.DataFrame, rows_in: int,
              timings: dict, rulesets: list[Ruleset]) -> dict:
    """Counts and totals for summary.json and the CLI's report."""
    by_decision = dict(lines.group_by("decision").len().sort("decision").iter_rows())
    money = {c: int(lines[c].sum() or 0) for c in ("billed_amount", "allowed_amount", "insurer_paid",
                                                   "supplementary_paid", "member_pays", "provider_deduction")}
    top_reasons = findings.group_by("reason_code").agg(pl.len().alias("lines"), pl.col("amount_effect").sum()) \
        .sort(["lines", "reason_code"], descending=[True, False]).head(10)
    top_providers = lines.group_by("provider_id").agg(pl.col("provider_deduction").sum()) \
        .sort(["provider_deduction", "provider_id"], descending=[True, False]).head(10)
    return {
        "rows_in": rows_in,
        "lines": lines.height,
        "quarantined": int((quarantine["source"] == "claims").sum()) if quarantine.height else 0,
        "quarantined_reference_rows": int((quarantine["source"] != "claims").sum()) if quarantine.height else 0,
        "claims": lines["claim_id"].n_unique(),
        "lines_by_decision": by_decision,
        "amounts": money,
        "top_reasons": top_reasons.to_dicts(),
        "top_providers_by_deduction": top_providers.to_dicts(),
        "rulesets": {r.ref: r.digest for r in rulesets},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
