"""The batch backend: a ruleset's IR translated into polars expressions over a frame of claim lines.

``translate`` is one function dispatched on the IR node type (ibis' habit). ``PolarsRuleset.evaluate`` joins the
tables, computes claim fields, aggregates (numba sweep over the sorted universe of history + batch lines) and pairs
(a bounded self-join per member/provider/day or per claim), then applies the rules in order with one
``with_columns`` per rule, so a later rule reads what an earlier one wrote. No Python runs per row.
"""

from __future__ import annotations

import datetime as dt
from functools import singledispatch

import numpy as np
import polars as pl

from adjudicator import codes as catalogue
from adjudicator import dates
from adjudicator.rules import ir, semantics, window
from adjudicator.rules.pairs import first_code_offsets, pair_sweep
from adjudicator.rules.check import PSEUDO_KEYS, parse_duration
from adjudicator.rules.functions import BINARY, CATALOGUE, COMPARE, polars_age
from adjudicator.rules.parse import Loaded
from adjudicator.rules.tables import FOUND

ORDER = ["service_date", "claim_id", "line_no"]


# --- expressions --------------------------------------------------------------------------------------------------

@singledispatch
def translate(node) -> pl.Expr:
    raise TypeError(f"no polars translation for {type(node).__name__}")


@translate.register
def _(n: ir.Lit) -> pl.Expr:
    if n.value is None:
        return pl.lit(None)
    if isinstance(n.value, dt.date):
        return pl.lit(n.value, pl.Date)
    if isinstance(n.value, bool):
        return pl.lit(n.value, pl.Boolean)
    if isinstance(n.value, int):
        return pl.lit(n.value, pl.Int64)
    if isinstance(n.value, float):
        return pl.lit(n.value, pl.Float64)
    return pl.lit(n.value, pl.String)


@translate.register
def _(n: ir.Rate) -> pl.Expr:
    return pl.lit(n.bp, pl.Int64)


@translate.register
def _(n: ir.ListLit) -> pl.Expr:
    return pl.lit([i.value for i in n.items])


@translate.register
def _(n: ir.Name) -> pl.Expr:
    return pl.col(n.column)


@translate.register
def _(n: ir.Missing) -> pl.Expr:
    found = pl.col(f"{n.table}.{FOUND}")
    return found.is_not_null() if n.negate else found.is_null()


@translate.register
def _(n: ir.Not) -> pl.Expr:
    return ~translate(n.arg)


@translate.register
def _(n: ir.Neg) -> pl.Expr:
    return -translate(n.arg)


@translate.register
def _(n: ir.BoolOp) -> pl.Expr:
    out = translate(n.args[0])
    for a in n.args[1:]:
        out = (out & translate(a)) if n.op == "and" else (out | translate(a))
    return out


@translate.register
def _(n: ir.BinOp) -> pl.Expr:
    a, b = translate(n.left), translate(n.right)
    if n.op == "*%":
        return (a * b + 5000) // 10000
    if n.op == "/":
        return pl.when(b == 0).then(None).otherwise(a.cast(pl.Float64) / b)
    return BINARY[n.op](a, b)


@translate.register
def _(n: ir.Compare) -> pl.Expr:
    return COMPARE[n.op](translate(n.left), translate(n.right))


@translate.register
def _(n: ir.IsNull) -> pl.Expr:
    a = translate(n.arg)
    return a.is_not_null() if n.negate else a.is_null()


@translate.register
def _(n: ir.In) -> pl.Expr:
    item = translate(n.item)
    if isinstance(n.container, ir.ListLit):
        values = [i.value for i in n.container.items]
        hit = pl.when(item.is_null()).then(None).otherwise(item.is_in(values))
    else:
        lst = translate(n.container)
        hit = pl.when(item.is_null() | lst.is_null()).then(None).otherwise(lst.list.contains(item))
    return ~hit if n.negate else hit


@translate.register
def _(n: ir.IfElse) -> pl.Expr:
    return pl.when(translate(n.cond)).then(translate(n.then)).otherwise(translate(n.orelse))


