"""The project's catalogue of reason codes: what a finding means, to a person and to another system.

Every finding names one reason code. The catalogue gives each code a severity, an English and a Persian message for
the people who read results (providers, insurer staff), and the nearest standard codes for the systems that read
them: the X12 Claim Adjustment Reason Code (CARC) with its group code (CO = the provider bears it, PR = the member,
OA = neither yet / other), an optional Remittance Advice Remark Code (RARC), and the FHIR R4 adjudication reason
where one of its two codes fits. Rulesets may declare more codes (the ``codes:`` block); they are validated with the
same model. The catalogue itself is immutable: a ruleset cannot redefine a project code behind everyone's back.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CARC_SYSTEM",
    "CATALOGUE",
    "FHIR_REASON_SYSTEM",
    "REASON_CODE_SYSTEM",
    "RARC_SYSTEM",
    "ReasonCode",
    "Severity",
    "get",
]

CARC_SYSTEM = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC_SYSTEM = "https://x12.org/codes/remittance-advice-remark-codes"
FHIR_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication-reason"
REASON_CODE_SYSTEM = "https://adjudicator.example/reason-code"

Severity = Literal["deny", "pend", "adjust", "info"]


class ReasonCode(BaseModel):
    """One reason code: severity, messages in English and Persian, and its nearest X12 / FHIR codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z0-9_]+$")
    severity: Severity
    en: str = Field(min_length=1)
    fa: str = Field(min_length=1)
    carc: str = Field(pattern=r"^[A-Z]?[0-9]{1,3}$")
    rarc: str | None = Field(default=None, pattern=r"^(M|N|MA)[0-9]{1,3}$")
    # Only ar001 / ar002 exist in the FHIR code system; most of our reasons have no FHIR equivalent.
    fhir: Literal["ar001", "ar002"] | None = None
    # Defaults to CO because a ruleset's codes: block usually names edits, which are the provider's (DSL.md).
    group: Literal["CO", "PR", "OA"] = "CO"


