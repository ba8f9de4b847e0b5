"""Point of service: one claim at a time gives the batch engine's answers, and commit feeds the next check."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adjudicator import Engine
from adjudicator.point import PointEngine
from tests.conftest import D, M1, M2, RULESETS, claim_frame
from tests.test_engine import line

COMPARED = ["decision", "allowed_quantity", "allowed_amount", "insurer_paid", "supplementary_paid", "member_pays",
            "provider_deduction", "member_share_amount", "deductible_applied", "primary_reason", "ruleset",
            "supplementary_ruleset"]


@pytest.fixture(scope="module")
def population_engine(population):
    members, coverage, providers = population
    return lambda: Engine(str(RULESETS), members=members, coverage=coverage, providers=providers)


@pytest.fixture(scope="module")
def shared_engine(population_engine):
    return population_engine()


def point_run(engine: Engine, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check and commit each claim in the total order on fresh point indexes; return lines and findings frames."""
    point = PointEngine(engine)
    order = frame.group_by("claim_id").agg(pl.col("service_date").min()).sort("service_date", "claim_id")
    lines, findings = [], []
    for cid in order["claim_id"]:
        claim = frame.filter(pl.col("claim_id") == cid).to_dicts()
        d = point.check(claim)
        assert point.commit(d)
        assert not point.commit(d)  # idempotent on claim_id
        lines += d.lines
        findings += d.findings
    lf = pl.DataFrame(lines, infer_schema_length=None).sort("claim_id", "line_no")
    ff = pl.DataFrame(findings, infer_schema_length=None) if findings else None
    return lf, ff


def canon_findings(f: pl.DataFrame | None) -> list[tuple]:
    if f is None or f.height == 0:
        return []
    # the batch flags both lines of a cross-insurer pair; at the counter only the later one can be known
    f = f.filter(pl.col("rule_id") != "DUP.CROSS_INSURER")
    return sorted(f.select("claim_id", "line_no", "ruleset", "rule_id", "reason_code", "action", "amount_effect",
                           "liability").rows())


def test_same_answer_as_batch_hand_case(shared_engine):
    frame = claim_frame([
        line("c1", 1, M1, "901910", 1, 1_500_000, service_date=D(2025, 4, 1)),
        line("c2", 1, M1, "901910", 1, 1_000_000, provider_id="p2", service_date=D(2025, 4, 1)),
        line("c3", 1, M2, "901910", 1, 1_000_000, supplementary_insurer_id="DANA", referral_id="R1"),
        line("c3", 2, M2, "803020", 3, 900_000, supplementary_insurer_id="DANA"),
        line("c5", 1, M2, "803020", 1, 300_000, service_date=D(2025, 4, 3)),
        line("c6", 1, M2, "803020", 1, 300_000, service_date=D(2025, 4, 3)),
    ])
    batch = shared_engine.adjudicate(frame)
    point_lines, point_findings = point_run(shared_engine, frame)
    assert batch.lines.select("claim_id", "line_no", *COMPARED).rows() == \
        point_lines.select("claim_id", "line_no", *COMPARED).rows()
    assert canon_findings(batch.findings) == canon_findings(point_findings)
    # c6 repeats c5 exactly (same member, provider, code, date, quantity, amount): denied as a duplicate
    assert point_lines.filter(pl.col("claim_id") == "c6")["primary_reason"].item() == "DUPLICATE_EXACT"


def test_amounts_past_the_plain_python_range_take_the_kernel(shared_engine, monkeypatch):
    """Benefits of a claim run in plain Python while every value is small; a larger one sends the claim through the
    numba kernel (int64 arithmetic, as the batch) — same answers as the batch either way."""
    from adjudicator import point as point_module
    calls = []
    kernel = point_module.accumulate
    monkeypatch.setattr(point_module, "accumulate", lambda *a: calls.append(1) or kernel(*a))
    frame = claim_frame([
        # a referral-only visit without referral: denied, the member liable for all of it — 10**15 Rials, which the
        # supplementary cover's benefits then see
        line("h1", 1, M2, "901915", 1, 10**15, supplementary_insurer_id="DANA"),
        line("h1", 2, M2, "803020", 2, 900_000, supplementary_insurer_id="DANA"),
        line("h2", 1, M1, "901910", 1, 1_182_500, service_date=D(2025, 4, 1)),
    ])
    batch = shared_engine.adjudicate(frame)
    point_lines, point_findings = point_run(shared_engine, frame)
    assert calls  # h1 went through the kernel
    assert batch.lines.select("claim_id", "line_no", *COMPARED).rows() == \
        point_lines.select("claim_id", "line_no", *COMPARED).rows()
    assert canon_findings(batch.findings) == canon_findings(point_findings)