@translate.register
def _(n: ir.Call) -> pl.Expr:
    fn = CATALOGUE[n.fn]
    args = [translate(a) for a in n.args]
    guard = args + [pl.col(c) for c in fn.reads]
    if n.fn == "any_startswith":
        body = fn.polars(*args, literals=(None, [i.value for i in n.args[1].items]))
    else:
        body = fn.polars(*args)
    return pl.when(pl.any_horizontal([g.is_null() for g in guard])).then(None).otherwise(body)


@translate.register
def _(n: ir.Aggregate) -> pl.Expr:
    return pl.col(f"__agg{n.index}")


@translate.register
def _(n: ir.PairRef) -> pl.Expr:
    return pl.col(f"__pair.{n.table}")


def condition(e) -> pl.Expr:
    """A rule condition: null does not fire."""
    return pl.lit(True) if e is None else translate(e).fill_null(False)


def amount(e) -> pl.Expr:
    """A limit/cap value as an integer (floored when it may be fractional)."""
    v = translate(e)
    return v.cast(pl.Float64).floor().cast(pl.Int64) if semantics.may_be_float(e) else v.cast(pl.Int64)


# --- the compiled ruleset -----------------------------------------------------------------------------------------

CLAIM_FIELDS = ("claim.line_count", "claim.total_billed", "claim.codes", "claim.length_of_stay")


