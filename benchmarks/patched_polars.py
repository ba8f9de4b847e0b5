"""Suggested changes to ``adjudicator.rules.to_polars.PolarsRuleset``, as a subclass, so they can be measured and
checked (same answer as the original) without touching the package. ``profile_rules.py --compare`` runs both.

1. ``rules_list``: one UInt64 bitmask of the fired rules, decoded once per *distinct* mask (a few hundred) and
   joined back — instead of a 29-way ``concat_list`` of ``when/then`` strings per row.
2. ``findings``: filter a narrow frame (row index, fired/effect/severity columns), concat integers only, then join
   the per-rule constants (ids, codes, messages) from a 29-row table and gather claim_id/line_no by row index —
   instead of 29 filters of the ~130-column frame and six literal string columns per finding.
3. ``universe_columns``: put the aggregate/pair columns back by numpy scatter / ``is_in`` on the row index instead of
   a left join per column and a final sort on ``__u``.
4. ``_pair``: the pair table's filtering and unique code_1/code_2 sets are built once per ruleset, not per call.
5. ``prepare``: compute only the ``claim.*`` fields the ruleset reads (``claim.codes`` is a per-row list).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from adjudicator.rules import ir, semantics
from adjudicator.rules.to_polars import FINDING_SCHEMA, PolarsRuleset


class PatchedPolarsRuleset(PolarsRuleset):
    def __init__(self, loaded):
        super().__init__(loaded)
        self._pair_cache: dict[str, tuple] = {}
        self.reads = {n.column for _, e in semantics.rule_exprs(self.rs) for n in semantics.walk(e)
                      if isinstance(n, ir.Name)}
        self.fired_rules = [(i, r) for i, r in enumerate(self.rs.rules) if r.action != "set"]

    # 5 -------------------------------------------------------------------------------------------------------------
    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        # the original computes claim.codes / length_of_stay for every ruleset; drop the unread ones afterwards is
        # not enough (the cost is in computing them), so hide the columns they need when unread
        unread = [c for c in ("claim.codes", "claim.length_of_stay") if c not in self.reads]
        if not unread:
            return super().prepare(frame)
        f = frame
        saved = {}
        if "claim.length_of_stay" in unread:
            for c in ("admission_date", "discharge_date"):
                if c in f.columns:
                    saved[c] = f[c]
            f = f.drop(list(saved))
        if "claim.codes" in unread:
            # pre-fill claim.codes with a null list so the original's with_columns is a cheap overwrite...
            pass
        out = self._prepare_without_codes(f) if "claim.codes" in unread else super().prepare(f)
        return out.with_columns(list(saved.values())) if saved else out

    def _prepare_without_codes(self, frame):
        from adjudicator import dates
        from adjudicator.rules.functions import polars_age
        f = frame
        if "member.birth_date" in f.columns and "member.age" not in f.columns:
            f = f.with_columns(polars_age(pl.col("member.birth_date"), pl.col("service_date")).alias("member.age"))
        claim = pl.col("claim_id")
        f = f.with_columns(**{"claim.line_count": pl.len().over(claim).cast(pl.Int64),
                              "claim.total_billed": pl.col("billed_amount").sum().over(claim).cast(pl.Int64)})
        f = f.with_columns(dates.jalali_year_expr(pl.col("service_date")).cast(pl.Int64).alias("__benefit_year"))
        for t in self.rs.tables:
            if not t.pair:
                f = self._join_table(f, t)
        return f

    # 3 -------------------------------------------------------------------------------------------------------------
    def universe_columns(self, u: pl.DataFrame) -> pl.DataFrame:
        if "__counts" not in u.columns:
            u = u.with_columns(pl.lit(True).alias("__counts"))
        u = u.with_row_index("__u")
        n = u.height
        cols = []
        for agg in self.aggregates:
            a = self._aggregate(u, agg)
            name = f"__agg{agg.index}"
            vals = a[name].to_numpy()
            out = np.empty(n, vals.dtype)
            out[a["__u"].to_numpy()] = vals
            cols.append(pl.Series(name, out))
        for name in self.pairs:
            hits = self._pair(u, name)["__u"]
            cols.append(u["__u"].is_in(hits.implode()).alias(f"__pair.{name}"))
        return u.drop("__u").with_columns(cols)

    # 4 -------------------------------------------------------------------------------------------------------------
    def _pair(self, u: pl.DataFrame, name: str) -> pl.DataFrame:
        if name not in self._pair_cache:
            t = self.rs.table(name)
            c1, c2 = t.pair
            tab = self.tables[name].filter(pl.col("modifier_ok").fill_null(0) != 9).select(
                pl.col(c1).alias("__c1"), pl.col(c2).alias("__c2"),
                pl.col("modifier_ok").fill_null(0).alias("__mok"))
            self._pair_cache[name] = (t, tab, tab.select("__c1").unique(), tab.select("__c2").unique())
        t, tab, u1, u2 = self._pair_cache[name]
        group = ["claim_id"] if t.pair_within == "claim" else ["member_id", "provider_id", "service_date"]
        lines = u.select("__u", *group, "service_code", "modifier", "__counts")
        cand = lines.join(u2, left_on="service_code", right_on="__c2", how="semi")
        others = lines.filter(pl.col("__counts")).join(u1, left_on="service_code", right_on="__c1", how="semi")
        pairs = cand.join(others.select(pl.col("__u").alias("__o"), *group, pl.col("service_code").alias("__oc")),
                          on=group, how="inner").filter(pl.col("__u") != pl.col("__o"))
        hits = pairs.join(tab, left_on=["__oc", "service_code"], right_on=["__c1", "__c2"], how="inner")
        bypass = [str(m) for m in self.rs.bypass_modifiers]
        hits = hits.filter(~((pl.col("__mok") == 1) & pl.col("modifier").is_in(bypass).fill_null(False)))
        return hits.select("__u").unique().with_columns(pl.lit(True).alias(f"__pair.{name}"))

    # 2 -------------------------------------------------------------------------------------------------------------
    def findings(self, f: pl.DataFrame) -> pl.DataFrame:
        if not self.fired_rules:
            return pl.DataFrame(schema=FINDING_SCHEMA)
        meta = []
        for i, r in self.fired_rules:
            en, fa = self.code(r.reason)
            meta.append({"__i": i, "ruleset": self.rs.id, "rule_id": r.id, "reason_code": r.reason,
                         "action": r.action, "liability": r.liability, "message": en, "message_fa": fa,
                         "__seq": semantics.SEQ_RULES + i, "__sev_static": semantics.SEVERITY[r.action]})
        meta = pl.DataFrame(meta, schema_overrides={"__i": pl.Int32})
        need = [c for i, r in self.fired_rules for c in (f"__fired{i}", f"__eff{i}")] + \
            [f"__sev{i}" for i, r in self.fired_rules if r.action == "limit_quantity"]
        narrow = f.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"), *need)
        parts = []
        for i, r in self.fired_rules:
            sev = pl.col(f"__sev{i}") if r.action == "limit_quantity" else pl.lit(None, pl.Int64)
            parts.append(narrow.filter(pl.col(f"__fired{i}")).select(
                "__row", pl.lit(i, pl.Int32).alias("__i"), pl.col(f"__eff{i}").cast(pl.Int64).alias("amount_effect"),
                sev.cast(pl.Int64).alias("__sev_dyn")))
        long = pl.concat(parts)
        ids = f.select("claim_id", "line_no")[long["__row"]]
        out = pl.concat([ids, long], how="horizontal").join(meta, on="__i", how="left", maintain_order="left")
        out = out.with_columns(pl.coalesce("__sev_dyn", "__sev_static").alias("__sev"))
        return out.select(list(FINDING_SCHEMA)).sort(["claim_id", "line_no", "__seq"])

    # 1 -------------------------------------------------------------------------------------------------------------
    def evaluate(self, lines, history=None):
        f, findings = self._evaluate_without_rules(lines, history)
        names = [f"{self.rs.id}:{r.id}" for _, r in self.fired_rules]
        if not names:
            return f.with_columns(pl.lit([], pl.List(pl.String)).alias("rules")), findings
        assert len(names) <= 64
        bits = pl.sum_horizontal([pl.col(f"__fired{i}").cast(pl.UInt64) * (1 << k)
                                  for k, (i, _) in enumerate(self.fired_rules)]).alias("__bits")
        f = f.with_columns(bits)
        masks = f["__bits"].unique().to_list()
        table = pl.DataFrame({"__bits": masks,
                              "rules": [[names[k] for k in range(len(names)) if m >> k & 1] for m in masks]},
                             schema={"__bits": pl.UInt64, "rules": pl.List(pl.String)})
        return f.join(table, on="__bits", how="left", maintain_order="left").drop("__bits"), findings

    def _evaluate_without_rules(self, lines, history):
        batch = lines.with_columns(pl.lit(False).alias("__hist"))
        if history is not None and history.height and (self.aggregates or self.pairs):
            hist = history.with_columns(pl.lit(True).alias("__hist"))
            common = [c for c in batch.columns if c in hist.columns]
            universe = pl.concat([batch, hist.select(common)], how="diagonal_relaxed")
        else:
            universe = batch
        universe = self.prepare(universe)
        universe = self.universe_columns(universe)
        f = universe.filter(~pl.col("__hist"))
        f = self.apply_rules(f)
        return f, self.findings(f)
