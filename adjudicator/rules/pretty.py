"""A deterministic text form of a checked ruleset: what a reviewer reads, what ``ruleset show`` prints.

``ruleset_text`` prints the normalised IR as YAML-like text (header, tables with column types and content hashes,
params, rules, benefits, digest); ``expr_text`` prints one IR expression back as DSL text that re-parses to the
same IR. Parentheses are added only where the precedence of the DSL (Python's) needs them, so nesting survives
the round trip. Params are already inlined in the IR and print as their values; rates print as ``30%``, dates as
ISO strings. The same IR always prints the same text (no dict order, no ids, no time).
"""

from __future__ import annotations

import datetime as dt
import json

from adjudicator.rules import ir
from adjudicator.rules.check import PSEUDO_KEYS

__all__ = ["expr_text", "ruleset_text"]

# Binding strength, loosest first (Python's grammar, which the DSL uses).
IFELSE, OR, AND, NOT, CMP, ADD, MUL, UNARY, ATOM = range(1, 10)
_BINOP_PREC = {"+": ADD, "-": ADD, "*": MUL, "/": MUL, "//": MUL, "*%": MUL}


def _str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def rate_text(bp: int) -> str:
    """3000 → '30%', 750 → '7.5%', 5 → '0.05%'."""
    whole, frac = divmod(bp, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0") + "%"


def lit_text(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dt.date):
        return _str(v.isoformat())
    return _str(str(v))


def _prec(e) -> int:
    if isinstance(e, ir.IfElse):
        return IFELSE
    if isinstance(e, ir.BoolOp):
        return OR if e.op == "or" else AND
    if isinstance(e, ir.Not):
        return NOT
    if isinstance(e, ir.Compare | ir.In | ir.IsNull | ir.Missing):
        return CMP
    if isinstance(e, ir.BinOp):
        return _BINOP_PREC[e.op]
    if isinstance(e, ir.Neg):
        return UNARY
    if isinstance(e, ir.Lit) and isinstance(e.value, int | float) and not isinstance(e.value, bool) and e.value < 0:
        return UNARY  # printed with a leading minus
    return ATOM


def _wrap(e, min_prec: int) -> str:
    """``e`` as text, parenthesised when it binds looser than ``min_prec``."""
    s = expr_text(e)
    return f"({s})" if _prec(e) < min_prec else s


def _per_text(k: str) -> str:
    return k if k in PSEUDO_KEYS else f"line.{k}"


def expr_text(e) -> str:  # noqa: C901 - one dispatch on node kinds
    """One IR expression as DSL text that parses back to the same IR."""
    if isinstance(e, ir.Lit):
        return lit_text(e.value)
    if isinstance(e, ir.Rate):
        return rate_text(e.bp)
    if isinstance(e, ir.ListLit):
        return "[" + ", ".join(lit_text(i.value) for i in e.items) + "]"
    if isinstance(e, ir.Name):
        return f"{e.ns}.{e.field}"
    if isinstance(e, ir.Missing):
        return f"{e.table} is {'not ' if e.negate else ''}missing"
    if isinstance(e, ir.Not):
        return f"not {_wrap(e.arg, NOT)}"
    if isinstance(e, ir.Neg):
        return f"-{_wrap(e.arg, UNARY + 1)}"
    if isinstance(e, ir.BoolOp):
        p = _prec(e)
        return f" {e.op} ".join(_wrap(a, p + 1) for a in e.args)
    if isinstance(e, ir.BinOp):
        p = _prec(e)
        op = "*" if e.op == "*%" else e.op
        return f"{_wrap(e.left, p)} {op} {_wrap(e.right, p + 1)}"
    if isinstance(e, ir.Compare):
        return f"{_wrap(e.left, CMP + 1)} {e.op} {_wrap(e.right, CMP + 1)}"
    if isinstance(e, ir.IsNull):
        return f"{_wrap(e.arg, CMP + 1)} is {'not ' if e.negate else ''}null"
    if isinstance(e, ir.In):
        return f"{_wrap(e.item, CMP + 1)} {'not in' if e.negate else 'in'} {_wrap(e.container, CMP + 1)}"
    if isinstance(e, ir.IfElse):
        return f"{_wrap(e.then, IFELSE + 1)} if {_wrap(e.cond, IFELSE + 1)} else {_wrap(e.orelse, IFELSE)}"
    if isinstance(e, ir.Call):
        return f"{e.fn}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, ir.Aggregate):
        args = [expr_text(e.value)] if e.value is not None else []
        args.append("per=[" + ", ".join(_per_text(k) for k in e.per) + "]")
        if e.within is not None:
            args.append(f"within={_str(e.within)}")
        if e.where is not None:
            args.append(f"where={expr_text(e.where)}")
        return f"{e.kind}({', '.join(args)})"
    if isinstance(e, ir.PairRef):
        return f"pair({e.table})"
    raise TypeError(f"no text form for {type(e).__name__}")


# --- the whole ruleset --------------------------------------------------------------------------------------------

def _scalar(v) -> str:
    """A YAML-safe scalar: like an expression literal, but a date stands bare (YAML reads it as a date)."""
    return v.isoformat() if isinstance(v, dt.date) else lit_text(v)


def _expr(e) -> str:
    """An expression as a YAML single-quoted scalar (DSL strings are double-quoted, so rarely escaped)."""
    return "'" + expr_text(e).replace("'", "''") + "'"


def _flow(items) -> str:
    return "[" + ", ".join(_scalar(i) for i in items) + "]"


def _text(t: ir.Text) -> str:
    return f"{{en: {_str(t.en)}, fa: {_str(t.fa)}}}"


def ruleset_text(rs: ir.Ruleset) -> str:
    """The normalised IR of a ruleset as deterministic, YAML-like text."""
    out = [f"ruleset: {rs.id}", f"version: {_str(rs.version)}", f"kind: {rs.kind}", f"title: {_text(rs.title)}"]
    if rs.scope is not None:
        out.append(f"scope: {_expr(rs.scope)}")
    out.append(f"effective: {{from: {_scalar(rs.effective_from)}, to: {_scalar(rs.effective_to)}}}")
    out.append("tables:" + ("" if rs.tables else " {}"))
    for t in rs.tables:
        out.append(f"  {t.name}:")
        out.append(f"    path: {_str(t.path)}")
        if t.key:
            out.append("    key: {" + ", ".join(f"{c}: line.{f}" if "." not in f else f"{c}: {f}"
                                              for c, f in t.key) + "}")
        if t.valid:
            out.append(f"    valid: {_flow(t.valid)}")
        if t.pair:
            out.append(f"    pair: {_flow(t.pair)}")
            out.append(f"    within: {t.pair_within}")
        out.append("    columns: {" + ", ".join(f"{c}: {typ}" for c, typ in t.columns) + "}")
        out.append(f"    sha256: {t.content_hash}")
    out.append("params:" + ("" if rs.params else " {}"))
    for name, v in rs.params:
        out.append(f"  {name}: {rate_text(v.bp) if isinstance(v, ir.Rate) else _scalar(v.value)}")
    out.append("codes:" + ("" if rs.codes else " []"))
    for c in rs.codes:
        out.append(f"  - {{code: {c.code}, severity: {c.severity}, carc: {_str(c.carc)}, group: {c.group}, "
                   f"en: {_str(c.en)}, fa: {_str(c.fa)}}}")
    out.append(f"bypass_modifiers: {_flow(rs.bypass_modifiers)}")
    out.append("rules:")
    for r in rs.rules:
        out.append(f"  - id: {_str(r.id)}")
        if r.title.en or r.title.fa:
            out.append(f"    title: {_text(r.title)}")
        if r.when is not None:
            out.append(f"    when: {_expr(r.when)}")
        if r.action in ("deny", "pend", "flag"):
            out.append(f"    {r.action}: {r.reason}")
        elif r.action == "set":
            out.append("    set:")
            for f, e in r.sets:
                out.append(f"      {f}: {_expr(e)}")
        else:
            out.append(f"    {r.action}: {_expr(r.value)}")
            out.append(f"    reason: {r.reason}")
        if r.action != "set":
            out.append(f"    liability: {r.liability}")
    b = rs.benefits
    out.append("benefits:")
    out.append("  member_share:" + ("" if b.member_share else " []"))
    for row in b.member_share:
        when = f"when: {_expr(row.when)}, " if row.when is not None else ""
        out.append(f"    - {{{when}rate: {_expr(row.rate)}}}")
    out.append("  deductible:" + ("" if b.deductible else " []"))
    for d in b.deductible:
        when = f", when: {_expr(d.when)}" if d.when is not None else ""
        out.append(f"    - {{per: {_flow(d.per)}, amount: {d.amount}{when}}}")
    out.append("  caps:" + ("" if b.caps else " []"))
    for c in b.caps:
        where = f", where: {_expr(c.where)}" if c.where is not None else ""
        out.append(f"    - {{id: {_str(c.id)}, per: {_flow(c.per)}, amount: {c.amount}{where}, reason: {c.reason}}}")
    out.append(f"tests: {len(rs.tests)}")
    out.append(f"digest: {rs.digest}")
    return "\n".join(out) + "\n"
