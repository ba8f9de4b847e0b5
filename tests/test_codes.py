"""The reason-code catalogue: complete entries, standard codes, Persian messages, helpful lookups."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from adjudicator import codes

REQUIRED = """INVALID_QUANTITY CODE_NOT_IN_TARIFF NOT_IN_PACKAGE SEX_CONFLICT AGE_CONFLICT SETTING_CONFLICT
UNITS_EXCEED_LIMIT FREQUENCY_EXCEEDED REFERRAL_MISSING PRIOR_AUTH_MISSING ABOVE_TARIFF BUNDLED_PAIR
BUNDLED_IN_PACKAGE BED_DAYS_EXCEED_STAY MISSING_ADMISSION_DATES DRUG_NOT_COVERED DRUG_QTY_EXCEEDED
PRESCRIBER_NOT_ALLOWED DUPLICATE_THERAPY RX_QTY_PER_PERIOD NOT_ENROLLED NOT_IN_FORCE COVER_SUSPENDED WRONG_INSURER
MEMBER_DECEASED OTHER_PRIMARY MEMBER_MUST_CHOOSE DUPLICATE_EXACT DUPLICATE_SUSPECT CROSS_INSURER_DUPLICATE
SUPP_NOT_VALID SUPP_WAITING_PERIOD NO_RULESET BENEFIT_MAX_REACHED ADMISSION_CEILING FAMILY_CEILING DEDUCTIBLE_APPLIED
SUPERSEDED MANUAL_REVIEW HIGH_COST_REVIEW DISPENSED_WITHOUT_RX DISPENSED_ABOVE_RX RX_EXPIRED RX_DISPENSED_TWICE
""".split()

PERSIAN_LETTER = re.compile(r"[\u0600-\u06FF]")


def test_every_required_code_is_present():
    assert set(REQUIRED) <= set(codes.CATALOGUE)


@pytest.mark.parametrize("code", sorted(codes.CATALOGUE))
def test_entry_is_complete(code):
    entry = codes.CATALOGUE[code]
    assert entry.code == code
    assert entry.severity in {"deny", "pend", "adjust", "info"}
    assert entry.carc and entry.en and entry.fa
    assert entry.group in {"CO", "PR", "OA"}
    assert entry.fhir in {None, "ar001", "ar002"}
    assert PERSIAN_LETTER.search(entry.fa), "the Persian message must be in Persian"
    assert not re.search(r"[A-Za-z]", entry.fa)


def test_standard_carc_mappings():
    expected = {"DUPLICATE_EXACT": "18", "NOT_IN_FORCE": "27", "ABOVE_TARIFF": "45", "REFERRAL_MISSING": "288",
                "SEX_CONFLICT": "7", "AGE_CONFLICT": "6", "BUNDLED_PAIR": "236", "WRONG_INSURER": "109",
                "BENEFIT_MAX_REACHED": "119", "UNITS_EXCEED_LIMIT": "151", "DEDUCTIBLE_APPLIED": "1"}  # fmt: skip
    assert {code: codes.get(code).carc for code in expected} == expected


def test_pends_use_group_oa_and_deductible_is_the_members():
    assert all(c.group == "OA" for c in codes.CATALOGUE.values() if c.severity == "pend")
    assert codes.get("DEDUCTIBLE_APPLIED").severity == "info"
    assert codes.get("MANUAL_REVIEW").severity == "pend"


def test_catalogue_is_immutable():
    with pytest.raises(TypeError):
        codes.CATALOGUE["NEW"] = codes.get("MANUAL_REVIEW")  # type: ignore[index]
    with pytest.raises(ValidationError):
        codes.get("MANUAL_REVIEW").code = "X"  # type: ignore[misc]


def test_get_suggests_close_codes():
    assert codes.get("SEX_CONFLICT").carc == "7"
    with pytest.raises(KeyError, match="did you mean SEX_CONFLICT"):
        codes.get("SEX_CONFLIKT")
    with pytest.raises(KeyError, match="unknown reason code 'ZZZ'") as info:
        codes.get("ZZZ")
    assert "did you mean" not in str(info.value)


def test_model_rejects_bad_entries_like_a_ruleset_codes_block_would():
    good = {"code": "NEW_CODE", "severity": "deny", "carc": "96", "en": "x", "fa": "خارج از بسته"}
    assert codes.ReasonCode(**good).group == "CO"
    for bad in [{"code": "new-code"}, {"severity": "reject"}, {"carc": ""}, {"fhir": "ar003"}, {"extra": 1}]:
        with pytest.raises(ValidationError):
            codes.ReasonCode(**(good | bad))


def test_systems():
    assert codes.CARC_SYSTEM == "https://x12.org/codes/claim-adjustment-reason-codes"
    assert codes.FHIR_REASON_SYSTEM == "http://terminology.hl7.org/CodeSystem/adjudication-reason"
