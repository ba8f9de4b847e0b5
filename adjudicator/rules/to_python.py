"""The point-of-service backend: a ruleset's IR turned into Python source, ``compile()``d once, run on one line.

The generated function reads a flat dict (the same names as the polars frame columns) and follows the same null
rules as polars: a comparison or arithmetic with null is null, ``and``/``or`` are Kleene, a null condition does not
fire. Aggregates and pairs come from a ``RuleIndex`` (the member's earlier lines) that answers in O(log n).
Nothing the author wrote reaches ``eval``: only source generated from checked IR nodes is compiled.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
from dataclasses import dataclass, field

from adjudicator import codes as catalogue
from adjudicator import dates, schema
from adjudicator.benefits.money import scale
from adjudicator.rules import ir, semantics, window
from adjudicator.rules.check import PSEUDO_KEYS, parse_duration
from adjudicator.rules.functions import CATALOGUE, _py_age_at
from adjudicator.rules.parse import Loaded
from adjudicator.rules.tables import FOUND, Lookup, PairLookup

LINE_PART_ENTRIES = 8192  # per ruleset: the point path's merged table fields per (date, key values), oldest out
NON_NULL = set(schema.CLAIM_LINES_REQUIRED) | {"claim.line_count", "claim.total_billed", "claim.codes", "submission"}


# --- null-aware helpers the generated code calls -----------------------------------------------------------------

def _not(x):
    return None if x is None else not x


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _fdiv(a, b):
    return None if a is None or b is None or b == 0 else a // b


def _floor(v):
    return None if v is None else math.floor(v)


HELPERS = {"_scale": scale.py_func, "_not": _not, "_div": _div, "_fdiv": _fdiv, "_floor": _floor, "math": math}


class Gen:
    """Generates Python source for IR expressions; constants go into ``self.consts``."""

    def __init__(self, running: bool = True):
        self.consts: dict[str, object] = {}
        self.n = 0
        # inside the rules, line.allowed_* are the running locals; elsewhere (benefits) the final values in L
        self.running = running
        # while compiling the rules function: column → the local its value is read into once, at the top (None:
        # read from L where used)
        self.hoisted: dict[str, str] | None = None
        self.live: frozenset = frozenset()  # columns a rule may set: always read from L

    def read(self, col: str, nullable: bool) -> str:
        """Source that reads column ``col`` of the line."""
        if self.hoisted is not None and col not in self.live:
            name = self.hoisted.get(col)
            if name is None:
                name = self.hoisted[col] = f"_v{len(self.hoisted)}"
            return name
        return f"L.get({col!r})" if nullable else f"L[{col!r}]"

    def tmp(self) -> str:
        self.n += 1
        return f"_t{self.n}"

    def const(self, value) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def expr(self, e) -> tuple[str, bool]:  # noqa: C901 - one dispatch on node kinds
        """(source, may be null)."""
        if isinstance(e, ir.Lit):
            if isinstance(e.value, dt.date):
                return self.const(e.value), False
            return repr(e.value), e.value is None
        if isinstance(e, ir.Rate):
            return str(e.bp), False
        if isinstance(e, ir.ListLit):
            return self.const(tuple(i.value for i in e.items)), False
        if isinstance(e, ir.Name):
            col = e.column
            if col in ("allowed_amount", "allowed_quantity") and self.running:
                return ("aa" if col == "allowed_amount" else "aq"), False
            return self.read(col, col not in NON_NULL), col not in NON_NULL
        if isinstance(e, ir.Missing):
            op = "is not" if e.negate else "is"
            return f"({self.read(e.table + '.' + FOUND, True)} {op} None)", False
        if isinstance(e, ir.Not):
            a, na = self.expr(e.arg)
            return (f"_not({a})", True) if na else (f"(not {a})", False)
        if isinstance(e, ir.Neg):
            a, na = self.expr(e.arg)
            return self.guard([(a, na)], lambda x: f"(-{x[0]})")
        if isinstance(e, ir.BoolOp):
            parts = [self.expr(a) for a in e.args]
            if any(n for _, n in parts):
                # Kleene logic inline: the deciding value (False for and, True for or) wins, else null if any is
                decide, other = ("False", "True") if e.op == "and" else ("True", "False")
                names = [self.tmp() for _ in parts]
                first = " or ".join(f"({t} := {p}) is {decide}" for t, (p, _) in zip(names, parts))
                nulls = " or ".join(f"{t} is None" for t in names)
                return f"({decide} if {first} else (None if {nulls} else {other}))", True
            return "(" + f" {e.op} ".join(p for p, _ in parts) + ")", False
        if isinstance(e, ir.BinOp):
            a, b = self.expr(e.left), self.expr(e.right)
            if e.op == "/":
                return f"_div({a[0]}, {b[0]})", True
            if e.op == "//":
                return f"_fdiv({a[0]}, {b[0]})", True
            if e.op == "*%":
                return self.guard([a, b], lambda x: f"(({x[0]} * {x[1]} + 5000) // 10000)")
            return self.guard([a, b], lambda x: f"({x[0]} {e.op} {x[1]})")
        if isinstance(e, ir.Compare):
            a, b = self.expr(e.left), self.expr(e.right)
            return self.guard([a, b], lambda x: f"({x[0]} {e.op} {x[1]})")
        if isinstance(e, ir.IsNull):
            a, _ = self.expr(e.arg)
            return f"({a} {'is not' if e.negate else 'is'} None)", False
        if isinstance(e, ir.In):
            item = self.expr(e.item)
            if isinstance(e.container, ir.ListLit):
                c = self.const(frozenset(i.value for i in e.container.items))
                src, null = self.guard([item], lambda x: f"({x[0]} {'not in' if e.negate else 'in'} {c})")
                return src, null
            lst = self.expr(e.container)
            return self.guard([item, lst], lambda x: f"({x[0]} {'not in' if e.negate else 'in'} {x[1]})")
        if isinstance(e, ir.IfElse):
            c, _ = self.expr(e.cond)
            a, na = self.expr(e.then)
            b, nb = self.expr(e.orelse)
            return f"({a} if {c} is True else {b})", na or nb
        if isinstance(e, ir.Call):
            fn = CATALOGUE[e.fn]
            args = [self.expr(a) for a in e.args]
            extra = [(self.read(c, True), True) for c in fn.reads]
            f = self.const(fn.python)
            if e.fn == "any_startswith":
                pref = self.const(tuple(str(i.value) for i in e.args[1].items))
                return self.guard([args[0]], lambda x: f"{f}({x[0]}, {pref})")
            return self.guard(args + extra, lambda x: f"{f}({', '.join(x)})")
        if isinstance(e, ir.Aggregate):
            return self.read(f"__agg{e.index}", False), False
        if isinstance(e, ir.PairRef):
            return self.read(f"__pair.{e.table}", False), False
        raise TypeError(f"no Python translation for {type(e).__name__}")

    def bind(self, parts: list[tuple[str, bool]], test: str) -> tuple[list[str], list[str]]:
        """(names, tests): each nullable operand bound once (a temporary, unless it is already a local) and tested
        with ``test`` (``is None`` / ``is not None``); non-null operands are used as they are."""
        names, tests = [], []
        for src, null in parts:
            if null and not src.isidentifier():
                t = self.tmp()
                tests.append(f"({t} := {src}) {test}")
                src = t
            elif null:
                tests.append(f"{src} {test}")
            names.append(src)
        return names, tests

    def guard(self, parts: list[tuple[str, bool]], body) -> tuple[str, bool]:
        """Null in, null out: bind nullable operands to temporaries and test them once."""
        if not any(n for _, n in parts):
            return body([p for p, _ in parts]), False
        names, tests = self.bind(parts, "is None")
        return f"(None if {' or '.join(tests)} else {body(names)})", True

    def cond(self, e) -> str:
        """Source of a plain bool: whether ``e`` is True (null and False do not fire)."""
        return "True" if e is None else self.truth(e, True)

    def truth(self, e, want: bool) -> str:
        """Source of a plain bool: whether ``e`` evaluates to ``want`` — null is neither True nor False, so Kleene
        logic needs no three-valued temporaries here: ``a and b`` is True iff both are, False iff either is."""
        if isinstance(e, ir.BoolOp):
            joiner = " and " if (e.op == "and") == want else " or "
            return "(" + joiner.join(self.truth(a, want) for a in e.args) + ")"
        if isinstance(e, ir.Not):
            return self.truth(e.arg, not want)
        if isinstance(e, ir.Compare):
            names, tests = self.bind([self.expr(e.left), self.expr(e.right)], "is not None")
            cmp = f"({names[0]} {e.op} {names[1]})"
            return "(" + " and ".join([*tests, cmp if want else f"not {cmp}"]) + ")"
        src, null = self.expr(e)
        if null:
            return f"({src} is {want})"
        return f"({src})" if want else f"(not {src})"

    def amount(self, e) -> str:
        src, _ = self.expr(e)
        return f"_floor({src})" if semantics.may_be_float(e) else src


def compile_function(name: str, body: list[str], gen: Gen, args: str = "L"):
    src = f"def {name}({args}):\n" + "\n".join("    " + line for line in body) + "\n"
    ns = dict(HELPERS) | gen.consts
    exec(compile(src, f"<ruleset:{name}>", "exec"), ns)  # noqa: S102 - source generated from checked IR only
    return ns[name], src


@functools.lru_cache(maxsize=4096)
def _jalali_year(day: dt.date) -> int:
    return dates.jalali_year(day)


@functools.lru_cache(maxsize=16384)
def _window_start(day: dt.date, within: tuple[int, str] | None) -> dt.date | None:
    return window.window_start(day, within)


# --- claim facts and the history index ----------------------------------------------------------------------------

CLAIM_FACTS = ("claim.line_count", "claim.total_billed", "claim.codes", "claim.length_of_stay")


def claim_facts(lines: list[dict]) -> dict:
    """claim.* for one claim's lines (the same definitions as the polars backend), in one pass over the lines."""
    first = last = None  # the earliest admission, the latest discharge
    codes = set()
    for x in lines:
        codes.add(x["service_code"])
        a, d = x.get("admission_date"), x.get("discharge_date")
        if a is not None and (first is None or a < first):
            first = a
        if d is not None and (last is None or d > last):
            last = d
    return {
        "claim.line_count": len(lines),
        "claim.total_billed": sum([x["billed_amount"] for x in lines]),
        "claim.codes": sorted(codes),
        "claim.length_of_stay": None if first is None or last is None else max(1, (last - first).days),
    }


