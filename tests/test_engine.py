"""End-to-end adjudication on a small population, against hand-computed amounts and decisions."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adjudicator import Engine, schema
from adjudicator.errors import RulesetConflictError
from adjudicator.rules.compiled import load_ruleset
from tests.conftest import D, M1, M2, RULESETS, claim_frame


def line(claim, no, member, code, qty, billed, **kw):
    return dict(claim_id=claim, line_no=no, member_id=member, insurer_id=kw.pop("insurer_id", "IHIO"),
                setting=kw.pop("setting", "outpatient"), provider_id=kw.pop("provider_id", "p1"),
                service_date=kw.pop("service_date", D(2025, 4, 2)), service_code=code, quantity=qty,
                billed_amount=billed, **kw)


@pytest.fixture(scope="module")
def engine(population):
    members, coverage, providers = population
    return Engine(str(RULESETS), members=members, coverage=coverage, providers=providers)


def test_hand_computed_lines(engine):
    claims = claim_frame([
        line("c1", 1, M1, "901910", 1, 1_500_000, service_date=D(2025, 4, 1)),
        line("c2", 1, M1, "901910", 1, 1_000_000, provider_id="p2", service_date=D(2025, 4, 1)),
        line("c3", 1, M2, "901910", 1, 1_000_000, supplementary_insurer_id="DANA", referral_id="R1"),
        line("c3", 2, M2, "803020", 3, 900_000, supplementary_insurer_id="DANA"),
        line("c4", 1, M2, "901910", 1, 1_000, insurer_id="SSO"),
    ])
    res = engine.adjudicate(claims)
    got = {(r["claim_id"], r["line_no"]): r for r in res.lines.iter_rows(named=True)}
    # GP visit 1404, public sector: 43 RVU × 27,500 = 1,182,500; 30% member share
    c1 = got[("c1", 1)]
    assert (c1["decision"], c1["allowed_amount"], c1["insurer_paid"], c1["member_pays"],
            c1["provider_deduction"]) == ("adjusted", 1_182_500, 827_750, 354_750, 317_500)
    assert c1["primary_reason"] == "ABOVE_TARIFF"
    # second GP visit of the day at another provider: suspect duplicate (pend) and frequency deny → denied
    c2 = got[("c2", 1)]
    assert c2["decision"] == "denied" and c2["primary_reason"] == "FREQUENCY_EXCEEDED"
    assert c2["provider_deduction"] == 1_000_000
    # rural fund with referral: 5% share; supplementary pays 90% of the member's 50,000
    c3 = got[("c3", 1)]
    assert (c3["insurer_paid"], c3["supplementary_paid"], c3["member_pays"]) == (950_000, 45_000, 5_000)
    assert c3["supplementary_ruleset"] == "supplementary.complementary@1404.1"
    # 3 units, 1 allowed per day: 900,000 × 1/3 = 300,000; 30% share 90,000 → supplementary 81,000, member 9,000
    c32 = got[("c3", 2)]
    assert (c32["allowed_quantity"], c32["allowed_amount"], c32["insurer_paid"], c32["supplementary_paid"],
            c32["member_pays"], c32["provider_deduction"]) == (1, 300_000, 210_000, 81_000, 9_000, 600_000)
    # billed to SSO while the member's basic cover is IHIO
    assert got[("c4", 1)]["decision"] == "denied" and got[("c4", 1)]["primary_reason"] == "WRONG_INSURER"
    assert res.claims.filter(pl.col("claim_id") == "c3")["decision"].item() == "adjusted"
    assert set(res.lines.columns) == set(schema.LINE_RESULTS)
    assert res.summary["rows_in"] == 5


def test_line_without_ruleset_is_denied_no_ruleset(population):
    members, coverage, providers = population
    engine = Engine([str(RULESETS / "ihio" / "inpatient.yaml")], members=members, coverage=coverage,
                    providers=providers)
    res = engine.adjudicate(claim_frame([line("c1", 1, M1, "901910", 1, 1000)]))
    assert res.lines["decision"].item() == "denied"
    assert res.lines["primary_reason"].item() == "NO_RULESET"


def test_two_matching_rulesets_stop_the_run(population):
    members, coverage, providers = population
    rs = load_ruleset(RULESETS / "ihio" / "outpatient.yaml")
    with pytest.raises(RulesetConflictError, match="both match"):
        Engine([rs, rs], members=members, coverage=coverage, providers=providers).adjudicate(
            claim_frame([line("c1", 1, M1, "901910", 1, 1000)]))


CODES = ["901910", "803020", "803035", "990010", "000000", "1000110"]


@st.composite
def claims(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        rows.append(line(f"c{draw(st.integers(0, 8))}", i + 1, draw(st.sampled_from([M1, M2])),
                         draw(st.sampled_from(CODES)), draw(st.integers(-1, 6)), draw(st.integers(0, 5_000_000)),
                         insurer_id=draw(st.sampled_from(["IHIO", "IHIO", "SSO"])),
                         setting=draw(st.sampled_from(["outpatient", "inpatient", "emergency"])),
                         provider_id=draw(st.sampled_from(["p1", "p2"])),
                         service_date=D(2025, 3, 15) + __import__("datetime").timedelta(draw(st.integers(0, 20))),
                         supplementary_insurer_id=draw(st.sampled_from([None, "DANA"])),
                         referral_id=draw(st.sampled_from([None, "R"])),
                         admission_date=D(2025, 3, 15), discharge_date=D(2025, 3, 15) + __import__(
                             "datetime").timedelta(draw(st.integers(0, 5)))))
    return claim_frame(rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=claims())
def test_conservation_of_money_on_every_line(engine, frame):
    res = engine.adjudicate(frame)
    l = res.lines
    parts = l["insurer_paid"] + l["supplementary_paid"] + l["member_pays"] + l["provider_deduction"]
    assert (parts == l["billed_amount"]).all()
    for c in ("insurer_paid", "supplementary_paid", "member_pays", "provider_deduction", "allowed_amount"):
        assert (l[c] >= 0).all(), c
    assert (l["allowed_amount"] <= l["billed_amount"]).all()
    assert l.height + res.quarantine.filter(pl.col("source") == "claims").height == frame.height
