"""Shared fixtures for the benchmark suites: generated tables, the 30-rule ruleset, a synthetic frame of lines.

Size: ``ADJ_BENCH_LINES`` (default 1_000_000 — the figure issue 2 asks about; use e.g. 100_000 while developing).
The frame is generated vectorized with numpy (seeded) and holds every claim-line column of ``schema.CLAIM_LINES``
plus the ``member.*``, ``coverage.*`` and ``provider.*`` columns the eligibility stage would have attached.

Run: ``.venv/bin/python -m pytest benchmarks/bench_rules.py --benchmark-only -s``
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np

# isort: off
import adjudicator  # noqa: F401 - before polars: the engine's allocator setting (adjudicator/allocator.py)
import polars as pl
# isort: on
import pytest

from adjudicator import schema

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import make_tables  # noqa: E402

N_LINES = int(os.environ.get("ADJ_BENCH_LINES", "1000000"))
FIRST_DAY = dt.date(2024, 9, 1)  # dates span the tariff split (2025-03-21) so both versions are joined
N_DAYS = 365


def make_frame(n: int, seed: int = 7, n_codes: int = make_tables.N_CODES) -> pl.DataFrame:
    """``n`` synthetic claim lines: claims of 1–8 lines (one member, provider, date and setting per claim)."""
    rng = np.random.default_rng(seed)
    n_members = max(n // 7, 10)
    n_providers = max(n // 200, 10)
    sizes = rng.choice(np.arange(1, 9), int(n / 2.2) + 100, p=[0.40, 0.25, 0.15, 0.09, 0.05, 0.03, 0.02, 0.01])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    claim = np.repeat(np.arange(len(sizes)), sizes)[:n]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    line_no = (np.arange(n) - starts[claim] + 1).astype(np.int64)
    n_claims = int(claim[-1]) + 1

    c_member = rng.integers(0, n_members, n_claims)
    c_provider = rng.integers(0, n_providers, n_claims)
    c_day = rng.integers(0, N_DAYS, n_claims)
    c_setting = rng.choice(np.array(["outpatient", "inpatient", "emergency"]), n_claims, p=[0.85, 0.10, 0.05])
    c_referral = rng.random(n_claims) < 0.6
    c_auth = rng.random(n_claims) < 0.5

    # codes: Zipf-like popularity over the tariff codes, 1 % unknown codes
    codes = make_tables.codes(n_codes)
    weights = 1.0 / np.arange(1, n_codes + 1) ** 0.8
    code_idx = rng.choice(n_codes, n, p=weights / weights.sum())
    code = codes[code_idx]
    unknown = rng.random(n) < 0.01
    code = np.where(unknown, np.char.add("99", np.char.zfill(rng.integers(0, 9999, n).astype(str), 4)), code)
    price = make_tables.tariff(n_codes).group_by("service_code").agg(pl.col("price").min())
    price_of = dict(zip(price["service_code"].to_list(), price["price"].to_list()))
    base = np.array([price_of.get(c, 1_000_000) for c in codes], dtype=np.int64)[code_idx]
    qty = rng.choice(np.array([0, 1, 2, 3, 4, 6]), n, p=[0.005, 0.70, 0.15, 0.08, 0.045, 0.02])
    factor = np.where(rng.random(n) < 0.02, 4.0, rng.uniform(0.6, 1.05, n))
    billed = (np.maximum(qty, 1) * base * factor // 1000 * 1000).astype(np.int64)
    mod_r = rng.random(n)
    modifier = np.where(mod_r < 0.05, "59", np.where(mod_r < 0.07, "26", ""))

    # members, providers
    m_sex = rng.choice(np.array(["M", "F"]), n_members)
    m_birth = (dt.date(1935, 1, 1) - dt.date(1970, 1, 1)).days + rng.integers(0, 90 * 365, n_members)
    m_fund = rng.choice(np.array(["urban", "rural", "other_strata"]), n_members, p=[0.6, 0.3, 0.1])
    m_plan = rng.choice(np.array(["basic", "plus"]), n_members, p=[0.8, 0.2])
    p_type = rng.choice(np.array(list(schema.PROVIDER_TYPES)), n_providers)
    p_sector = rng.choice(np.array(list(schema.SECTORS)), n_providers)
    p_level = rng.integers(1, 4, n_providers)
    p_spec = rng.choice(make_tables.SPECIALTIES, n_providers)

    mem = c_member[claim]
    prov = c_provider[claim]
    day0 = (FIRST_DAY - dt.date(1970, 1, 1)).days
    s = pl.Series
    frame = pl.DataFrame({
        "claim_id": s(claim).cast(pl.String).str.zfill(9),
        "line_no": line_no,
        "member_id": s(mem).cast(pl.String).str.zfill(10),
        "insurer_id": s(np.full(n, "IHIO")),
        "supplementary_insurer_id": s([None] * n, dtype=pl.String),
        "setting": c_setting[claim],
        "provider_id": s(prov).cast(pl.String).str.zfill(6),
        "prescriber_id": s([None] * n, dtype=pl.String),
        "service_date": s(day0 + c_day[claim]).cast(pl.Int32).cast(pl.Date),
        "admission_date": s([None] * n, dtype=pl.Date),
        "discharge_date": s([None] * n, dtype=pl.Date),
        "service_code": code,
        "modifier": s(modifier).replace("", None),
        "quantity": qty.astype(np.int64),
        "billed_amount": billed,
        "diagnosis_codes": s([None] * n, dtype=pl.List(pl.String)),
        "referral_id": s(np.where(c_referral[claim], claim, -1)),
        "prior_auth_id": s(np.where(c_auth[claim], claim, -1)),
        "submission": s(np.full(n, "original")),
        "replaces_claim_id": s([None] * n, dtype=pl.String),
    }).with_columns(
        pl.col("claim_id").str.pad_start(10, "C"),
        *[pl.when(pl.col(c) >= 0).then(pl.format("R{}", pl.col(c))).otherwise(None).alias(c)
          for c in ("referral_id", "prior_auth_id")],
    )
    frame = frame.with_columns(
        pl.Series("member.sex", m_sex[mem]),
        pl.Series("member.birth_date", m_birth[mem]).cast(pl.Int32).cast(pl.Date),
        pl.Series("coverage.fund", m_fund[mem]),
        pl.Series("coverage.plan", m_plan[mem]),
        pl.Series("provider.provider_type", p_type[prov]),
        pl.Series("provider.sector", p_sector[prov]),
        pl.Series("provider.level", p_level[prov].astype(np.int64)),
        pl.Series("provider.specialty", p_spec[prov]),
    )
    # claims arrive in file order, not date order
    return frame.sample(fraction=1.0, shuffle=True, seed=seed) if n > 1 else frame


@pytest.fixture(scope="session")
def n_lines() -> int:
    return N_LINES


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bench30")
    make_tables.write_tables(d)
    return d


@pytest.fixture(scope="session")
def rs30(bench_dir):
    from adjudicator.rules.compiled import load_ruleset
    return load_ruleset(bench_dir / "bench30.yaml")


@pytest.fixture(scope="session")
def frame(n_lines) -> pl.DataFrame:
    return make_frame(n_lines)
