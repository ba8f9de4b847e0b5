"""Acceptance on real (public, synthetic) data: Synthea's 11 Massachusetts patients over ten years.

The expectations are derived here with the csv module and plain Python — no polars, no engine code — from the
same reading of the rules: inclusive day spans [START, END - 1 day], NO_INSURANCE is no cover.
"""

import csv
import datetime as dt
from collections import Counter, defaultdict

import pytest

from adjudicator.dedup.overlap import find_overlaps
from adjudicator.eligibility import MemberIndex, eligibility
from tests.eligibility.synthea_adapter import NO_INSURANCE, SYNTHEA, load

pytestmark = pytest.mark.skipif(not SYNTHEA.exists(), reason="shared Synthea data not present")


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


def expected():
    rows = lambda name: list(csv.DictReader(open(SYNTHEA / name, newline="")))  # noqa: E731
    names = {p["Id"]: p["NAME"].upper().replace(" ", "_") for p in rows("payers.csv")}
    death = {p["Id"]: _day(p["DEATHDATE"]) if p["DEATHDATE"] else None for p in rows("patients.csv")}
    basic, supp = defaultdict(list), defaultdict(list)
    for t in rows("payer_transitions.csv"):
        start, end = _day(t["START_DATE"]), _day(t["END_DATE"]) - dt.timedelta(days=1)
        if names[t["PAYER"]] != NO_INSURANCE:
            basic[t["PATIENT"]].append((names[t["PAYER"]], start, end))
        if t["SECONDARY_PAYER"]:
            supp[t["PATIENT"]].append((names[t["SECONDARY_PAYER"]], start, end))
    out = {}
    for c in rows("claims.csv"):
        if not c["PRIMARYPATIENTINSURANCEID"]:
            continue
        p, d, billed = c["PATIENTID"], _day(c["SERVICEDATE"]), names[c["PRIMARYPATIENTINSURANCEID"]]
        in_force = [ins for ins, s, e in basic[p] if s <= d <= e]
        dead = death[p] is not None and d > death[p]
        if dead:
            reason = "MEMBER_DECEASED"
        elif not basic[p]:
            reason = "NOT_ENROLLED"
        elif billed in in_force:
            reason = None
        elif in_force:
            reason = "WRONG_INSURER"
        else:
            reason = "NOT_IN_FORCE"
        valid = None
        if c["SECONDARYPATIENTINSURANCEID"]:
            sec = names[c["SECONDARYPATIENTINSURANCEID"]]
            valid = (not dead and bool(in_force)
                     and any(ins == sec and s <= d <= e for ins, s, e in supp[p]))
        out[c["Id"]] = (reason, valid)
    return out, basic


@pytest.fixture(scope="module")
def data():
    return load()


def test_every_claim_against_its_payers_spans(data):
    want, _ = expected()
    out, findings = eligibility(data.lines, data.coverage, data.members)
    elig = {r["claim_id"]: r["reason_code"] for r in findings.iter_rows(named=True)
            if r["rule_id"].startswith("ELIG.")}
    got = {r["claim_id"]: (elig.get(r["claim_id"]), r["supplementary.valid"]) for r in out.iter_rows(named=True)}
    assert got == want
    counts = Counter(reason for reason, _ in want.values())
    # the figures of this data set, as derived above (a change here means the data or the rules moved)
    assert out.height == 558
    assert counts == Counter({None: 490, "NOT_IN_FORCE": 67, "MEMBER_DECEASED": 1})
    pairing = Counter(v for _, v in want.values())
    assert pairing == Counter({None: 379, True: 152, False: 27})
    # an eligible line names the billed insurer's span
    ok = out.filter(out["claim_id"].is_in([c for c, (r, _) in want.items() if r is None]).to_list())
    assert (ok["coverage.insurer_id"] == ok["insurer_id"]).all()


def test_point_index_agrees_on_every_claim(data):
    out, findings = eligibility(data.lines, data.coverage, data.members)
    index = MemberIndex(data.coverage, data.members)
    by = defaultdict(list)
    for r in findings.iter_rows(named=True):
        by[r["claim_id"]].append((r["rule_id"], r["reason_code"], r["action"], r["liability"]))
    for r in out.iter_rows(named=True):
        got = index.lookup(r["member_id"], r["insurer_id"], r["supplementary_insurer_id"], r["service_date"])
        assert got["findings"] == by[r["claim_id"]]
        assert got["coverage.start_date"] == r["coverage.start_date"]


def test_overlaps_on_synthea(data):
    _, basic = expected()
    want = 0
    for spans in basic.values():
        for i, (a, s1, e1) in enumerate(spans):
            for b, s2, e2 in spans[i + 1:]:
                if a != b and max(s1, s2) <= min(e1, e2):
                    want += 1
    assert find_overlaps(data.coverage).overlaps.height == want
