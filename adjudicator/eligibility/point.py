"""Eligibility at the point of service: one member and date, answered from an in-memory index in microseconds.

``MemberIndex`` shares the ``CoverageIndex`` arrays with the batch stage (numpy, a few dozen bytes per span) but
decides in plain Python, written separately from the numba kernel, so that the property test comparing the two
really compares two implementations of ``batch.py``'s rules. ``OverlapIndex`` answers the ``OVL.*`` findings for
(member, insurer, date) from an overlap report (``dedup.overlap``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import polars as pl

from adjudicator.dedup.supplementary import supplementary_code, supplementary_finding
from adjudicator.eligibility import kernels as K
from adjudicator.eligibility.index import DATE_NONE, CoverageIndex, build_index

__all__ = ["MemberIndex", "OverlapIndex"]

_EPOCH = dt.date(1970, 1, 1)
_M64 = (1 << 64) - 1
_supp_code = supplementary_code.py_func
_OPEN = int(DATE_NONE)
_WAIT_NULL = int(K.WAIT_NULL)
# a span as this path reads it: the index row's fields and its class's (the index keeps a member's spans best first,
# as ``kernels.order_groups`` ranks them, so the first in-force span of an insurer is its effective one)
_KIND, _INS, _START, _END, _PLAN, _ACTIVE, _WAIT, _FUND, _STATUS = range(9)

_ELIG = {
    "DECEASED": ("ELIG.DECEASED", "MEMBER_DECEASED", "deny", "member"),
    "NOT_ENROLLED": ("ELIG.NOT_ENROLLED", "NOT_ENROLLED", "deny", "member"),
    "WRONG_INSURER": ("ELIG.WRONG_INSURER", "WRONG_INSURER", "deny", "provider"),
    "SUSPENDED": ("ELIG.SUSPENDED", "COVER_SUSPENDED", "deny", "member"),
    "NOT_IN_FORCE": ("ELIG.NOT_IN_FORCE", "NOT_IN_FORCE", "deny", "member"),
}


def _slot(key: int, mask: int) -> int:
    x = key & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return (x ^ (x >> 31)) & mask


class MemberIndex:
    """Coverage and members of a registry, for one-line eligibility answers."""

    def __init__(self, coverage: pl.DataFrame | CoverageIndex, members: pl.DataFrame | None = None):
        self.index = coverage if isinstance(coverage, CoverageIndex) else build_index(coverage, members)
        ix = self.index
        self._ins = {s: i for i, s in enumerate(ix.insurers)}
        self._classes = ix.classes.tolist()
        self._mask = ix.tkeys.shape[0] - 1
        self._vocab = None
        if not ix.numeric_ids:
            self._vocab = dict(zip(ix.id_vocab["member_id"].to_list(), ix.id_vocab["key"].to_list()))

    def _member(self, member_id: str | None) -> int:
        if member_id is None:
            return -1
        if self._vocab is not None:
            key = self._vocab.get(member_id, -1)
        elif len(member_id) == 10 and member_id.isascii() and member_id.isdigit():
            key = int(member_id)
        else:
            key = -1
        if key < 0:
            return -1
        tkeys = self.index.tkeys
        slot = _slot(key, self._mask)
        while True:
            k = int(tkeys[slot])
            if k == key:
                return int(self.index.tvals[slot])
            if k == -1:
                return -1
            slot = (slot + 1) & self._mask

    def _span(self, prefix: str, s: list | None, supplementary: bool) -> dict:
        """The output values of one packed span row (or nulls)."""
        ix = self.index
        keys = ["insurer_id", "fund", "plan", "start_date", "end_date", "status"]
        if not supplementary:
            keys.insert(1, "kind")
        if supplementary:
            keys.append("waiting_days")
        if s is None:
            return {f"{prefix}.{k}": None for k in keys}

        def dec(vocab: list[str], code: int):
            return vocab[code] if 0 <= code < len(vocab) else None

        out = {
            "insurer_id": dec(ix.insurers, s[_INS]),
            "kind": "basic",
            "fund": dec(ix.funds, s[_FUND]),
            "plan": dec(ix.plans, s[_PLAN]),
            "start_date": _EPOCH + dt.timedelta(days=s[_START]),
            "end_date": None if s[_END] == _OPEN else _EPOCH + dt.timedelta(days=s[_END]),
            "status": dec(ix.statuses, s[_STATUS]),
            "waiting_days": None if s[_WAIT] == _WAIT_NULL else s[_WAIT],
        }
        return {f"{prefix}.{k}": out[k] for k in keys}

    def lookup(
        self, member_id: str, insurer_id: str, supplementary_insurer_id: str | None, service_date: dt.date
    ) -> dict:
        """The ``coverage.*`` / ``supplementary.*`` values and the findings the batch stage gives this line."""
        d = (service_date - _EPOCH).days
        m = self._member(member_id)
        ins = self._ins.get(insurer_id, -1)
        named = supplementary_insurer_id is not None
        sins = self._ins.get(supplementary_insurer_id, -1) if named else -1
        spans: list[list[int]] = []
        known, death = False, _OPEN
        if m >= 0:
            lo, hi, known, death = self.index.member(m)
            for start, end, wait, c in self.index.spans[lo:hi].tolist():
                kind, ins_code, active, fund, plan, status = (self._classes[c][f] for f in (
                    K.C_KIND, K.C_INS, K.C_ACTIVE, K.C_FUND, K.C_PLAN, K.C_STATUS))
                spans.append([kind, ins_code, start, end, plan, active, wait, fund, status])
        kind_, ins_, start_, end_, active_ = _KIND, _INS, _START, _END, _ACTIVE
        in_force = [sp for sp in spans if sp[start_] <= d <= sp[end_]]

        def effective(kind: int, insurer: int):  # the first in force is the best (spans are best first)
            return next((sp for sp in in_force if sp[kind_] == kind and sp[ins_] == insurer), None)

        billed = effective(0, ins) if ins >= 0 else None
        active_insurers = {sp[ins_] for sp in in_force
                           if sp[kind_] == 0 and effective(0, sp[ins_])[active_] == 1}
        any_basic = any(sp[kind_] == 0 for sp in spans)

        if known and d > death:
            reason = "DECEASED"
        elif not known or not any_basic:
            reason = "NOT_ENROLLED"
        elif billed is None:
            reason = "WRONG_INSURER" if active_insurers - {ins} else "NOT_IN_FORCE"
        elif billed[active_] != 1:
            reason = "SUSPENDED"
        else:
            reason = None
        findings = [_ELIG[reason]] if reason else []

        result = self._span("coverage", billed, supplementary=False)
        supp = effective(1, sins) if named and sins >= 0 else None
        result.update(self._span("supplementary", supp, supplementary=True))
        valid = None
        if named:
            basic_ok = known and d <= death and bool(active_insurers)
            code = _supp_code(supp is not None, bool(supp and supp[active_] == 1), d,
                              supp[start_] if supp else 0, supp[_WAIT] if supp else 0, basic_ok)
            valid = code == 0
            finding = supplementary_finding(code)
            if finding:
                findings.append(finding)
        result["supplementary.valid"] = valid
        result["findings"] = findings
        return result


class OverlapIndex:
    """The ``OVL.*`` findings of an overlap report for one (member, insurer, date)."""

    def __init__(self, overlaps: pl.DataFrame):
        self._by_member: dict[str, list[tuple]] = defaultdict(list)
        cols = ["member_id", "insurer_a", "insurer_b", "overlap_start", "overlap_end", "primary_insurer",
                "secondary_insurer"]
        for m, a, b, start, end, primary, secondary in overlaps.select(cols).iter_rows():
            self._by_member[m].append((a, b, start, end, primary, secondary))

    def findings(self, member_id: str, insurer_id: str, service_date: dt.date) -> list[tuple[str, str, str, str]]:
        other = must = False
        for a, b, start, end, primary, secondary in self._by_member.get(member_id, ()):
            if not (start <= service_date and (end is None or service_date <= end)):
                continue
            if primary is None and insurer_id in (a, b):
                must = True
            elif primary is not None and insurer_id == secondary:
                other = True
        out = []
        if other:
            out.append(("OVL.OTHER_PRIMARY", "OTHER_PRIMARY", "deny", "provider"))
        if must:
            out.append(("OVL.MEMBER_MUST_CHOOSE", "MEMBER_MUST_CHOOSE", "pend", "provider"))
        return out
