"""The pretty-printer: ``ruleset_text`` is deterministic, and ``expr_text`` of every parsed expression parses back
to the same IR (checked by rewriting each ruleset with its printed expressions and loading it again)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import pytest
import yaml

from adjudicator.rules import ir
from adjudicator.rules.compiled import load_ruleset
from adjudicator.rules.parse import Loader, load_file
from adjudicator.rules.pretty import expr_text, rate_text, ruleset_text
from tests.rules.conftest import FIXTURES, adhoc
from tests.rules.test_backends_property import ROOT, ruleset_paths

PATHS = [pytest.param(p, id=str(p.relative_to(ROOT))) for p in ruleset_paths()]


@functools.cache
def _load(p: Path):
    return load_file(p)


def loads(p: Path) -> bool:
    try:
        _load(p)
        return True
    except Exception:
        return False


LOADABLE = [p for p in PATHS if loads(p.values[0])]


@pytest.mark.parametrize("path", LOADABLE)
def test_ruleset_text_is_stable(path):
    rs = _load(path).ruleset
    a = ruleset_text(rs)
    assert a == ruleset_text(load_file(path).ruleset)  # a fresh load prints the same text
    assert a.startswith(f"ruleset: {rs.id}\n") and a.endswith(f"digest: {rs.digest}\n")
    for t in rs.tables:
        assert t.content_hash in a


def _printed(doc: dict, rs: ir.Ruleset) -> dict:
    """The YAML document with every expression replaced by the printed text of its IR."""
    doc = dict(doc)
    if rs.scope is not None:
        doc["scope"] = expr_text(rs.scope)
    out_rules = []
    for raw, r in zip(doc["rules"], rs.rules, strict=True):
        raw = dict(raw)
        if r.when is not None:
            raw["when"] = expr_text(r.when)
        if r.action in ("limit_quantity", "cap_amount"):
            raw[r.action] = expr_text(r.value)
        if r.action == "set":
            raw["set"] = {f: expr_text(e) for f, e in r.sets}
        out_rules.append(raw)
    doc["rules"] = out_rules
    b = rs.benefits
    if "benefits" in doc:
        ben = dict(doc["benefits"])
        if b.member_share:
            ben["member_share"] = [{"rate": expr_text(s.rate)} | ({"when": expr_text(s.when)} if s.when else {})
                                   for s in b.member_share]
        if b.deductible:
            ben["deductible"] = [dict(raw) | ({"when": expr_text(d.when)} if d.when else {})
                                 for raw, d in zip(ben["deductible"], b.deductible, strict=True)]
        if b.caps:
            ben["caps"] = [dict(raw) | ({"where": expr_text(c.where)} if c.where else {})
                           for raw, c in zip(ben["caps"], b.caps, strict=True)]
        doc["benefits"] = ben
    return doc


def _semantic(rs: ir.Ruleset):
    return (rs.scope, tuple(r.model_copy(update={"pos": ir.Pos()}) for r in rs.rules), rs.benefits)


@pytest.mark.parametrize("path", LOADABLE)
def test_expr_text_round_trips_every_expression(path):
    original = _load(path).ruleset
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = yaml.safe_dump(_printed(doc, original), allow_unicode=True, sort_keys=False)
    again = Loader(path, text, str(path)).load().ruleset  # same directory: table paths resolve the same
    assert _semantic(again) == _semantic(original)
    # and printing is a fixed point
    assert [expr_text(e) for r in again.rules for e in (r.when, r.value) if e is not None] == \
        [expr_text(e) for r in original.rules for e in (r.when, r.value) if e is not None]


def test_rate_text():
    assert [rate_text(b) for b in (3000, 750, 5, 0, 10000, 1234)] == ["30%", "7.5%", "0.05%", "0%", "100%",
                                                                       "12.34%"]


@pytest.mark.parametrize("src,printed", [
    ("(line.quantity > 1 or line.quantity < 0) and line.billed_amount > 0",
     "(line.quantity > 1 or line.quantity < 0) and line.billed_amount > 0"),
    ("line.quantity > 1 or line.quantity < 0 and line.billed_amount > 0",
     "line.quantity > 1 or line.quantity < 0 and line.billed_amount > 0"),
    ("not (line.quantity > 1 and true)", "not (line.quantity > 1 and true)"),
    ("line.quantity - (line.quantity - 1) > 0", "line.quantity - (line.quantity - 1) > 0"),
    ("(line.quantity - line.quantity) - 1 > 0", "line.quantity - line.quantity - 1 > 0"),
    ("-(line.quantity + 1) < -3", "-(line.quantity + 1) < -3"),
    ("(1 if line.modifier is null else 2) * 3 > line.quantity // 2",
     "(1 if line.modifier is null else 2) * 3 > line.quantity // 2"),
    ("line.billed_amount * 7.5% > 0", "line.billed_amount * 7.5% > 0"),
    ("30% * line.billed_amount > 0", "line.billed_amount * 30% > 0"),
    ("line.service_date >= '1404/01/01'", 'line.service_date >= "2025-03-21"'),
    ("line.modifier not in ['59', 'XU']", 'line.modifier not in ["59", "XU"]'),
    ("tariff is not missing and pair(ptp)", "tariff is not missing and pair(ptp)"),
    ("prior_sum(line.quantity, per=[member_id, benefit_year], within='30d', where=line.quantity > 0) > 3",
     'prior_sum(line.quantity, per=[line.member_id, benefit_year], within="30d", where=line.quantity > 0) > 3'),
    ("line.modifier == \"it's\"", "line.modifier == \"it's\""),
])
def test_expr_text_examples(tmp_path, src, printed):
    rs = adhoc(tmp_path, f"- id: R\n  when: {json.dumps(src)}\n"
                         "  flag: MANUAL_REVIEW")
    when = rs.ir.rules[0].when
    assert expr_text(when) == printed
    rs2 = adhoc(tmp_path, f"- id: R\n  when: {json.dumps(printed)}\n"
                          "  flag: MANUAL_REVIEW")
    assert rs2.ir.rules[0].when == when


def test_ruleset_text_of_the_fixture():
    text = ruleset_text(load_ruleset(FIXTURES / "mini.yaml").ir)
    assert "  rural_share: 5%\n" in text
    assert "effective: {from: 2024-03-20, to: null}" in text
    assert "    when: 'tariff.sex is not null and member.sex != tariff.sex'\n" in text
    assert "      member_share: '5% if coverage.fund == \"rural\" else 30%'\n" in text
    assert "    columns: {service_code: str, group: str, price: int," in text
    assert isinstance(dt.date.fromisoformat("2024-03-20"), dt.date)
