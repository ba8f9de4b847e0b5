"""Shared fixtures: a small hand-made population (members, coverage, providers) with checksum-valid codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from adjudicator import national_code as nc
from adjudicator import schema

ROOT = Path(__file__).resolve().parents[1]
RULESETS = ROOT / "rulesets"
D = dt.date
M1, M2 = nc.make("123456789"), nc.make("234567891")


@pytest.fixture(scope="session")
def population():
    members = pl.DataFrame([
        dict(member_id=M1, birth_date=D(1990, 1, 1), sex="M", family_id="f1", relationship="head", death_date=None,
             province="Tehran", rural=False),
        dict(member_id=M2, birth_date=D(1985, 1, 1), sex="F", family_id="f2", relationship="head", death_date=None,
             province="Fars", rural=True)], schema=schema.MEMBERS)
    coverage = pl.DataFrame([
        dict(member_id=M1, insurer_id="IHIO", kind="basic", fund="iranians", plan="base", start_date=D(2024, 3, 20),
             end_date=None, status="active", waiting_days=0),
        dict(member_id=M2, insurer_id="IHIO", kind="basic", fund="rural", plan="base", start_date=D(2024, 3, 20),
             end_date=None, status="active", waiting_days=0),
        dict(member_id=M2, insurer_id="DANA", kind="supplementary", fund=None, plan="gold",
             start_date=D(2024, 3, 20), end_date=None, status="active", waiting_days=0)], schema=schema.COVERAGE)
    providers = pl.DataFrame([
        dict(provider_id="p1", provider_type="clinic", sector="public", level=1, specialty="gp",
             contracted_insurers=["IHIO"]),
        dict(provider_id="p2", provider_type="office", sector="private", level=1, specialty="gp",
             contracted_insurers=["IHIO"])], schema=schema.PROVIDERS)
    return members, coverage, providers


def claim_frame(rows: list[dict]) -> pl.DataFrame:
    cols = [k for k in schema.CLAIM_LINES if any(k in r for r in rows)]
    return pl.DataFrame(rows, schema={k: schema.CLAIM_LINES[k] for k in cols})
