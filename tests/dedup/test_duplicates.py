import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator.dedup.duplicates import apply_submissions, duplicate_findings
from tests.eligibility.helpers import D, lines, national_code

M1, M2 = national_code(1), national_code(2)


def line(claim, **kw):
    base = {"claim_id": claim, "member_id": M1, "insurer_id": "IHIO", "provider_id": "P1", "service_code": "S1",
            "service_date": D(2024, 1, 1), "quantity": 1, "billed_amount": 100}
    return {**base, **kw}


def run(batch, history=None):
    out, superseded, sub_findings = apply_submissions(batch, history)
    return out, superseded, sub_findings, duplicate_findings(out, history, superseded)


def codes(findings):
    return [(r["claim_id"], r["reason_code"]) for r in findings.iter_rows(named=True)]


def test_exact_suspect_repeat_and_cross_insurer():
    batch = lines(
        line("B"), line("A"),                       # A is first in total order: B is its exact duplicate
        line("C", provider_id="P2"),                # another provider: suspect
        line("D", billed_amount=150),               # another amount: suspect
        line("E", modifier="76"),                   # a repeat procedure: legitimate
        line("F", insurer_id="SSO"),                # another basic insurer: exact + cross-insurer
        line("G", service_code="S2"), line("H", service_date=D(2024, 1, 2)), line("I", member_id=M2),
        line("J", modifier="50"),                   # other modifier: not exact; suspect against C and D
    )
    _, _, _, f = run(batch)
    assert codes(f) == [
        ("B", "DUPLICATE_EXACT"), ("B", "CROSS_INSURER_DUPLICATE"),
        ("A", "CROSS_INSURER_DUPLICATE"),
        ("C", "DUPLICATE_SUSPECT"), ("C", "CROSS_INSURER_DUPLICATE"),
        ("D", "DUPLICATE_SUSPECT"), ("D", "CROSS_INSURER_DUPLICATE"),
        ("E", "CROSS_INSURER_DUPLICATE"),
        ("F", "DUPLICATE_EXACT"), ("F", "CROSS_INSURER_DUPLICATE"),
        ("J", "DUPLICATE_SUSPECT"), ("J", "CROSS_INSURER_DUPLICATE"),
    ]
    _, _, _, f2 = run(lines(line("A"), line("J", modifier="50")))
    assert f2.height == 0  # same provider and amount, another modifier: neither exact nor suspect
    assert set(f.filter(pl.col("rule_id") == "DUP.EXACT")["action"]) == {"deny"}
    assert set(f.filter(pl.col("rule_id") == "DUP.SUSPECT")["action"]) == {"pend"}
    assert set(f.filter(pl.col("rule_id") == "DUP.CROSS_INSURER")["action"]) == {"flag"}
    assert set(f["liability"]) == {"provider"}


def test_lines_of_one_claim_are_not_duplicates_of_each_other():
    _, _, _, f = run(lines(line("A", line_no=1), line("A", line_no=2)))
    assert f.height == 0


def test_earlier_means_service_date_then_claim_id_then_line_no():
    _, _, _, f = run(lines(line("A", line_no=2), line("B", line_no=1), line("A", line_no=1)))
    assert codes(f) == [("B", "DUPLICATE_EXACT")]


def test_history_is_earlier_than_the_batch():
    history = lines(line("Z"))
    _, _, _, f = run(lines(line("A"), line("Q", provider_id="P9", service_code="S9")), history)
    assert codes(f) == [("A", "DUPLICATE_EXACT")]
    _, _, _, f = run(lines(line("A", insurer_id="SSO")), history)
    assert codes(f) == [("A", "DUPLICATE_EXACT"), ("A", "CROSS_INSURER_DUPLICATE")]


def test_replacement_supersedes_its_original_in_the_batch_and_in_history():
    batch = lines(line("A"), line("R", submission="replacement", replaces_claim_id="A"),
                  line("R2", submission="replacement", replaces_claim_id="H", service_code="S7"))
    history = lines(line("H", service_code="S7"))
    out, superseded, sub_f, f = run(batch, history)
    assert superseded.rows() == [("A", 1, "batch"), ("H", 1, "history")]
    assert out["dup.superseded"].to_list() == [True, False, False]
    assert codes(sub_f) == [("A", "SUPERSEDED")]
    assert sub_f["action"].to_list() == ["deny"]
    assert f.height == 0  # neither replacement duplicates the original it replaces


def test_void_supersedes_and_is_denied_and_counts_for_nothing():
    batch = lines(line("A"), line("V", submission="void", replaces_claim_id="A"), line("B"))
    out, superseded, sub_f, f = run(batch)
    assert codes(sub_f) == [("A", "SUPERSEDED"), ("V", "VOIDED")]
    assert sub_f.filter(pl.col("claim_id") == "V")["action"].to_list() == ["deny"]
    assert f.height == 0  # B is now the first occurrence


def test_no_history_and_no_candidates():
    _, _, _, f = run(lines(line("A"), line("B", service_code="S2")))
    assert f.height == 0 and f.columns == ["claim_id", "line_no", "rule_id", "reason_code", "action", "liability"]


@st.composite
def batch_rows(draw):
    rows = []
    for i in range(draw(st.integers(1, 14))):
        rows.append(line(
            draw(st.sampled_from("ABCDE")), line_no=i + 1, member_id=draw(st.sampled_from([M1, M2])),
            insurer_id=draw(st.sampled_from(["IHIO", "SSO"])), provider_id=draw(st.sampled_from(["P1", "P2"])),
            service_code=draw(st.sampled_from(["S1", "S2"])),
            service_date=D(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 1))),
            modifier=draw(st.sampled_from([None, None, "76", "50"])), quantity=draw(st.sampled_from([1, 2])),
            billed_amount=draw(st.sampled_from([100, 200])),
        ))
    return rows


@settings(max_examples=50, deadline=None)
@given(rows=batch_rows())
def test_against_a_brute_force_reading_of_the_rules(rows):
    batch = lines(*rows)
    _, _, _, f = run(batch)
    got = sorted(codes(f.with_columns(pl.col("claim_id") + "/" + pl.col("line_no").cast(pl.String))))
    recs = [(r["service_date"], r["claim_id"], r["line_no"], r) for r in batch.iter_rows(named=True)]
    want = []
    for dx, cx, nx, x in recs:
        others = [(d, c, n, y) for d, c, n, y in recs if c != cx and y["member_id"] == x["member_id"]
                  and y["service_code"] == x["service_code"] and d == dx]
        earlier = [y for d, c, n, y in others if (d, c, n) < (dx, cx, nx)]
        rep = x["modifier"] in ("76", "77", "91")
        key = lambda y: (y["provider_id"], y["modifier"], y["quantity"], y["billed_amount"])  # noqa: E731
        me = f"{cx}/{nx}"
        if not rep and any(key(y) == key(x) for y in earlier):
            want.append((me, "DUPLICATE_EXACT"))
        elif not rep and any(y["provider_id"] != x["provider_id"] or y["billed_amount"] != x["billed_amount"]
                             for y in earlier):
            want.append((me, "DUPLICATE_SUSPECT"))
        if any(y["insurer_id"] != x["insurer_id"] for _, _, _, y in others):
            want.append((me, "CROSS_INSURER_DUPLICATE"))
    assert got == sorted(want)