@dataclass
class _Series:
    """One aggregate key's earlier lines, kept in total order with prefix sums."""

    orders: list = field(default_factory=list)
    days: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    values: list = field(default_factory=list)
    cum_c: list = field(default_factory=lambda: [0])
    cum_v: list = field(default_factory=lambda: [0])

    def add(self, order, day, flag, value) -> None:
        i = bisect.bisect_right(self.orders, order)
        for lst, v in ((self.orders, order), (self.days, day), (self.flags, flag), (self.values, value)):
            lst.insert(i, v)
        del self.cum_c[i + 1:], self.cum_v[i + 1:]
        for j in range(i, len(self.orders)):
            f = self.flags[j]
            self.cum_c.append(self.cum_c[j] + (1 if f else 0))
            self.cum_v.append(self.cum_v[j] + (self.values[j] if f else 0))

    def remove(self, order) -> None:
        i = bisect.bisect_left(self.orders, order)
        if i == len(self.orders) or self.orders[i] != order:
            return
        for lst in (self.orders, self.days, self.flags, self.values):
            del lst[i]
        del self.cum_c[i + 1:], self.cum_v[i + 1:]
        for j in range(i, len(self.orders)):
            f = self.flags[j]
            self.cum_c.append(self.cum_c[j] + (1 if f else 0))
            self.cum_v.append(self.cum_v[j] + (self.values[j] if f else 0))

    def query(self, order, start_day) -> tuple[int, object]:
        hi = bisect.bisect_left(self.orders, order)
        lo = 0 if start_day is None else bisect.bisect_left(self.days, start_day, 0, hi)
        return self.cum_c[hi] - self.cum_c[lo], self.cum_v[hi] - self.cum_v[lo]


