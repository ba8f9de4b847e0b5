"""History from the store: a later run (and a later check) sees what earlier runs adjudicated."""

from __future__ import annotations

import polars as pl

from adjudicator import Engine
from adjudicator.store import open_store
from tests.conftest import D, M1, M2, RULESETS, claim_frame
from tests.test_engine import line


def _engine(population, url):
    members, coverage, providers = population
    return Engine(str(RULESETS), members=members, coverage=coverage, providers=providers, store=url)


def _record(engine, result):
    engine.store.record_run(inputs={"claims": str(result.lines["claim_id"].to_list())}, ruleset_digests=["x"],
                            lines=result.lines, findings=result.findings, claims=result.claims, timings={},
                            started_at=None, finished_at=None)


def test_frequency_limit_counts_the_previous_run(population, tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    first = _engine(population, url)
    r1 = first.adjudicate(claim_frame([line("h1", 1, M1, "901910", 1, 1_182_500, service_date=D(2025, 6, 1))]))
    assert r1.lines["decision"].item() == "approved"
    _record(first, r1)
    second = _engine(population, url)
    r2 = second.adjudicate(claim_frame([line("h2", 1, M1, "901910", 1, 1_182_500, provider_id="p2",
                                              service_date=D(2025, 6, 1))]))
    assert r2.lines["decision"].item() == "denied"
    assert "ihio.outpatient:FRQ-001" in r2.lines["rules"].item()


def test_benefit_cap_continues_from_history_and_point_agrees(population, tmp_path):
    # dental cap: 60,000,000 Rials per member and Solar Hijri year; the insurer pays 70% of the allowed amount
    url = f"sqlite:///{tmp_path / 'h.db'}"
    eng = _engine(population, url)
    code = _dental_code()
    days = [D(2025, 4, 1) + __import__("datetime").timedelta(days=i) for i in range(150)]
    r1 = eng.adjudicate(claim_frame([line(f"d{i:03d}", 1, M2, code, 1, 10**12, service_date=day)
                                     for i, day in enumerate(days)]))
    _record(eng, r1)
    paid1 = int(r1.lines["insurer_paid"].sum())
    assert paid1 == 60_000_000  # the cap was reached inside the first run
    later = claim_frame([line("d999", 1, M2, code, 1, 10**12, service_date=D(2025, 9, 1))])
    batch = _engine(population, url).adjudicate(later)
    point = _engine(population, url).check(later.to_dicts())
    assert batch.lines["insurer_paid"].item() == point.lines[0]["insurer_paid"] == 0
    assert "ihio.outpatient:CAP-DENT" in batch.lines["rules"].item().to_list()
    assert batch.lines["rules"].item().to_list() == point.lines[0]["rules"]


def _dental_code() -> str:
    attrs = pl.read_csv(RULESETS / "national" / "code-attributes.csv", infer_schema=False)
    return attrs.filter((pl.col("group") == "dental") & (pl.col("sex").is_null()) & (pl.col("min_age").is_null())
                        & (pl.col("requires_referral") == "false") & (pl.col("setting") != "inpatient"))[
        "service_code"][0]


def test_point_commit_is_durable_in_the_store(population, tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    eng = _engine(population, url)
    d = eng.check([line("p1", 1, M1, "901910", 1, 1_182_500, service_date=D(2025, 7, 1))])
    assert eng.commit(d)
    assert not eng.commit(d)
    # a new process (new engine) sees the committed claim through the store
    again = _engine(population, url).check([line("p2", 1, M1, "901910", 1, 1_182_500, provider_id="p2",
                                                 service_date=D(2025, 7, 1))])
    assert again.lines[0]["decision"] == "denied"
    assert open_store(url).member_history(M1).height == 1
