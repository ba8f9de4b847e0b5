"""Small builders for eligibility and dedup tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from adjudicator.schema import CLAIM_LINES, COVERAGE, MEMBERS

D = dt.date


def national_code(n: int) -> str:
    """A checksum-valid 10-digit national code built from the integer n (its first nine digits)."""
    digits = [int(c) for c in f"{n % 10**9:09d}"]
    s = sum(d * (10 - i) for i, d in enumerate(digits))
    r = s % 11
    return "".join(map(str, digits)) + str(r if r < 2 else 11 - r)


def coverage(*rows: dict) -> pl.DataFrame:
    base = {"kind": "basic", "fund": None, "plan": None, "end_date": None, "status": "active", "waiting_days": None}
    return pl.DataFrame([{**base, **r} for r in rows], schema=COVERAGE)


def members(*rows: dict) -> pl.DataFrame:
    base = {"birth_date": D(1980, 1, 1), "sex": "F", "family_id": None, "relationship": "head", "death_date": None,
            "province": None, "rural": False}
    return pl.DataFrame([{**base, **r} for r in rows], schema=MEMBERS)


def lines(*rows: dict) -> pl.DataFrame:
    base = {"line_no": 1, "supplementary_insurer_id": None, "setting": "outpatient", "provider_id": "P1",
            "service_code": "S1", "quantity": 1, "billed_amount": 1000, "submission": "original"}
    out = []
    for i, r in enumerate(rows):
        row = {**base, "claim_id": f"C{i:03d}", **r}
        out.append(row)
    return pl.DataFrame(out, schema=CLAIM_LINES)
