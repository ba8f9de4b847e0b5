"""FHIR R4 at the point of service: Claim → claim lines, results → ClaimResponse, and eligibility in both directions.

Pure functions over dicts, no I/O and no engine: ``claim_to_lines`` turns a FHIR ``Claim`` into claim-line dicts
with the DATA.md columns, ``claim_response`` turns the engine's line results and findings back into a
``ClaimResponse``, and the two eligibility functions do the same for ``CoverageEligibilityRequest/Response``.
A FHIR document comes from outside and may be anything, so reading never raises: whatever stops a claim from being
adjudicated (a currency other than Rials, an unknown code system, a fractional amount, a missing patient, a
pre-authorisation) becomes a ``ClaimInputError`` with the FHIRPath of the offending element, and the caller decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adjudicator import codes, dates
from adjudicator.schema import CLAIM_LINES, DECISION_SEVERITY

__all__ = [
    "ADJUDICATION_SYSTEM",
    "ADJUDICATION_ERROR_SYSTEM",
    "INPUT_ERROR_SYSTEM",
    "KNOWN_CODE_SYSTEMS",
    "ClaimInput",
    "ClaimInputError",
    "claim_to_lines",
    "claim_response",
    "eligibility_request_to_query",
    "eligibility_response",
]

CURRENCY = "IRR"
# Code systems whose codes our rulesets and tables use; a code from any other system cannot be priced.
KNOWN_CODE_SYSTEMS: Mapping[str, str] = {
    "http://irimc.org/rvu": "national relative-value book of health services",
    "http://ttac.ir/irc": "Iran drug code (IRC)",
}
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
ADJUDICATION_ERROR_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication-error"
INPUT_ERROR_SYSTEM = "https://adjudicator.example/input-error"
FINDING_ACTION_SYSTEM = "https://adjudicator.example/finding-action"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
# R4's ClaimResponse.error has no `expression` (R5 added it); the cross-version extension carries it in R4.
ERROR_EXPRESSION_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ClaimResponse.error.expression"
_SETTINGS = {"institutional": "inpatient", "professional": "outpatient", "oral": "outpatient",
             "vision": "outpatient", "pharmacy": "outpatient"}  # fmt: skip
# Our error codes that the FHIR adjudication-error code system has an equivalent for.
_FHIR_ERROR_CODES = {"missing-identifier": "a001", "missing-created": "a002"}


@dataclass(frozen=True)
class ClaimInputError:
    """Why (part of) a FHIR Claim cannot be adjudicated as sent."""

    sequence: int | None  # the item's sequence, None for the claim as a whole
    path: str  # FHIRPath of the element, e.g. "Claim.item[2].net.currency" (0-based, as FHIRPath indexes)
    message: str
    code: str = "invalid"  # one of our input-error codes (INPUT_ERROR_SYSTEM)


@dataclass(frozen=True)
class ClaimInput:
    """A FHIR Claim read as claim-line dicts (DATA.md columns), with every problem found while reading it."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ClaimInputError] = field(default_factory=list)


# --- defensive access: a FHIR document may have any shape --------------------------------------------------------


def _d(x: object) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: object) -> list[Any]:
    return x if isinstance(x, list) else []


def _s(x: object) -> str | None:
    return x if isinstance(x, str) and x.strip() else None


def _first(x: object) -> dict[str, Any]:
    items = _l(x)
    return _d(items[0]) if items else {}


def _key(x: object) -> int | str | None:
    """A sequence number usable as a dict key (junk input may put a list there)."""
    return x if isinstance(x, (int, str)) and not isinstance(x, bool) else None


def _ref_id(ref: object) -> str | None:
    """The id a Reference points to: "Patient/123" → "123", "#patient-1" → "patient-1"; else its identifier."""
    ref = _d(ref)
    text = _s(ref.get("reference"))
    if text:
        parts = [p for p in text.lstrip("#").split("/") if p]
        if "_history" in parts:  # versioned reference: .../Patient/123/_history/2
            parts = parts[: parts.index("_history")]
        if parts:
            return parts[-1]
    return _s(_d(ref.get("identifier")).get("value"))


def _code(concept: object) -> tuple[str | None, str | None]:
    """(system, code) of a CodeableConcept's first coding."""
    coding = _first(_d(concept).get("coding"))
    return _s(coding.get("system")), _s(coding.get("code"))


def _date(value: object) -> dt.date | None:
    text = _s(value)
    if text is None:
        return None
    try:  # a FHIR dateTime carries a time and zone; the date part is what the rules need
        return dates.parse_date(text[:10] if "T" in text else text)
    except ValueError:
        return None


