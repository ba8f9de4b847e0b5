"""Running a ruleset's embedded ``tests:`` on both backends (``adjudicator ruleset test``).

Each example is one claim line (plus optional other lines of the same claim and history lines) and the member,
cover and provider facts it needs. The line gets sensible defaults for the required columns it does not give, runs
through the rules (not the benefits — the engine applies those), and its decision, fired rules, reason codes,
running amounts and set fields are compared with ``expect``. An expected key this cannot check (``insurer_paid``,
anything from the benefits) is a clear failure, never silently passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from adjudicator import dates, schema
from adjudicator.rules import ir, semantics
from adjudicator.rules.check import rate_bp

__all__ = ["ExampleResult", "run_examples", "example_frames", "decision_of"]

BACKENDS = ("polars", "python")
CHECKED = ("decision", "rules", "allowed_amount", "allowed_quantity", "reasons")

NAMESPACES: dict[str, dict[str, pl.DataType]] = {
    "member": schema.MEMBERS,
    "coverage": schema.COVERAGE,
    "supplementary": schema.COVERAGE | {"valid": pl.Boolean},
    "provider": schema.PROVIDERS,
    "basic": {k: pl.Int64 for k in
              ("allowed_amount", "insurer_paid", "member_share", "member_liability", "deductible")},
}


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example on one backend; ``message`` says what differed (empty when passed)."""

    name: str
    backend: str
    passed: bool
    message: str = ""


def _value(v, dtype: pl.DataType, what: str):
    """A YAML value as a value of the column's type (dates: ISO or Solar Hijri)."""
    if v is None:
        return None
    if dtype == pl.Date:
        return dates.parse_date(v)
    if isinstance(dtype, pl.List):
        return [str(x) for x in (v if isinstance(v, list) else str(v).split("|"))]
    if dtype == pl.String:
        return str(v)
    if dtype == pl.Int64:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{what}: {v!r} is not a whole number")
        return v
    if dtype == pl.Boolean:
        if not isinstance(v, bool):
            raise ValueError(f"{what}: {v!r} is not true/false")
        return v
    return v


def _defaults(rs: ir.Ruleset) -> dict:
    day = rs.effective_from or dt.date.today()
    return {"claim_id": "T1", "line_no": 1, "member_id": "0000000001", "insurer_id": "TEST",
            "setting": "outpatient", "provider_id": "P1", "service_date": day, "service_code": "",
            "quantity": 1, "billed_amount": 0, "submission": "original"}


def _row(line: dict, base: dict, context: dict, extra_cols: dict[str, pl.DataType], what: str) -> dict:
    row = dict(base)
    for k, v in line.items():
        k = k[5:] if k.startswith("line.") else k
        if k not in schema.CLAIM_LINES and k not in extra_cols:
            raise ValueError(f"{what}: unknown line field '{k}'")
        row[k] = v
    for ns, fields in context.items():
        for k, v in fields.items():
            row[f"{ns}.{k}"] = v
    out = {}
    for col, dtype in {**schema.CLAIM_LINES, **extra_cols}.items():
        out[col] = _value(row.get(col), dtype, f"{what} {col}")
    return out


def example_frames(rs: ir.Ruleset, ex: ir.Example) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The one-claim frame (the example's line first, then ``claim_lines``) and the history frame."""
    extra: dict[str, pl.DataType] = {}
    for ns, cols in NAMESPACES.items():
        for c, t in cols.items():
            extra[f"{ns}.{c}"] = t
    context = {"member": ex.member, "coverage": ex.coverage, "supplementary": ex.supplementary,
               "provider": ex.provider, "basic": ex.basic}
    for ns, fields in context.items():
        for k in fields:
            if f"{ns}.{k}" not in extra:
                raise ValueError(f"unknown field '{ns}.{k}'")
    base = _defaults(rs)
    rows = [_row(ex.line, base, context, extra, "line")]
    for i, other in enumerate(ex.claim_lines):
        rows.append(_row(other, base | {"line_no": i + 2}, context, extra, f"claim_lines[{i + 1}]"))
    full = {**schema.CLAIM_LINES, **extra}
    frame = pl.DataFrame(rows, schema=full)
    history = None
    if ex.history:
        hist_rows = [_row(h, base | {"claim_id": f"H{i + 1}"}, context, extra, f"history[{i + 1}]")
                     for i, h in enumerate(ex.history)]
        history = pl.DataFrame(hist_rows, schema=full)
    return frame, history


def decision_of(line: dict) -> str:
    """denied > pended > adjusted > approved, from the rule state of one line."""
    if line["__denied"]:
        return "denied"
    if line["__pended"]:
        return "pended"
    if line["__adjusted"]:
        return "adjusted"
    return "approved"


def _expected_set_value(v):
    if isinstance(v, str) and v.strip().endswith("%"):
        return rate_bp(v.strip()[:-1].strip())
    return v


def _compare(expect: dict, line: dict, findings: pl.DataFrame, set_fields: list[str]) -> list[str]:
    problems = []
    for key, want in expect.items():
        if key == "decision":
            got = decision_of(line)
        elif key == "rules":
            got = sorted(r.split(":", 1)[1] for r in line["rules"])
            want = sorted(str(x) for x in (want if isinstance(want, list) else [want]))
        elif key == "reasons":
            got = sorted(findings["reason_code"].to_list())
            want = sorted(str(x) for x in (want if isinstance(want, list) else [want]))
        elif key in ("allowed_amount", "allowed_quantity"):
            got = line[key]
        elif key in set_fields:
            got, want = line[key], _expected_set_value(want)
        else:
            problems.append(f"not checked by ruleset test: {key}")
            continue
        if got != want:
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    return problems


def run_examples(ruleset, backends=BACKENDS) -> list[ExampleResult]:
    """Run every embedded example of a compiled ruleset (``compiled.Ruleset``) on each backend."""
    rs: ir.Ruleset = ruleset.ir
    set_fields = semantics.set_fields(rs)
    results = []
    for ex in rs.tests:
        try:
            frame, history = example_frames(rs, ex)
        except ValueError as e:
            results += [ExampleResult(ex.name, b, False, f"cannot build the example: {e}") for b in backends]
            continue
        for b in backends:
            lines, findings = ruleset.evaluate(frame, history, backend=b)
            line = lines.filter((pl.col("claim_id") == "T1") & (pl.col("line_no") == 1)).row(0, named=True)
            mine = findings.filter((pl.col("claim_id") == "T1") & (pl.col("line_no") == 1))
            problems = _compare(ex.expect, line, mine, set_fields)
            results.append(ExampleResult(ex.name, b, not problems, "; ".join(problems)))
    return results
