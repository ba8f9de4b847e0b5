"""The prescription lifecycle as correlated events (adjudicator/events.py + rulesets/prescription/lifecycle.yaml):
each scenario by hand, events out of order, idempotence on a repeated event id, and the same lines replayed through
both backends of ``Ruleset.evaluate``."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from adjudicator import dates
from adjudicator.errors import RulesetError
from adjudicator.events import FINDINGS_SCHEMA, LIFECYCLE, Correlator, EventError
from adjudicator.rules.compiled import load_ruleset
from adjudicator.rules.examples import run_examples
from tests.conftest import RULESETS

D0 = dates.parse_date("1404/02/01")
AMOX = "1000110"  # amoxicillin 500 mg, 28,000 Rials a capsule in 1404


@pytest.fixture(scope="module")
def lifecycle():
    return load_ruleset(LIFECYCLE)


@pytest.fixture
def corr(lifecycle) -> Correlator:
    return Correlator(lifecycle)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def rx(rx_id="R1", qty=30, on=0, code=AMOX, member="m1", **kw) -> dict:
    return {"event": "prescribed", "rx_id": rx_id, "member_id": member, "prescriber_id": "25709",
            "service_code": code, "quantity": qty, "date": day(on)} | kw


def dispense(qty, on=1, pharmacy="PH1", rx_id="R1", code=AMOX, member="m1", **kw) -> dict:
    return {"event": "dispensed", "rx_id": rx_id, "member_id": member, "pharmacy_id": pharmacy,
            "service_code": code, "quantity": qty, "date": day(on), "amount": 28_000 * qty} | kw


def claim(qty, on=2, pharmacy="PH1", rx_id="R1", code=AMOX, member="m1", **kw) -> dict:
    return dispense(qty, on, pharmacy, rx_id, code, member, **kw) | {"event": "claimed"}


def reasons(findings) -> list[str]:
    return [f["reason_code"] for f in findings]


# --- the happy path ------------------------------------------------------------------------------------------------

def test_prescribed_dispensed_claimed_has_no_findings(corr):
    assert corr.feed(rx()) == []
    assert corr.feed(dispense(30, id="d1")) == []
    assert corr.feed(claim(30, id="c1")) == []
    assert corr.outcomes["d1"]["decision"] == corr.outcomes["c1"]["decision"] == "approved"
    st = corr.state("R1")
    assert (st.dispensed, st.dispense_count, st.pharmacies, st.claimed) == (30, 1, ["PH1"], {"PH1": 30})


def test_partial_fills_at_one_pharmacy_are_allowed(corr):
    corr.feed(rx(qty=30))
    assert corr.feed(dispense(10, on=1)) == []
    assert corr.feed(dispense(20, on=5)) == []
    assert corr.feed(claim(30, on=6)) == []


# --- dispensing ----------------------------------------------------------------------------------------------------

def test_dispensing_without_a_prescription_is_denied(corr):
    f = corr.feed(dispense(10, rx_id="R-none", id="d1"))
    assert reasons(f) == ["DISPENSED_WITHOUT_RX"]
    assert f[0]["rule_id"] == "LC-001" and f[0]["decision"] == "denied" and f[0]["allowed_quantity"] == 0
    assert f[0]["amount_effect"] == 280_000


def test_dispensing_another_drug_is_without_a_prescription(corr):
    corr.feed(rx())
    f = corr.feed(dispense(10, code="1000310"))
    assert [x["rule_id"] for x in f] == ["LC-002"] and reasons(f) == ["DISPENSED_WITHOUT_RX"]


def test_dispensing_before_the_prescription_date_is_without_a_prescription(corr):
    corr.feed(rx(on=5))
    assert [x["rule_id"] for x in corr.feed(dispense(10, on=4))] == ["LC-003"]


def test_expiry_is_inclusive_of_the_last_valid_day(corr):
    corr.feed(rx(valid_days=10))
    assert corr.state("R1").expires == day(9)
    assert corr.feed(dispense(10, on=9)) == []
    f = corr.feed(dispense(10, on=10))
    assert reasons(f) == ["RX_EXPIRED"] and f[0]["decision"] == "denied"


def test_default_validity_is_thirty_days(lifecycle):
    c = Correlator(lifecycle)
    c.feed(rx())
    assert c.state("R1").expires == day(29)
    assert reasons(c.feed(dispense(10, on=30))) == ["RX_EXPIRED"]
    c7 = Correlator(lifecycle, valid_days=7)
    c7.feed(rx())
    assert reasons(c7.feed(dispense(10, on=7))) == ["RX_EXPIRED"]


def test_more_than_prescribed_is_limited_to_what_remains(corr):
    corr.feed(rx(qty=30))
    assert corr.feed(dispense(20, on=1)) == []
    f = corr.feed(dispense(20, on=2, id="d2"))
    assert reasons(f) == ["DISPENSED_ABOVE_RX"]
    assert f[0]["action"] == "limit_quantity" and f[0]["decision"] == "adjusted" and f[0]["allowed_quantity"] == 10
    assert f[0]["amount_effect"] == 280_000  # 560,000 billed for 20, 280,000 allowed for 10
    f = corr.feed(dispense(5, on=3))
    assert reasons(f) == ["DISPENSED_ABOVE_RX"] and f[0]["decision"] == "denied"  # a limit to 0 denies
    assert corr.state("R1").dispensed == 30


def test_a_single_dispensing_above_the_prescription_is_limited(corr):
    corr.feed(rx(qty=30))
    f = corr.feed(dispense(40))
    assert reasons(f) == ["DISPENSED_ABOVE_RX"] and f[0]["allowed_quantity"] == 30


def test_the_same_prescription_at_a_second_pharmacy_is_denied(corr):
    corr.feed(rx(qty=30))
    assert corr.feed(dispense(10, pharmacy="PH1")) == []
    f = corr.feed(dispense(10, on=2, pharmacy="PH2"))
    assert reasons(f) == ["RX_DISPENSED_TWICE"] and f[0]["rule_id"] == "LC-005"
    # turned away once, turned away again; the first pharmacy keeps the prescription
    assert reasons(corr.feed(dispense(5, on=3, pharmacy="PH2"))) == ["RX_DISPENSED_TWICE"]
    assert corr.feed(dispense(20, on=4, pharmacy="PH1")) == []
    assert corr.state("R1").pharmacies == ["PH1"]


# --- claims --------------------------------------------------------------------------------------------------------

def test_a_claim_without_a_dispensing_is_denied(corr):
    corr.feed(rx())
    f = corr.feed(claim(10))
    assert reasons(f) == ["CLAIMED_WITHOUT_DISPENSING"] and f[0]["decision"] == "denied"


def test_a_claim_by_another_pharmacy_than_the_one_that_dispensed_is_denied(corr):
    corr.feed(rx())
    corr.feed(dispense(30, pharmacy="PH1"))
    assert reasons(corr.feed(claim(30, pharmacy="PH9"))) == ["CLAIMED_WITHOUT_DISPENSING"]


def test_a_claim_is_held_to_what_was_allowed_to_be_dispensed(corr):
    corr.feed(rx(qty=30))
    corr.feed(dispense(40))                     # limited to 30
    f = corr.feed(claim(40))
    assert reasons(f) == ["CLAIMED_ABOVE_DISPENSED"] and f[0]["allowed_quantity"] == 30
    f = corr.feed(claim(5, on=3))               # nothing left to claim
    assert reasons(f) == ["CLAIMED_ABOVE_DISPENSED"] and f[0]["decision"] == "denied"


def test_a_claim_for_a_denied_dispensing_is_denied(corr):
    corr.feed(rx())
    corr.feed(dispense(10, pharmacy="PH1"))
    corr.feed(dispense(10, pharmacy="PH2"))     # denied: second pharmacy
    assert set(reasons(corr.feed(claim(10, pharmacy="PH2")))) == {"CLAIMED_WITHOUT_DISPENSING"}


# --- events out of order -------------------------------------------------------------------------------------------

def test_a_dispensing_that_arrives_before_its_prescription_is_flagged_and_not_revised(corr):
    early = corr.feed(dispense(30, on=1, id="d-early"))
    assert reasons(early) == ["DISPENSED_WITHOUT_RX"]
    assert corr.feed(rx(on=0)) == []            # the prescription arrives late: no finding of its own
    assert corr.outcomes["d-early"]["decision"] == "denied"   # the earlier decision stands
    # the denied dispensing does not count against the prescription: resubmitted, it is accepted
    assert corr.feed(dispense(30, on=1, id="d-again")) == []
    assert corr.feed(claim(30, on=2)) == []


def test_a_claim_that_arrives_before_its_dispensing_is_flagged(corr):
    corr.feed(rx())
    assert reasons(corr.feed(claim(30, on=2, id="c1"))) == ["CLAIMED_WITHOUT_DISPENSING"]
    assert corr.feed(dispense(30, on=1)) == []
    assert corr.feed(claim(30, on=2, id="c2")) == []          # sent again after the dispensing: accepted


# --- idempotence ---------------------------------------------------------------------------------------------------

def test_a_repeated_event_id_is_answered_the_same_and_changes_nothing(corr):
    corr.feed(rx())
    first = corr.feed(dispense(40, id="d1"))
    again = corr.feed(dispense(40, id="d1"))
    assert again == first and reasons(first) == ["DISPENSED_ABOVE_RX"]
    st = corr.state("R1")
    assert (st.dispensed, st.dispense_count) == (30, 1)
    assert len(corr.lines) == 1


def test_events_without_an_id_are_identified_by_their_content(corr):
    corr.feed(rx())
    corr.feed(rx())                             # the same prescription event again: not a second prescription
    corr.feed(dispense(10))
    corr.feed(dispense(10))
    assert corr.state("R1").dispensed == 10
    assert corr.feed(dispense(10, on=2)) == []  # another day: another event
    assert corr.state("R1").dispensed == 20


def test_feed_all_counts_a_repeated_event_once(corr):
    events = [rx(), dispense(40, id="d1"), dispense(40, id="d1"), dispense(5, id="d2", pharmacy="PH2")]
    f = corr.feed_all(events)
    assert f.schema == pl.Schema(FINDINGS_SCHEMA)
    assert f["event_id"].to_list() == ["d1", "d2"]
    assert f["reason_code"].to_list() == ["DISPENSED_ABOVE_RX", "RX_DISPENSED_TWICE"]
    assert Correlator(corr.ruleset).feed_all([]).height == 0


def test_an_event_id_reused_for_another_event_is_an_error(corr):
    corr.feed(rx())
    corr.feed(dispense(10, id="d1"))
    with pytest.raises(EventError, match="already used"):
        corr.feed(dispense(11, id="d1"))


def test_a_second_prescription_event_for_one_rx_is_an_error(corr):
    corr.feed(rx(id="p1"))
    with pytest.raises(EventError, match="already prescribed"):
        corr.feed(rx(qty=60, id="p2"))


@pytest.mark.parametrize("event, message", [
    ({"event": "returned"}, "'event' must be one of"),
    (dispense(10) | {"pharmacy_id": None}, "'pharmacy_id' is required"),
    (dispense(10) | {"rx_id": ""}, "'rx_id' is required"),
    (dispense(0), "'quantity' must be a positive"),
    (dispense(1.5), "'quantity' must be a positive"),
    (dispense(1) | {"amount": -1}, "'amount' must be a non-negative"),
    (dispense(1) | {"date": "1404/13/01"}, "'date'"),
    (rx(valid_days=0), "'valid_days' must be a positive"),
])
def test_malformed_events_are_errors(corr, event, message):
    with pytest.raises(EventError, match=message):
        corr.feed(event)


# --- the same rules on both backends -------------------------------------------------------------------------------

def stream() -> list[dict]:
    return [
        dispense(5, rx_id="R0", on=0),                               # no prescription
        rx(), rx("R2", qty=10, code="1004810", valid_days=5),
        dispense(20, on=1), dispense(20, on=2),                      # above the prescription
        dispense(5, on=2, pharmacy="PH2"),                           # second pharmacy
        dispense(5, on=3, code="1000310"),                           # another drug
        dispense(10, rx_id="R2", on=6, code="1004810"),              # expired
        claim(40, on=4), claim(3, on=4, pharmacy="PH3"),             # above dispensed; without dispensing
        rx("R3", qty=12, on=10), dispense(6, rx_id="R3", on=9),      # dispensed before it was written
        dispense(6, rx_id="R3", on=11, pharmacy="PH4"), claim(6, rx_id="R3", on=12, pharmacy="PH4"),
    ]


@pytest.mark.parametrize("backend", ["polars", "python"])
def test_replayed_lines_give_the_same_findings_on_both_backends(lifecycle, backend):
    corr = Correlator(lifecycle)
    mine = corr.feed_all(stream())
    assert set(mine["reason_code"]) == {"DISPENSED_WITHOUT_RX", "DISPENSED_ABOVE_RX", "RX_DISPENSED_TWICE",
                                        "RX_EXPIRED", "CLAIMED_ABOVE_DISPENSED", "CLAIMED_WITHOUT_DISPENSING"}
    frame = corr.line_frame()
    assert frame.height == len(corr.lines) == 11
    lines, findings = lifecycle.evaluate(frame, backend=backend)
    cols = ["rule_id", "reason_code", "action", "amount_effect", "liability"]
    got = findings.select(pl.col("claim_id").alias("event_id"), *cols).sort("event_id", "rule_id")
    want = mine.select("event_id", *cols).sort("event_id", "rule_id")
    assert got.to_dicts() == want.to_dicts()
    allowed = dict(zip(lines["claim_id"], lines["allowed_quantity"]))
    assert allowed == {k: v["allowed_quantity"] for k, v in corr.outcomes.items()}


# --- the rulesets --------------------------------------------------------------------------------------------------

def test_prescription_rulesets_pass_their_embedded_tests():
    for path in sorted((RULESETS / "prescription").glob("*.yaml")):
        rs = load_ruleset(path)
        assert rs.kind == "prescription"
        failed = [r for r in run_examples(rs) if not r.passed]
        assert not failed, failed


def test_rx_fields_exist_only_in_prescription_rulesets(tmp_path):
    body = ("ruleset: t.rx\nversion: '1'\nkind: {kind}\nrules:\n"
            "  - {{id: R1, when: rx.exists, deny: DISPENSED_WITHOUT_RX}}\n")
    (tmp_path / "p.yaml").write_text(body.format(kind="prescription"))
    assert load_ruleset(tmp_path / "p.yaml").kind == "prescription"
    (tmp_path / "b.yaml").write_text(body.format(kind="basic"))
    with pytest.raises(RulesetError, match="unknown name 'rx'"):
        load_ruleset(tmp_path / "b.yaml")


def test_the_correlator_needs_a_prescription_ruleset():
    with pytest.raises(EventError, match="kind: prescription"):
        Correlator(RULESETS / "ihio" / "outpatient.yaml")
