import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator.dedup.overlap import DEFAULT_POLICY, Policy, find_overlaps, load_policy, overlap_findings, overlap_report
from adjudicator.eligibility import OverlapIndex
from adjudicator.errors import RulesetError
from tests.eligibility.helpers import D, coverage, lines, members, national_code

M = [national_code(n) for n in range(1, 12)]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


def cover(m, insurer, fund, start, end=None, **kw):
    return {"member_id": m, "insurer_id": insurer, "fund": fund, "start_date": start, "end_date": end, **kw}


@pytest.fixture(scope="module")
def report(policy):
    cov = coverage(
        cover(M[0], "IHIO", "rural", D(2020, 1, 1)),                       # rural goes, whoever came first
        cover(M[0], "SSO", "sso_employee", D(2021, 3, 1), D(2021, 12, 31)),
        cover(M[1], "SSO", "sso_employee", D(2019, 1, 1)),                 # civil servants stay over SSO
        cover(M[1], "IHIO", "civil_servants", D(2022, 1, 1)),
        cover(M[2], "IHIO", "civil_servants", D(2021, 1, 1)),              # armed forces: member chooses
        cover(M[2], "AFMO", "armed_forces", D(2021, 6, 1), D(2022, 1, 1)),
        cover(M[3], "IKRF", "relief", D(2021, 1, 1)),                      # earliest start wins
        cover(M[3], "SSO", "sso_self_employed", D(2020, 1, 1), D(2021, 1, 1)),  # one shared day
        cover(M[4], "IHIO", "iranians", D(2021, 1, 1)),                    # same insurer: no overlap
        cover(M[4], "IHIO", "rural", D(2021, 6, 1)),
        cover(M[5], "IHIO", "iranians", D(2021, 1, 1), D(2021, 1, 31)),    # touching is not enough
        cover(M[5], "SSO", "sso_employee", D(2021, 2, 1)),
        cover(M[6], "IHIO", "iranians", D(2021, 1, 1)),                    # suspended covers do not count
        cover(M[6], "SSO", "sso_employee", D(2021, 2, 1), status="suspended"),
        cover(M[7], "IHIO", "iranians", D(2021, 1, 1)),                    # nor supplementary ones
        cover(M[7], "SUP1", None, D(2021, 2, 1), kind="supplementary"),
        cover(M[8], "IKRF", "relief", D(2021, 1, 1)),                      # same start: the member chooses
        cover(M[8], "SSO", "sso_employee", D(2021, 1, 1)),
        cover(M[9], "IHIO", "rural", D(2020, 1, 1), D(2020, 12, 31)),      # two rural renewals vs one AFMO
        cover(M[9], "IHIO", "rural", D(2021, 1, 1)),
        cover(M[9], "AFMO", "armed_forces", D(2020, 6, 1)),
    )
    return find_overlaps(cov, policy)


def test_policy_file_loads(policy):
    assert policy.id == "ihio-overlap"
    assert [r.id for r in policy.rules] == ["RURAL_YIELDS", "CIVIL_SERVANTS_OVER_SSO", "CIVIL_SERVANTS_ARMED_FORCES"]


def test_policy_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("id: x\nrules:\n  - id: R\n    covers: [{fundz: [rural]}, {}]\n    primary: second\n")
    with pytest.raises(RulesetError) as err:
        load_policy(bad)
    assert "fundz" in str(err.value)
    with pytest.raises(Exception):
        load_policy(DEFAULT_POLICY).rules[0].id = "other"  # frozen


def test_overlaps_by_rule(report):
    got = {r["member_id"]: (r["primary_insurer"], r["secondary_insurer"], r["rule"], r["overlap_start"],
                            r["overlap_end"]) for r in report.overlaps.iter_rows(named=True) if r["member_id"] != M[9]}
    assert got == {
        M[0]: ("SSO", "IHIO", "RURAL_YIELDS", D(2021, 3, 1), D(2021, 12, 31)),
        M[1]: ("IHIO", "SSO", "CIVIL_SERVANTS_OVER_SSO", D(2022, 1, 1), None),
        M[2]: (None, None, "CIVIL_SERVANTS_ARMED_FORCES", D(2021, 6, 1), D(2022, 1, 1)),
        M[3]: ("SSO", "IKRF", "EARLIEST_START", D(2021, 1, 1), D(2021, 1, 1)),
        M[8]: (None, None, "EARLIEST_START_TIE", D(2021, 1, 1), None),
    }


def test_each_renewal_overlaps_separately_and_to_end_lists_each_span_once(report):
    m9 = report.overlaps.filter(pl.col("member_id") == M[9])
    assert m9.select("overlap_start", "overlap_end", "secondary_insurer").rows() == [
        (D(2020, 6, 1), D(2020, 12, 31), "IHIO"), (D(2021, 1, 1), None, "IHIO")]
    ends = report.to_end.filter(pl.col("member_id") == M[9])
    assert ends.select("start_date", "end_from").rows() == [(D(2020, 1, 1), D(2020, 6, 1)),
                                                             (D(2021, 1, 1), D(2021, 1, 1))]


