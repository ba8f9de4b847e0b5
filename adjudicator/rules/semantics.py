"""Facts about the rule language that both backends share: finding severities, output columns, static analysis.

Kept apart from the translators so that neither backend defines what "fired", "severity" or "may be a float" mean
on its own.
"""

from __future__ import annotations

from adjudicator.rules import ir
from adjudicator.rules.functions import CATALOGUE

# Severity of a finding, for the line's primary reason (ties: the earlier finding).
SEVERITY = {"deny": 3, "pend": 2, "limit_quantity": 1, "cap_amount": 1, "cap": 1, "flag": 0}
DENY_SEVERITY = 3

# Order numbers of findings: engine stages first, then the basic ruleset's rules and caps, then supplementary.
SEQ_ENGINE = 0
SEQ_RULES = 1_000
SEQ_CAPS = 5_000
SEQ_SUPP = 10_000

# Per-line outputs of rule evaluation (both backends produce exactly these, plus the set fields).
STATE = ("allowed_quantity", "allowed_amount", "__denied", "__pended", "__adjusted", "__member_red")


def children(e) -> list:
    """The direct sub-expressions of an IR node."""
    if isinstance(e, ir.Not | ir.Neg | ir.IsNull):
        return [e.arg]
    if isinstance(e, ir.BoolOp | ir.Call):
        return list(e.args)
    if isinstance(e, ir.BinOp | ir.Compare):
        return [e.left, e.right]
    if isinstance(e, ir.In):
        return [e.item, e.container]
    if isinstance(e, ir.IfElse):
        return [e.cond, e.then, e.orelse]
    if isinstance(e, ir.Aggregate):
        return [x for x in (e.value, e.where) if x is not None]
    if isinstance(e, ir.ListLit):
        return list(e.items)
    return []


def walk(e):
    """Every node of an expression, depth first."""
    if e is None:
        return
    yield e
    for c in children(e):
        yield from walk(c)


def columns(*exprs) -> set[str]:
    """The frame columns the expressions read: their names and what their functions read implicitly (``age_at``
    reads member.birth_date); None expressions read nothing."""
    out = set()
    for e in exprs:
        for n in walk(e):
            if isinstance(n, ir.Name):
                out.add(n.column)
            elif isinstance(n, ir.Call):
                out.update(CATALOGUE[n.fn].reads)
    return out


def may_be_float(e) -> bool:
    """True when an expression can produce a non-integer (``/`` or a float literal): its value is floored
    before it becomes a quantity or an amount."""
    return any((isinstance(n, ir.BinOp) and n.op == "/") or (isinstance(n, ir.Lit) and isinstance(n.value, float))
               for n in walk(e))


def rule_exprs(rs: ir.Ruleset):
    """Every expression of a ruleset with the rule it belongs to (None for benefits)."""
    for r in rs.rules:
        for e in (r.when, r.value, *(v for _, v in r.sets)):
            if e is not None:
                yield r, e
    for row in rs.benefits.member_share:
        yield None, row.when
        yield None, row.rate
    for row in rs.benefits.deductible:
        yield None, row.when
    for cap in rs.benefits.caps:
        yield None, cap.where


def aggregates(rs: ir.Ruleset) -> list[ir.Aggregate]:
    """The ruleset's aggregates in index order (each one once)."""
    found = {}
    for _, e in rule_exprs(rs):
        for n in walk(e):
            if isinstance(n, ir.Aggregate):
                found[n.index] = n
    return [found[i] for i in sorted(found)]


def pair_tables(rs: ir.Ruleset) -> list[str]:
    """The pair tables the rules ask about."""
    out = []
    for _, e in rule_exprs(rs):
        for n in walk(e):
            if isinstance(n, ir.PairRef) and n.table not in out:
                out.append(n.table)
    return out


def set_fields(rs: ir.Ruleset) -> list[str]:
    """Fields written by ``set`` (in first-set order)."""
    out = []
    for r in rs.rules:
        for f, _ in r.sets:
            if f not in out:
                out.append(f)
    return out