def _rials(money: object, path: str, seq: int | None, errors: list[ClaimInputError]) -> int | None:
    """An integer amount of Rials, or None with an error; never rounds (DATA.md)."""
    money = _d(money)
    value = money.get("value")
    currency = money.get("currency")
    if currency is not None and currency != CURRENCY:
        errors.append(ClaimInputError(seq, f"{path}.currency", f"currency {currency} is not supported (IRR only)",
                                      "unsupported-currency"))  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"amount must be an integer number of Rials (got {value!r})" if value is not None else "amount is missing"
        errors.append(ClaimInputError(seq, f"{path}.value", msg, "invalid-money"))
        return None
    if value < 0:
        errors.append(ClaimInputError(seq, f"{path}.value", f"amount must not be negative (got {value})",
                                      "invalid-money"))  # fmt: skip
        return None
    return value


# --- Claim → lines -----------------------------------------------------------------------------------------------


def claim_to_lines(resource: object) -> ClaimInput:
    """Read a FHIR R4 Claim into claim-line dicts; problems become ``errors``, never exceptions."""
    errors: list[ClaimInputError] = []
    claim = _d(resource)
    if claim.get("resourceType") != "Claim":
        errors.append(ClaimInputError(None, "Claim", "the resource is not a FHIR Claim", "not-a-claim"))
        if not claim:
            return ClaimInput([], errors)
    header = _claim_header(claim, errors)
    diagnoses = {_key(d.get("sequence")): _code(d.get("diagnosisCodeableConcept"))[1] for d in map(_d, _l(claim.get("diagnosis")))}
    care_team = {_key(c.get("sequence")): _ref_id(c.get("provider")) for c in map(_d, _l(claim.get("careTeam")))}
    items = _l(claim.get("item"))
    if not items:
        errors.append(ClaimInputError(None, "Claim.item", "the claim has no items", "no-items"))
    lines = []
    for index, raw in enumerate(items):
        item = _d(raw)
        line = _item_line(item, f"Claim.item[{index}]", index, header, diagnoses, care_team, errors)
        lines.append(line)
    return ClaimInput(lines, errors)


def _claim_header(claim: dict[str, Any], errors: list[ClaimInputError]) -> dict[str, Any]:
    """The line columns that come from the claim as a whole."""
    claim_id = _s(claim.get("id")) or _s(_first(claim.get("identifier")).get("value"))
    if claim_id is None:
        errors.append(ClaimInputError(None, "Claim.id", "the claim has neither an id nor an identifier",
                                      "missing-identifier"))  # fmt: skip
    use = claim.get("use")
    if use != "claim":
        errors.append(ClaimInputError(None, "Claim.use", f"use {use!r} is not supported (only 'claim' is adjudicated)",
                                      "unsupported-use"))  # fmt: skip
    if _s(claim.get("created")) is None:
        errors.append(ClaimInputError(None, "Claim.created", "the claim has no creation date", "missing-created"))
    member_id = _ref_id(claim.get("patient"))
    if member_id is None:
        errors.append(ClaimInputError(None, "Claim.patient", "the claim names no patient", "missing-patient"))
    insurances = [_d(i) for i in _l(claim.get("insurance"))]
    focal = next((i for i in insurances if i.get("focal") is True), insurances[0] if insurances else {})
    others = [i for i in insurances if i is not focal]
    insurer_id = (_s(_d(focal.get("coverage")).get("display")) or _ref_id(claim.get("insurer"))
                  or _s(_d(claim.get("insurer")).get("display")) or _ref_id(focal.get("coverage")))  # fmt: skip
    if insurer_id is None:
        errors.append(ClaimInputError(None, "Claim.insurer", "the claim names no insurer", "missing-insurer"))
    supplementary = next((_s(_d(i.get("coverage")).get("display")) or _ref_id(i.get("coverage")) for i in others), None)
    claim_type = _code(claim.get("type"))[1]
    setting = _SETTINGS.get(claim_type or "")
    if setting is None:
        errors.append(ClaimInputError(None, "Claim.type", f"claim type {claim_type!r} is not supported",
                                      "unsupported-type"))  # fmt: skip
    elif setting == "inpatient" and _code(claim.get("subType"))[1] == "emergency":
        setting = "emergency"
    provider_id = _ref_id(claim.get("provider"))
    if provider_id is None:
        errors.append(ClaimInputError(None, "Claim.provider", "the claim names no provider", "missing-provider"))
    stay = next((_d(s.get("timingPeriod")) for s in map(_d, _l(claim.get("supportingInfo")))
                 if _code(s.get("category"))[1] == "hospitalized"), {})  # fmt: skip
    pre_auth = _l(focal.get("preAuthRef"))
    return {
        "claim_id": claim_id,
        "member_id": member_id,
        "insurer_id": insurer_id,
        "supplementary_insurer_id": supplementary,
        "setting": setting,
        "provider_id": provider_id,
        "admission_date": _date(stay.get("start")),
        "discharge_date": _date(stay.get("end")),
        "referral_id": _ref_id(claim.get("referral")),
        "prior_auth_id": _s(pre_auth[0]) if pre_auth else None,
        "submission": "original",
        "replaces_claim_id": None,
        # fallbacks for the service date, in the order FHIR gives them meaning
        "_dates": (_d(claim.get("billablePeriod")).get("start"), claim.get("created")),
    }