class RuleIndex:
    """The earlier lines a ruleset's aggregates and pairs see (history + lines added so far)."""

    def __init__(self, prs: "PythonRuleset"):
        self.prs = prs
        self.series: list[dict[tuple, _Series]] = [dict() for _ in prs.aggregates]
        self.groups: dict[str, dict[tuple, list]] = {t: {} for t in prs.pairs}
        self.seen: dict[tuple, list] = {}  # (claim_id, line_no) → where it was filed, for remove()

    def add(self, L: dict, counts: bool = True) -> None:
        """Record a prepared line (idempotent on (claim_id, line_no)); only what can change a count is kept."""
        ident = (L["claim_id"], L["line_no"])
        if ident in self.seen or not counts:
            return
        _, aggs, groups, code = self.prs.entries(L)
        filed = self.seen[ident] = []
        for i, e in enumerate(aggs):
            if e is None or not e[3]:  # an entry whose `where` does not hold never changes a count
                continue
            key, order, day, flag, value = e
            self.series[i].setdefault(key, _Series()).add(order, day, flag, value)
            filed.append(("agg", i, key, order))
        for t, group in zip(self.prs.pairs, groups):
            self.groups[t].setdefault(group, []).append((ident, code))
            filed.append(("pair", t, group, None))

    def remove(self, ident: tuple) -> None:
        """Take a line out of every count (a superseded line)."""
        for kind, i, key, order in self.seen.pop(ident, ()):
            if kind == "agg":
                self.series[i][key].remove(order)
            else:
                self.groups[i][key] = [x for x in self.groups[i][key] if x[0] != ident]

    def own_view(self, own: tuple) -> tuple[list, list]:
        """``entries()`` of the counted lines of the claim being checked, regrouped for ``fill``: per aggregate the
        entries whose ``where`` holds as (ident, key, order, day, value); per pair table (ident, group, code)."""
        aggs = [[] for _ in self.prs.agg_outputs]
        pairs = [[] for _ in self.prs.pairs]
        for ident, a, g, code in own:
            for i, e in enumerate(a):
                if e is not None and e[3]:
                    aggs[i].append((ident, e[0], e[1], e[2], e[4]))
            for k, group in enumerate(g):
                pairs[k].append((ident, group, code))
        return aggs, pairs

    def fill(self, L: dict, mine: tuple | None = None, view: tuple | None = None) -> None:
        """Write ``__agg{i}`` and ``__pair.T`` into a prepared line. ``view``: ``own_view`` of the counted lines of
        the claim being checked (they are not in the index: a check changes nothing); ``mine``: this line's
        ``PythonRuleset.entries()`` when already computed (its ident, and each aggregate entry's key, order and day,
        are the line's own)."""
        prs = self.prs
        if mine is None:
            mine = prs.entries(L)
        me, aggs, groups, code = mine
        for i, e in enumerate(aggs):
            name, is_count, within = prs.agg_outputs[i]
            if e is None or None in e[0]:
                L[name] = 0
                continue
            key, order, day = e[0], e[1], e[2]
            start = None if within is None else _window_start(day, within)
            s = self.series[i].get(key)
            c, v = s.query(order, start) if s is not None else (0, 0)
            if view is not None:
                for ident, k2, o, d, x in view[0][i]:
                    if ident != me and k2 == key and o < order and (start is None or d >= start):
                        c += 1
                        v += x
            L[name] = c if is_count else v
        for k, (t, name) in enumerate(prs.pair_outputs):
            rows = prs.pair_lookups[t].by_code2.get(code)
            if not rows:  # the code bundles into nothing: no need to know the line's group
                L[name] = False
                continue
            group = groups[k]
            members = self.groups[t].get(group, ())
            if view is not None:
                mine_ = [(ident, c) for ident, g, c in view[1][k] if g == group]
                if mine_:
                    members = [*members, *mine_]
            L[name] = prs.pair_hit(t, L, members, rows)