def test_commit_feeds_frequency_counter(population_engine):
    eng = population_engine()
    d1 = eng.check([line("a1", 1, M1, "901910", 1, 1_182_500, service_date=D(2025, 5, 1))])
    assert d1.lines[0]["decision"] == "approved"
    assert d1.counters[0]["limits"]["FRQ-001"] == {"used": 1, "limit": 1, "remaining": 0}
    eng.commit(d1)
    d2 = eng.check([line("a2", 1, M1, "901910", 1, 1_182_500, provider_id="p2", service_date=D(2025, 5, 1))])
    assert d2.lines[0]["decision"] == "denied"
    assert "ihio.outpatient:FRQ-001" in d2.lines[0]["rules"]


def test_bad_line_is_reported_and_the_rest_adjudicated(population_engine):
    eng = population_engine()
    d = eng.check([line("b1", 1, M1, "901910", 1, 1000), line("b1", 2, "1234567890", "901910", 1, 12.5)])
    assert [x["line_no"] for x in d.lines] == [1]
    assert d.errors and d.errors[0]["line_no"] == 2


def test_a_line_number_used_twice_is_refused(population_engine):
    eng = population_engine()
    d = eng.check([line("x", 1, M1, "901910", 1, 1_000_000), line("x", 1, M1, "803020", 0, 900_000)])
    assert [x["service_code"] for x in d.lines] == ["901910"]
    assert d.errors == [{"line_no": 1, "errors": ["line_no: duplicate (claim_id, line_no)"]}]
    assert d.lines[0]["rules"] == []  # the refused line's findings are not the kept line's


def test_scope_answers_kept_per_value_of_what_the_scope_reads(population, tmp_path):
    """A scope that reads a column only through a function (age_at reads member.birth_date) keys its kept answer on
    it too: two members on the same day get their own answers."""
    import shutil
    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    supp = rulesets / "supplementary" / "complementary.yaml"
    text = supp.read_text()
    scope = 'scope: line.supplementary_insurer_id in ["DANA", "IRAN", "ASIA", "ALBORZ", "MOALLEM"]'
    assert scope in text
    supp.write_text(text.replace(scope, scope + " and age_at(line.service_date) >= 38"))
    members, coverage, providers = population
    coverage = pl.concat([coverage, coverage.filter(pl.col("insurer_id") == "DANA").with_columns(
        pl.lit(M1).alias("member_id"))])
    eng = Engine(str(rulesets), members=members, coverage=coverage, providers=providers)
    frame = claim_frame([line("a", 1, M2, "901910", 1, 1_000_000, supplementary_insurer_id="DANA"),  # born 1985
                         line("b", 1, M1, "901910", 1, 1_000_000, supplementary_insurer_id="DANA")])  # born 1990
    batch = eng.adjudicate(frame)
    point_lines, _ = point_run(eng, frame)
    assert batch.lines.select("claim_id", "line_no", *COMPARED).rows() == \
        point_lines.select("claim_id", "line_no", *COMPARED).rows()
    assert point_lines["supplementary_ruleset"].to_list()[1] is None  # M1 is under 38


CODES = ["901910", "803020", "803035", "990010", "000000"]


@st.composite
def claims(draw):
    rows, n_claims = [], draw(st.integers(1, 8))
    for c in range(n_claims):
        member = draw(st.sampled_from([M1, M2]))
        day = D(2025, 3, 18) + dt.timedelta(draw(st.integers(0, 6)))
        setting = draw(st.sampled_from(["outpatient", "inpatient"]))
        provider = draw(st.sampled_from(["p1", "p2"]))
        supp = draw(st.sampled_from([None, "DANA"]))
        for i in range(draw(st.integers(1, 3))):
            rows.append(line(f"k{c:02d}", i + 1, member, draw(st.sampled_from(CODES)), draw(st.integers(0, 4)),
                             draw(st.sampled_from([0, 300_000, 1_182_500, 2_000_000, 50_000_000])),
                             setting=setting, provider_id=provider, service_date=day,
                             supplementary_insurer_id=supp, referral_id=draw(st.sampled_from([None, "R"])),
                             admission_date=day, discharge_date=day + dt.timedelta(draw(st.integers(0, 3)))))
    return claim_frame(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=claims())
