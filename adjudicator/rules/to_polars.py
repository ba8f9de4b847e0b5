"""The batch backend: a ruleset's IR translated into polars expressions over a frame of claim lines.

``translate`` is one function dispatched on the IR node type (ibis' habit). ``PolarsRuleset.evaluate`` joins the
tables, computes claim fields, aggregates (numba sweep over the sorted universe of history + batch lines) and pairs
(a bounded self-join per member/provider/day or per claim), then applies the rules in order, so a later rule reads
what an earlier one wrote: polars computes the conditions and limit/cap values of a run of rules side by side and a
compiled pass (``fired.apply_run``) walks the lines through the run's rules, updating each line's running state and
noting the fired rules; a rule that reads what an earlier rule of its run writes starts the next run. No Python runs
per row.
"""

from __future__ import annotations

import datetime as dt
import operator
from concurrent.futures import ThreadPoolExecutor
from functools import partial, reduce, singledispatch

import numpy as np
import polars as pl

from adjudicator import codes as catalogue
from adjudicator import chunks, dates, schema
from adjudicator.rules import encode, fired, ir, semantics, window
from adjudicator.rules.pairs import PairIndex, pair_sweep
from adjudicator.rules.check import PSEUDO_KEYS, parse_duration
from adjudicator.rules.functions import BINARY, CATALOGUE, COMPARE, age_series, polars_age
from adjudicator.rules.parse import Loaded
from adjudicator.rules.tables import FOUND

# the eligibility stage gives a cover's string fields as pl.Enum columns: expressions read them as strings
CODED = frozenset(f"{ns}.{c}" for ns in ("coverage", "supplementary") for c, t in schema.COVERAGE.items()
                  if t == pl.String)


def column(frame: pl.DataFrame, name: str) -> pl.Series:
    """A frame column as expressions read it (a ``pl.Enum`` column decoded to strings)."""
    s = frame[name]
    return s.cast(pl.String) if s.dtype == pl.Enum else s


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
    return pl.col(n.column).cast(pl.String) if n.column in CODED else pl.col(n.column)


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


FEW = 3  # a string list literal this short is tested by equalities


@translate.register
def _(n: ir.In) -> pl.Expr:
    item = translate(n.item)
    if isinstance(n.container, ir.ListLit):
        values = [i.value for i in n.container.items]
        if 0 < len(values) <= FEW and all(isinstance(v, str) for v in values):
            # a few strings: equalities are 2-3x faster than polars' string is_in (null stays null either way)
            hit = reduce(operator.or_, [item == v for v in values])
        else:
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

PARALLEL_ROWS = 50_000  # below this, threads cost more than they save
IDX = np.uint32 if pl.get_index_type() == pl.UInt32 else np.uint64  # polars' row numbers (arg_true's)
CLAIM_FIELDS = ("claim.line_count", "claim.total_billed", "claim.codes", "claim.length_of_stay")


