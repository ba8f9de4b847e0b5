"""Explain a point-of-service decision: every rule of the line's ruleset, whether it fired, and the values it read.

The values are those of the prepared line the Python backend evaluated (table fields, member, coverage, aggregates);
``line.allowed_*`` show the final running values.
"""

from __future__ import annotations

from adjudicator.point import record_line
from adjudicator.rules import ir, semantics
from adjudicator.rules.pretty import expr_text


def _reads(rule: ir.Rule) -> list[tuple[str, str]]:
    """(label, frame column) of every value a rule reads, in first-use order."""
    out: dict[str, str] = {}
    for e in (rule.when, rule.value, *(v for _, v in rule.sets)):
        for n in semantics.walk(e):
            if isinstance(n, ir.Name):
                out.setdefault(f"{n.ns}.{n.field}", n.column)
            elif isinstance(n, ir.Missing):
                out.setdefault(f"{n.table} found", f"{n.table}.__found")
            elif isinstance(n, ir.Aggregate):
                out.setdefault(expr_text(n), f"__agg{n.index}")
            elif isinstance(n, ir.PairRef):
                out.setdefault(f"pair({n.table})", f"__pair.{n.table}")
    return list(out.items())


def explain(engine, decision) -> list[dict]:
    """One entry per line: decision, amounts, and a trace of every rule of its basic ruleset."""
    by_ref = {rs.ref: rs for rs in engine.rulesets}
    out = []
    lines = {line["line_no"]: line for line in decision.lines}
    for rec in decision._commit:
        P = rec.get("P") or record_line(rec)
        line = lines[rec["row"]["line_no"]]
        fired = set(line["rules"])
        entry = {"line_no": line["line_no"], "service_code": line["service_code"], "decision": line["decision"],
                 "primary_reason": line["primary_reason"], "ruleset": line["ruleset"], "rules": []}
        engine_rules = [r for r in line["rules"] if r.startswith("engine:")]
        entry["engine"] = engine_rules
        rs = by_ref.get(rec.get("ruleset"))
        if rs is not None:
            for r in rs.ir.rules:
                read = {label: (P.get(col) is True) if col.endswith(".__found") else _plain(P.get(col))
                        for label, col in _reads(r)}
                if r.action == "set":  # a set writes no finding: show what it left in the line instead
                    read |= {f"line.{f} (after)": _plain(P.get(f)) for f, _ in r.sets}
                entry["rules"].append({"id": r.id, "action": r.action, "reason": r.reason,
                                       "fired": f"{rs.id}:{r.id}" in fired if r.action != "set" else None,
                                       "when": expr_text(r.when) if r.when is not None else "always",
                                       "read": read})
        out.append(entry)
    return out


def _plain(v):
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