def _item_line(
    item: dict[str, Any],
    path: str,
    index: int,
    header: dict[str, Any],
    diagnoses: dict[Any, str | None],
    care_team: dict[Any, str | None],
    errors: list[ClaimInputError],
) -> dict[str, Any]:
    raw_seq = item.get("sequence")
    seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
    line_no = seq if seq is not None else index + 1
    if seq is None:
        errors.append(ClaimInputError(None, f"{path}.sequence", "the item has no sequence; its position is used"))
    raw_date = next((v for v in (item.get("servicedDate"), _d(item.get("servicedPeriod")).get("start"),
                                 *header["_dates"]) if _s(v)), None)  # fmt: skip
    service_date = _date(raw_date)
    if service_date is None:
        errors.append(ClaimInputError(seq, f"{path}.servicedDate", f"no readable service date (got {raw_date!r})",
                                      "invalid-date"))  # fmt: skip
    system, service_code = _code(item.get("productOrService"))
    if service_code is None:
        errors.append(ClaimInputError(seq, f"{path}.productOrService", "the item has no service code", "missing-code"))
    elif system not in KNOWN_CODE_SYSTEMS:
        what = f"code system {system!r} is not known" if system else "the service code has no code system"
        errors.append(ClaimInputError(seq, f"{path}.productOrService.coding[0].system",
                                      f"{what} (known: {', '.join(KNOWN_CODE_SYSTEMS)})", "unknown-code-system"))  # fmt: skip
    quantity = _d(item.get("quantity")).get("value", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        errors.append(ClaimInputError(seq, f"{path}.quantity.value",
                                      f"quantity must be a whole number (got {quantity!r})", "invalid-quantity"))  # fmt: skip
        quantity = None
    if "net" in item:
        billed = _rials(item.get("net"), f"{path}.net", seq, errors)
    else:
        unit = _rials(item.get("unitPrice"), f"{path}.unitPrice", seq, errors)
        billed = unit * quantity if unit is not None and quantity is not None else None
    diag_seqs = _l(item.get("diagnosisSequence"))
    picked = [diagnoses.get(_key(s)) for s in diag_seqs] if diag_seqs else list(diagnoses.values())
    team = _l(item.get("careTeamSequence"))
    prescriber = care_team.get(_key(team[0])) if team else next(iter(care_team.values()), None)
    values = {
        **{k: v for k, v in header.items() if not k.startswith("_")},
        "line_no": line_no,
        "prescriber_id": prescriber,
        "service_date": service_date,
        "service_code": service_code,
        "modifier": _code(_first(item.get("modifier")))[1],
        "quantity": quantity,
        "billed_amount": billed,
        "diagnosis_codes": [c for c in picked if c],
    }
    return {column: values.get(column) for column in CLAIM_LINES}


# --- results → ClaimResponse -------------------------------------------------------------------------------------


def _money(value: int | None) -> dict[str, Any]:
    return {"value": int(value or 0), "currency": CURRENCY}


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]}


def _reason(code: str) -> dict[str, Any]:
    """The reason codings of one of our codes: our own system, the X12 CARC and, where it fits, FHIR's."""
    try:
        entry = codes.get(code)
    except KeyError:  # a code a ruleset declared itself: only our own system knows it
        return {"coding": [{"system": codes.REASON_CODE_SYSTEM, "code": code}], "text": code}
    coding = [{"system": codes.REASON_CODE_SYSTEM, "code": code, "display": entry.en},
              {"system": codes.CARC_SYSTEM, "code": entry.carc}]  # fmt: skip
    if entry.fhir:
        coding.append({"system": codes.FHIR_REASON_SYSTEM, "code": entry.fhir})
    return {"coding": coding, "text": entry.en}