class Batch:
    """Integer encodings of one frame, each computed on first use and shared by the stages: dense ids of a column
    (or of a tuple of columns), table-key code ids, service dates as int32 days."""

    def __init__(self, frame: pl.DataFrame, owner: "PolarsRuleset"):
        self.frame, self.owner = frame, owner
        self._ids: dict[tuple[str, ...], tuple[np.ndarray, int]] = {}
        self._codes: dict[str, np.ndarray] = {}
        self._days: np.ndarray | None = None
        self._sweeps: dict[tuple[str, ...], window.SweepOrder] = {}

    def ids(self, cols: tuple[str, ...]) -> tuple[np.ndarray, int]:
        """Dense ids of the tuple of columns ``cols`` (null is a value like any other) and how many there are."""
        if cols not in self._ids:
            if len(cols) == 1:
                self._ids[cols] = encode.encode(column(self.frame, cols[0]))
            else:
                self._ids[cols] = encode.combine([self.ids((c,)) for c in cols])
        return self._ids[cols]

    def codes(self, col: str) -> np.ndarray:
        """Ids of ``col`` in the code domain of the tables keyed by it (-1: null or in no table)."""
        if col not in self._codes:
            self._codes[col] = self.owner.domain(col).encode(column(self.frame, col))
        return self._codes[col]

    def sweep(self, keys: tuple[str, ...]) -> window.SweepOrder:
        """The lines grouped by ``keys``, each group in the total order (shared by aggregates and pairs)."""
        if keys not in self._sweeps:
            key, n_keys = self.ids(keys)
            claim, n_claims = self.ids(("claim_id",))
            line_no = window.arr(self.frame["line_no"].cast(pl.Int64).fill_null(-(2**62)))
            self._sweeps[keys] = window.SweepOrder(key, n_keys, self.days(), claim, n_claims, line_no,
                                                   self.frame["claim_id"])
        return self._sweeps[keys]

    def days(self) -> np.ndarray:
        if self._days is None:
            d = self.frame["service_date"].cast(pl.Int32).fill_null(encode.NO_DAY)
            self._days = window.arr(d)
        return self._days


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
        self.reads = semantics.columns(*(e for _, e in semantics.rule_exprs(self.rs)))
        self.reported = [(i, r) for i, r in enumerate(self.rs.rules) if r.action != "set"]
        b = self.rs.benefits
        pers = [a.per for a in self.aggregates] + [d.per for d in b.deductible] + [c.per for c in b.caps]
        self.needs_benefit_year = any("benefit_year" in p for p in pers)
        self.reads |= {PSEUDO_KEYS.get(k, k) for p in pers for k in p}  # a key may be a table column
        self._pair_index: dict[str, PairIndex] = {}
        self._domains: dict[str, encode.CodeDomain] = {}
        self._lookups: dict[str, tuple | None] = {}
        self._meta = None
        self.runs = self._cut_runs()

    # -- code domains and table lookups (built on first use: compiling stays cheap) -------------------------------
    def _coded(self, t: ir.Table) -> bool:
        """A keyed table looked up through code ids: one string key (every loaded key is a string)."""
        return not t.pair and len(t.key) == 1 and self.tables[t.name].schema[t.key[0][0]] == pl.String

    def domain(self, col: str) -> encode.CodeDomain:
        """The code domain of frame column ``col``: every key of the tables keyed by it (and, for service_code,
        every code of the pair tables)."""
        if col not in self._domains:
            parts = [self.tables[t.name][t.key[0][0]] for t in self.rs.tables if self._coded(t) and t.key[0][1] == col]
            if col == "service_code":
                for t in self.rs.tables:
                    if t.pair:
                        parts += [self.tables[t.name][c] for c in t.pair]
            values = pl.concat([p.cast(pl.String).rename("v") for p in parts]) if parts else pl.Series("v", [], pl.String)
            self._domains[col] = encode.CodeDomain(values)
        return self._domains[col]

    def _lookup(self, t: ir.Table) -> tuple:
        """(the table's rows as the frame gets them, less the found column and with booleans as UInt8 — polars
        gathers a bit column at half the speed of a byte column —, then row arrays): for a plain table
        ``row_of[code]``; for a versioned one the rows sorted by (code, first day) with ``off``, ``lo``, ``hi``
        for ``versioned_rows``."""
        if t.name not in self._lookups:
            tab = self.tables[t.name]
            (k, col), = t.key
            dom = self.domain(col)
            # only the columns some expression reads: a gather of strings costs as much as a join's output
            data = [c for c, _ in t.columns if c != k and f"{t.name}.{c}" in self.reads]
            tab = tab.filter(pl.col(k).is_not_null())
            tab = tab.with_columns(pl.Series("__code", dom.ids_of(tab[k])))
            if t.valid:
                lo, hi = t.valid
                tab = tab.sort("__code", pl.col(lo).fill_null(dt.date(1, 1, 1)))
            key = [pl.col(k).alias(f"{t.name}.{k}")] if f"{t.name}.{k}" in self.reads else []
            rows = tab.select([pl.col(c).alias(f"{t.name}.{c}") for c in data] + key).rechunk()
            rows = rows.with_columns(pl.col(pl.Boolean).cast(pl.UInt8))
            code = tab["__code"].to_numpy()
            if t.valid:
                off = np.searchsorted(code, np.arange(len(dom) + 1)).astype(np.int64)
                lo_days = window.arr(tab[lo].fill_null(dt.date(1, 1, 1)).cast(pl.Int32))
                hi_days = window.arr(tab[hi].cast(pl.Int32).fill_null(np.iinfo(np.int32).max))
                self._lookups[t.name] = (rows, off, lo_days, hi_days)
            else:
                row_of = np.full(len(dom) + 1, -1, np.int64)  # the last slot answers code -1
                row_of[code] = np.arange(code.shape[0])
                self._lookups[t.name] = (rows, row_of)
        return self._lookups[t.name]

    def _encode_ahead(self, b: Batch) -> None:
        """Encode the columns the stages will ask for, two at a time (hashing and the compiled passes release
        the GIL), before the stages run one after the other."""
        if b.frame.height < PARALLEL_ROWS:
            return
        cols = set()
        if self.aggregates or self.pairs or any(c.startswith("claim.") for c in self.reads):
            cols.add("claim_id")
        for agg in self.aggregates:
            cols.update(PSEUDO_KEYS.get(k, k) for k in agg.per)
        if any(self.rs.table(name).pair_within != "claim" for name in self.pairs):
            cols.update(("member_id", "provider_id"))
        codes = {t.key[0][1] for t in self.rs.tables if self._coded(t)} | ({"service_code"} if self.pairs else set())
        have = set(b.frame.columns)
        jobs = [partial(b.ids, (c,)) for c in sorted(cols & have)] + [partial(b.codes, c) for c in sorted(codes & have)]
        if len(jobs) > 1:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda job: job(), jobs))

    # -- preparation: the columns every expression may read -------------------------------------------------------
    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Join tables, add the claim.* fields the ruleset reads, member.age and the benefit year."""
        return self._prepare(Batch(frame, self))

    def _prepare(self, b: Batch) -> pl.DataFrame:
        f = b.frame
        if "member.birth_date" in f.columns and "member.age" not in f.columns:
            if f.schema["member.birth_date"] == pl.Date and f.schema["service_date"] == pl.Date:
                f = f.with_columns(age_series(f["member.birth_date"], f["service_date"]).alias("member.age"))
            else:
                f = f.with_columns(polars_age(pl.col("member.birth_date"), pl.col("service_date")).alias("member.age"))
        adds = {}
        if "claim.line_count" in self.reads:
            ids, n = b.ids(("claim_id",))
            adds["claim.line_count"] = pl.Series(np.bincount(ids, minlength=n)[ids], dtype=pl.Int64)
        over = [c for c in ("claim.total_billed", "claim.codes", "claim.length_of_stay") if c in self.reads]
        claim = pl.col("__claim")
        if over:
            f = f.with_columns(pl.Series("__claim", b.ids(("claim_id",))[0]))
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
        if over:
            f = f.drop("__claim")
        keyed = [t for t in self.rs.tables if not t.pair]
        gathered = [t for t in keyed if self._coded(t) and not any(c.startswith(t.name + ".") for c in f.columns)]
        if len(gathered) > 1 and f.height >= PARALLEL_ROWS:  # the gathers of two tables side by side
            with ThreadPoolExecutor(2) as pool:
                got = dict(zip([t.name for t in gathered], pool.map(lambda t: self._gather(t, b), gathered)))
        else:
            got = {t.name: self._gather(t, b) for t in gathered}
        for t in keyed:
            f = f.hstack(got[t.name]) if t.name in got else self._join_table(f, t, b)
        b.frame = f
        return f

    def _gather(self, t: ir.Table, b: Batch) -> list[pl.Series]:
        """A table's columns for the frame's lines: its rows gathered by the row each line's code (and date)
        picks."""
        (_, col), = t.key
        if t.valid:
            rows_df, off, lo, hi = self._lookup(t)
            rows = encode.versioned_rows(b.codes(col), b.days(), off, lo, hi)
        else:
            rows_df, row_of = self._lookup(t)
            rows = row_of[b.codes(col)]
        found = pl.select(pl.when(pl.lit(pl.Series(rows >= 0))).then(True)).to_series()  # True or null
        if not rows_df.width:  # no column of it is read (a frame without columns has no rows to gather)
            return [found.alias(f"{t.name}.{FOUND}")]
        got = rows_df[encode.row_series(rows)]
        back = [c for c in got.columns if self.tables[t.name].schema[c[len(t.name) + 1:]] == pl.Boolean]
        return [found.alias(f"{t.name}.{FOUND}")] + got.with_columns(pl.col(back).cast(pl.Boolean)).get_columns()

    def _join_table(self, f: pl.DataFrame, t: ir.Table, b: Batch) -> pl.DataFrame:
        """A table's columns by a polars join (a table not looked up through code ids)."""
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
    def universe_columns(self, u: pl.DataFrame, b: Batch) -> pl.DataFrame:
        """Add ``__agg{i}`` and ``__pair.{T}`` columns; ``__counts`` marks the lines aggregates may see."""
        if "__counts" not in u.columns:
            u = u.with_columns(pl.lit(True).alias("__counts"))
        if not (self.aggregates or self.pairs):
            return u
        b.frame = u
        jobs = [(f"__agg{agg.index}", partial(self._aggregate, b, agg)) for agg in self.aggregates]
        jobs += [(f"__pair.{name}", partial(self._pair, b, name)) for name in self.pairs]
        if len(jobs) > 1 and u.height >= PARALLEL_ROWS:
            self._share(b)  # the encodings they share first, then the compiled passes side by side
            with ThreadPoolExecutor(2) as pool:
                out = list(pool.map(lambda job: job[1](), jobs))
        else:
            out = [job() for _, job in jobs]
        return u.hstack([pl.Series(name, values) for (name, _), values in zip(jobs, out)])

    def _share(self, b: Batch) -> None:
        """The sweep orders and pair groups the aggregates and pairs share, of the key columns the frame has now
        (a key may be a table column or the benefit year, added by ``prepare``)."""
        have = set(b.frame.columns)
        for agg in self.aggregates:
            keys = tuple(PSEUDO_KEYS.get(k, k) for k in agg.per)
            if set(keys) <= have:
                b.sweep(keys)
        for name in self.pairs:
            if self.rs.table(name).pair_within != "claim":  # (a claim's groups are one counting sort, not kept)
                self._pair_groups(b, name)
            b.codes("service_code")

    def _aggregate(self, b: Batch, agg: ir.Aggregate) -> np.ndarray:
        """``prior_count`` / ``prior_sum`` of every line of the frame, in row order."""
        u = b.frame
        keys = tuple(PSEUDO_KEYS.get(k, k) for k in agg.per)
        within = parse_duration(agg.within) if agg.within else None
        flag = pl.col("__counts") & (condition(agg.where) if agg.where is not None else pl.lit(True))
        exprs = [flag.fill_null(False).alias("flag"),
                 pl.any_horizontal([pl.col(k).is_null() for k in keys]).alias("nk")]
        if agg.value is not None:
            exprs.append(translate(agg.value).fill_null(0).alias("value"))
        cols = u.select(exprs)
        so = b.sweep(keys)
        if agg.value is not None:
            values = cols["value"]
            values = so.gather(window.arr(values.cast(pl.Float64 if values.dtype.is_float() else pl.Int64)))
        else:  # (a count: the sum runs over zeros)
            values = np.zeros(u.height, np.int64)
        count, total = window.prior_sweep(so.bounds, so.days, window.window_starts(so, u["service_date"], within),
                                          so.gather(window.arr(cols["flag"])), values)
        out = so.scatter(count if agg.kind == "prior_count" else total)
        # a line whose key is null has no group: no earlier line shares a null key
        nk = cols["nk"]
        return np.where(nk.to_numpy(), 0, out) if nk.any() else out

    def _pairs_of(self, name: str) -> PairIndex:
        """The pair table over the service_code domain's ids (rows with modifier_ok = 9 left out)."""
        if name not in self._pair_index:
            t = self.rs.table(name)
            c1, c2 = t.pair
            dom = self.domain("service_code")
            tab = self.tables[name].filter(pl.col("modifier_ok").fill_null(0) != 9)
            tab = tab.filter(pl.col(c1).is_not_null() & pl.col(c2).is_not_null())
            enc = pl.DataFrame({"c1": dom.ids_of(tab[c1]), "c2": dom.ids_of(tab[c2]),
                                "mok": tab["modifier_ok"].fill_null(0).cast(pl.Int64)})
            # a pair listed twice keeps its strictest row (one that never bypasses wins)
            enc = enc.group_by("c1", "c2").agg(pl.col("mok").min())
            self._pair_index[name] = PairIndex(enc["c1"].to_numpy(), enc["c2"].to_numpy(), enc["mok"].to_numpy(),
                                               len(dom))
        return self._pair_index[name]

    def _pair_groups(self, b: Batch, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """How ``pair_sweep`` finds the groups of ``name``: (order, bounds, days, sub)."""
        if self.rs.table(name).pair_within == "claim":
            gid, n = b.ids(("claim_id",))
            order, bounds = encode.bucket(gid, n)
            days = sub = np.zeros(b.frame.height, np.int64)
            return order, bounds, days, sub
        # (member, provider, day) groups lie inside the (member, day) runs of an aggregate's sweep: reuse it
        people = ("member_id", "provider_id")
        keys = next((k for k in (tuple(PSEUDO_KEYS.get(c, c) for c in a.per) for a in self.aggregates)
                     if set(k) <= set(people)), ("member_id",))
        so = b.sweep(keys)
        rest = tuple(c for c in people if c not in keys)
        sub = b.ids(rest)[0] if rest else np.zeros(b.frame.height, np.int64)
        return so.order, so.bounds, so.days, sub

    def _pair(self, b: Batch, name: str) -> np.ndarray:
        """Whether ``pair(name)`` holds, for every line of the frame in row order."""
        idx = self._pairs_of(name)
        bypass = [str(m) for m in self.rs.bypass_modifiers]
        flags = b.frame.select(pl.col("__counts").fill_null(False),
                               pl.col("modifier").is_in(bypass).fill_null(False))
        order, bounds, days, sub = self._pair_groups(b, name)
        return pair_sweep(order, bounds, days, sub, b.codes("service_code"), window.arr(flags["__counts"]),
                          window.arr(flags["modifier"]), idx.n_codes, idx.matrix, idx.keys, idx.state)

    # -- rules ---------------------------------------------------------------------------------------------------
    def _cut_runs(self) -> list[list[int]]:
        """The rules cut into runs: a rule that reads a field an earlier rule of the run writes starts a new one
        (``apply_rules`` computes a run's conditions and values side by side, before any of its rules applies)."""
        runs, run, written = [], [], set()
        for i, r in enumerate(self.rs.rules):
            reads = semantics.columns(r.when, r.value, *(v for _, v in r.sets))
            if reads & written:
                runs.append(run)
                run, written = [], set()
            run.append(i)
            written |= WRITES.get(r.action, set()) | {fld for fld, _ in r.sets}
        return runs + [run] if run else runs

    def apply_rules(self, f: pl.DataFrame) -> tuple[pl.DataFrame, tuple]:
        """The rules in order: (the frame with the state columns and set fields, the hits). Per run of rules one
        ``select`` of their conditions and limit/cap values, then one compiled pass over the lines
        (``fired.apply_run``); set fields are written by polars. The hits are the reported rules that fired, in
        line then rule order: (line, rule number in ``reported``, amount effect, amount not null, severity, each
        line's fired set as mask words)."""
        n = f.height
        aq_s, aa_s = f["quantity"].cast(pl.Int64), f["billed_amount"].cast(pl.Int64)
        aq, aq_ok = window.arr(aq_s.fill_null(0)), window.arr(aq_s.is_not_null())
        aa, aa_ok = window.arr(aa_s.fill_null(0)), window.arr(aa_s.is_not_null())
        denied, pended, adjusted = (np.zeros(n, np.bool_) for _ in range(3))
        red, red_ok = np.zeros(n, np.int64), np.ones(n, np.bool_)
        f = f.with_columns(aq_s.alias("allowed_quantity"), aa_s.alias("allowed_amount"),
                           *[pl.lit(None).alias(s) for s in self.set_fields])
        number = {i: k for k, (i, _) in enumerate(self.reported)}
        meta_sev = self.meta()["__sev0"].to_numpy() if self.reported else np.zeros(0, np.int64)
        # lines are independent: the compiled passes go over quarter-million-line chunks (each chunk's arrays stay
        # in cache), on two threads for a large frame (they release the GIL)
        threads = 2 if n >= PARALLEL_ROWS else 1
        spans = list(chunks.chunks(n))
        parts: list[list[tuple]] = [[] for _ in spans]
        for run in self.runs:
            rep = [i for i in run if i in number]
            if rep:
                args = self._run_args(f, rep, number, meta_sev) + (
                    aq, aq_ok, aa, aa_ok, denied, pended, adjusted, red, red_ok)
                done = chunks.each_chunk(n, partial(_apply_chunk, args), threads=threads)
                for part, got in zip(parts, done):
                    part.append(got)
            sets = [self.rs.rules[i] for i in run if i not in number]
            for r in sets:  # they read no field written earlier in the run: the frame still holds what they read
                cond = condition(r.when)
                f = f.with_columns([pl.when(cond).then(translate(e)).otherwise(pl.col(fld)).alias(fld)
                                    for fld, e in r.sets])
            if rep:
                f = f.with_columns(_series("allowed_quantity", aq, aq_ok), _series("allowed_amount", aa, aa_ok))
        f = f.with_columns(pl.Series("__denied", denied), pl.Series("__pended", pended),
                           pl.Series("__adjusted", adjusted), _series("__member_red", red, red_ok))
        n_rules = len(self.reported)
        # (each_chunk cuts the same chunks as spans above: chunk lo // CHUNK)
        by_chunk = chunks.each_chunk(n, lambda lo, k: _by_line(parts[lo // chunks.CHUNK], lo, lo + k, n_rules),
                                     threads=threads)
        if not by_chunk:
            return f, fired.by_line(*(np.zeros(0, t) for t in HIT_TYPES), 0, 0, n_rules)
        return f, tuple(np.concatenate([h[c] for h in by_chunk]) for c in range(6))

    def _run_args(self, f: pl.DataFrame, rep: list[int], number: dict[int, int], meta_sev: np.ndarray) -> tuple:
        """``fired.apply_run``'s description of a run of reported rules: one ``select`` of the lines where each
        condition holds and, for a limit or cap, the values there."""
        n = f.height
        valued = [i for i in rep if self.rs.rules[i].action in ("limit_quantity", "cap_amount")]
        exprs, pos = [], {}
        for i in rep:
            when = self.rs.rules[i].when
            cond = pl.lit(True) if when is None else translate(when)  # (arg_true passes over a null: no fire)
            if cond.meta.root_names():
                exprs.append(cond.arg_true().implode().alias(f"c{i}"))
            else:  # on constants alone: every line or none
                pos[i] = np.arange(n if pl.select(cond.fill_null(False)).item() else 0, dtype=IDX)
            if i in valued:  # every line's value (one if constant), taken where the condition holds below
                v = amount(self.rs.rules[i].value).clip(lower_bound=0).fill_null(-1)
                exprs.append(v.implode().alias(f"v{i}"))
        sel = f.select(exprs)
        pos = [pos[i] if i in pos else sel[f"c{i}"][0].to_numpy() for i in rep]
        start = np.zeros(len(rep) + 1, np.int64)
        start[1:] = np.cumsum([p.shape[0] for p in pos])
        val = np.zeros(start[-1], np.int64)
        for j, i in enumerate(rep):
            if i in valued:
                every = sel[f"v{i}"][0].to_numpy()
                val[start[j]:start[j + 1]] = every[pos[j]] if every.shape[0] == n else every[0]
        rules = [self.rs.rules[i] for i in rep]
        return (np.array([ACTION[r.action] for r in rules], np.int64),
                np.array([r.liability == "member" for r in rules], np.bool_),
                np.array([number[i] for i in rep], np.int64), meta_sev[[number[i] for i in rep]],
                semantics.DENY_SEVERITY, start, np.concatenate(pos).astype(IDX, copy=False), val)

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

    def findings(self, f: pl.DataFrame, hits: tuple) -> pl.DataFrame:
        """One row per fired rule (not `set`), in line then rule order (``hits`` from ``apply_rules``)."""
        if not self.reported:
            return pl.DataFrame(schema=FINDING_SCHEMA)
        rows, rule, amt, amt_ok, sev, _ = hits
        amount_s = _series("amount_effect", amt, amt_ok)
        # frames gathered by an index of polars' own type (an Int64 index is cast once per column)
        consts = self.meta().select(pl.exclude("__i", "__sev0"))[encode.row_series(rule)]
        out = f.select("claim_id", "line_no")[encode.row_series(rows)].hstack(consts.get_columns())
        out = out.with_columns(amount_s, pl.Series("__sev", sev))
        return out.select(list(FINDING_SCHEMA))

    def rules_list(self, f: pl.DataFrame, hits: tuple) -> pl.Series:
        """The fired rules of each line, qualified: built once per distinct set of fired rules and gathered."""
        if not self.reported or not f.height:
            return pl.Series("rules", [[]] * f.height, pl.List(pl.String))
        masks = hits[-1]
        ids, first = encode.dense_rows(masks)
        k = np.arange(len(self.reported))
        held = (masks[first][:, k // fired.WORD] >> (k % fired.WORD)) & 1 == 1  # (set, rule)
        _, rule = np.nonzero(held)  # set then rule order
        names = pl.Series("rules", [f"{self.rs.id}:{r.id}" for _, r in self.reported], pl.String)
        length = held.sum(axis=1)
        # each set's list a slice of the sets' names laid end to end (no Python list per set)
        sets = pl.DataFrame({"o": np.cumsum(length) - length, "n": length}).select(
            pl.lit(names.gather(rule)).implode().list.slice(pl.col("o"), pl.col("n")).alias("rules")).to_series()
        return sets.gather(encode.row_series(ids))

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
        b = Batch(universe, self)
        self._encode_ahead(b)
        if (self.aggregates or self.pairs) and universe.height >= PARALLEL_ROWS:
            # the sweep orders (compiled passes on the ids) while prepare gathers the tables
            with ThreadPoolExecutor(1) as pool:
                shared = pool.submit(self._share, b)
                universe = self._prepare(b)
                shared.result()
        else:
            universe = self._prepare(b)
        universe = self.universe_columns(universe, b)
        f = universe.filter(~pl.col("__hist")) if universe.height != lines.height else universe
        f, hits = self.apply_rules(f)
        if f.height >= PARALLEL_ROWS:  # the two outputs side by side (gathers and hashing release the GIL)
            with ThreadPoolExecutor(2) as pool:
                rules = pool.submit(self.rules_list, f, hits)
                findings = self.findings(f, hits)
                rules = rules.result()
        else:
            findings, rules = self.findings(f, hits), self.rules_list(f, hits)
        return f.with_columns(rules), findings


ACTION = {"deny": fired.DENY, "pend": fired.PEND, "flag": fired.FLAG, "limit_quantity": fired.LIMIT,
          "cap_amount": fired.CAP}
WRITES = {"deny": {"allowed_quantity", "allowed_amount"}, "limit_quantity": {"allowed_quantity", "allowed_amount"},
          "cap_amount": {"allowed_amount"}}


def _apply_chunk(args: tuple, lo: int, k: int) -> tuple:
    """``fired.apply_run`` on the lines ``lo:lo+k``."""
    return fired.apply_run(lo, lo + k, *args)


HIT_TYPES = (np.int64, np.int64, np.int64, np.bool_, np.int64)  # (line, rule, amount, amount not null, severity)


def _by_line(runs: list[tuple], lo: int, hi: int, n_rules: int) -> tuple:
    """The hits of the lines ``lo:hi`` (one tuple of ``fired.apply_run`` per run) in line then rule order, and
    the lines' mask words (``fired.by_line``)."""
    cols = [np.concatenate([r[c] for r in runs]) if runs else np.zeros(0, t) for c, t in enumerate(HIT_TYPES)]
    return fired.by_line(*cols, lo, hi - lo, n_rules)


def _series(name: str, values: np.ndarray, ok: np.ndarray) -> pl.Series:
    """``values`` as an Int64 series, null where not ``ok``."""
    s = pl.Series(name, values)
    return s if ok.all() else pl.select(pl.when(pl.lit(pl.Series(ok))).then(s)).to_series().alias(name)


FINDING_SCHEMA = {
    "claim_id": pl.String, "line_no": pl.Int64, "ruleset": pl.String, "rule_id": pl.String,
    "reason_code": pl.String, "action": pl.String, "amount_effect": pl.Int64, "liability": pl.String,
    "message": pl.String, "message_fa": pl.String, "__seq": pl.Int64, "__sev": pl.Int64,
}
