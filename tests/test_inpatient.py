"""Inpatient adjudication: global (package) tariffs, bed days within the stay, the 10% share, family caps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from adjudicator import Engine
from tests.conftest import D, M1, M2, RULESETS, claim_frame
from tests.test_engine import line

ADM, DIS = D(2025, 5, 1), D(2025, 5, 3)  # a two-day stay, 1404/02/11 – 1404/02/13


def _inpatient(claim, no, code, qty, billed, day=ADM):
    return line(claim, no, M1, code, qty, billed, setting="inpatient", service_date=day, admission_date=ADM,
                discharge_date=DIS)


def test_package_bundles_its_services_and_pays_the_package_price(population):
    members, coverage, providers = population
    engine = Engine(str(RULESETS), members=members, coverage=coverage, providers=providers)
    res = engine.adjudicate(claim_frame([
        _inpatient("A1", 1, "401010", 1, 90_000_000),   # appendectomy, global package (public: 77,890,000 in 1404)
        _inpatient("A1", 2, "950010", 1, 9_000_000),    # anaesthesia: included in the package
        _inpatient("A1", 3, "901935", 1, 1_000_000, D(2025, 5, 2)),  # inpatient visit: included
        _inpatient("A1", 4, "990010", 5, 5_000_000),    # bed days: included in the package
    ]))
    got = {r["line_no"]: r for r in res.lines.iter_rows(named=True)}
    assert got[1]["allowed_amount"] == 77_890_000 and got[1]["decision"] == "adjusted"
    assert got[1]["insurer_paid"] == 77_890_000 - 7_789_000  # 10% inpatient member share
    for no in (2, 3, 4):
        assert got[no]["decision"] == "denied" and got[no]["primary_reason"] == "BUNDLED_IN_PACKAGE", no
        assert got[no]["provider_deduction"] == got[no]["billed_amount"]
    assert res.claims["decision"].item() == "partial"


def test_bed_days_are_cut_to_the_length_of_stay_across_lines(population):
    members, coverage, providers = population
    engine = Engine(str(RULESETS), members=members, coverage=coverage, providers=providers)
    res = engine.adjudicate(claim_frame([
        _inpatient("B1", 1, "990010", 1, 1_000_000, D(2025, 5, 1)),
        _inpatient("B1", 2, "990010", 1, 1_000_000, D(2025, 5, 2)),
        _inpatient("B1", 3, "990010", 1, 1_000_000, D(2025, 5, 3)),  # the third bed day of a 2-day stay
    ]))
    decisions = res.lines.sort("line_no")["decision"].to_list()
    assert decisions[2] == "denied"
    assert res.lines.sort("line_no")["primary_reason"].to_list()[2] == "BED_DAYS_EXCEED_STAY"
    assert int(res.lines["allowed_quantity"].sum()) == 2


def test_family_cap_is_shared_by_the_family(population, tmp_path):
    members, coverage, providers = population
    members = members.with_columns(pl.lit("F1").alias("family_id"))  # M1 and M2 are one family here
    coverage = coverage.with_columns(pl.lit("iranians").alias("fund"))
    src = (RULESETS / "ihio" / "outpatient.yaml").read_text(encoding="utf-8").replace("../national/", str(
        RULESETS / "national") + "/")
    src = src.replace("""    - {id: CAP-DENT, per: [member_id, benefit_year], where: "attr.group == 'dental'", amount: 60000000,
       reason: BENEFIT_MAX_REACHED}""", """    - {id: CAP-FAM, per: [family, benefit_year], amount: 1000000, reason: FAMILY_CEILING}""")
    path = tmp_path / "family.yaml"
    path.write_text(src, encoding="utf-8")
    engine = Engine([str(path)], members=members, coverage=coverage, providers=providers)
    res = engine.adjudicate(claim_frame([
        line("F1", 1, M1, "901910", 1, 1_182_500, service_date=D(2025, 5, 1)),
        line("F2", 1, M2, "901910", 1, 1_182_500, service_date=D(2025, 5, 2)),
    ]))
    paid = res.lines.sort("claim_id")["insurer_paid"].to_list()
    assert paid == [827_750, 1_000_000 - 827_750]  # the second member gets what the family has left
    assert "FAMILY_CEILING" in res.findings["reason_code"].to_list()


FHIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "external" / "fhir-r4-examples-financial"


def test_fhir_claims_and_eligibility_requests_through_the_engine(population):
    members, coverage, providers = population
    engine = Engine(str(RULESETS), members=members, coverage=coverage, providers=providers)
    claims = sorted(FHIR.glob("Claim-*.json"))
    assert len(claims) == 17
    for path in claims:
        decision = engine.check(json.loads(path.read_text()), audit=False)
        assert decision.errors, path.name  # foreign currency, unknown systems, non-national ids: errors, no crash
    for path in sorted(FHIR.glob("CoverageEligibilityRequest-*.json")):
        response = engine.check_eligibility(json.loads(path.read_text()), created="2025-05-01")
        assert response["resourceType"] == "CoverageEligibilityResponse"
        assert response["outcome"] in ("complete", "error")
    answer = engine.eligibility(M2, "IHIO", "1404/02/11")
    assert answer["eligible"] and answer["fund"] == "rural"
    assert engine.eligibility(M2, "SSO", dt.date(2025, 5, 1))["reason"] == "WRONG_INSURER"