class PolarsRuleset:
    """A ruleset compiled for frames: ``evaluate(lines, history) -> (lines with outputs, findings)``."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.rs = loaded.ruleset
        self.aggregates = semantics.aggregates(self.rs)
        self.pairs = semantics.pair_tables(self.rs)
        self.set_fields = semantics.set_fields(self.rs)
        self.codes = {c.code: c for c in self.rs.codes}
        self.tables = {t.name: loaded.tables[t.name] for t in self.rs.tables}
        # every aggregate looks only at the same member's lines: context can be cut to those members
        self.member_local = all({"member_id", "claim_id"} & set(a.per) for a in self.aggregates)
        self.reads = {n.column for _, e in semantics.rule_exprs(self.rs) for n in semantics.walk(e)
                      if isinstance(n, ir.Name)}
        self.reported = [(i, r) for i, r in enumerate(self.rs.rules) if r.action != "set"]
        b = self.rs.benefits
        pers = [a.per for a in self.aggregates] + [d.per for d in b.deductible] + [c.per for c in b.caps]
        self.needs_benefit_year = any("benefit_year" in p for p in pers)
        self._pair_tables: dict[str, tuple] = {}
        self._meta = None

    # -- preparation: the columns every expression may read -------------------------------------------------------
    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Join tables, add the claim.* fields the ruleset reads, member.age and the benefit year."""
        f = frame
        if "member.birth_date" in f.columns and "member.age" not in f.columns:
            f = f.with_columns(polars_age(pl.col("member.birth_date"), pl.col("service_date")).alias("member.age"))
        claim = pl.col("claim_id")
        adds = {}
        if "claim.line_count" in self.reads:
            adds["claim.line_count"] = pl.len().over(claim).cast(pl.Int64)
        if "claim.total_billed" in self.reads:
            adds["claim.total_billed"] = pl.col("billed_amount").sum().over(claim).cast(pl.Int64)
        if "claim.codes" in self.reads:
            adds["claim.codes"] = pl.col("service_code").unique(maintain_order=True).sort().implode().over(claim)
        if "claim.length_of_stay" in self.reads:
            if "admission_date" in f.columns and "discharge_date" in f.columns:
                stay = (pl.col("discharge_date").max().over(claim) - pl.col("admission_date").min().over(claim))
                adds["claim.length_of_stay"] = pl.when(stay.is_null()).then(None).otherwise(
                    pl.max_horizontal(stay.dt.total_days().cast(pl.Int64), pl.lit(1)))
            else:
                adds["claim.length_of_stay"] = pl.lit(None, pl.Int64)
        if self.needs_benefit_year:
            adds["__benefit_year"] = dates.jalali_year_expr(pl.col("service_date")).cast(pl.Int64)
        f = f.with_columns(**adds)
        for t in self.rs.tables:
            if not t.pair:
                f = self._join_table(f, t)
        return f

    def _join_table(self, f: pl.DataFrame, t: ir.Table) -> pl.DataFrame:
        tab = self.tables[t.name]
        keys = [k for k, _ in t.key]
        cols = [c for c, _ in t.columns]
        right = tab.select([pl.col(c).alias(f"{t.name}.{c}") for c in cols]).with_columns(
            pl.lit(True).alias(f"{t.name}.{FOUND}"))
        right_on = [f"{t.name}.{k}" for k in keys]
        kcols = [f"__k{i}" for i in range(len(keys))]
        key_exprs = [pl.col(col).cast(tab.schema[k]).alias(kc) for (k, col), kc in zip(t.key, kcols)]
        data_cols = [f"{t.name}.{c}" for c in cols if c not in keys] + [f"{t.name}.{FOUND}"]
        found = pl.col(f"{t.name}.{FOUND}").is_not_null()
        key_back = [pl.when(found).then(pl.col(kc)).otherwise(None).alias(rk) for kc, rk in zip(kcols, right_on)]
        if not t.valid:
            right = right.rename(dict(zip(right_on, kcols)))
            out = f.with_columns(key_exprs).join(right, on=kcols, how="left", maintain_order="left")
            return out.with_columns(key_back).drop(kcols)
        # versioned: the latest row starting on or before the service date, if it has not ended
        lo, hi = (f"{t.name}.{c}" for c in t.valid)
        f = f.with_row_index("__r")
        probe = f.select("__r", *key_exprs, pl.col("service_date").alias("__d")).sort("__d")
        right = right.rename(dict(zip(right_on, kcols))).with_columns(
            pl.col(lo).fill_null(dt.date(1, 1, 1)).alias("__from")).sort("__from")
        hit = probe.join_asof(right, left_on="__d", right_on="__from", by=kcols, strategy="backward",
                              check_sortedness=False)
        ok = (pl.col(hi).is_null() | (pl.col("__d") <= pl.col(hi))) & found
        hit = hit.filter(ok).select("__r", *kcols, *data_cols)
        out = f.join(hit, on="__r", how="left", maintain_order="left")
        return out.with_columns(key_back).drop("__r", *kcols)

    # -- aggregates and pairs over the universe (history + batch) ------------------------------------------------
    def universe_columns(self, u: pl.DataFrame) -> pl.DataFrame:
        """Add ``__agg{i}`` and ``__pair.{T}`` columns; ``__counts`` marks the lines aggregates may see."""
        if "__counts" not in u.columns:
            u = u.with_columns(pl.lit(True).alias("__counts"))
        if not (self.aggregates or self.pairs):
            return u
        u = u.with_row_index("__u")
        cols = []
        for agg in self.aggregates:
            pos, values = self._aggregate(u, agg)
            out = np.empty(u.height, values.dtype)
            out[pos] = values  # scatter back to the frame's order (the sweep ran in sorted order)
            cols.append(pl.Series(f"__agg{agg.index}", out))
        for name in self.pairs:
            hits = self._pair(u, name)
            cols.append(pl.col("__u").is_in(hits.implode()).alias(f"__pair.{name}"))
        return u.with_columns(cols).drop("__u")

    def _aggregate(self, u: pl.DataFrame, agg: ir.Aggregate) -> tuple[np.ndarray, np.ndarray]:
        keys = [PSEUDO_KEYS.get(k, k) for k in agg.per]
        within = parse_duration(agg.within) if agg.within else None
        flag = pl.col("__counts") & (condition(agg.where) if agg.where is not None else pl.lit(True))
        value = translate(agg.value) if agg.value is not None else pl.lit(0, pl.Int64)
        # sort by a hash of the key first: string keys (and the total order's claim_id) are compared only when
        # the integers before them tie, so the grouping stays exact while the sort runs mostly on integers
        order = list(dict.fromkeys([*keys, *ORDER]))
        work = u.select(
            "__u", *order,
            pl.struct(keys).hash(7).alias("__kh"),
            pl.col("service_date").cast(pl.Int32).alias("__day"),
            window.window_start_expr(pl.col("service_date"), within).alias("__start"),
            flag.alias("__flag"), value.alias("__value"),
            pl.any_horizontal([pl.col(k).is_null() for k in keys]).alias("__nk"),
        ).sort(["__kh", *order])
        count, total = window.run_sweep(work, keys, "__day", "__start", "__flag", "__value")
        values = count if agg.kind == "prior_count" else total
        # a line whose key is null has no group: no earlier line shares a null key
        values = np.where(work["__nk"].to_numpy(), 0, values)
        return work["__u"].to_numpy(), values

    def _pair_table(self, name: str) -> tuple:
        """The pair table with its codes as integers: (decl, code → id, sorted 64-bit keys, their modifier_ok)."""
        if name not in self._pair_tables:
            t = self.rs.table(name)
            c1, c2 = t.pair
            tab = self.tables[name].filter(pl.col("modifier_ok").fill_null(0) != 9)
            codes = pl.concat([tab[c1], tab[c2]]).unique().sort()
            ids = dict(zip(codes.to_list(), range(len(codes))))
            enc = tab.select(
                (pl.col(c1).replace_strict(ids, return_dtype=pl.UInt64) * (1 << 32)
                 + pl.col(c2).replace_strict(ids, return_dtype=pl.UInt64)).alias("__pk"),
                pl.col("modifier_ok").fill_null(0).cast(pl.Int64).alias("__mok"))
            # a pair listed twice keeps its strictest row (one that never bypasses wins)
            enc = enc.group_by("__pk").agg(pl.col("__mok").min()).sort("__pk")
            keys = np.ascontiguousarray(enc["__pk"].to_numpy().astype(np.uint64))
            mok = np.ascontiguousarray(enc["__mok"].to_numpy().astype(np.int64))
            self._pair_tables[name] = (t, ids, keys, mok, first_code_offsets(keys, len(ids)))
        return self._pair_tables[name]

    def _pair(self, u: pl.DataFrame, name: str) -> pl.Series:
        """Row numbers (``__u``) of the lines for which ``pair(name)`` holds."""
        t, ids, keys, mok, off = self._pair_table(name)
        group = ["claim_id"] if t.pair_within == "claim" else ["member_id", "provider_id", "service_date"]
        bypass = [str(m) for m in self.rs.bypass_modifiers]
        lines = u.select(
            "__u", *group, pl.struct(group).hash(11).alias("__gh"),
            pl.col("service_code").replace_strict(ids, default=-1, return_dtype=pl.Int64).alias("__cid"),
            pl.col("__counts").fill_null(False), pl.col("modifier").is_in(bypass).fill_null(False).alias("__byp"),
        ).filter(pl.col("__cid") >= 0).sort(["__gh", *group])
        if lines.height < 2:
            return pl.Series("__u", [], pl.UInt32)
        new = pl.lit(False)
        for g in ["__gh", *group]:
            new = new | pl.col(g).ne_missing(pl.col(g).shift(1))
        starts = lines.select(pl.int_range(pl.len()).filter(
            (pl.int_range(pl.len()) == 0) | new)).to_series().to_numpy().astype(np.int64)
        hit = pair_sweep(np.ascontiguousarray(starts), window._arr(lines["__cid"]), window._arr(lines["__counts"]),
                         window._arr(lines["__byp"]), keys, mok, off)
        return lines["__u"].filter(pl.Series(hit))

    # -- rules ---------------------------------------------------------------------------------------------------
    def apply_rules(self, f: pl.DataFrame) -> pl.DataFrame:
        """The rules in order, one ``with_columns`` each, as one lazy plan collected once."""
        lf = f.lazy().with_columns(
            pl.col("quantity").cast(pl.Int64).alias("allowed_quantity"),
            pl.col("billed_amount").cast(pl.Int64).alias("allowed_amount"),
            pl.lit(False).alias("__denied"), pl.lit(False).alias("__pended"), pl.lit(False).alias("__adjusted"),
            pl.lit(0, pl.Int64).alias("__member_red"),
            *[pl.lit(None).alias(s) for s in self.set_fields],
        )
        aq, aa = pl.col("allowed_quantity"), pl.col("allowed_amount")
        for i, r in enumerate(self.rs.rules):
            cond = condition(r.when)
            fired, eff = f"__fired{i}", f"__eff{i}"
            member = r.liability == "member"
            if r.action in ("deny", "pend", "flag"):
                lf = lf.with_columns(cond.alias(fired))
                fire = pl.col(fired)
                effect = pl.when(fire).then(aa).otherwise(0) if r.action == "deny" else pl.lit(0, pl.Int64)
                upd = [effect.alias(eff)]
                if r.action == "deny":
                    upd += [pl.when(fire).then(0).otherwise(aq).alias("allowed_quantity"),
                            pl.when(fire).then(0).otherwise(aa).alias("allowed_amount"),
                            (pl.col("__denied") | fire).alias("__denied")]
                elif r.action == "pend":
                    upd.append((pl.col("__pended") | fire).alias("__pended"))
                if member and r.action == "deny":
                    upd.append((pl.col("__member_red") + effect).alias("__member_red"))
                lf = lf.with_columns(upd)
            elif r.action in ("limit_quantity", "cap_amount"):
                raw = amount(r.value)
                v = pl.when(raw.is_null()).then(None).otherwise(pl.max_horizontal(raw, pl.lit(0, pl.Int64)))
                cur = aq if r.action == "limit_quantity" else aa
                lf = lf.with_columns(v.alias("__v")).with_columns(
                    (cond & pl.col("__v").is_not_null() & (pl.col("__v") < cur)).fill_null(False).alias(fired))
                fire, v = pl.col(fired), pl.col("__v")
                if r.action == "limit_quantity":
                    new_aa = (2 * aa * v + aq) // (2 * aq)
                    effect = pl.when(fire).then(aa - new_aa).otherwise(0)
                    upd = [effect.alias(eff),
                           pl.when(fire & (v == 0)).then(semantics.DENY_SEVERITY).otherwise(
                               semantics.SEVERITY["limit_quantity"]).alias(f"__sev{i}"),
                           pl.when(fire).then(v).otherwise(aq).alias("allowed_quantity"),
                           pl.when(fire).then(new_aa).otherwise(aa).alias("allowed_amount"),
                           (pl.col("__denied") | (fire & (v == 0))).alias("__denied"),
                           (pl.col("__adjusted") | fire).alias("__adjusted")]
                else:
                    effect = pl.when(fire).then(aa - v).otherwise(0)
                    upd = [effect.alias(eff), pl.when(fire).then(v).otherwise(aa).alias("allowed_amount"),
                           (pl.col("__adjusted") | fire).alias("__adjusted")]
                if member:
                    upd.append((pl.col("__member_red") + effect).alias("__member_red"))
                lf = lf.with_columns(upd).drop("__v")
            else:  # set
                lf = lf.with_columns(cond.alias(fired))
                lf = lf.with_columns([pl.when(pl.col(fired)).then(translate(e)).otherwise(pl.col(fld)).alias(fld)
                                      for fld, e in r.sets])
        return lf.collect()

    def meta(self) -> pl.DataFrame:
        """One row per reported rule: the constant columns of its findings."""
        if self._meta is None:
            rows = []
            for i, r in self.reported:
                en, fa = self.code(r.reason)
                rows.append({"__i": i, "ruleset": self.rs.id, "rule_id": r.id, "reason_code": r.reason,
                             "action": r.action, "liability": r.liability, "message": en, "message_fa": fa,
                             "__seq": semantics.SEQ_RULES + i, "__sev0": semantics.SEVERITY[r.action]})
            self._meta = pl.DataFrame(rows, schema_overrides={"__i": pl.Int32, "__seq": pl.Int64,
                                                              "__sev0": pl.Int64})
        return self._meta

    def findings(self, f: pl.DataFrame) -> pl.DataFrame:
        """One row per fired rule (not `set`), in line then rule order: built from a narrow integer frame."""
        if not self.reported:
            return pl.DataFrame(schema=FINDING_SCHEMA)
        parts = []
        for i, r in self.reported:
            sev = pl.col(f"__sev{i}") if r.action == "limit_quantity" else pl.lit(None, pl.Int64)
            parts.append(f.lazy().with_row_index("__row").filter(pl.col(f"__fired{i}")).select(
                "__row", pl.lit(i, pl.Int32).alias("__i"), pl.col(f"__eff{i}").cast(pl.Int64).alias("amount_effect"),
                sev.cast(pl.Int64).alias("__sevd")))
        long = pl.concat(parts).collect().sort("__row", "__i")  # line order, then rule order: integers only
        ids = f.select("claim_id", "line_no")[long["__row"]]
        out = pl.concat([ids, long], how="horizontal").join(self.meta(), on="__i", how="left", maintain_order="left")
        out = out.with_columns(pl.coalesce("__sevd", "__sev0").alias("__sev"))
        return out.select(list(FINDING_SCHEMA))

    def rules_list(self, f: pl.DataFrame) -> pl.Series:
        """The fired rules of each line, qualified: a bitmask per line, decoded once per distinct mask."""
        names = [f"{self.rs.id}:{r.id}" for _, r in self.reported]
        if not names:
            return pl.Series("rules", [[]] * f.height, pl.List(pl.String))
        chunks = [self.reported[k:k + 63] for k in range(0, len(self.reported), 63)]
        masks = f.select([pl.sum_horizontal([pl.col(f"__fired{i}").cast(pl.Int64) * (1 << b)
                                             for b, (i, _) in enumerate(chunk)]).alias(f"__m{c}")
                          for c, chunk in enumerate(chunks)])
        distinct = masks.unique(maintain_order=True)
        decoded = [[f"{self.rs.id}:{r.id}" for c, chunk in enumerate(chunks)
                    for b, (_, r) in enumerate(chunk) if row[c] >> b & 1] for row in distinct.iter_rows()]
        table = distinct.with_columns(pl.Series("rules", decoded, pl.List(pl.String)))
        return masks.join(table, on=masks.columns, how="left", maintain_order="left")["rules"]

    def code(self, reason: str) -> tuple[str, str]:
        if reason in self.codes:
            c = self.codes[reason]
            return c.en, c.fa
        c = catalogue.get(reason)
        return c.en, c.fa

    def evaluate(self, lines: pl.DataFrame, history: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Rule outputs per line (state columns, set fields, ``rules``) and the findings frame."""
        batch = lines.with_columns(pl.lit(False).alias("__hist"))
        if history is not None and history.height and (self.aggregates or self.pairs):
            hist = history.with_columns(pl.lit(True).alias("__hist"))
            common = [c for c in batch.columns if c in hist.columns]
            universe = pl.concat([batch, hist.select(common)], how="diagonal_relaxed")
        else:
            universe = batch
        universe = self.prepare(universe)
        universe = self.universe_columns(universe)
        f = universe.filter(~pl.col("__hist")) if universe.height != lines.height else universe
        f = self.apply_rules(f)
        findings = self.findings(f)
        f = f.with_columns(self.rules_list(f))
        return f, findings


FINDING_SCHEMA = {
    "claim_id": pl.String, "line_no": pl.Int64, "ruleset": pl.String, "rule_id": pl.String,
    "reason_code": pl.String, "action": pl.String, "amount_effect": pl.Int64, "liability": pl.String,
    "message": pl.String, "message_fa": pl.String, "__seq": pl.Int64, "__sev": pl.Int64,
}