def _messages(finding: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(language, text) pairs of a finding, falling back to the catalogue's messages."""
    try:
        entry: codes.ReasonCode | None = codes.get(str(finding.get("reason_code")))
    except KeyError:
        entry = None
    en = finding.get("message") or (entry.en if entry else str(finding.get("reason_code")))
    fa = finding.get("message_fa") or (entry.fa if entry else None)
    return [("en", en)] + ([("fa", fa)] if fa else [])


def _claim_decision(decisions: list[str]) -> str:
    """DATA.md: pended if any; denied/approved if all; adjusted if all approved or adjusted; else partial."""
    if not decisions:
        return "denied"
    if "pended" in decisions:
        return "pended"
    for uniform in ("denied", "approved"):
        if all(d == uniform for d in decisions):
            return uniform
    return "adjusted" if set(decisions) <= {"approved", "adjusted"} else "partial"


def claim_response(
    claim: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]],
    errors: Iterable[ClaimInputError] = (),
    *,
    created: str,
) -> dict[str, Any]:
    """A FHIR R4 ClaimResponse for ``claim`` from its line results, findings and input errors (all IRR)."""
    claim = _d(claim)
    errors = list(errors)
    notes: dict[tuple[str, str], int] = {}
    by_line: dict[Any, list[Mapping[str, Any]]] = {}
    for f in findings:
        by_line.setdefault(f.get("line_no"), []).append(f)
    totals = {"submitted": 0, "eligible": 0, "copay": 0, "benefit": 0}
    items = []
    for line in sorted(lines, key=lambda x: (x.get("line_no") is None, x.get("line_no") or 0)):
        amounts = {
            "submitted": line.get("billed_amount"),
            "eligible": line.get("allowed_amount"),
            "copay": line.get("member_pays"),
            "benefit": (line.get("insurer_paid") or 0) + (line.get("supplementary_paid") or 0),
        }
        adjudication = []
        for category, amount in amounts.items():
            entry: dict[str, Any] = {"category": _category(category), "amount": _money(amount)}
            if category == "eligible" and line.get("primary_reason"):
                entry["reason"] = _reason(line["primary_reason"])
            adjudication.append(entry)
            totals[category] += int(amount or 0)
        note_numbers: list[int] = []
        for f in by_line.get(line.get("line_no"), []):
            entry = {"category": {"coding": [{"system": FINDING_ACTION_SYSTEM, "code": str(f.get("action"))}],
                                  "text": f"{f.get('ruleset')}:{f.get('rule_id')}"},
                     "reason": _reason(str(f.get("reason_code")))}  # fmt: skip
            if f.get("amount_effect"):
                entry["amount"] = _money(abs(int(f["amount_effect"])))
            adjudication.append(entry)
            for language_text in _messages(f):
                number = notes.setdefault(language_text, len(notes) + 1)
                if number not in note_numbers:
                    note_numbers.append(number)
        item: dict[str, Any] = {"itemSequence": line.get("line_no"), "adjudication": adjudication}
        if note_numbers:
            item["noteNumber"] = note_numbers
        items.append(item)
    decisions = [str(line.get("decision")) for line in lines]
    decision = _claim_decision(decisions)
    if not lines and errors:
        outcome = "error"
    elif errors or decision == "pended":
        outcome = "partial"
    else:
        outcome = "complete"
    counts = ", ".join(f"{decisions.count(d)} {d}" for d in sorted(set(decisions), key=DECISION_SEVERITY.get))
    disposition = f"Claim {decision}: {counts or 'no lines adjudicated'}"
    if errors:
        disposition += f"; {len(errors)} input error(s)"
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "status": "active",
        "type": claim.get("type") or {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                                  "code": "professional"}]},  # fmt: skip
        "use": "claim",
        "patient": claim.get("patient") or {"identifier": {"value": next((x.get("member_id") for x in lines), None)}},
        "created": created,
        "insurer": claim.get("insurer") or {"identifier": {"value": next((x.get("insurer_id") for x in lines), None)}},
        "outcome": outcome,
        "disposition": disposition,
    }
    if claim.get("provider"):
        response["requestor"] = claim["provider"]
    if _s(claim.get("id")):
        response["request"] = {"reference": f"Claim/{claim['id']}"}
    elif _first(claim.get("identifier")):
        response["request"] = {"identifier": _first(claim.get("identifier"))}
    if items:
        response["item"] = items
        response["total"] = [{"category": _category(c), "amount": _money(v)} for c, v in totals.items()]
    if notes:
        response["processNote"] = [
            {"number": n, "type": "display", "text": text,
             "language": {"coding": [{"system": LANGUAGE_SYSTEM, "code": lang}]}}
            for (lang, text), n in notes.items()
        ]  # fmt: skip
    if errors:
        response["error"] = [_error_entry(e) for e in errors]
    return response