# --- the compiled ruleset -----------------------------------------------------------------------------------------

class PythonRuleset:
    """A ruleset compiled to Python functions over one line."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.rs = rs = loaded.ruleset
        self.codes = {c.code: c for c in rs.codes}
        self.keyed = [t for t in rs.tables if not t.pair]  # keyed (not pair) tables
        # the table columns some expression reads (with their prefixed names): only those are copied into a line
        reads = semantics.columns(*(e for _, e in semantics.rule_exprs(rs)))
        reads |= {k for a in semantics.aggregates(rs) for k in a.per}  # table columns may key an aggregate
        self.read_cols = [[(c, f"{t.name}.{c}") for c, _ in t.columns if f"{t.name}.{c}" in reads]
                          for t in self.keyed]
        self.key_cols = [tuple(col for _, col in t.key) for t in self.keyed]
        self.needs_age = "member.age" in reads or any(
            isinstance(n, ir.Call) and n.fn == "age_at" for _, e in semantics.rule_exprs(rs) for n in semantics.walk(e))
        self.pair_lookups = {t.name: PairLookup(t, loaded.tables[t.name]) for t in rs.tables if t.pair}
        self.pairs = semantics.pair_tables(rs)
        self.pair_outputs = [(t, f"__pair.{t}") for t in self.pairs]  # what fill() writes per pair table
        self.set_fields = semantics.set_fields(rs)
        self.bypass = frozenset(str(m) for m in rs.bypass_modifiers)
        self.aggregates = semantics.aggregates(rs)  # (their keys, `where` and values: the generated entries())
        # what fill() needs per aggregate: the output name, count or sum, and the window
        self.agg_outputs = [(f"__agg{agg.index}", agg.kind == "prior_count",
                             parse_duration(agg.within) if agg.within else None) for agg in self.aggregates]
        # entries(L) → what a prepared line contributes: ((claim_id, line_no), per aggregate (key, order, day,
        # flagged, value) or None, per pair table its group, service_code) — computed once per line, used to file
        # the line in a RuleIndex, to count it as one of the claim's own, or to look its counts up
        self.entries = self._compile_entries(Gen())
        self.evaluate_line, self.source = self._compile_rules(Gen())
        # prepare(row, facts) -> the flat dict the generated code reads: the row, claim.*, member.age, the benefit
        # year and the table fields the rules read
        self._views: dict[str, Lookup] = {}
        self.prepare = self._compile_prepare(Gen())
        # the point path's prepare: the same dict, from parts kept per line context and per table key
        self.context_part, self.point_prepare = self._compile_point_prepare(Gen())

    def _compile_entries(self, gen: Gen):
        """``entries(L)`` as one generated function: per aggregate its key, the line's order and day, whether
        ``where`` holds and the value it adds; per pair table the line's group."""
        body = ["day = L['service_date']", "cid = L['claim_id']", "no = L['line_no']", "order = (day, cid, no)"]
        for i, agg in enumerate(self.aggregates):
            keys = [PSEUDO_KEYS.get(k, k) for k in agg.per]
            flag = gen.cond(agg.where) if agg.where is not None else "True"
            value = f"(({gen.expr(agg.value)[0]}) or 0)" if agg.value is not None else "0"
            body += ["k = (" + "".join(f"L.get({k!r}), " for k in keys) + ")", "if None in k:", f"    a{i} = None",
                     "else:", f"    f = {flag}", f"    a{i} = (k, order, day, f, {value} if f else 0)"]
        groups = "".join("(cid,), " if self.rs.table(t).pair_within == "claim" else
                         "(L['member_id'], L['provider_id'], day), " for t in self.pairs)
        aggs = "".join(f"a{i}, " for i in range(len(self.aggregates)))
        body.append(f"return (cid, no), [{aggs}], ({groups}), L['service_code']")
        return compile_function("entries", body, gen)[0]

    def _compile_rules(self, gen: Gen):
        """One function over a prepared line: the rules in order on the running allowed quantity/amount; returns
        the outputs (a dict) and ``hits``, one (rule index, amount effect, limited to zero) per rule that fired."""
        body = ["aq = L['quantity']", "aa = L['billed_amount']", "denied = pended = adjusted = False",
                "mred = 0", "hits = []"]
        body += [f"L[{s!r}] = None" for s in self.set_fields]
        gen.hoisted, gen.live = {}, frozenset(self.set_fields)  # every other column is read once, up front
        for i, r in enumerate(self.rs.rules):
            body.append(f"# {r.id}")
            c = gen.cond(r.when)
            member = r.liability == "member"
            if r.action in ("deny", "pend", "flag"):
                body.append(f"if {c}:")
                if r.action == "deny":
                    body += [f"    hits.append(({i}, aa, False))", *(["    mred += aa"] if member else []),
                             "    aa = 0", "    aq = 0", "    denied = True"]
                else:
                    body.append(f"    hits.append(({i}, 0, False))")
                    if r.action == "pend":
                        body.append("    pended = True")
            elif r.action in ("limit_quantity", "cap_amount"):
                cur = "aq" if r.action == "limit_quantity" else "aa"
                body += [f"if {c}:", f"    v = {gen.amount(r.value)}", "    if v is not None:",
                         "        if v < 0: v = 0", f"        if v < {cur}:"]
                if r.action == "limit_quantity":
                    body += ["            new = _scale(aa, v, aq)", "            e = aa - new",
                             f"            hits.append(({i}, e, v == 0))",
                             "            aq = v", "            aa = new", "            adjusted = True",
                             "            if v == 0: denied = True"]
                else:
                    body += ["            e = aa - v", f"            hits.append(({i}, e, False))",
                             "            aa = v", "            adjusted = True"]
                if member:
                    body.append("            mred += e")
            else:
                body.append(f"if {c}:")
                for fld, e in r.sets:
                    body.append(f"    L[{fld!r}] = {gen.expr(e)[0]}")
        outs = "".join(f"{s!r}: L[{s!r}], " for s in self.set_fields)
        body.append("return {'allowed_quantity': aq, 'allowed_amount': aa, '__denied': denied, '__pended': pended, "
                    f"'__adjusted': adjusted, '__member_red': mred, {outs}}}, hits")
        reads = [f"{name} = L.get({col!r})" for col, name in gen.hoisted.items()]
        gen.hoisted = None
        return compile_function("evaluate_rules", reads + body, gen)

    def _compile_prepare(self, gen: Gen):
        """``prepare`` as one generated function: the row and claim facts copied, member.age, the benefit year, and
        per keyed table one ``dict.update`` with the prefixed fields some rule reads (a ready dict per table row,
        built here once; a shared all-null dict for a miss)."""
        body = ["L = dict(row)", "L.update(facts)", "day = L['service_date']", *self._dated_source(gen, "L")]
        for t, cols, key_cols in zip(self.keyed, self.read_cols, self.key_cols):
            body += self._table_update(gen, t, cols, key_cols, "L")
        body.append("return L")
        return compile_function("prepare", body, gen, args="row, facts")[0]

    def _dated_source(self, gen: Gen, target: str) -> list[str]:
        """Source that writes member.age (unless the line has it) and the benefit year of line L's ``day`` into
        ``target``."""
        body = []
        if self.needs_age:
            body += ["if 'member.age' not in L:",
                     f"    {target}['member.age'] = {gen.const(_py_age_at)}(L.get('member.birth_date'), day)"]
        return body + [f"{target}['__benefit_year'] = {gen.const(_jalali_year)}(day)"]

    def _table_update(self, gen: Gen, t, cols, key_cols, target: str, line: str = "L") -> list[str]:
        """Source that looks line ``line`` up in keyed table ``t`` and writes its fields into ``target``."""
        view = self._views.get(t.name)
        if view is None:
            view = self._views[t.name] = Lookup(t, self.loaded.tables[t.name], cols)
        if len(key_cols) == 1:
            body = [f"_k = {line}.get({key_cols[0]!r})"]
            test = "_k is None"
        else:
            body = ["_k = (" + "".join(f"{line}.get({c!r}), " for c in key_cols) + ")"]
            test = "None in _k"
        miss = gen.const(view.miss)
        find = f"{gen.const(view.index)}.get(_k, {miss})" if t.valid is None else f"{gen.const(view.find)}(_k, day)"
        return body + [f"{target}.update({miss} if {test} else {find})"]

    def _compile_point_prepare(self, gen: Gen):
        """``prepare`` split for the point path, same result: ``context_part(L)`` — member.age, the benefit year and
        the tables keyed by member/provider/coverage fields alone — depends only on a line's context (member,
        provider, insurers, date), which the point engine keeps in a base (``point_base``);
        ``point_prepare(base, row, facts, extra)`` copies the base, writes the row (every contract column), ``extra``
        (values that belong to the line, e.g. basic.*) and the claim facts over it, and the fields of the tables
        keyed by line values, merged into one dict per (key values, date) and kept in a bounded cache (common codes
        recur across members)."""
        context = ("member.", "provider.", "coverage.", "supplementary.")
        by_context = [all(c.startswith(context) and c != "member.age" for c in kc) for kc in self.key_cols]
        body = ["day = L['service_date']", "out = {}", *self._dated_source(gen, "out")]
        for t, cols, kc, ctx in zip(self.keyed, self.read_cols, self.key_cols, by_context):
            if ctx:
                body += self._table_update(gen, t, cols, kc, "out")
        body.append("return out")
        context_part = compile_function("context_part", body, gen)[0]
        line_keys = sorted({c for kc, ctx in zip(self.key_cols, by_context) if not ctx for c in kc})
        body = ["P = base.copy()", "P.update(row)", "if extra is not None:", "    P.update(extra)", "P.update(facts)"]
        if line_keys:
            cache = gen.const({})
            key = "(P['service_date'], " + "".join(f"P.get({c!r}), " for c in line_keys) + ")"
            body += [f"key = {key}", f"part = {cache}.get(key)", "if part is None:", "    day = P['service_date']",
                     "    part = {}"]
            for t, cols, kc, ctx in zip(self.keyed, self.read_cols, self.key_cols, by_context):
                if not ctx:
                    body += ["    " + x for x in self._table_update(gen, t, cols, kc, "part", "P")]
            body += [f"    if len({cache}) >= {LINE_PART_ENTRIES}:", f"        del {cache}[next(iter({cache}))]",
                     f"    {cache}[key] = part", "P.update(part)"]
        body.append("return P")
        # what point_prepare writes over a base: placeholders for them, so copying a base and writing a line into
        # it does not grow the copy (a supplementary line's basic.* and what the rules write later still add keys)
        part_keys = [k for t, cols, ctx in zip(self.keyed, self.read_cols, by_context) if not ctx
                     for k in self._views[t.name].miss]
        self._placeholders = dict.fromkeys([*CLAIM_FACTS, *part_keys])
        return context_part, compile_function("point_prepare", body, gen, args="base, row, facts, extra=None")[0]

    def point_base(self, L: dict) -> dict:
        """The base ``point_prepare`` copies for lines of ``L``'s context (member, provider, insurers, date): ``L``
        with the context part and placeholders for what point_prepare writes over it."""
        return {**L, **self.context_part(L), **self._placeholders}

    def pair_hit(self, table: str, L: dict, group, rows=None) -> bool:
        """Whether a line of ``group`` (ident, code) bundles this line; ``rows``: the table's rows for its code."""
        rows = rows or self.pair_lookups[table].by_code2.get(L["service_code"])
        if not rows or not group:
            return False
        me = (L["claim_id"], L["line_no"])
        bypass_ok = L.get("modifier") in self.bypass
        for ident, code in group:
            mok = rows.get(code)
            if mok is not None and ident != me and not (mok == 1 and bypass_ok):
                return True
        return False

    def new_index(self) -> RuleIndex:
        return RuleIndex(self)

    # -- evaluation ----------------------------------------------------------------------------------------------
    def evaluate(self, L: dict) -> tuple[dict, list[dict]]:
        """Run the rules on a prepared, index-filled line: (outputs, findings)."""
        out, hits = self.evaluate_line(L)
        findings, rules = [], []
        if hits:
            reported = self.reported
            ident = {"claim_id": L["claim_id"], "line_no": L["line_no"]}
            for i, effect, zero in hits:
                template, qualified = reported[i]
                f = template | ident
                f["amount_effect"] = effect
                if zero:  # a limit to 0 denies the line
                    f["__sev"] = semantics.DENY_SEVERITY
                findings.append(f)
                rules.append(qualified)
        out["rules"] = rules
        return out, findings

    @functools.cached_property
    def reported(self) -> dict[int, tuple[dict, str]]:
        """Per rule that writes findings, by its index: the constant part of its finding and its qualified id."""
        out = {}
        for i, r in enumerate(self.rs.rules):
            if r.action == "set":
                continue
            en, fa = self.code(r.reason)
            out[i] = ({"claim_id": None, "line_no": None, "ruleset": self.rs.id, "rule_id": r.id,
                       "reason_code": r.reason, "action": r.action, "amount_effect": 0,
                       "liability": r.liability, "message": en, "message_fa": fa,
                       "__seq": semantics.SEQ_RULES + i, "__sev": semantics.SEVERITY[r.action]},
                      f"{self.rs.id}:{r.id}")
        return out

    def code(self, reason: str) -> tuple[str, str]:
        c = self.codes.get(reason) or catalogue.get(reason)
        return c.en, c.fa
