"""Parsing: expression text → IR (percentages, dates, params, lists, aggregates), the ruleset header, and the
digest."""

from __future__ import annotations

import datetime as dt

import pytest

from adjudicator.errors import RulesetError
from adjudicator.rules import ir
from adjudicator.rules.check import parse_duration, rate_bp, rewrite_percentages
from adjudicator.rules.compiled import load_ruleset
from tests.rules.conftest import MINI, adhoc


def when(tmp_path, text: str):
    import json
    return adhoc(tmp_path, f"- id: R\n  when: {json.dumps(text)}\n  flag: MANUAL_REVIEW").ir.rules[0].when


def test_fixture_header():
    rs = load_ruleset(MINI).ir
    assert (rs.id, rs.version, rs.kind, rs.title.fa) == ("test.mini", "1", "basic", "کوچک")
    assert rs.effective_from == dt.date(2024, 3, 20) and rs.effective_to is None
    assert dict(rs.params) == {"visit_limit": ir.Lit(value=1), "rural_share": ir.Rate(bp=500)}
    assert rs.bypass_modifiers == ("59", "XE", "XS", "XP", "XU")
    assert [r.id for r in rs.rules][:3] == ["QTY-001", "TAR-001", "SEX-001"]
    assert rs.rules[0].pos == ir.Pos(line=14, col=5)
    assert rs.scope == ir.Compare(op="==", left=ir.Name(ns="line", field="insurer_id"), right=ir.Lit(value="IHIO"))


def test_rate_bp_is_exact():
    assert [rate_bp(x) for x in ("30", "7.5", "0.05", "100", "12.34")] == [3000, 750, 5, 10000, 1234]
    with pytest.raises(ValueError):
        rate_bp("0.001")


def test_percentages_are_not_rewritten_inside_strings():
    assert rewrite_percentages("x * 30% > '30%' and \"5 %\" == y + 5 %") == \
        "x * __rate__(3000) > '30%' and \"5 %\" == y + __rate__(500)"


def test_durations():
    assert [parse_duration(x) for x in ("1d", "30d", "12m", "2y", "benefit_year", "3w", "d")] == [
        (1, "d"), (30, "d"), (12, "m"), (2, "y"), (0, "benefit_year"), None, None]


def test_rate_times_money_is_rounded_rate_multiplication(tmp_path):
    e = when(tmp_path, "30% * line.billed_amount > 0")
    assert e.left == ir.BinOp(op="*%", left=ir.Name(ns="line", field="billed_amount"), right=ir.Rate(bp=3000))


def test_dates_in_comparisons_become_dates(tmp_path):
    assert when(tmp_path, "line.service_date >= '1404/01/01'").right == ir.Lit(value=dt.date(2025, 3, 21))
    assert when(tmp_path, "line.service_date < '2025-03-21'").right == ir.Lit(value=dt.date(2025, 3, 21))
    with pytest.raises(RulesetError, match="E110"):
        when(tmp_path, "line.service_date < '1404/13/01'")


def test_params_are_inlined(tmp_path):
    e = when(tmp_path, "line.quantity > params.visit_limit")
    assert e.right == ir.Lit(value=1)


def test_null_spellings_and_booleans(tmp_path):
    assert when(tmp_path, "line.modifier is None") == ir.IsNull(arg=ir.Name(ns="line", field="modifier"))
    assert when(tmp_path, "line.modifier is not null").negate
    assert when(tmp_path, "True") == ir.Lit(value=True)


def test_in_list_column_and_literal_list(tmp_path):
    e = when(tmp_path, "'I10' in line.diagnosis_codes")
    assert e == ir.In(item=ir.Lit(value="I10"), container=ir.Name(ns="line", field="diagnosis_codes"))
    e = when(tmp_path, "line.modifier not in ['59', 'XU']")
    assert e.negate and [i.value for i in e.container.items] == ["59", "XU"]


def test_aggregate_ir(tmp_path):
    e = when(tmp_path, "prior_count(per=[member_id, line.provider_id, benefit_year], within='30d', "
                       "where=tariff.group == 'visit') >= 1")
    agg = e.left
    assert isinstance(agg, ir.Aggregate) and agg.per == ("member_id", "provider_id", "benefit_year")
    assert agg.within == "30d" and agg.index == 0 and agg.value is None


def test_aggregates_may_not_read_running_values(tmp_path):
    with pytest.raises(RulesetError, match="E306"):
        when(tmp_path, "prior_sum(line.allowed_amount, per=[member_id]) > 0")


def test_bypass_modifiers_become_strings(tmp_path):
    rs = adhoc(tmp_path, "- id: R\n  deny: INVALID_QUANTITY",
               header="ruleset: t.b\nversion: 2\nbypass_modifiers: [59, XU]\nrules:\n")
    assert rs.ir.bypass_modifiers == ("59", "XU") and rs.ir.version == "2"


def test_solar_hijri_and_iso_effective_dates(tmp_path):
    rs = adhoc(tmp_path, "- id: R\n  deny: INVALID_QUANTITY",
               header="ruleset: t.e\nversion: '1'\neffective: {from: 1404/01/01, to: 2026-03-20}\nrules:\n")
    assert (rs.ir.effective_from, rs.ir.effective_to) == (dt.date(2025, 3, 21), dt.date(2026, 3, 20))


def test_declared_codes_are_known(tmp_path):
    header = ("ruleset: t.c\nversion: '1'\ncodes:\n  - {code: MY_CODE, severity: deny, carc: '96', en: e, fa: f}\n"
              "rules:\n")
    rs = adhoc(tmp_path, "- id: R\n  deny: MY_CODE", header=header)
    assert rs.ir.codes[0].code == "MY_CODE"


def test_digest_names_the_content(tmp_path):
    a = adhoc(tmp_path, "- id: R\n  deny: INVALID_QUANTITY").digest
    assert a == adhoc(tmp_path, "- id: R\n  deny: INVALID_QUANTITY").digest
    assert a != adhoc(tmp_path, "- id: R\n  deny: CODE_NOT_IN_TARIFF").digest
    (tmp_path / "tables" / "tariff.csv").write_text((tmp_path / "tables" / "tariff.csv").read_text() + "\n")
    assert a != adhoc(tmp_path, "- id: R\n  deny: INVALID_QUANTITY").digest  # the table's bytes count


def test_syntax_error_points_into_the_expression(tmp_path):
    with pytest.raises(RulesetError) as e:
        adhoc(tmp_path, "- id: R\n  when: line.quantity >< 1\n  flag: MANUAL_REVIEW")
    (d,) = e.value.diagnostics
    assert d.code == "E109" and d.line == 10 and d.col >= 9