def _error_entry(error: ClaimInputError) -> dict[str, Any]:
    fhir_code = _FHIR_ERROR_CODES.get(error.code)
    coding = [{"system": ADJUDICATION_ERROR_SYSTEM, "code": fhir_code}] if fhir_code else []
    coding.append({"system": INPUT_ERROR_SYSTEM, "code": error.code})
    entry: dict[str, Any] = {
        "code": {"coding": coding, "text": error.message},
        "extension": [{"url": ERROR_EXPRESSION_EXT, "valueString": error.path}],
    }
    if error.sequence is not None:
        entry["itemSequence"] = error.sequence
    return entry


# --- eligibility -------------------------------------------------------------------------------------------------


def eligibility_request_to_query(resource: object) -> dict[str, Any]:
    """member_id, insurer_id, date and provider_id of a CoverageEligibilityRequest (None where absent)."""
    request = _d(resource)
    insurances = [_d(i) for i in _l(request.get("insurance"))]
    focal = next((i for i in insurances if i.get("focal") is True), insurances[0] if insurances else {})
    raw_date = next((v for v in (request.get("servicedDate"), _d(request.get("servicedPeriod")).get("start"),
                                 request.get("created")) if _s(v)), None)  # fmt: skip
    return {
        "member_id": _ref_id(request.get("patient")),
        "insurer_id": _ref_id(request.get("insurer")) or _s(_d(focal.get("coverage")).get("display")),
        "date": _date(raw_date),
        "provider_id": _ref_id(request.get("provider")),
    }


def eligibility_response(request: Mapping[str, Any], answer: Mapping[str, Any], created: str) -> dict[str, Any]:
    """A CoverageEligibilityResponse for ``request`` from the engine's eligibility ``answer``.

    ``answer``: eligible (bool), insurer_id, plan, fund, start_date, end_date, reason (a reason code or None) and,
    optionally, benefits: a list of {type, allowed, used} in Rials for the request's first item category.
    """
    request = _d(request)
    reason = answer.get("reason")
    response: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": _l(request.get("purpose")) or ["validation"],
        "patient": request.get("patient") or {},
        "created": created,
        "insurer": request.get("insurer") or {"identifier": {"value": answer.get("insurer_id")}},
    }
    for key in ("servicedDate", "servicedPeriod"):
        if key in request:
            response[key] = request[key]
    if _s(request.get("id")):
        response["request"] = {"reference": f"CoverageEligibilityRequest/{request['id']}"}
    if reason == "NOT_ENROLLED" or (not answer.get("eligible") and answer.get("start_date") is None and reason):
        # No cover to speak of: FHIR has no insurance entry without a coverage, so the answer is an error.
        response["outcome"] = "error"
        response["disposition"] = _reason(reason)["text"]
        response["error"] = [{"code": _reason(reason)}]
        return response
    insurances = [_d(i) for i in _l(request.get("insurance"))]
    focal = next((i for i in insurances if i.get("focal") is True), insurances[0] if insurances else {})
    plan = " ".join(str(x) for x in (answer.get("insurer_id"), answer.get("fund"), answer.get("plan")) if x)
    coverage = _d(focal.get("coverage")) or {"display": plan or "coverage"}
    insurance: dict[str, Any] = {"coverage": coverage, "inforce": bool(answer.get("eligible"))}
    period = {k: _iso(answer.get(f"{k}_date")) for k in ("start", "end") if answer.get(f"{k}_date") is not None}
    if period:
        insurance["benefitPeriod"] = period
    categories = [_d(i).get("category") for i in _l(request.get("item")) if _d(i).get("category")]
    if answer.get("benefits") or categories:
        item: dict[str, Any] = {"category": categories[0]} if categories else {}
        item["excluded"] = not answer.get("eligible")
        benefits = []
        for b in _l(answer.get("benefits")):
            entry: dict[str, Any] = {"type": {"coding": [{"code": str(_d(b).get("type", "benefit"))}]}}
            if _d(b).get("allowed") is not None:
                entry["allowedMoney"] = _money(b["allowed"])
            if _d(b).get("used") is not None:
                entry["usedMoney"] = _money(b["used"])
            benefits.append(entry)
        if benefits:
            item["benefit"] = benefits
        insurance["item"] = [item]
    response["insurance"] = [insurance]
    response["outcome"] = "complete"
    response["disposition"] = (
        "Policy is in force." if answer.get("eligible") else _reason(reason)["text"] if reason else "Not in force."
    )
    return response


def _iso(value: object) -> str:
    try:
        return dates.parse_date(value).isoformat()
    except ValueError:  # not ours to judge here: pass the engine's value through
        return str(value)