# code, severity, group, carc, rarc, fhir, en, fa — one row per code, grouped by the stage that writes it.
# Groups follow the liability DSL.md assigns: ineligible → member (PR); edits, wrong payer, duplicates → provider
# (CO); pends and information → OA, the only group X12 allows with CARC 133.
_ROWS: tuple[tuple[str, Severity, str, str, str | None, str | None, str, str], ...] = (
    # --- edits on one line ---
    ("INVALID_QUANTITY", "deny", "CO", "16", "M53",  None,
     "The quantity is not a positive number of units", "تعداد خدمت نامعتبر است؛ تعداد باید عددی مثبت باشد"),
    ("CODE_NOT_IN_TARIFF", "deny", "CO", "181", None, "ar001",
     "The service code is not in the tariff for the service date", "کد خدمت در تعرفه مصوب تاریخ ارائه خدمت وجود ندارد"),
    ("NOT_IN_PACKAGE", "deny", "PR", "96", "N130", "ar001",
     "The service is not in the benefit package", "خدمت خارج از بسته خدمات تحت پوشش بیمه است"),
    ("SEX_CONFLICT", "deny", "CO", "7", None, None,
     "The service is inconsistent with the patient's sex", "خدمت با جنسیت بیمه‌شده مغایرت دارد"),
    ("AGE_CONFLICT", "deny", "CO", "6", None, None,
     "The service is inconsistent with the patient's age", "خدمت با سن بیمه‌شده مغایرت دارد"),
    ("SETTING_CONFLICT", "deny", "CO", "58", None, None,
     "The service is not payable in this setting (outpatient / inpatient)",
     "این خدمت در این نوع ارائه (سرپایی یا بستری) قابل پرداخت نیست"),
    ("UNITS_EXCEED_LIMIT", "adjust", "CO", "151", "N362", "ar002",
     "Units exceed the maximum allowed per day; the quantity was reduced",
     "تعداد واحد خدمت بیش از حد مجاز روزانه است و کاهش یافت"),
    ("FREQUENCY_EXCEEDED", "deny", "CO", "151", "M86", "ar002",
     "The service exceeds the number allowed in the time window", "دفعات ارائه خدمت بیش از حد مجاز در بازه زمانی است"),
    ("REFERRAL_MISSING", "deny", "PR", "288", None, None,
     "No family-physician referral", "ارجاع پزشک خانواده ثبت نشده است"),
    ("PRIOR_AUTH_MISSING", "deny", "CO", "197", "M62", None,
     "Prior authorisation is required and absent", "این خدمت نیاز به مجوز قبلی دارد و مجوزی ثبت نشده است"),
    ("ABOVE_TARIFF", "adjust", "CO", "45", None, None,
     "The amount billed exceeds the tariff; the excess is not payable",
     "مبلغ درخواستی بیش از تعرفه مصوب است و مازاد آن قابل پرداخت نیست"),
    ("BUNDLED_PAIR", "deny", "CO", "236", "N20", None,
     "Not payable together with another service on the same day",
     "این خدمت همراه با خدمت دیگری در همان روز جداگانه قابل پرداخت نیست"),
    ("BUNDLED_IN_PACKAGE", "deny", "CO", "97", None, None,
     "Included in the package (global) price of another service",
     "هزینه این خدمت در تعرفه بسته‌ای (گلوبال) خدمت دیگری منظور شده است"),
    ("BED_DAYS_EXCEED_STAY", "adjust", "CO", "152", None, "ar002",
     "Bed days billed exceed the length of stay", "تعداد روزهای تخت بیش از مدت بستری است"),
    ("MISSING_ADMISSION_DATES", "deny", "CO", "16", "MA40", None,
     "Admission or discharge date is missing for an inpatient line",
     "تاریخ پذیرش یا ترخیص برای خدمت بستری ثبت نشده است"),
    # --- prescriptions ---
    ("DRUG_NOT_COVERED", "deny", "PR", "204", None, "ar001",
     "The drug is not covered by the plan", "دارو تحت پوشش بیمه نیست"),
    ("DRUG_QTY_EXCEEDED", "adjust", "CO", "153", None, "ar002",
     "The drug quantity exceeds the maximum per prescription", "تعداد دارو بیش از حد مجاز در هر نسخه است"),
    ("PRESCRIBER_NOT_ALLOWED", "deny", "CO", "184", None, None,
     "The prescriber's specialty may not prescribe this item", "تجویز این قلم برای تخصص پزشک تجویزکننده مجاز نیست"),
    ("DUPLICATE_THERAPY", "deny", "CO", "50", None, None,
     "Another drug of the same class is already being taken (duplicate therapy)",
     "داروی هم‌گروه دیگری برای بیمار در دوره درمان جاری تجویز شده است (درمان تکراری)"),
    ("RX_QTY_PER_PERIOD", "adjust", "CO", "151", None, "ar002",
     "The drug quantity exceeds the maximum for the period", "مقدار دارو بیش از سقف مجاز در دوره زمانی است"),
    ("DISPENSED_WITHOUT_RX", "deny", "CO", "16", "N29", None,
     "Dispensed without a valid prescription", "دارو بدون نسخه معتبر تحویل شده است"),
    ("DISPENSED_ABOVE_RX", "adjust", "CO", "151", None, None,
     "Quantity dispensed exceeds the quantity prescribed", "مقدار تحویل‌شده بیش از مقدار تجویزشده در نسخه است"),
    ("RX_EXPIRED", "deny", "CO", "272", None, None,
     "The prescription had expired when it was dispensed", "نسخه در تاریخ تحویل دارو منقضی شده بود"),
    ("RX_DISPENSED_TWICE", "deny", "CO", "18", None, None,
     "This prescription has already been dispensed", "این نسخه قبلاً تحویل شده است"),
    # --- eligibility and overlap (engine stages) ---
    ("NOT_ENROLLED", "deny", "PR", "31", "N30", "ar001",
     "The patient is not a member of this insurer", "فرد در فهرست بیمه‌شدگان این بیمه‌گر نیست"),
    ("NOT_IN_FORCE", "deny", "PR", "27", None, "ar001",
     "No cover in force on the service date", "پوشش بیمه در تاریخ ارائه خدمت برقرار نیست"),
    ("COVER_SUSPENDED", "deny", "PR", "200", None, "ar001",
     "The cover was suspended on the service date", "پوشش بیمه در تاریخ ارائه خدمت معلق بوده است"),
    ("WRONG_INSURER", "deny", "CO", "109", None, None,
     "Not covered by this insurer; bill the member's basic insurer",
     "این خدمت بر عهده این بیمه‌گر نیست؛ صورتحساب باید به بیمه‌گر پایه بیمه‌شده ارسال شود"),
    ("MEMBER_DECEASED", "deny", "PR", "13", None, "ar001",
     "The service date is after the member's date of death", "تاریخ خدمت پس از تاریخ فوت بیمه‌شده است"),
    ("OTHER_PRIMARY", "deny", "CO", "22", "MA04", None,
     "The member is covered by another basic insurer on the service date",
     "بیمه‌شده در تاریخ خدمت تحت پوشش بیمه‌گر پایه دیگری است"),
    ("MEMBER_MUST_CHOOSE", "pend", "OA", "22", None, None,
     "The member holds two basic covers and must choose one",
     "بیمه‌شده هم‌زمان دو بیمه پایه دارد و باید یکی را انتخاب کند"),
    ("NO_RULESET", "deny", "CO", "109", None, None,
     "No ruleset covers this insurer, setting and service date",
     "برای این بیمه‌گر، نوع ارائه خدمت و تاریخ، ضوابط رسیدگی تعریف نشده است"),
    # --- duplicates and resubmissions ---
    ("DUPLICATE_EXACT", "deny", "CO", "18", None, None,
     "Exact duplicate of a line already submitted", "این خدمت قبلاً عیناً در صورتحساب دیگری ارسال شده است (تکراری)"),
    ("DUPLICATE_SUSPECT", "pend", "OA", "18", None, None,
     "Possible duplicate of another line (other provider or amount); held for review",
     "احتمال تکراری بودن خدمت (ارائه‌کننده یا مبلغ متفاوت)؛ نیاز به بررسی"),
    ("CROSS_INSURER_DUPLICATE", "deny", "CO", "18", None, None,
     "The same service was billed to another basic insurer", "این خدمت به بیمه‌گر پایه دیگری نیز ارسال شده است"),
    ("SUPERSEDED", "deny", "OA", "129", None, None,
     "Replaced or voided by a later submission", "این صورتحساب با صورتحساب بعدی جایگزین یا ابطال شده است"),
    ("VOIDED", "deny", "OA", "129", None, None,
     "A void submission: it cancels the claim it names and is not paid itself",
     "درخواست ابطال: صورتحساب نام‌برده را باطل می‌کند و خود پرداخت نمی‌شود"),
    # --- supplementary cover: information only, the basic decision stands (DSL.md) ---
    ("SUPP_NOT_VALID", "info", "PR", "31", None, None,
     "The supplementary cover named is not valid on the service date; it pays nothing",
     "بیمه تکمیلی اعلام‌شده در تاریخ خدمت معتبر نیست و سهمی پرداخت نمی‌کند"),
    ("SUPP_WAITING_PERIOD", "info", "PR", "26", None, None,
     "The service falls in the supplementary cover's waiting period",
     "خدمت در دوره انتظار بیمه تکمیلی ارائه شده است"),
    # --- benefits ---
    ("BENEFIT_MAX_REACHED", "adjust", "PR", "119", None, "ar002",
     "The benefit maximum for the period has been reached", "سقف تعهد بیمه برای این نوع خدمت در این دوره پر شده است"),
    ("ADMISSION_CEILING", "adjust", "PR", "119", None, "ar002",
     "The ceiling for this admission has been reached", "سقف تعهد بیمه برای این بستری پر شده است"),
    ("FAMILY_CEILING", "adjust", "PR", "119", None, "ar002",
     "The family's annual ceiling has been reached", "سقف تعهد سالانه خانوار پر شده است"),
    ("DEDUCTIBLE_APPLIED", "info", "PR", "1", None, None,
     "Part of the amount went to the deductible", "بخشی از مبلغ به‌عنوان کسر اولیه بر عهده بیمه‌شده است"),
    # --- review ---
    ("MANUAL_REVIEW", "pend", "OA", "133", None, None,
     "Held for review by an insurer's assessor", "نیاز به بررسی کارشناس بیمه"),
    ("HIGH_COST_REVIEW", "pend", "OA", "133", None, None,
     "High-cost line held for review", "مبلغ خدمت بالاست؛ نیاز به بررسی کارشناس بیمه"),
)  # fmt: skip


def _build() -> Mapping[str, ReasonCode]:
    entries: dict[str, ReasonCode] = {}
    for code, severity, group, carc, rarc, fhir, en, fa in _ROWS:
        if code in entries:  # a copy-paste slip must fail at import, not shadow a code silently
            raise ValueError(f"reason code {code} is defined twice")
        entries[code] = ReasonCode(
            code=code, severity=severity, group=group, carc=carc, rarc=rarc, fhir=fhir, en=en, fa=fa
        )
    return MappingProxyType(entries)


CATALOGUE: Mapping[str, ReasonCode] = _build()


def get(code: str) -> ReasonCode:
    """The catalogue entry of ``code``; KeyError with the closest known codes when there is none."""
    try:
        return CATALOGUE[code]
    except KeyError:
        close = difflib.get_close_matches(str(code).upper(), list(CATALOGUE), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown reason code {code!r}{hint}") from None
