"""The data contract (DATA.md) as polars schemas: input columns, output columns, allowed values.

Every module that reads or writes a frame takes its column names and types from here, so the contract lives in
one place. Input validation (rows that break the contract go to the quarantine) lives in ``validate.py``.
"""

from __future__ import annotations

import polars as pl

MONEY = pl.Int64
RATE_BP = pl.Int64  # basis points: 10_000 = 100 %

SETTINGS = ("outpatient", "inpatient", "emergency")
SUBMISSIONS = ("original", "replacement", "void")
SEXES = ("M", "F")
RELATIONSHIPS = ("head", "spouse", "child", "parent")
COVER_KINDS = ("basic", "supplementary")
COVER_STATUSES = ("active", "suspended")
PROVIDER_TYPES = ("hospital", "clinic", "office", "pharmacy", "lab", "imaging", "health_center")
SECTORS = ("public", "private", "charity", "public_nongov")
DECISIONS = ("approved", "adjusted", "denied", "pended")  # line decisions, least to most severe below
DECISION_SEVERITY = {"approved": 0, "adjusted": 1, "pended": 2, "denied": 3}
CLAIM_DECISIONS = ("approved", "adjusted", "partial", "denied", "pended")
ACTIONS = ("deny", "pend", "limit_quantity", "cap_amount", "set", "flag", "cap")
LIABILITIES = ("provider", "member")

# --- inputs -------------------------------------------------------------------------------------------------------

CLAIM_LINES: dict[str, pl.DataType] = {
    "claim_id": pl.String,
    "line_no": pl.Int64,
    "member_id": pl.String,
    "insurer_id": pl.String,
    "supplementary_insurer_id": pl.String,
    "setting": pl.String,
    "provider_id": pl.String,
    "prescriber_id": pl.String,
    "service_date": pl.Date,
    "admission_date": pl.Date,
    "discharge_date": pl.Date,
    "service_code": pl.String,
    "modifier": pl.String,
    "quantity": pl.Int64,
    "billed_amount": MONEY,
    "diagnosis_codes": pl.List(pl.String),
    "referral_id": pl.String,
    "prior_auth_id": pl.String,
    "submission": pl.String,
    "replaces_claim_id": pl.String,
}
CLAIM_LINES_REQUIRED = (
    "claim_id", "line_no", "member_id", "insurer_id", "setting", "provider_id",
    "service_date", "service_code", "quantity", "billed_amount",
)

MEMBERS: dict[str, pl.DataType] = {
    "member_id": pl.String,
    "birth_date": pl.Date,
    "sex": pl.String,
    "family_id": pl.String,
    "relationship": pl.String,
    "death_date": pl.Date,
    "province": pl.String,
    "rural": pl.Boolean,
}
MEMBERS_REQUIRED = ("member_id", "birth_date", "sex")

COVERAGE: dict[str, pl.DataType] = {
    "member_id": pl.String,
    "insurer_id": pl.String,
    "kind": pl.String,
    "fund": pl.String,
    "plan": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "status": pl.String,
    "waiting_days": pl.Int64,
}
COVERAGE_REQUIRED = ("member_id", "insurer_id", "kind", "start_date")

PROVIDERS: dict[str, pl.DataType] = {
    "provider_id": pl.String,
    "provider_type": pl.String,
    "sector": pl.String,
    "level": pl.Int64,
    "specialty": pl.String,
    "contracted_insurers": pl.List(pl.String),
}
PROVIDERS_REQUIRED = ("provider_id",)

SOURCES: dict[str, dict[str, pl.DataType]] = {
    "claims": CLAIM_LINES,
    "members": MEMBERS,
    "coverage": COVERAGE,
    "providers": PROVIDERS,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "claims": CLAIM_LINES_REQUIRED,
    "members": MEMBERS_REQUIRED,
    "coverage": COVERAGE_REQUIRED,
    "providers": PROVIDERS_REQUIRED,
}
MONEY_COLUMNS = {"claims": ("billed_amount",)}
DATE_COLUMNS = {name: tuple(c for c, t in cols.items() if t == pl.Date) for name, cols in SOURCES.items()}
# Columns that carry a national code (checksum-validated wherever a member id enters).
NATIONAL_CODE_COLUMNS = {"claims": ("member_id",), "members": ("member_id",), "coverage": ("member_id",)}

# --- outputs ------------------------------------------------------------------------------------------------------

LINE_RESULT_EXTRA: dict[str, pl.DataType] = {
    "decision": pl.String,
    "allowed_quantity": pl.Int64,
    "allowed_amount": MONEY,
    "insurer_paid": MONEY,
    "supplementary_paid": MONEY,
    "member_pays": MONEY,
    "provider_deduction": MONEY,
    "member_share_amount": MONEY,
    "deductible_applied": MONEY,
    "primary_reason": pl.String,
    "rules": pl.List(pl.String),
    "ruleset": pl.String,
    "supplementary_ruleset": pl.String,
    "ruleset_digest": pl.String,
}
LINE_RESULTS: dict[str, pl.DataType] = {**CLAIM_LINES, **LINE_RESULT_EXTRA}

FINDINGS: dict[str, pl.DataType] = {
    "claim_id": pl.String,
    "line_no": pl.Int64,
    "ruleset": pl.String,
    "rule_id": pl.String,
    "reason_code": pl.String,
    "action": pl.String,
    "amount_effect": MONEY,
    "liability": pl.String,
    "message": pl.String,
    "message_fa": pl.String,
}

CLAIMS: dict[str, pl.DataType] = {
    "claim_id": pl.String,
    "member_id": pl.String,
    "insurer_id": pl.String,
    "setting": pl.String,
    "provider_id": pl.String,
    "decision": pl.String,
    "line_count": pl.Int64,
    "approved_lines": pl.Int64,
    "adjusted_lines": pl.Int64,
    "denied_lines": pl.Int64,
    "pended_lines": pl.Int64,
    "quarantined_lines": pl.Int64,
    "billed_amount": MONEY,
    "allowed_amount": MONEY,
    "insurer_paid": MONEY,
    "supplementary_paid": MONEY,
    "member_pays": MONEY,
    "provider_deduction": MONEY,
}

QUARANTINE: dict[str, pl.DataType] = {
    "source": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "error": pl.String,
    "raw": pl.String,  # the raw row as read, as a JSON object of text values
}

TOTAL_ORDER = ("service_date", "claim_id", "line_no")


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the given contract schema."""
    return pl.DataFrame(schema=schema)
