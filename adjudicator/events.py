"""The prescription lifecycle as correlated events: prescribed → dispensed → claimed, checked by ordinary DSL rules.

A ``Correlator`` keeps the state of each prescription (``rx_id``): what was prescribed, until when, how much was
dispensed and where, what each pharmacy claimed. Every ``dispensed`` or ``claimed`` event becomes one flat line
(the claim-line columns of DATA.md plus ``rx.*`` fields describing the prescription as known at that moment) and
runs through a ``kind: prescription`` ruleset (``rulesets/prescription/lifecycle.yaml``) on the compiled Python
backend — the same ``PythonRuleset`` the point of service uses. The correlation is the only stateful part; what is
allowed is written in the ruleset, so the lines can also be replayed through the polars backend (``line_frame``).

An event is a dict::

    {event: prescribed | dispensed | claimed, rx_id, member_id, service_code, quantity, date,
     prescriber_id?, valid_days? (prescribed), pharmacy_id (dispensed, claimed), amount? (Rials), insurer_id?,
     id? (the event's id; when absent, a hash of its content)}

Choices, written down:

- The state counts what the rules allowed. A denied dispensing or claim leaves no trace in ``rx.*`` (its finding
  is the record); a limited one counts with its allowed units. So a pharmacy turned away as the second pharmacy is
  turned away again next time, and a claim is held to what its pharmacy was allowed to dispense.
- Events are judged in arrival order on what the exchange knows when each arrives. A dispensing whose prescription
  has not arrived yet is a dispensing without a prescription (``rx.exists`` false) and is denied; a prescription
  that arrives later does not revise that finding (it stands for the insurer to review). Being denied, the early
  dispensing does not count against the prescription: the pharmacy may submit it again (a new event id) once the
  prescription is known.
- A prescription may be dispensed in several parts at one pharmacy; the first pharmacy whose dispensing is accepted
  owns it.
- ``valid_days`` counts the day of writing: written on D, valid through D + valid_days − 1 (``rx.expires``).
- An event id seen before with the same content is answered with the findings it got the first time and changes
  nothing; with different content it is an error. A second ``prescribed`` event for one ``rx_id`` is an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from adjudicator import dates, schema
from adjudicator.errors import AdjudicatorError
from adjudicator.rules.compiled import Ruleset, load_ruleset
from adjudicator.rules.examples import decision_of
from adjudicator.rules.functions import BOOL, DATE, LIST, NUM, STR
from adjudicator.rules.parse import base_fields
from adjudicator.rules.to_python import claim_facts

__all__ = ["EVENTS", "FINDINGS_SCHEMA", "LIFECYCLE", "LINE_SCHEMA", "Correlator", "EventError", "RxState",
           "normalise"]

EVENTS = ("prescribed", "dispensed", "claimed")
LIFECYCLE = Path(__file__).resolve().parents[1] / "rulesets" / "prescription" / "lifecycle.yaml"
DEFAULT_VALID_DAYS = 30

_DTYPE = {BOOL: pl.Boolean, NUM: pl.Int64, DATE: pl.Date, LIST: pl.List(pl.String), STR: pl.String}
RX_SCHEMA: dict[str, pl.DataType] = {f"rx.{k}": _DTYPE[t.type] for k, t in base_fields("prescription")["rx"].items()}
LINE_SCHEMA: dict[str, pl.DataType] = dict(schema.CLAIM_LINES) | RX_SCHEMA

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String, "event": pl.String, "rx_id": pl.String, "member_id": pl.String,
    "pharmacy_id": pl.String, "service_code": pl.String, "date": pl.Date, "quantity": pl.Int64,
    "decision": pl.String, "allowed_quantity": pl.Int64, "ruleset": pl.String, "rule_id": pl.String,
    "reason_code": pl.String, "action": pl.String, "amount_effect": pl.Int64, "liability": pl.String,
    "message": pl.String, "message_fa": pl.String,
}


class EventError(AdjudicatorError, ValueError):
    """An event cannot be correlated: a missing or malformed field, or an id reused for another event."""


@dataclass
class RxState:
    """What the exchange knows about one prescription."""

    rx_id: str
    member_id: str
    prescribed: bool = False
    service_code: str | None = None
    quantity: int | None = None
    prescriber_id: str | None = None
    prescribed_date: dt.date | None = None
    expires: dt.date | None = None
    dispensed: int = 0                                          # units allowed, every accepted dispensing
    dispense_count: int = 0                                     # accepted (not denied) dispensings
    pharmacies: list[str] = field(default_factory=list)        # of accepted dispensings, in order
    allowed: dict[str, int] = field(default_factory=dict)      # pharmacy → units its dispensings were allowed
    claimed: dict[str, int] = field(default_factory=dict)      # pharmacy → units allowed on its claims

    def rx_fields(self, event: str, pharmacy: str) -> dict:
        """The ``rx.*`` fields of a line for an event of this prescription at ``pharmacy``."""
        return {
            "rx.exists": self.prescribed, "rx.event": event, "rx.service_code": self.service_code,
            "rx.quantity": self.quantity, "rx.prescribed_date": self.prescribed_date, "rx.expires": self.expires,
            "rx.dispensed_before": self.dispensed, "rx.dispense_count": self.dispense_count,
            "rx.pharmacies_before": list(self.pharmacies),
            "rx.dispensed_allowed": self.allowed.get(pharmacy, 0) if event == "claimed" else None,
            "rx.claimed_before": self.claimed.get(pharmacy, 0) if event == "claimed" else None,
        }


def _text(ev: dict, key: str, required: bool) -> str | None:
    v = ev.get(key)
    if v is None or v == "":
        if required:
            raise EventError(f"'{key}' is required in a {ev.get('event')} event (got {_show(ev)})")
        return None
    return str(v)


def _show(ev: dict) -> str:
    return json.dumps(ev, default=str, ensure_ascii=False, sort_keys=True)


def normalise(event: dict) -> dict:
    """An event with checked, typed fields and its ``id`` (given, or a hash of its content)."""
    if not isinstance(event, dict):
        raise EventError(f"an event is a dict, got {type(event).__name__}")
    kind = event.get("event")
    if kind not in EVENTS:
        raise EventError(f"'event' must be one of {', '.join(EVENTS)} (got {kind!r} in {_show(event)})")
    ev = {"event": kind}
    for key in ("rx_id", "member_id", "service_code"):
        ev[key] = _text(event, key, True)
    ev["pharmacy_id"] = _text(event, "pharmacy_id", kind != "prescribed")
    ev["prescriber_id"] = _text(event, "prescriber_id", False)
    ev["insurer_id"] = _text(event, "insurer_id", False)
    for key, required in (("quantity", True), ("amount", False), ("valid_days", False)):
        v = event.get(key)
        if v is None and not required:
            ev[key] = None
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "amount" else 1):
            raise EventError(f"'{key}' must be a {'positive' if key != 'amount' else 'non-negative'} whole number "
                             f"(got {v!r} in {_show(event)})")
        ev[key] = v
    try:
        ev["date"] = dates.parse_date(event.get("date"))
    except ValueError as e:
        raise EventError(f"'date': {e} (in {_show(event)})") from None
    given = event.get("id", event.get("event_id"))
    ev["id"] = str(given) if given is not None else "ev-" + hashlib.sha256(_show(ev).encode()).hexdigest()[:16]
    return ev


class Correlator:
    """Per-prescription state and the lifecycle rules: ``feed(event) -> findings``.

    ``ruleset`` is a ``kind: prescription`` ruleset reading ``rx.*`` (default: rulesets/prescription/lifecycle.yaml);
    it runs on its compiled Python backend. ``valid_days`` is the validity of a prescription that does not give its
    own.
    """

    def __init__(self, ruleset: Ruleset | str | Path | None = None, *, valid_days: int = DEFAULT_VALID_DAYS):
        rs = ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset or LIFECYCLE)
        if rs.kind != "prescription":
            raise EventError(f"the lifecycle ruleset must be kind: prescription, {rs.ref} is {rs.kind}")
        self.ruleset = rs
        self.prs = rs.python
        self.index = self.prs.new_index()
        self.valid_days = valid_days
        self.rx: dict[str, RxState] = {}
        self.lines: list[dict] = []                      # the lines built for dispensed/claimed events, in order
        self.outcomes: dict[str, dict] = {}              # event id → decision, allowed quantity, rules
        self._seen: dict[str, tuple[dict, list[dict]]] = {}

    # -- the public surface ------------------------------------------------------------------------------------
    def feed(self, event: dict) -> list[dict]:
        """Correlate one event; the findings of the rules it fired (none for a ``prescribed`` event)."""
        ev = normalise(event)
        seen = self._seen.get(ev["id"])
        if seen is not None:
            if seen[0] != ev:
                raise EventError(f"event id {ev['id']!r} was already used for another event ({_show(seen[0])})")
            return [dict(f) for f in seen[1]]
        findings = self._prescribe(ev) if ev["event"] == "prescribed" else self._check(ev)
        self._seen[ev["id"]] = (ev, findings)
        return [dict(f) for f in findings]

    def feed_all(self, events: Iterable[dict]) -> pl.DataFrame:
        """Feed events in order; the findings of every distinct event (a repeated one counts once)."""
        rows = []
        for event in events:
            known = isinstance(event, dict) and normalise(event)["id"] in self._seen
            found = self.feed(event)
            if not known:
                rows.extend(found)
        return pl.DataFrame(rows, schema=FINDINGS_SCHEMA) if rows else pl.DataFrame(schema=FINDINGS_SCHEMA)

    def state(self, rx_id: str) -> RxState | None:
        """The state of one prescription (None when no event named it)."""
        return self.rx.get(rx_id)

    def line_frame(self) -> pl.DataFrame:
        """The lines built so far as a frame (claim-line columns + ``rx.*``), for ``Ruleset.evaluate``."""
        return pl.DataFrame([{c: L.get(c) for c in LINE_SCHEMA} for L in self.lines], schema=LINE_SCHEMA)

    # -- events ------------------------------------------------------------------------------------------------
    def _state(self, ev: dict) -> RxState:
        st = self.rx.get(ev["rx_id"])
        if st is None:
            st = self.rx[ev["rx_id"]] = RxState(ev["rx_id"], ev["member_id"])
        return st

    def _prescribe(self, ev: dict) -> list[dict]:
        st = self._state(ev)
        if st.prescribed:
            raise EventError(f"prescription {ev['rx_id']!r} was already prescribed (event {ev['id']!r})")
        valid = ev["valid_days"] or self.valid_days
        st.prescribed, st.service_code, st.quantity = True, ev["service_code"], ev["quantity"]
        st.prescriber_id, st.prescribed_date = ev["prescriber_id"], ev["date"]
        st.expires = ev["date"] + dt.timedelta(days=valid - 1)
        st.member_id = ev["member_id"]
        return []

    def _line(self, ev: dict, st: RxState) -> dict:
        return {
            "claim_id": ev["id"], "line_no": 1, "member_id": ev["member_id"], "insurer_id": ev["insurer_id"] or "",
            "setting": "outpatient", "provider_id": ev["pharmacy_id"],
            "prescriber_id": ev["prescriber_id"] or st.prescriber_id, "service_date": ev["date"],
            "service_code": ev["service_code"], "quantity": ev["quantity"], "billed_amount": ev["amount"] or 0,
            "submission": "original", **st.rx_fields(ev["event"], ev["pharmacy_id"]),
        }

    def _check(self, ev: dict) -> list[dict]:
        st = self._state(ev)
        row = self._line(ev, st)
        self.lines.append(row)
        L = self.prs.prepare(row, claim_facts([row]))
        self.index.add(L)
        self.index.fill(L)
        out, fired = self.prs.evaluate(L)
        decision = decision_of(out)
        self.outcomes[ev["id"]] = {"event": ev["event"], "rx_id": ev["rx_id"], "decision": decision,
                                   "allowed_quantity": out["allowed_quantity"], "rules": out["rules"]}
        pharmacy, allowed = ev["pharmacy_id"], out["allowed_quantity"]
        if out["__denied"]:
            pass  # a denied event leaves no trace in the state: its finding is the record
        elif ev["event"] == "dispensed":
            st.dispensed += allowed
            st.dispense_count += 1
            if pharmacy not in st.pharmacies:
                st.pharmacies.append(pharmacy)
            st.allowed[pharmacy] = st.allowed.get(pharmacy, 0) + allowed
        else:
            st.claimed[pharmacy] = st.claimed.get(pharmacy, 0) + allowed
        base = {"event_id": ev["id"], "event": ev["event"], "rx_id": ev["rx_id"], "member_id": ev["member_id"],
                "pharmacy_id": pharmacy, "service_code": ev["service_code"], "date": ev["date"],
                "quantity": ev["quantity"], "decision": decision, "allowed_quantity": out["allowed_quantity"]}
        return [base | {k: f[k] for k in ("ruleset", "rule_id", "reason_code", "action", "amount_effect",
                                          "liability", "message", "message_fa")} for f in fired]
