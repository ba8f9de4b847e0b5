"""From expression text to checked IR: Python's parser, a whitelist, name resolution and types.

No user text ever reaches ``eval``: the text is parsed by ``ast.parse`` and each node is either translated into an
IR node (``rules.ir``) or reported. Every name, field and function is resolved against an ``Env`` (what the ruleset
may read) and every problem becomes a ``Diagnostic`` with the file, line and column, a code and a hint.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import re
from dataclasses import dataclass, field

from adjudicator import dates
from adjudicator.errors import Diagnostic
from adjudicator.rules import ir
from adjudicator.rules.functions import AGGREGATES, ANY, BOOL, CATALOGUE, DATE, LIST, NUM, RATE, STR

NULL = "null"
PCT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*%")
STRING = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
DURATION = re.compile(r"^(\d+)([dmy])$")
PSEUDO_KEYS = {"benefit_year": "__benefit_year", "family": "member.family_id"}


@dataclass(frozen=True)
class T:
    """The static type of an expression and whether it may be null."""

    type: str
    nullable: bool = True


@dataclass
class Env:
    """What an expression may read: namespaces → field → type, tables, params, and rule-ordering facts."""

    fields: dict[str, dict[str, T]]
    tables: dict[str, dict[str, T]]
    pair_tables: set[str]
    params: dict[str, ir.Lit | ir.Rate]
    set_later: dict[str, str] = field(default_factory=dict)  # line field → id of the (later) rule that sets it
    allow_aggregates: bool = True
    submitted_only: bool = False  # aggregates' where/value: only values known before the edits
    aggregates: list[ir.Aggregate] = field(default_factory=list)
    set_fields: set[str] = field(default_factory=set)  # line fields written by some rule's `set`


def rewrite_percentages(text: str) -> str:
    """``30%`` → ``__rate__(3000)`` outside string literals (the loader's one textual rewrite)."""
    return rewrite_with_shifts(text)[0]


def rewrite_with_shifts(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The rewritten text and, per replacement, (0-based position in the new text, characters added), so that a
    column in the rewritten text can be mapped back to the author's column."""
    out, shifts, last, pos = [], [], 0, 0

    def sub(chunk: str) -> None:
        nonlocal pos
        prev = 0
        for m in PCT.finditer(chunk):
            out.append(chunk[prev:m.start()])
            pos += m.start() - prev
            rep = _pct(m)
            shifts.append((pos, len(rep) - len(m.group(0))))
            out.append(rep)
            pos += len(rep)
            prev = m.end()
        out.append(chunk[prev:])
        pos += len(chunk) - prev

    for m in STRING.finditer(text):
        sub(text[last:m.start()])
        out.append(m.group(0))
        pos += len(m.group(0))
        last = m.end()
    sub(text[last:])
    return "".join(out), shifts


def _pct(m: re.Match) -> str:
    return f"__rate__({rate_bp(m.group(1))})"


def rate_bp(number: str) -> int:
    """'7.5' (percent) → 750 basis points, exactly (no float)."""
    whole, _, frac = number.partition(".")
    frac = (frac + "00")[:2]
    if len(number.partition(".")[2]) > 2:
        raise ValueError(f"{number}% has more precision than a basis point")
    return int(whole) * 100 + int(frac)


def parse_duration(text: str) -> tuple[int, str] | None:
    """'30d' → (30, 'd'); 'benefit_year' → (0, 'benefit_year'); None when malformed."""
    if text == "benefit_year":
        return (0, "benefit_year")
    m = DURATION.match(text)
    return (int(m.group(1)), m.group(2)) if m else None


class ExprChecker:
    """Translates one expression's ``ast`` into IR, collecting diagnostics instead of raising."""

    def __init__(self, env: Env, file: str, line: int, col: int, context: str, diags: list[Diagnostic]):
        self.env, self.file, self.line, self.col, self.context, self.diags = env, file, line, col, context, diags
        self.shifts: list[tuple[int, int]] = []
        self.lead = 0

    # -- entry -------------------------------------------------------------------------------------------------
    def check(self, text, want: str | None = None) -> tuple[ir.Expr | None, T | None]:
        if isinstance(text, bool):
            return ir.Lit(value=text), T(BOOL, False)
        if isinstance(text, int | float) and not isinstance(text, bool):
            return ir.Lit(value=text), T(NUM, False)
        if isinstance(text, dt.date):
            return ir.Lit(value=text), T(DATE, False)
        if text is None:
            return ir.Lit(value=None), T(NULL)
        try:
            raw, self.shifts = rewrite_with_shifts(str(text))
            src = raw.strip()
            self.lead = len(raw) - len(raw.lstrip())
        except ValueError as e:  # a percentage finer than a basis point
            self.err(1, 1, "E110", f"{e} {self.context}")
            return None, None
        try:
            tree = ast.parse(src, mode="eval")
        except SyntaxError as e:
            self.err(1, e.offset or 1, "E109", f"cannot parse expression {str(text)!r} {self.context}: {e.msg}")
            return None, None
        node, typ = self.expr(tree.body)
        if node is not None and want is not None and typ is not None and not compatible(typ.type, want):
            self.err(1, 1, "E107", f"{self.context} must be {describe(want)}, got {describe(typ.type)}")
        return node, typ

    def err(self, lineno: int, col: int, code: str, msg: str, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(self.file, self.line + lineno - 1, self.col + col, code, msg, hint))

    def at(self, node: ast.AST, code: str, msg: str, hint: str | None = None) -> None:
        # col_offset is 0-based in the rewritten, stripped text and self.col is the value's column − 1
        lineno, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        if lineno == 1:
            col += self.lead
            col -= sum(added for start, added in self.shifts if start < col)
        self.err(lineno, col + 1, code, msg, hint)

    # -- nodes -------------------------------------------------------------------------------------------------
    def expr(self, n: ast.AST) -> tuple[ir.Expr | None, T | None]:  # noqa: C901 - one dispatch on node kinds
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, bool):
                return ir.Lit(value=v), T(BOOL, False)
            if v is None:
                return ir.Lit(value=None), T(NULL)
            if isinstance(v, int | float):
                return ir.Lit(value=v), T(NUM, False)
            if isinstance(v, str):
                return ir.Lit(value=v), T(STR, False)
            self.at(n, "E109", f"unsupported literal {v!r} {self.context}")
            return None, None
        if isinstance(n, ast.Name):
            low = {"true": True, "false": False, "null": None, "none": None}
            if n.id.lower() in low and n.id not in self.env.tables:
                v = low[n.id.lower()]
                return ir.Lit(value=v), T(NULL if v is None else BOOL, v is None)
            return self.bare_name(n)
        if isinstance(n, ast.Attribute):
            return self.attribute(n)
        if isinstance(n, ast.BoolOp):
            args = [self.expr(a) for a in n.values]
            if any(a[0] is None for a in args):
                return None, None
            for (_, t), a in zip(args, n.values):
                self.want_bool(a, t)
            op = "and" if isinstance(n.op, ast.And) else "or"
            return ir.BoolOp(op=op, args=tuple(a[0] for a in args)), T(BOOL, any(t.nullable for _, t in args))
        if isinstance(n, ast.UnaryOp):
            a, t = self.expr(n.operand)
            if a is None:
                return None, None
            if isinstance(n.op, ast.Not):
                self.want_bool(n.operand, t)
                return ir.Not(arg=a), T(BOOL, t.nullable)
            if isinstance(n.op, ast.USub):
                if isinstance(a, ir.Lit) and isinstance(a.value, int | float) and not isinstance(a.value, bool):
                    return ir.Lit(value=-a.value), t
                self.want(n.operand, t, NUM)
                return ir.Neg(arg=a), T(NUM, t.nullable)
            if isinstance(n.op, ast.UAdd):
                return a, t
        if isinstance(n, ast.BinOp):
            return self.binop(n)
        if isinstance(n, ast.Compare):
            return self.compare(n)
        if isinstance(n, ast.IfExp):
            c, ct = self.expr(n.test)
            a, at_ = self.expr(n.body)
            b, bt = self.expr(n.orelse)
            if None in (c, a, b):
                return None, None
            self.want_bool(n.test, ct)
            typ = unify(at_.type, bt.type)
            if typ is None:
                self.at(n, "E107", f"the two branches of 'if/else' have different types ({describe(at_.type)} and "
                                   f"{describe(bt.type)}) {self.context}")
                return None, None
            a, b = self.coerce(a, at_, typ), self.coerce(b, bt, typ)
            return ir.IfElse(cond=c, then=a, orelse=b), T(typ, at_.nullable or bt.nullable)
        if isinstance(n, ast.List | ast.Tuple):
            items = []
            for e in n.elts:
                v, t = self.expr(e)
                if v is None:
                    return None, None
                if not isinstance(v, ir.Lit):
                    self.at(e, "E109", f"list items must be literals {self.context}")
                    return None, None
                items.append(v)
            return ir.ListLit(items=tuple(items)), T(LIST, False)
        if isinstance(n, ast.Call):
            return self.call(n)
        self.at(n, "E109", f"'{ast.unparse(n)}' is not allowed in a rule expression {self.context}",
                "allowed: literals, names, and or not, comparisons, + - * / //, in, is null, a if c else b, "
                "catalogue functions")
        return None, None

    def bare_name(self, n: ast.Name):
        if n.id in self.env.tables:
            self.at(n, "E109", f"table '{n.id}' must be used as '{n.id}.<column>', '{n.id} is missing' or "
                               f"'pair({n.id})' {self.context}")
            return None, None
        known = sorted(self.env.fields) + sorted(self.env.tables) + ["params"]
        self.at(n, "E101", f"unknown name '{n.id}' {self.context}", suggest(n.id, known, prefix="did you mean"))
        return None, None

    def attribute(self, n: ast.Attribute):
        if not isinstance(n.value, ast.Name):
            self.at(n, "E109", f"'{ast.unparse(n)}' is not a field name {self.context}")
            return None, None
        ns, fld = n.value.id, n.attr
        full = f"{ns}.{fld}"
        if ns == "params":
            if fld not in self.env.params:
                self.at(n, "E104", f"unknown param '{full}' {self.context}",
                        suggest(fld, list(self.env.params), prefix="did you mean", qualify="params."))
                return None, None
            p = self.env.params[fld]
            if isinstance(p, ir.Rate):
                return p, T(RATE, False)
            return self.expr(ast.Constant(value=p.value, lineno=n.lineno, col_offset=n.col_offset))
        if ns in self.env.tables:
            cols = self.env.tables[ns]
            if cols is None:  # the table failed to load: that is reported once, not at every use
                return None, None
            if fld not in cols:
                self.at(n, "E102", f"unknown field '{full}' {self.context}",
                        suggest(fld, list(cols), prefix="did you mean", qualify=f"{ns}."))
                return None, None
            return ir.Name(ns=ns, field=fld), cols[fld]
        if ns not in self.env.fields:
            known = sorted(self.env.fields) + sorted(self.env.tables) + ["params"]
            self.at(n, "E101", f"unknown name '{ns}' in '{full}' {self.context}",
                    suggest(ns, known, prefix="did you mean"))
            return None, None
        fields = self.env.fields[ns]
        if ns == "line" and fld in self.env.set_later:
            self.at(n, "E204", f"'{full}' is read {self.context} but only set by the later rule "
                               f"{self.env.set_later[fld]}", "move the rule that sets it before this one")
            return None, None
        if fld not in fields:
            all_names = [f"{k}.{f}" for k, v in self.env.fields.items() for f in v]
            self.at(n, "E102", f"unknown field '{full}' {self.context}", suggest(full, all_names, prefix="did you mean"))
            return None, None
        if self.env.submitted_only and (ns == "basic" or (
                ns == "line" and (fld.startswith("allowed_") or fld in self.env.set_fields))):
            self.at(n, "E306", f"'{full}' is not known before the edits; aggregates see submitted values only "
                               f"{self.context}")
            return None, None
        return ir.Name(ns=ns, field=fld), fields[fld]

    def binop(self, n: ast.BinOp):
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//"}
        op = ops.get(type(n.op))
        if op is None:
            self.at(n, "E109", f"operator '{ast.unparse(n)}' is not allowed {self.context}",
                    "allowed: + - * / //")
            return None, None
        a, at_ = self.expr(n.left)
        b, bt = self.expr(n.right)
        if a is None or b is None:
            return None, None
        nullable = at_.nullable or bt.nullable
        types = {at_.type, bt.type}
        if types <= {NUM, NULL}:
            return ir.BinOp(op=op, left=a, right=b), T(NUM, nullable)
        if types == {RATE} and op in "+-":
            return ir.BinOp(op=op, left=a, right=b), T(RATE, nullable)
        if types <= {RATE, NUM, NULL} and op == "*":
            # money × rate: an integer in Rials, rounded half up; the rate goes on the right
            if at_.type == RATE:
                a, b = b, a
            return ir.BinOp(op="*%", left=a, right=b), T(NUM, nullable)
        self.at(n, "E107", f"type mismatch: {describe(at_.type)} {op} {describe(bt.type)} {self.context}",
                "use days_between(a, b) for dates" if DATE in types else None)
        return None, None

    def compare(self, n: ast.Compare):
        if len(n.ops) != 1:
            self.at(n, "E109", f"chained comparison '{ast.unparse(n)}' {self.context}", "write 'a < b and b < c'")
            return None, None
        op, right = n.ops[0], n.comparators[0]
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None) and not (
                    isinstance(right, ast.Name) and right.id.lower() in ("null", "none", "missing")):
                self.at(n, "E109", f"'is' must be followed by null or missing {self.context}")
                return None, None
            negate = isinstance(op, ast.IsNot)
            if isinstance(right, ast.Name) and right.id.lower() == "missing":
                if not (isinstance(n.left, ast.Name) and n.left.id in self.env.tables):
                    self.at(n.left, "E103", f"unknown table '{ast.unparse(n.left)}' {self.context}",
                            suggest(ast.unparse(n.left), list(self.env.tables), prefix="did you mean"))
                    return None, None
                return ir.Missing(table=n.left.id, negate=negate), T(BOOL, False)
            a, t = self.expr(n.left)
            if a is None:
                return None, None
            return ir.IsNull(arg=a, negate=negate), T(BOOL, False)
        if isinstance(op, ast.In | ast.NotIn):
            a, at_ = self.expr(n.left)
            b, bt = self.expr(right)
            if a is None or b is None:
                return None, None
            if bt.type != LIST:
                self.at(right, "E107", f"'in' needs a list on its right, got {describe(bt.type)} {self.context}")
                return None, None
            if isinstance(b, ir.ListLit):
                items = tuple(self.coerce(i, T(lit_type(i.value)), at_.type) for i in b.items)
                for i, it in zip(items, b.items):
                    if not compatible(lit_type(i.value), at_.type):
                        self.at(right, "E107", f"list item {it.value!r} is not {describe(at_.type)} {self.context}")
                        return None, None
                b = ir.ListLit(items=items)
            return ir.In(item=a, container=b, negate=isinstance(op, ast.NotIn)), T(BOOL, at_.nullable or bt.nullable)
        ops = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
        sym = ops[type(op)]
        for side in (n.left, right):
            if (isinstance(side, ast.Constant) and side.value is None) or (
                    isinstance(side, ast.Name) and side.id.lower() in ("null", "none")):
                other = n.left if side is right else right
                word = "is" if sym == "==" else "is not"
                self.at(n, "E108", f"'{ast.unparse(n)}' compares with null, which is never true {self.context}",
                        f"write '{ast.unparse(other)} {word} null'")
                return None, None
        a, at_ = self.expr(n.left)
        b, bt = self.expr(right)
        if a is None or b is None:
            return None, None
        typ = unify(at_.type, bt.type)
        if typ is None or typ == LIST:
            self.at(n, "E107", f"type mismatch: cannot compare {describe(at_.type)} with {describe(bt.type)} "
                               f"in '{ast.unparse(n)}' {self.context}")
            return None, None
        a, b = self.coerce(a, at_, typ), self.coerce(b, bt, typ)
        if a is None or b is None:
            self.at(n, "E110", f"'{ast.unparse(n)}': a string compared with a date must be a date "
                               f"(ISO 2025-03-21 or Solar Hijri 1404/01/01) {self.context}")
            return None, None
        return ir.Compare(op=sym, left=a, right=b), T(BOOL, at_.nullable or bt.nullable)

    def call(self, n: ast.Call):
        if not isinstance(n.func, ast.Name):
            self.at(n, "E105", f"'{ast.unparse(n.func)}' is not a function {self.context}")
            return None, None
        name = n.func.id
        if name == "__rate__":
            return ir.Rate(bp=n.args[0].value), T(RATE, False)
        if name in AGGREGATES:
            return self.aggregate(n, name)
        if name == "pair":
            if len(n.args) != 1 or n.keywords or not isinstance(n.args[0], ast.Name):
                self.at(n, "E106", f"pair() takes one table name {self.context}")
                return None, None
            t = n.args[0].id
            if t not in self.env.pair_tables:
                self.at(n.args[0], "E103", f"'{t}' is not a pair table {self.context}",
                        suggest(t, sorted(self.env.pair_tables), prefix="did you mean"))
                return None, None
            return ir.PairRef(table=t), T(BOOL, False)
        fn = CATALOGUE.get(name)
        if fn is None:
            self.at(n, "E105", f"unknown function '{name}' {self.context}",
                    suggest(name, [*CATALOGUE, *AGGREGATES, "pair"], prefix="did you mean"))
            return None, None
        if n.keywords or not fn.arity_ok(len(n.args)):
            want = f"{len(fn.args)}{' or more' if fn.variadic else ''}"
            self.at(n, "E106", f"{name}() takes {want} argument(s), got {len(n.args) + len(n.keywords)} "
                               f"{self.context}")
            return None, None
        args, nullable = [], False
        for i, a in enumerate(n.args):
            v, t = self.expr(a)
            if v is None:
                return None, None
            want = fn.arg_type(i)
            if i in fn.literal_args and not isinstance(v, ir.ListLit | ir.Lit):
                self.at(a, "E107", f"argument {i + 1} of {name}() must be a literal {self.context}")
                return None, None
            if want != ANY and not compatible(t.type, want):
                self.at(a, "E107", f"argument {i + 1} of {name}() must be {describe(want)}, got "
                                   f"{describe(t.type)} {self.context}")
                return None, None
            if want == ANY and t.type not in (LIST, STR):
                self.at(a, "E107", f"argument {i + 1} of {name}() must be a list or a string {self.context}")
                return None, None
            args.append(self.coerce(v, t, want) if want != ANY else v)
            nullable = nullable or t.nullable
        if fn.reads:
            nullable = True
        return ir.Call(fn=name, args=tuple(args)), T(fn.returns, nullable)

    def aggregate(self, n: ast.Call, kind: str):
        if not self.env.allow_aggregates:
            self.at(n, "E305", f"{kind}() cannot be used here {self.context}")
            return None, None
        kw = {k.arg: k.value for k in n.keywords}
        unknown = set(kw) - {"per", "within", "where"}
        if unknown:
            self.at(n, "E106", f"{kind}() has no argument '{sorted(unknown)[0]}' {self.context}",
                    "arguments: per=[...], within=\"30d\", where=<condition>")
            return None, None
        value = None
        npos = 1 if kind == "prior_sum" else 0
        if len(n.args) != npos:
            self.at(n, "E106", f"{kind}() takes {npos} positional argument(s), got {len(n.args)} {self.context}")
            return None, None
        inner = Env(self.env.fields, self.env.tables, self.env.pair_tables, self.env.params, self.env.set_later,
                    allow_aggregates=False, submitted_only=True, set_fields=self.env.set_fields)
        sub = ExprChecker(inner, self.file, self.line, self.col, self.context, self.diags)
        sub.shifts, sub.lead = self.shifts, self.lead
        if kind == "prior_sum":
            value, vt = sub.expr(n.args[0])
            if value is None:
                return None, None
            if vt.type != NUM:
                self.at(n.args[0], "E107", f"prior_sum() sums numbers, got {describe(vt.type)} {self.context}")
                return None, None
        per: list[str] = []
        if "per" not in kw or not isinstance(kw["per"], ast.List | ast.Tuple):
            self.at(n, "E106", f"{kind}() needs per=[...] {self.context}", "e.g. per=[line.member_id]")
            return None, None
        for e in kw["per"].elts:
            name = ast.unparse(e)
            col = name[5:] if name.startswith("line.") else name
            if col in PSEUDO_KEYS:
                per.append(col)
            elif col in self.env.fields["line"] and not col.startswith("allowed_") and col not in self.env.set_fields:
                per.append(col)
            elif "." in col and self._table_key(col):
                per.append(col)  # a column of a keyed table: known before the edits, like the line's own columns
            else:
                self.at(e, "E102", f"unknown key '{name}' in per= {self.context}",
                        suggest(col, [*self.env.fields["line"], *PSEUDO_KEYS], prefix="did you mean"))
                return None, None
        within = None
        if "within" in kw:
            w = kw["within"]
            if not (isinstance(w, ast.Constant) and isinstance(w.value, str) and parse_duration(w.value)):
                self.at(w, "E110", f"within= must be \"Nd\", \"Nm\", \"Ny\" or \"benefit_year\" {self.context}")
                return None, None
            within = w.value
        where = None
        if "where" in kw:
            where, wt = sub.expr(kw["where"])
            if where is None:
                return None, None
            sub.want_bool(kw["where"], wt)
        agg = ir.Aggregate(kind=kind, value=value, per=tuple(per), within=within, where=where,
                           index=len(self.env.aggregates))
        self.env.aggregates.append(agg)
        return agg, T(NUM, False)

    # -- helpers -----------------------------------------------------------------------------------------------
    def _table_key(self, col: str) -> bool:
        ns, _, fld = col.partition(".")
        cols = self.env.tables.get(ns)
        return bool(cols) and fld in cols and ns not in self.env.pair_tables

    def want_bool(self, node: ast.AST, t: T | None) -> None:
        if t is not None and t.type not in (BOOL, NULL):
            self.at(node, "E107", f"'{ast.unparse(node)}' must be a condition (true/false), got {describe(t.type)} "
                                  f"{self.context}")

    def want(self, node: ast.AST, t: T, typ: str) -> None:
        if not compatible(t.type, typ):
            self.at(node, "E107", f"'{ast.unparse(node)}' must be {describe(typ)}, got {describe(t.type)} "
                                  f"{self.context}")

    def coerce(self, node, t: T, typ: str):
        """String literals compared with dates become dates; everything else stays."""
        if typ == DATE and isinstance(node, ir.Lit) and isinstance(node.value, str):
            try:
                return ir.Lit(value=dates.parse_date(node.value))
            except ValueError:
                return None
        return node


def lit_type(v) -> str:
    if v is None:
        return NULL
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int | float):
        return NUM
    if isinstance(v, dt.date):
        return DATE
    return STR


def unify(a: str, b: str) -> str | None:
    if a == b:
        return a
    if NULL in (a, b):
        return b if a == NULL else a
    if {a, b} == {DATE, STR}:
        return DATE
    return None


def compatible(have: str, want: str) -> bool:
    return want == ANY or have == want or have == NULL or (want == DATE and have == STR)


def describe(t: str) -> str:
    return {NUM: "a number", STR: "a string", BOOL: "a condition", DATE: "a date", LIST: "a list",
            RATE: "a rate (%)", NULL: "null", ANY: "anything"}.get(t, t)


def suggest(word: str, options, *, prefix: str, qualify: str = "") -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"{prefix} '{qualify}{close[0]}'?" if close else None

