"""FHIR R4 mapping: the official HL7 examples, a hand-written Iranian claim, ClaimResponse, eligibility, junk."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adjudicator import codes, fhir
from adjudicator.schema import CLAIM_LINES

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared/data/external/fhir-r4-examples-financial"
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="HL7 FHIR R4 examples not present")

ITEMS = {"100150": 1, "100151": 3, "100152": 1, "100153": 3, "100154": 1, "100155": 1, "100156": 3, "660150": 1,
         "660151": 1, "660152": 1, "760150": 1, "760151": 1, "760152": 1, "860150": 1, "960150": 1, "960151": 1,
         "MED-00050": 1}  # fmt: skip


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


IRR_CLAIM = {
    "resourceType": "Claim",
    "id": "C-1404-0001",
    "status": "active",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
    "use": "claim",
    "patient": {"reference": "Patient/0012345679"},
    "created": "2025-06-01",
    "insurer": {"reference": "Organization/IHIO"},
    "provider": {"reference": "Organization/CLINIC-7"},
    "referral": {"reference": "ServiceRequest/REF-55"},
    "careTeam": [{"sequence": 1, "provider": {"reference": "Practitioner/MC-12345"}}],
    "diagnosis": [
        {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                                                 "code": "J06.9"}]}},
        {"sequence": 2, "diagnosisCodeableConcept": {"coding": [{"code": "R50.9"}]}},
    ],  # fmt: skip
    "insurance": [
        {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/IHIO-1"}, "preAuthRef": ["PA-9"]},
        {"sequence": 2, "focal": False, "coverage": {"display": "DANA"}},
    ],
    "item": [
        {"sequence": 1, "careTeamSequence": [1], "diagnosisSequence": [1],
         "productOrService": {"coding": [{"system": "http://irimc.org/rvu", "code": "901910"}]},
         "modifier": [{"coding": [{"code": "59"}]}], "servicedDate": "1404/03/11",
         "quantity": {"value": 2}, "unitPrice": {"value": 600000, "currency": "IRR"},
         "net": {"value": 1200000, "currency": "IRR"}},
        {"sequence": 2,
         "productOrService": {"coding": [{"system": "http://ttac.ir/irc", "code": "1234567890123456"}]},
         "quantity": {"value": 3}, "unitPrice": {"value": 150000, "currency": "IRR"}},
    ],
}  # fmt: skip


@needs_examples
@pytest.mark.parametrize("claim_id", sorted(ITEMS))
def test_hl7_examples_read_without_exception_with_a_currency_error_per_item(claim_id):
    result = fhir.claim_to_lines(_example(f"Claim-{claim_id}.json"))
    assert len(result.lines) == ITEMS[claim_id]
    assert [line["claim_id"] for line in result.lines] == [claim_id] * ITEMS[claim_id]
    assert all(list(line) == list(CLAIM_LINES) for line in result.lines)
    currency = [e for e in result.errors if e.code == "unsupported-currency"]
    assert len(currency) == ITEMS[claim_id]
    assert currency[0].message == "currency USD is not supported (IRR only)"
    assert currency[0].path.endswith(".net.currency")
    assert any(e.code == "unknown-code-system" for e in result.errors)


@needs_examples
def test_hl7_examples_specific_mappings():
    fractional = fhir.claim_to_lines(_example("Claim-100150.json"))
    assert fractional.lines[0]["billed_amount"] is None  # 135.57 is an error, not rounded
    assert any(e.path == "Claim.item[0].net.value" and "135.57" in e.message for e in fractional.errors)
    preauth = fhir.claim_to_lines(_example("Claim-100153.json"))
    assert any(e.path == "Claim.use" and "preauthorization" in e.message for e in preauth.errors)
    by_identifier = fhir.claim_to_lines(_example("Claim-100154.json")).lines[0]
    assert (by_identifier["member_id"], by_identifier["insurer_id"]) == ("123AB345", "123456")
    inpatient = fhir.claim_to_lines(_example("Claim-MED-00050.json")).lines[0]
    assert inpatient["setting"] == "inpatient"
    assert (inpatient["admission_date"], inpatient["discharge_date"]) == (dt.date(2015, 10, 1), dt.date(2015, 10, 5))
    assert inpatient["diagnosis_codes"] == ["G89.4", "M47.816"]
    pharmacy = fhir.claim_to_lines(_example("Claim-760151.json")).lines[0]
    assert (pharmacy["setting"], pharmacy["quantity"], pharmacy["billed_amount"]) == ("outpatient", 90, None)


def test_irr_claim_maps_exactly():
    result = fhir.claim_to_lines(IRR_CLAIM)
    assert result.errors == []
    common = {"claim_id": "C-1404-0001", "member_id": "0012345679", "insurer_id": "IHIO",
              "supplementary_insurer_id": "DANA", "setting": "outpatient", "provider_id": "CLINIC-7",
              "prescriber_id": "MC-12345", "admission_date": None, "discharge_date": None, "referral_id": "REF-55",
              "prior_auth_id": "PA-9", "submission": "original", "replaces_claim_id": None}  # fmt: skip
    assert result.lines == [
        {**common, "line_no": 1, "service_date": dt.date(2025, 6, 1), "service_code": "901910", "modifier": "59",
         "quantity": 2, "billed_amount": 1200000, "diagnosis_codes": ["J06.9"]},
        {**common, "line_no": 2, "service_date": dt.date(2025, 6, 1), "service_code": "1234567890123456",
         "modifier": None, "quantity": 3, "billed_amount": 450000, "diagnosis_codes": ["J06.9", "R50.9"]},
    ]  # fmt: skip
    assert [list(line) for line in result.lines] == [list(CLAIM_LINES)] * 2


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        (lambda c: c.pop("patient"), "Claim.patient", "missing-patient"),
        (lambda c: c.update(use="predetermination"), "Claim.use", "unsupported-use"),
        (lambda c: c["item"][0]["net"].update(value=1200000.0), "Claim.item[0].net.value", "invalid-money"),
        (lambda c: c["item"][0]["net"].update(value=-5), "Claim.item[0].net.value", "invalid-money"),
        (lambda c: c["item"][1]["productOrService"]["coding"][0].update(system="http://loinc.org"),
         "Claim.item[1].productOrService.coding[0].system", "unknown-code-system"),
        (lambda c: c["item"][1]["quantity"].update(value=1.5), "Claim.item[1].quantity.value", "invalid-quantity"),
        (lambda c: c["item"][0].update(servicedDate="1404/12/30"), "Claim.item[0].servicedDate", "invalid-date"),
        (lambda c: c.update(type={"coding": [{"code": "dental"}]}), "Claim.type", "unsupported-type"),
        (lambda c: c.pop("item"), "Claim.item", "no-items"),
    ],
)  # fmt: skip
def test_what_cannot_be_adjudicated_is_an_error_entry(change, path, code):
    claim = copy.deepcopy(IRR_CLAIM)
    change(claim)
    errors = fhir.claim_to_lines(claim).errors
    assert [(e.path, e.code) for e in errors] == [(path, code)]


LINES = [
    {"claim_id": "C-1404-0001", "line_no": 1, "member_id": "0012345679", "decision": "adjusted",
     "billed_amount": 1200000, "allowed_amount": 1000000, "insurer_paid": 700000, "supplementary_paid": 200000,
     "member_pays": 100000, "provider_deduction": 200000, "primary_reason": "ABOVE_TARIFF"},
    {"claim_id": "C-1404-0001", "line_no": 2, "member_id": "0012345679", "decision": "denied",
     "billed_amount": 450000, "allowed_amount": 0, "insurer_paid": 0, "supplementary_paid": 0,
     "member_pays": 0, "provider_deduction": 450000, "primary_reason": "DRUG_NOT_COVERED"},
]  # fmt: skip
FINDINGS = [
    {"claim_id": "C-1404-0001", "line_no": 1, "ruleset": "ihio.outpatient", "rule_id": "PRC-001",
     "reason_code": "ABOVE_TARIFF", "action": "cap_amount", "amount_effect": -200000, "liability": "provider",
     "message": "Above the tariff", "message_fa": "بیش از تعرفه"},
    {"claim_id": "C-1404-0001", "line_no": 2, "ruleset": "ihio.outpatient", "rule_id": "DRG-001",
     "reason_code": "DRUG_NOT_COVERED", "action": "deny", "amount_effect": -450000, "liability": "provider",
     "message": None, "message_fa": None},
]  # fmt: skip


def _adjudication(item, category):
    return next(a for a in item["adjudication"] if a["category"]["coding"][0]["code"] == category)


def test_claim_response_categories_totals_reasons_and_notes():
    r = fhir.claim_response(IRR_CLAIM, LINES, FINDINGS, created="2025-06-02")
    assert (r["resourceType"], r["status"], r["use"], r["created"]) == ("ClaimResponse", "active", "claim", "2025-06-02")
    assert r["outcome"] == "complete" and r["disposition"].startswith("Claim partial")
    assert r["request"] == {"reference": "Claim/C-1404-0001"}
    assert r["patient"] == IRR_CLAIM["patient"] and r["insurer"] == IRR_CLAIM["insurer"]
    first, second = r["item"]
    assert [first["itemSequence"], second["itemSequence"]] == [1, 2]
    assert _adjudication(first, "submitted")["amount"] == {"value": 1200000, "currency": "IRR"}
    assert _adjudication(first, "eligible")["amount"]["value"] == 1000000
    assert _adjudication(first, "copay")["amount"]["value"] == 100000
    assert _adjudication(first, "benefit")["amount"]["value"] == 900000
    reason = _adjudication(first, "eligible")["reason"]["coding"]
    assert {"system": codes.CARC_SYSTEM, "code": "45"} in reason
    assert any(c["system"] == codes.REASON_CODE_SYSTEM and c["code"] == "ABOVE_TARIFF" for c in reason)
    finding = _adjudication(second, "deny")
    assert {"system": codes.FHIR_REASON_SYSTEM, "code": "ar001"} in finding["reason"]["coding"]
    assert finding["amount"]["value"] == 450000
    totals = {t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in r["total"]}
    assert totals == {"submitted": 1650000, "eligible": 1000000, "copay": 100000, "benefit": 900000}
    notes = {n["number"]: (n["language"]["coding"][0]["code"], n["text"]) for n in r["processNote"]}
    assert [notes[n] for n in first["noteNumber"]] == [("en", "Above the tariff"), ("fa", "بیش از تعرفه")]
    assert [notes[n] for n in second["noteNumber"]] == [("en", codes.get("DRUG_NOT_COVERED").en),
                                                        ("fa", codes.get("DRUG_NOT_COVERED").fa)]  # fmt: skip
    json.dumps(r)  # serialisable as is


def test_claim_response_errors_and_outcomes():
    errors = [fhir.ClaimInputError(2, "Claim.item[1].net.currency", "currency USD is not supported (IRR only)",
                                   "unsupported-currency"),
              fhir.ClaimInputError(None, "Claim.id", "no id", "missing-identifier")]  # fmt: skip
    partial = fhir.claim_response(IRR_CLAIM, LINES[:1], FINDINGS[:1], errors, created="2025-06-02")
    assert partial["outcome"] == "partial"
    first, second = partial["error"]
    assert first["itemSequence"] == 2 and first["code"]["text"].startswith("currency USD")
    assert first["extension"][0]["valueString"] == "Claim.item[1].net.currency"
    assert {"system": fhir.ADJUDICATION_ERROR_SYSTEM, "code": "a001"} in second["code"]["coding"]
    assert "itemSequence" not in second
    failed = fhir.claim_response(IRR_CLAIM, [], [], errors, created="2025-06-02")
    assert failed["outcome"] == "error" and "item" not in failed
    pended = fhir.claim_response(IRR_CLAIM, [{**LINES[0], "decision": "pended"}], [], created="2025-06-02")
    assert pended["outcome"] == "partial" and pended["disposition"].startswith("Claim pended")


@needs_examples
def test_eligibility_request_examples():
    assert fhir.eligibility_request_to_query(_example("CoverageEligibilityRequest-52345.json")) == {
        "member_id": "pat1", "insurer_id": "2", "date": dt.date(2014, 8, 16), "provider_id": "1"}
    assert fhir.eligibility_request_to_query(_example("CoverageEligibilityRequest-52346.json"))["date"] == dt.date(
        2014, 9, 17)


@needs_examples
def test_eligibility_response_in_force_and_not_enrolled():
    request = _example("CoverageEligibilityRequest-52346.json")
    answer = {"eligible": True, "insurer_id": "IHIO", "plan": "basic", "fund": "rural",
              "start_date": dt.date(2025, 3, 21), "end_date": None, "reason": None,
              "benefits": [{"type": "benefit", "allowed": 50000000, "used": 1200000}]}  # fmt: skip
    r = fhir.eligibility_response(request, answer, created="2025-06-02")
    assert (r["resourceType"], r["outcome"], r["created"]) == ("CoverageEligibilityResponse", "complete", "2025-06-02")
    assert r["request"] == {"reference": "CoverageEligibilityRequest/52346"}
    insurance = r["insurance"][0]
    assert insurance["inforce"] is True and insurance["coverage"] == {"reference": "Coverage/9876B1"}
    assert insurance["benefitPeriod"] == {"start": "2025-03-21"}
    assert insurance["item"][0]["benefit"][0]["allowedMoney"] == {"value": 50000000, "currency": "IRR"}
    lapsed = fhir.eligibility_response(request, {**answer, "eligible": False, "reason": "NOT_IN_FORCE"}, "2025-06-02")
    assert lapsed["insurance"][0]["inforce"] is False and lapsed["outcome"] == "complete"
    missing = fhir.eligibility_response(request, {"eligible": False, "reason": "NOT_ENROLLED"}, "2025-06-02")
    assert missing["outcome"] == "error" and "insurance" not in missing
    assert {"system": codes.CARC_SYSTEM, "code": "31"} in missing["error"][0]["code"]["coding"]


FHIR_KEYS = ["resourceType", "id", "identifier", "use", "type", "subType", "patient", "insurer", "provider",
             "insurance", "focal", "coverage", "preAuthRef", "item", "sequence", "productOrService", "coding",
             "system", "code", "net", "value", "currency", "unitPrice", "quantity", "servicedDate", "servicedPeriod",
             "start", "end", "diagnosis", "diagnosisSequence", "diagnosisCodeableConcept", "careTeam",
             "careTeamSequence", "reference", "display", "modifier", "referral", "created", "billablePeriod",
             "supportingInfo", "category", "timingPeriod", "purpose"]  # fmt: skip
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.sampled_from(["Claim", "claim"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FHIR_KEYS), inner, max_size=6),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JUNK)
def test_junk_never_raises(junk):
    result = fhir.claim_to_lines(junk)
    assert isinstance(result.errors, list)
    fhir.eligibility_request_to_query(junk)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["item", "patient", "insurance", "diagnosis", "careTeam", "type", "created"]), JUNK)
def test_junk_inside_a_valid_claim_never_raises(key, junk):
    claim = copy.deepcopy(IRR_CLAIM)
    claim[key] = junk
    result = fhir.claim_to_lines(claim)
    fhir.claim_response(claim, [], [], result.errors, created="2025-06-02")