def test_point_equals_batch_on_random_claims(shared_engine, frame):
    batch = shared_engine.adjudicate(frame)
    point_lines, point_findings = point_run(shared_engine, frame)
    assert batch.lines.select("claim_id", "line_no", *COMPARED).rows() == \
        point_lines.select("claim_id", "line_no", *COMPARED).rows()
    assert canon_findings(batch.findings) == canon_findings(point_findings)


def test_bounded_caches_give_the_same_answers(population_engine, monkeypatch):
    """The point engine keeps lookups and ruleset choices between checks; evicting them changes no answer."""
    from adjudicator import point

    claims = [[line("e1", 1, M1, "901910", 1, 1_182_500)],
              [line("e2", 1, M2, "803020", 1, 300_000, supplementary_insurer_id="DANA")]]
    fresh = [population_engine().check(c) for c in claims]
    monkeypatch.setattr(point, "CACHE_ENTRIES", 1)
    eng = population_engine()
    for _ in range(2):
        for claim, want in zip(claims, fresh):
            got = eng.check(claim)
            assert (got.lines, got.findings, got.counters) == (want.lines, want.findings, want.counters)
    assert len(eng.point._ctx) == 1 and len(eng.point._scopes) == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=claims(), extra=st.sampled_from([None, {"basic.allowed_amount": 5, "basic.member_liability": 7}]))
def test_point_prepare_equals_prepare(shared_engine, frame, extra):
    """The point path's prepared line (a per-context base, the row, the claim facts and the cached code-keyed table
    fields) is the generic prepare's, for every shipped ruleset."""
    from adjudicator.point import _line, normalise
    from adjudicator.rules.to_python import claim_facts
    point = PointEngine(shared_engine)
    rows = [normalise(r)[0] for r in frame.to_dicts()]
    facts = claim_facts(rows)
    for row in rows:
        L = _line(point._checked_base(row)[0], row)
        for rs in shared_engine.rulesets:
            want = rs.python.prepare(L if extra is None else L | extra, facts)
            assert rs.python.point_prepare(rs.python.point_base(L), row, facts, extra) == want


def test_explain_lists_every_rule_with_the_values_it_read(population_engine):
    from adjudicator.explain import explain
    eng = population_engine()
    d = eng.check([line("e1", 1, M1, "803020", 1, 100_000)])  # a female-only code for a man
    (entry,) = explain(eng, d)
    assert entry["decision"] == "denied" and entry["primary_reason"] == "SEX_CONFLICT"
    rules = {r["id"]: r for r in entry["rules"]}
    assert rules["SEX-001"]["fired"] is True and rules["QTY-001"]["fired"] is False
    assert rules["SEX-001"]["read"]["member.sex"] == "M" and rules["SEX-001"]["read"]["attr.sex"] == "F"
    (rs,) = [r for r in eng.rulesets if r.ref == entry["ruleset"]]
    assert list(rules) == [r.id for r in rs.ir.rules]


def test_a_line_in_contract_order_and_the_same_line_otherwise_validate_alike():
    """normalise reads a line that holds exactly the contract columns in contract order by unpacking it; a line in
    another order, with an extra key, or with a value to convert takes the general path — same dict, same key order,
    and the caller's dict is never the one returned."""
    from adjudicator import schema
    from adjudicator.point import normalise
    row = {c: None for c in schema.CLAIM_LINES} | line("n1", 1, M1, "901910", 1, 1_000_000, submission="original")
    row = {c: row[c] for c in schema.CLAIM_LINES}
    want, problems = normalise(row)
    assert not problems and want == row and want is not row and list(want) == list(schema.CLAIM_LINES)
    for other in ({c: row[c] for c in reversed(schema.CLAIM_LINES)}, row | {"note": "x"},
                  row | {"quantity": "1"}, row | {"service_date": row["service_date"].isoformat()}):
        got, problems = normalise(other)
        assert not problems and got == want and list(got) == list(want)
    for bad in (row | {"quantity": True}, row | {"member_id": " "}, row | {"service_code": None}):
        assert normalise(bad)[0] is None
    assert row == want  # not changed
