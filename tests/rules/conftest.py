"""Shared helpers of the rule-language suite: the ``backend`` fixture (every test runs on polars and on Python),
frames of claim lines with the full column set, and small rulesets written next to the fixture tables."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import polars as pl
import pytest

from adjudicator import dates, schema
from adjudicator.rules.compiled import load_ruleset
from adjudicator.rules.examples import NAMESPACES

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini.yaml"
D = dt.date
J = dates.parse_date  # J("1404/01/01") → the Gregorian date

COLUMNS: dict[str, pl.DataType] = dict(schema.CLAIM_LINES)
for _ns, _cols in NAMESPACES.items():
    for _c, _t in _cols.items():
        COLUMNS[f"{_ns}.{_c}"] = _t


@pytest.fixture(params=["polars", "python"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def mini():
    return load_ruleset(MINI)


def line(claim_id="c1", line_no=1, **kw) -> dict:
    """One claim line with defaults for every required column; ``member_sex`` style keys → ``member.sex``."""
    row = {"claim_id": claim_id, "line_no": line_no, "member_id": "m1", "insurer_id": "IHIO",
           "setting": "outpatient", "provider_id": "p1", "service_date": D(2025, 4, 1), "service_code": "801010",
           "quantity": 1, "billed_amount": 100_000, "submission": "original",
           "member.sex": "M", "member.birth_date": D(1990, 1, 1)}
    for k, v in kw.items():
        for ns in NAMESPACES:
            if k not in schema.CLAIM_LINES and k.startswith(ns + "_"):
                k = f"{ns}.{k[len(ns) + 1:]}"
                break
        row[k] = v
    return row


def frame(rows: list[dict], extra: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """Rows → a frame with every claim-line and context column (missing values null)."""
    cols = COLUMNS | (extra or {})
    unknown = {k for r in rows for k in r} - set(cols)
    assert not unknown, f"unknown columns {unknown}"
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=cols)


def run(rs, rows, backend, history=None):
    """Evaluate: (line outputs by (claim_id, line_no), findings as a list of dicts)."""
    hist = frame(history) if history else None
    lines, findings = rs.evaluate(frame(rows), hist, backend=backend)
    by_line = {(r["claim_id"], r["line_no"]): r for r in lines.iter_rows(named=True)}
    return by_line, findings.to_dicts()


def fired(findings, claim_id="c1", line_no=1) -> list[str]:
    return [f["rule_id"] for f in findings if f["claim_id"] == claim_id and f["line_no"] == line_no]


def decision(out: dict) -> str:
    from adjudicator.rules.examples import decision_of
    return decision_of(out)


def write_ruleset(tmp_path: Path, body: str, tables: dict[str, str] | None = None, name="rs.yaml") -> Path:
    """Write a ruleset (dedented) into tmp_path, with the fixture tables copied beside it and extra CSVs."""
    if not (tmp_path / "tables").exists():
        shutil.copytree(FIXTURES / "tables", tmp_path / "tables")
    for fname, text in (tables or {}).items():
        (tmp_path / "tables" / fname).write_text(textwrap.dedent(text).lstrip())
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).lstrip())
    return p


HEADER = """\
ruleset: test.adhoc
version: "1"
tables:
  tariff: {path: tables/tariff.csv, key: [service_code], valid: [valid_from, valid_to]}
  ptp: {path: tables/pairs.csv, pair: [code_1, code_2]}
params:
  visit_limit: 1
rules:
"""


def adhoc(tmp_path: Path, rules: str, tables: dict[str, str] | None = None, header: str = HEADER):
    """Load a ruleset made of the fixture header (tariff, ptp, params) and the given rules (YAML list text)."""
    return load_ruleset(write_ruleset(tmp_path, header + textwrap.indent(textwrap.dedent(rules).strip(), "  ")
                                      + "\n", tables))