def test_to_end_and_counts(report):
    assert report.to_end.filter(pl.col("member_id") != M[9]).select(
        "member_id", "insurer_id", "fund", "start_date", "end_from").rows() == [
        (M[0], "IHIO", "rural", D(2020, 1, 1), D(2021, 3, 1)),
        (M[3], "IKRF", "relief", D(2021, 1, 1), D(2021, 1, 1)),
        (M[1], "SSO", "sso_employee", D(2019, 1, 1), D(2022, 1, 1)),
    ]
    counts = {r["insurer_id"]: r for r in report.counts.iter_rows(named=True)}
    assert counts["IHIO"]["covers_to_end"] == 3 and counts["IHIO"]["members_to_end"] == 2
    assert counts["AFMO"]["covers_to_end"] == 0 and counts["AFMO"]["member_must_choose"] == 1
    assert counts["SSO"]["overlaps"] == 4 and counts["IKRF"]["member_must_choose"] == 1


def test_overlap_findings(report):
    ls = lines(
        {"member_id": M[0], "insurer_id": "IHIO", "service_date": D(2021, 3, 1)},   # secondary, first day
        {"member_id": M[0], "insurer_id": "IHIO", "service_date": D(2021, 2, 28)},  # before the overlap
        {"member_id": M[0], "insurer_id": "SSO", "service_date": D(2021, 3, 1)},    # primary
        {"member_id": M[0], "insurer_id": "IHIO", "service_date": D(2021, 12, 31)},  # last day
        {"member_id": M[0], "insurer_id": "IHIO", "service_date": D(2022, 1, 1)},   # after
        {"member_id": M[2], "insurer_id": "AFMO", "service_date": D(2021, 7, 1)},   # must choose, either side
        {"member_id": M[2], "insurer_id": "IHIO", "service_date": D(2021, 7, 1)},
        {"member_id": M[1], "insurer_id": "SSO", "service_date": D(2030, 1, 1)},    # open overlap
    )
    f = overlap_findings(ls, report)
    assert f.select("claim_id", "rule_id", "action", "liability").rows() == [
        ("C000", "OVL.OTHER_PRIMARY", "deny", "provider"),
        ("C003", "OVL.OTHER_PRIMARY", "deny", "provider"),
        ("C005", "OVL.MEMBER_MUST_CHOOSE", "pend", "provider"),
        ("C006", "OVL.MEMBER_MUST_CHOOSE", "pend", "provider"),
        ("C007", "OVL.OTHER_PRIMARY", "deny", "provider"),
    ]
    index = OverlapIndex(report.overlaps)
    for row in ls.iter_rows(named=True):
        want = [(r["rule_id"], r["reason_code"], r["action"], r["liability"])
                for r in f.filter(pl.col("claim_id") == row["claim_id"]).iter_rows(named=True)]
        assert index.findings(row["member_id"], row["insurer_id"], row["service_date"]) == want


def test_dead_members_overlaps_after_death_are_dropped(policy):
    cov = coverage(cover(M[0], "IHIO", "iranians", D(2021, 1, 1)), cover(M[0], "SSO", "sso_employee", D(2022, 1, 1)))
    assert find_overlaps(cov, policy).overlaps.height == 1
    assert find_overlaps(cov, policy, members({"member_id": M[0], "death_date": D(2021, 12, 31)})).overlaps.height == 0


def test_overlap_report_writes_per_insurer_files(tmp_path, policy):
    cov = coverage(cover(M[0], "IHIO", "rural", D(2020, 1, 1)), cover(M[0], "SSO", "sso_employee", D(2021, 1, 1)))
    path = tmp_path / "cov.parquet"
    cov.write_parquet(path)
    summary = overlap_report(path, None, DEFAULT_POLICY, tmp_path / "out")
    assert summary["overlaps"] == 1 and summary["covers_to_end"] == 1 and summary["by_rule"] == {"RURAL_YIELDS": 1}
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    assert pl.read_parquet(tmp_path / "out" / "to_end" / "IHIO.parquet")["end_from"].to_list() == [D(2021, 1, 1)]


@st.composite
def spans(draw):
    n = draw(st.integers(0, 12))
    out = []
    for _ in range(n):
        start = D(2021, 1, 1) + dt.timedelta(days=draw(st.integers(0, 30)))
        end = draw(st.one_of(st.none(), st.integers(-1, 20).map(lambda k: start + dt.timedelta(days=k))))
        ins, fund = draw(st.sampled_from([("IHIO", "rural"), ("IHIO", "civil_servants"), ("SSO", "sso_employee"),
                                          ("AFMO", "armed_forces"), ("IKRF", "relief")]))
        out.append(cover(draw(st.sampled_from(M[:3])), ins, fund, start, end,
                         status=draw(st.sampled_from(["active", "active", "suspended"]))))
    return out


@settings(max_examples=40, deadline=None)
@given(rows=spans())
def test_sweep_finds_exactly_the_overlapping_pairs(policy, rows):
    """The numba sweep against a brute-force pairwise check."""
    cov = coverage(*rows) if rows else coverage().clear()
    far = D(9999, 1, 1)
    got = sorted((r["member_id"], r["overlap_start"], r["overlap_end"] or far, *sorted([r["insurer_a"], r["insurer_b"]]))
                 for r in find_overlaps(cov, policy).overlaps.iter_rows(named=True))
    want = []
    ok = [r for r in rows if r["status"] == "active" and (r["end_date"] is None or r["end_date"] >= r["start_date"])]
    for i, a in enumerate(ok):
        for b in ok[i + 1:]:
            if a["member_id"] != b["member_id"] or a["insurer_id"] == b["insurer_id"]:
                continue
            s, e = max(a["start_date"], b["start_date"]), min(a["end_date"] or far, b["end_date"] or far)
            if s <= e:
                want.append((a["member_id"], s, e, *sorted([a["insurer_id"], b["insurer_id"]])))
    assert got == sorted(want)
