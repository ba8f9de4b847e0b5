"""Point of service: one claim checked in microseconds, with the same answers as the batch pipeline.

``PointEngine`` holds in-memory indexes built once from the engine's reference data and the member history: members
and providers by id, eligibility (``eligibility.point.MemberIndex``), overlaps (``OverlapIndex``), committed lines
for duplicates, each ruleset's ``RuleIndex`` (aggregates and pairs) and its accumulators (deductibles and caps).
``check`` runs the stages of ``pipeline`` in the same order on plain dicts, with the compiled Python backend and the
same numba benefits kernel; it changes nothing. ``commit`` records an accepted claim (idempotent on claim_id) so the
next check sees it. No polars call happens on this path.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, field

import numpy as np

from adjudicator import codes as catalogue
from adjudicator import dates, national_code, schema
from adjudicator.benefits.accumulate import accumulate, accumulate_keyed
from adjudicator.dedup.duplicates import REPEAT_MODIFIERS
from adjudicator.eligibility.point import MemberIndex, OverlapIndex
from adjudicator.errors import RulesetConflictError
from adjudicator.pipeline import ENGINE_DENY_CODES, STAGE_SEQ
from adjudicator.rules import ir, semantics
from adjudicator.rules.check import PSEUDO_KEYS
from adjudicator.rules.compiled import Ruleset
from adjudicator.rules.to_python import Gen, claim_facts, compile_function

INT_COLS = ("line_no", "quantity", "billed_amount")


@dataclass
class Decision:
    """The answer for one claim: per-line results and findings (batch columns), counters, and input errors."""

    claim_id: str
    lines: list[dict]
    findings: list[dict]
    counters: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    _commit: list = field(default_factory=list, repr=False)  # what commit() must record

    @property
    def decision(self) -> str | None:
        return claim_decision([line["decision"] for line in self.lines]) if self.lines else None


def claim_decision(decisions: list[str]) -> str:
    if "pended" in decisions:
        return "pended"
    if all(d == "denied" for d in decisions):
        return "denied"
    if all(d == "approved" for d in decisions):
        return "approved"
    if all(d in ("approved", "adjusted") for d in decisions):
        return "adjusted"
    return "partial"


_PY_TYPE = {col: (dt.date if typ == schema.pl.Date else int if col in INT_COLS else list
                  if typ == schema.pl.List(schema.pl.String) else str) for col, typ in schema.CLAIM_LINES.items()}


_COLS = tuple((col, _PY_TYPE[col], col in schema.CLAIM_LINES_REQUIRED) for col in schema.CLAIM_LINES)


def _typed_source() -> str:
    """Source of ``_typed(row)``: the contract columns of a line whose every value already has its contract type
    (strings not blank, required values present), else None — one straight pass, no conversion. A plain dict that
    holds exactly the contract columns in contract order (the usual line) is read by unpacking its values and
    answered with a copy (the same dict the general path builds, for less)."""
    names = {str: "str", int: "int", list: "list", dt.date: "_date"}
    tests = []
    for i, (_, want, required) in enumerate(_COLS):
        bad = f"type(v{i}) is not {names[want]}" + (f" or not v{i} or v{i}.isspace()" if want is str else "")
        tests.append(bad if required else f"v{i} is not None and ({bad})")
    values = ", ".join(f"v{i}" for i in range(len(_COLS)))
    body = ["if type(row) is dict and tuple(row) == _NAMES:", f"    {values}, = row.values()"]
    for bad in tests:
        body += [f"    if {bad}:", "        return None"]
    body += ["    return row.copy()", "get = row.get"]
    for i, ((col, _, _), bad) in enumerate(zip(_COLS, tests)):
        body += [f"v{i} = get({col!r})", f"if {bad}:", "    return None"]
    body.append("return {" + ", ".join(f"{col!r}: v{i}" for i, (col, _, _) in enumerate(_COLS)) + "}")
    return "def _typed(row):\n" + "".join(f"    {line}\n" for line in body)


_ns: dict = {"_date": dt.date, "_NAMES": tuple(col for col, _, _ in _COLS)}
exec(compile(_typed_source(), "<point:_typed>", "exec"), _ns)  # noqa: S102 - generated from the schema only
_typed = _ns["_typed"]


def normalise(row: dict) -> tuple[dict | None, list[str]]:
    """A claim-line dict with contract types, or the problems that keep it out (the batch validation's rules)."""
    out, errors = _typed(row), []
    if out is None:
        out = {}
        get = row.get
        for col, want, required in _COLS:
            v = get(col)
            if v is None:
                if required:
                    errors.append(f"{col}: missing required value")
                out[col] = None
            elif type(v) is want and (want is not str or (v and not v.isspace())):  # already typed: keep
                out[col] = v
            else:
                out[col] = _convert(col, want, required, v, errors)
    member = out["member_id"]
    if member is not None and not _valid_code(member):
        errors.append(f"member_id: bad national code: {national_code.why_invalid(member)}")
    setting = out["setting"]
    if setting is not None and setting not in schema.SETTINGS:
        errors.append(f"setting: unknown setting {setting!r}")
    sub = out["submission"] = out["submission"] or "original"
    if sub not in schema.SUBMISSIONS:
        errors.append(f"submission: unknown submission {sub!r}")
    elif sub != "original" and out["replaces_claim_id"] is None:
        errors.append("replaces_claim_id: required for a replacement or void")
    return (None, errors) if errors else (out, [])


def _convert(col: str, want: type, required: bool, v, errors: list[str]):
    """One value that is not already of its contract type: parsed, or None with the problem added to ``errors``."""
    if isinstance(v, str) and v.strip() == "":
        if required:
            errors.append(f"{col}: missing required value")
        return None
    try:
        if want is dt.date:
            v = dates.parse_date(v)
        elif want is int:
            if isinstance(v, bool | float) or (isinstance(v, str) and not v.strip().lstrip(
                    "-").isdigit()):
                raise ValueError(f"{v!r} is not an integer")
            v = int(v)
            if col == "billed_amount" and v < 0:
                raise ValueError("negative money")
        elif want is list:
            v = [str(x) for x in v] if isinstance(v, list | tuple) else str(v).split("|")
        else:
            v = str(v)
    except (ValueError, TypeError) as e:
        errors.append(f"{col}: {e}")
        v = None
    return v


_TOTAL_ORDER = operator.itemgetter("service_date", "claim_id", "line_no")
_LINE_NO = operator.itemgetter("line_no")
_SEQ = operator.itemgetter("__seq")
_FINDING_ORDER = operator.itemgetter("line_no", "__seq")


def _RANK(f: dict) -> tuple:  # a sort key, named as the itemgetters beside it
    return -f["__sev"], f["__seq"]


# per cache of the point engine, oldest entry out first (a lookup template is ~2.5 kB, and each ruleset's base for
# that context a little more: some 100-250 MB for a full context cache)
CACHE_ENTRIES = 32_768


def _remember(cache: dict, key, value) -> None:
    if len(cache) >= CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value


@functools.lru_cache(maxsize=65536)
def _valid_code(code: str) -> bool:
    return national_code.is_valid(code)


# the plain-Python benefits path runs when every amount is below 2**48 Rials and every rate below 2**14 bp (products
# and sums stay inside int64, where the numba kernel gives the same integers); otherwise the kernel runs
_SMALL_AMOUNT = 1 << 48


class _Accumulators:
    """What a ruleset's deductible groups and cap groups have consumed so far (from history and commits)."""

    def __init__(self):
        self.ded: dict[tuple, int] = {}
        self.cap: dict[tuple, int] = {}


class _Benefits:
    """The benefits block of one ruleset in Python: share rate, deductible row, cap applicability and keys."""

    def __init__(self, rs: Ruleset):
        b = rs.ir.benefits
        self.b = b
        gen = Gen(running=False)
        body = []
        for row in b.member_share:
            body += [f"if {gen.cond(row.when)}:", f"    return {gen.expr(row.rate)[0]}"]
        body.append("return 0")
        self.rate = compile_function("share_rate", body, gen)[0]
        # groups(L) → (deductible group or None, [cap group or None per cap]): the first deductible row whose `when`
        # holds, keyed (row, its `per` values); each cap whose `where` holds, keyed (cap, its `per` values)
        body = ["ded = None"]
        for i, d in enumerate(b.deductible):
            body += [f"{'el' if i else ''}if {gen.cond(d.when)}:", f"    ded = ({i}, {self._key_source(d.per)})"]
        caps = [f"(({j}, {self._key_source(c.per)}) if {gen.cond(c.where)} else None)" for j, c in enumerate(b.caps)]
        body.append(f"return ded, [{', '.join(caps)}]")
        self.groups = compile_function("benefit_groups", body, gen)[0]
        self.share_override = "member_share" in semantics.set_fields(rs.ir)
        self.cap_amount = [c.amount for c in b.caps]
        self.ded_amount = [d.amount for d in b.deductible]
        self.small_constants = all(type(v) is int and -_SMALL_AMOUNT < v < _SMALL_AMOUNT
                                   for v in self.cap_amount + self.ded_amount)

    def row(self, P: dict, out: dict, amount: int) -> tuple:
        """A line's input to ``run`` (an ``accumulate_keyed`` line): (amount, active, share rate, deductible group,
        its amount, cap groups) — the rate a rule set (``member_share``) or else the benefits block's."""
        share = out.get("member_share") if self.share_override else None
        rate = share if share is not None else self.rate(P)
        ded, caps = self.groups(P)
        return amount, not out["__denied"], rate or 0, ded, 0 if ded is None else self.ded_amount[ded[0]], caps

    @staticmethod
    def _key_source(per) -> str:
        """Source of the tuple of a group's key values in L."""
        return "(" + "".join(f"L.get({PSEUDO_KEYS.get(k, k)!r}), " for k in per) + ")"

    def run(self, lines: list[tuple], acc: _Accumulators) -> list[tuple]:
        """Kernel over a claim's lines (``row`` tuples, total order) with the state loaded from ``acc``; acc is not
        changed."""
        n, ncap = len(lines), len(self.b.caps)
        if not n:
            return []
        if self.small_constants:
            out = accumulate_keyed(lines, self.cap_amount, acc.ded, acc.cap, {}, {}, _SMALL_AMOUNT)
            if out is not None:
                return out
        # a value outside the plain-Python range: the numba kernel, on dense group ids in line order
        ded_ids, cap_ids = {}, {}
        ded_gid = [-1 if d is None else ded_ids.setdefault(d, len(ded_ids)) for _, _, _, d, _, _ in lines]
        cap_gid = [[-1 if c is None else cap_ids.setdefault(c, len(cap_ids)) for c in caps] for *_, caps in lines]
        ded_used = [acc.ded.get(k, 0) for k in ded_ids] or [0]
        cap_used = [acc.cap.get(k, 0) for k in cap_ids] or [0]
        zeros = np.zeros(n, np.int64)
        d, s, paid, excess = accumulate(
            np.array([x[0] for x in lines], np.int64), np.array([x[1] for x in lines], np.bool_),
            np.zeros(n, np.bool_), zeros, zeros, np.array([x[2] for x in lines], np.int64),
            np.array(ded_gid, np.int64), np.array([x[4] for x in lines], np.int64), np.array(ded_used, np.int64),
            np.array(cap_gid, np.int64).reshape(n, ncap), np.array(self.cap_amount, np.int64),
            np.array(cap_used, np.int64))
        return [(int(d[i]), int(s[i]), int(paid[i]), [int(x) for x in excess[i]]) for i in range(n)]

    def record(self, acc: _Accumulators, ded, caps, deductible: int, paid: int) -> None:
        if ded is not None:
            acc.ded[ded] = acc.ded.get(ded, 0) + deductible
        for c in caps:
            if c is not None:
                acc.cap[c] = acc.cap.get(c, 0) + paid


class _Rows:
    """Reference rows by id, kept as columns (a million members cost lists, not a million dicts)."""

    def __init__(self, frame, key: str, prefix: str):
        frame = frame.unique(key, keep="first", maintain_order=True)
        self.pos = dict(zip(frame[key].to_list(), range(frame.height)))
        self.names = [f"{prefix}.{c}" for c in frame.columns]
        self.cols = [frame[c].to_list() for c in frame.columns]

    def get(self, key, default=None) -> dict:
        i = self.pos.get(key)
        if i is None:
            return default if default is not None else {}
        return {name: col[i] for name, col in zip(self.names, self.cols)}


def _line(T: dict, row: dict) -> dict:
    """A line with its context: a copy of the context template (every key already in place) with the row written in."""
    L = T.copy()
    L.update(row)
    return L


def _scope_key(reads: list[str]):
    """A memo key for scope answers: f(T, row) → the service date and the values of ``reads`` (a contract column
    from the row, anything else from the context template T)."""
    return compile_function("scope_key", ["return (row['service_date'], " + "".join(
        f"row[{c!r}], " if c in schema.CLAIM_LINES else f"T.get({c!r}), " for c in reads) + ")"], Gen(),
        args="T, row")[0]


def record_line(rec: dict) -> dict:
    """The line (with its context) of a check's commit record, made when first asked for."""
    L = rec.get("L")
    if L is None:
        L = rec["L"] = _line(rec["T"], rec["row"])
    return L


class PointEngine:
    """In-memory indexes for one-claim checks; built from an Engine and an optional history frame."""

    def __init__(self, engine, history=None):
        self.engine = engine
        self.members = _Rows(engine.members, "member_id", "member")
        self.providers = _Rows(engine.providers, "provider_id", "provider")
        self.elig = MemberIndex(engine.coverage_index)
        self.ovl = OverlapIndex(engine.overlaps.overlaps)
        self.basic = [r for r in engine.rulesets if r.kind == "basic"]
        self.supp = [r for r in engine.rulesets if r.kind == "supplementary"]
        self.scope = {}
        # every value some basic ruleset's scope reads (the memo key of _select)
        self.scope_reads = sorted(semantics.columns(*(rs.ir.scope for rs in self.basic)))
        self._scope_key = _scope_key(self.scope_reads)  # _select's memo key
        # each supplementary ruleset's scope, kept per value of what it reads
        self._supp_key = {rs.ref: _scope_key(sorted(semantics.columns(rs.ir.scope))) for rs in self.supp}
        self._supp_scopes: dict[tuple, bool] = {}
        for rs in self.basic + self.supp:
            gen = Gen()
            self.scope[rs.ref] = compile_function("scope", [f"return {gen.cond(rs.ir.scope)}"], gen)[0]
        self.index = {rs.ref: rs.python.new_index() for rs in self.basic + self.supp}
        # frequency-style limits (an aggregate compared with a literal), found once per ruleset
        self.limits = {rs.ref: [(r.id, f"__agg{n.left.index}", n.right.value) for r in rs.ir.rules
                                for n in semantics.walk(r.when)
                                if isinstance(n, ir.Compare) and isinstance(n.left, ir.Aggregate)
                                and isinstance(n.right, ir.Lit)] for rs in self.basic + self.supp}
        self.benefits = {rs.ref: _Benefits(rs) for rs in self.basic + self.supp}
        self.cap_limits = {rs.ref: [(c.id, c.amount) for c in rs.ir.benefits.caps] for rs in self.basic + self.supp}
        self.acc = {rs.ref: _Accumulators() for rs in self.basic + self.supp}
        self.dups: dict[tuple, list[tuple]] = {}
        self.committed: dict[str, list[tuple]] = {}  # claim_id → [(line_no, member, code, date)]
        self.loaded: set[str] = set()
        self._ctx: dict[tuple, tuple] = {}  # _checked_base's lookups per (member, provider, insurers, date)
        self._scopes: dict[tuple, Ruleset | None] = {}  # _select's answers per value of the scope reads
        if history is not None and history.height:
            self._load_history(history)
            self.loaded.update(history["member_id"].unique().to_list())

    def load_member(self, member_id: str, store) -> None:
        """The member's history from the store, once (the point-of-service index is filled member by member)."""
        if member_id in self.loaded:
            return
        self.loaded.add(member_id)
        rows = [r for r in store.member_history_rows(member_id) if r["claim_id"] not in self.committed]
        if rows:
            self._load_rows(rows)

    # -- history -------------------------------------------------------------------------------------------------
    def _load_history(self, history) -> None:
        self._load_rows(history.to_dicts())

    def _load_rows(self, rows: list[dict]) -> None:
        rows = sorted(rows, key=_TOTAL_ORDER)
        by_claim: dict[str, list[dict]] = {}
        for r in rows:
            by_claim.setdefault(r["claim_id"], []).append(r)
        for cid, lines in by_claim.items():
            facts = claim_facts(lines)
            for r in lines:
                base = self._base(r)
                counts = r.get("primary_reason") not in ENGINE_DENY_CODES
                self._record_line(base, facts, counts, r)
            self.committed[cid] = [(r["line_no"], r["member_id"], r["service_code"], r["service_date"]) for r in lines]

    def _record_line(self, base: dict, facts: dict, counts: bool, result: dict, groups: dict | None = None) -> None:
        """Add one accepted line to every index (duplicates, aggregates/pairs, accumulators).

        ``groups`` (from a check: ruleset ref → (deductible group, cap groups, deductible, paid)) is what the line
        consumed; without it (history) the groups are recomputed from the stored line."""
        key = (base["member_id"], base["service_code"], base["service_date"])
        if counts:
            self.dups.setdefault(key, []).append(
                (base["claim_id"], base["provider_id"], base.get("modifier") or "", base["quantity"],
                 base["billed_amount"], base["insurer_id"]))
        for rs in self.basic + self.supp:
            indexed = rs.python.aggregates or rs.python.pairs
            pays = counts and rs.ref in ((groups or {}) if groups is not None else (
                result.get("ruleset"), result.get("supplementary_ruleset")))
            if not (indexed and counts) and not pays:
                continue  # nothing of this line can change this ruleset's answers
            L = rs.python.prepare(base, facts)
            if indexed:
                self.index[rs.ref].add(L, counts=counts)
            if groups is not None:
                if counts and rs.ref in groups:
                    ded, caps, d, paid = groups[rs.ref]
                    self.benefits[rs.ref].record(self.acc[rs.ref], ded, caps, d, paid)
            elif counts and rs.ref in (result.get("ruleset"), result.get("supplementary_ruleset")):
                bn = self.benefits[rs.ref]
                L.update(allowed_amount=result.get("allowed_amount"), allowed_quantity=result.get("allowed_quantity"))
                ded, caps = bn.groups(L)
                basic = rs.ref == result.get("ruleset")
                bn.record(self.acc[rs.ref], ded, caps, (result.get("deductible_applied") or 0) if basic else 0,
                          result.get("insurer_paid" if basic else "supplementary_paid") or 0)

    def _looked_up(self, row: dict) -> tuple[dict, list]:
        """member.*, provider.*, coverage.*, supplementary.* of a line, and its eligibility findings."""
        ctx = {}
        ctx.update(self.members.get(row["member_id"], {}))
        ctx.update(self.providers.get(row["provider_id"], {}))
        e = self.elig.lookup(row["member_id"], row["insurer_id"], row.get("supplementary_insurer_id"),
                             row["service_date"])
        elig = e.pop("findings")
        ctx.update(e)
        return ctx, elig

    def _base(self, row: dict) -> dict:
        """A stored line with what the reference data says of it (history: no eligibility findings needed)."""
        L = dict(row)
        L.pop("findings", None)  # a stored row's own column of that name gives way, as the lookup's did
        L.update(self._looked_up(row)[0])
        return L

    def _checked_base(self, row: dict) -> tuple[dict, list, dict]:
        """A normalised line's context: (template, eligibility findings, per-ruleset bases).

        The reference data never changes under a PointEngine, so what it says of a line is kept per (member,
        provider, insurers, date) — a member's next claim skips the lookups — as a template that holds the line's
        columns (None) first: the line itself, ``_line(template, row)``, is made only where something needs it
        whole. The third item holds, per ruleset, the base its ``point_prepare`` copies (filled on first use)."""
        key = (row["member_id"], row["provider_id"], row["insurer_id"], row["supplementary_insurer_id"],
               row["service_date"])
        hit = self._ctx.get(key)
        if hit is None:
            ctx, elig = self._looked_up(row)
            template = dict.fromkeys(schema.CLAIM_LINES)
            template.update(ctx)
            hit = (template, elig, {})
            _remember(self._ctx, key, hit)
        return hit

    # -- check ---------------------------------------------------------------------------------------------------
    def check(self, lines: list[dict]) -> Decision:
        good, errors, seen = [], [], set()
        for i, raw in enumerate(lines):
            row, problems = normalise(raw)
            if not problems:  # a line number used twice: the later line is refused, as batch validation does
                key = (row["claim_id"], row["line_no"])
                if key in seen:
                    row, problems = None, ["line_no: duplicate (claim_id, line_no)"]
                seen.add(key)
            if problems:
                errors.append({"line_no": raw.get("line_no", i + 1), "errors": problems})
            else:
                good.append(row)
        claim_id = good[0]["claim_id"] if good else str((lines[0] if lines else {}).get("claim_id"))
        if not good:
            return Decision(claim_id, [], [], [], errors)
        if len(good) > 1:
            good.sort(key=_TOTAL_ORDER)
        facts = claim_facts(good)
        staged = [self._stages(row) for row in good]
        picked = [self._select(T, eng["row"]) for T, eng in staged]
        # rules: each ruleset sees this claim's counted lines besides the history (rolled back afterwards)
        used = {rs.ref: rs for rs in picked if rs is not None}
        outs: dict[int, tuple] = {}
        for ref, rs in used.items():
            idx = self.index[ref]
            prepared = [None if eng["skip"] else self._prepared(rs, T, eng, facts) for T, eng in staged]
            ents = [None if P is None else rs.python.entries(P) for P in prepared]
            view = idx.own_view([e for e in ents if e is not None])
            for k, P in enumerate(prepared):
                if picked[k] is rs and P is not None:
                    idx.fill(P, mine=ents[k], view=view)
                    out, f = rs.python.evaluate(P)
                    outs[k] = (P, out, f)
        money = self._money(used, picked, outs)
        results, states, per_line, counters, commit = [], [], [], [], []
        for k, (T, eng) in enumerate(staged):
            line, state, fs, ctr, rec = self._assemble(T, eng, picked[k], outs.get(k), money.get(k))
            results.append(line)
            states.append(state)
            per_line.append(fs)
            counters.append(ctr)
            commit.append(rec)
        self._supplementary(results, states, per_line, staged, facts, commit)
        findings = []
        for line, state, fs in zip(results, states, per_line):
            self._decide(line, state, fs)
            findings += fs
        if len(results) > 1:
            findings.sort(key=_FINDING_ORDER)
            results.sort(key=_LINE_NO)
        return Decision(claim_id, results, findings, counters, errors, commit)

    def _stages(self, row: dict) -> tuple[dict, dict]:
        """Engine findings before the edits: submission, eligibility, overlap, duplicates."""
        T, elig, parts = self._checked_base(row)
        void = row["submission"] == "void"
        ovl = self.ovl.findings(row["member_id"], row["insurer_id"], row["service_date"])
        dups = () if void else self._duplicates(row)
        if not (elig or void or ovl or dups):
            return T, {"findings": [], "skip": False, "row": row, "parts": parts}
        f = [("ELIG",) + tuple(x) for x in elig]
        if void:
            f.append(("DUP", "DUP.VOID", "VOIDED", "deny", "provider"))
        f += [("OVL",) + tuple(x) for x in ovl]
        f += [("DUP",) + x for x in dups]
        eng = [{"rule_id": r, "reason_code": c, "action": a, "liability": li, "__seq": STAGE_SEQ[s]}
               for s, r, c, a, li in f]
        skip = any(x["action"] == "deny" for x in eng)
        return T, {"findings": eng, "skip": skip, "row": row, "parts": parts}

    def _duplicates(self, row: dict) -> list[tuple]:
        same = self.dups.get((row["member_id"], row["service_code"], row["service_date"]))
        if not same:
            return []  # the usual case: no earlier line of this member, code and day
        earlier = [e for e in same if e[0] != row["claim_id"] and e[0] not in self._superseded_by(row)]
        if not earlier:
            return []
        mod = row.get("modifier") or ""
        repeat = mod in REPEAT_MODIFIERS
        exact = not repeat and any(e[1] == row["provider_id"] and e[2] == mod and e[3] == row["quantity"]
                                   and e[4] == row["billed_amount"] for e in earlier)
        suspect = not repeat and not exact and any(e[1] != row["provider_id"] or e[4] != row["billed_amount"]
                                                   for e in earlier)
        out = []
        if exact:
            out.append(("DUP.EXACT", "DUPLICATE_EXACT", "deny", "provider"))
        if suspect:
            out.append(("DUP.SUSPECT", "DUPLICATE_SUSPECT", "pend", "provider"))
        if any(e[5] != row["insurer_id"] for e in earlier):
            out.append(("DUP.CROSS_INSURER", "CROSS_INSURER_DUPLICATE", "flag", "provider"))
        return out

    @staticmethod
    def _superseded_by(row: dict) -> tuple:
        return (row["replaces_claim_id"],) if row["submission"] != "original" and row.get("replaces_claim_id") else ()

    def _select(self, T: dict, row: dict) -> Ruleset | None:
        """The basic ruleset of a line (its context template and row); lines that agree on every value a scope reads
        share the answer (kept)."""
        key = self._scope_key(T, row)
        try:
            return self._scopes[key]
        except KeyError:
            pass
        L = _line(T, row)
        hits = [rs for rs in self.basic if self._in_scope(rs, L)]
        if len(hits) > 1:
            raise RulesetConflictError(f"rulesets {' and '.join(r.ref for r in hits)} both match claim/line "
                                       f"{L['claim_id']}/{L['line_no']}")
        _remember(self._scopes, key, hits[0] if hits else None)
        return hits[0] if hits else None

    def _in_scope(self, rs: Ruleset, L: dict) -> bool:
        d = L["service_date"]
        if rs.ir.effective_from and d < rs.ir.effective_from or rs.ir.effective_to and d > rs.ir.effective_to:
            return False
        return self.scope[rs.ref](L) is True

    def _supp_in_scope(self, rs: Ruleset, T: dict, row: dict) -> bool:
        """Whether a supplementary ruleset covers the line; kept per value of what its scope reads."""
        key = (rs.ref, self._supp_key[rs.ref](T, row))
        hit = self._supp_scopes.get(key)
        if hit is None:
            hit = self._in_scope(rs, _line(T, row))
            _remember(self._supp_scopes, key, hit)
        return hit

    @staticmethod
    def _prepared(rs: Ruleset, T: dict, eng: dict, facts: dict, extra: dict | None = None) -> dict:
        """The line prepared for ``rs`` (``point_prepare`` over the ruleset's base for the line's context, made on
        first use)."""
        base = eng["parts"].get(rs.ref)
        if base is None:
            base = eng["parts"][rs.ref] = rs.python.point_base(_line(T, eng["row"]))
        return rs.python.point_prepare(base, eng["row"], facts, extra)

    def _money(self, used: dict, picked: list, outs: dict) -> dict[int, tuple]:
        """Benefits per ruleset (``used``: ref → ruleset) over this claim's evaluated lines in total order: per line
        index (kernel result, deductible group, cap groups)."""
        res = {}
        for ref, rs in used.items():
            bn = self.benefits[ref]
            ks, rows = [], []
            for k, (P, out, _) in outs.items():
                if picked[k] is rs:
                    amount = P["allowed_amount"] = out["allowed_amount"]
                    P["allowed_quantity"] = out["allowed_quantity"]
                    ks.append(k)
                    rows.append(bn.row(P, out, amount))
            for k, r, m in zip(ks, rows, bn.run(rows, self.acc[ref])):
                res[k] = (m, r[3], r[5])
        return res

    def _assemble(self, T, eng, rs, evaluated, money):
        """A line's result (every key in order; supplementary_* and the decision filled in later), its state for
        those steps [denied, pended, adjusted, member liability], its findings, counters and commit record."""
        L = eng["row"]  # (what _finding reads: claim_id, line_no)
        billed = L["billed_amount"]
        f, pended = [], False
        if eng["findings"]:
            f = [self._finding(L, "engine", x["rule_id"], x["reason_code"], x["action"], 0, x["liability"],
                               x["__seq"], semantics.SEVERITY.get(x["action"], 0)) for x in eng["findings"]]
            pended = any(x["action"] == "pend" for x in eng["findings"])
        if rs is None and not eng["skip"]:
            f.append(self._finding(L, "engine", "NO_RULESET", "NO_RULESET", "deny", 0, "provider", 50, 3))
        if evaluated is None:
            first_deny = next((x for x in sorted(eng["findings"], key=_SEQ) if x["action"] == "deny"), None)
            member_liab = billed if first_deny is not None and first_deny["liability"] == "member" else 0
            line = self._result_line(L, 0, 0, 0, 0, 0, billed - member_liab, None)
            return line, [True, pended, False, member_liab], f, {}, {"T": T, "row": L, "ruleset": None}
        P, out, rf = evaluated
        (ded, share, paid, excess), dkey, ckeys = money
        f += rf  # (evaluate stamped them with the line's claim_id and line_no)
        over = sum(excess)
        if over:
            f += self._cap_findings(L, rs, excess, semantics.SEQ_CAPS, semantics.SEVERITY["cap"])
        denied = out["__denied"]
        mred = out["__member_red"]
        allowed = out["allowed_amount"]
        if denied:
            paid = share = ded = 0
        line = self._result_line(L, out["allowed_quantity"], allowed, paid, share, ded, billed - allowed - mred, rs)
        ref = rs.ref
        state = [denied, out["__pended"] or pended, out["__adjusted"] or over > 0,
                 mred + (0 if denied else ded + share + over)]
        return line, state, f, self._counters(ref, P, ckeys), {"T": T, "row": L, "ruleset": ref, "P": P, "ded": dkey,
                                                               "caps": ckeys}

    @staticmethod
    def _result_line(row: dict, allowed_quantity: int, allowed: int, paid: int, share: int, ded: int,
                     provider_deduction: int, rs: Ruleset | None) -> dict:
        """A line's result as far as the basic ruleset decides it: a copy of the row with the result's keys written
        in, in order (a copy costs less than a merge); the supplementary pass and ``_decide`` fill in the rest."""
        line = row.copy()
        line["allowed_quantity"] = allowed_quantity
        line["allowed_amount"] = allowed
        line["insurer_paid"] = paid
        line["member_share_amount"] = share
        line["deductible_applied"] = ded
        line["provider_deduction"] = provider_deduction
        line["ruleset"] = None if rs is None else rs.ref
        line["ruleset_digest"] = None if rs is None else rs.digest
        line["supplementary_paid"] = 0
        line["supplementary_ruleset"] = None
        return line

    def _counters(self, ref: str, P: dict, ckeys: list) -> dict:
        """What a clerk needs: aggregate values used by the rules (of ruleset ``ref``), with the limit when the rule
        compares one."""
        used = {}
        for rule_id, column, limit in self.limits[ref]:
            prior = P[column]
            left = limit - prior - 1
            used[rule_id] = {"used": prior + 1, "limit": limit, "remaining": 0 if left < 0 else left}  # noqa: FURB136 - max(left, 0) without a call
        caps = {}
        if ckeys:
            consumed = self.acc[ref].cap
            for (cap_id, amount), key in zip(self.cap_limits[ref], ckeys):
                if key is not None:
                    left = amount - consumed.get(key, 0)
                    caps[cap_id] = left if left > 0 else 0  # noqa: FURB136
        return {"line_no": P["line_no"], "limits": used, "cap_remaining_before": caps}

    def _supplementary(self, results, states, per_line, staged, facts, commit) -> None:
        for T, _ in staged:
            if T.get("supplementary.valid"):
                break
        else:
            return  # no line has a valid supplementary cover
        for rs in self.supp:
            rows, ks = [], []
            ref = rs.ref
            bn = self.benefits[ref]
            for k, (line, state, (T, eng)) in enumerate(zip(results, states, staged)):
                liability = state[3]
                if line["supplementary_ruleset"] is not None or liability <= 0:
                    continue
                if not T.get("supplementary.valid"):
                    continue
                if not self._supp_in_scope(rs, T, eng["row"]):
                    continue
                P = self._prepared(rs, T, eng, facts, {
                    "basic.allowed_amount": line["allowed_amount"], "basic.insurer_paid": line["insurer_paid"],
                    "basic.member_share": line["member_share_amount"], "basic.deductible": line["deductible_applied"],
                    "basic.member_liability": liability})
                out, f = rs.python.evaluate(P)  # supplementary rulesets have no aggregates or pairs
                P["allowed_amount"] = liability
                P["allowed_quantity"] = out["allowed_quantity"]
                rows.append(bn.row(P, out, liability))
                ks.append((k, P, f))
            if not rows:
                continue
            for (k, P, f), row, (d, _, paid, excess) in zip(ks, rows, bn.run(rows, self.acc[ref])):
                line = results[k]
                line["supplementary_paid"] = paid
                line["supplementary_ruleset"] = ref
                findings = per_line[k]
                for x in f:
                    findings.append(dict(x, claim_id=line["claim_id"], __seq=x["__seq"] + semantics.SEQ_SUPP,
                                         __sev=0))
                if any(excess):
                    findings += self._cap_findings(P, rs, excess, semantics.SEQ_SUPP + semantics.SEQ_CAPS, 0)
                commit[k]["supp"] = (ref, row[3], row[5], d, paid)

    def _cap_findings(self, L: dict, rs: Ruleset, excess: list, seq: int, sev: int) -> list[dict]:
        """A finding per cap of ``rs`` that the line's payment exceeded (its excess is the member's)."""
        return [self._finding(L, rs.id, cap.id, cap.reason, "cap", excess[j], "member", seq + j, sev,
                              rs.python.codes.get(cap.reason))
                for j, cap in enumerate(rs.ir.benefits.caps) if excess[j] > 0]

    @staticmethod
    def _finding(L, ruleset, rule_id, reason, action, effect, liability, seq, sev, rc=None) -> dict:
        rc = rc or catalogue.CATALOGUE.get(reason)
        return {"claim_id": L["claim_id"], "line_no": L["line_no"], "ruleset": ruleset, "rule_id": rule_id,
                "reason_code": reason, "action": action, "amount_effect": effect, "liability": liability,
                "message": rc.en if rc else reason, "message_fa": rc.fa if rc else reason, "__seq": seq,
                "__sev": sev}

    @staticmethod
    def _decide(line: dict, state: list, findings: list[dict]) -> None:
        denied, pended, adjusted, liability = state
        line["member_pays"] = liability - line["supplementary_paid"]
        decision = line["decision"] = "denied" if denied else "pended" if pended else "adjusted" if adjusted \
            else "approved"
        if not findings:
            line["primary_reason"] = None
            line["rules"] = []
            return
        if len(findings) > 1:
            findings.sort(key=_SEQ)
        ranked = [f for f in findings if f["__sev"] > 0]
        line["primary_reason"] = None if decision == "approved" or not ranked else min(
            ranked, key=_RANK)["reason_code"]
        line["rules"] = [f"{f['ruleset']}:{f['rule_id']}" for f in findings]

    # -- commit --------------------------------------------------------------------------------------------------
    def commit(self, decision: Decision) -> bool:
        """Record an accepted claim so the next check sees it; False when this claim_id was already committed."""
        if decision.claim_id in self.committed or not decision.lines:
            return False
        lines = sorted(decision.lines, key=_TOTAL_ORDER)
        for old in {r["replaces_claim_id"] for r in lines if r.get("submission") != "original"
                    and r.get("replaces_claim_id")}:
            self._forget(old)
        facts = claim_facts(lines)
        by_no = {rec["row"]["line_no"]: rec for rec in decision._commit}
        for r in lines:
            rec = by_no[r["line_no"]]
            counts = r["primary_reason"] not in ENGINE_DENY_CODES if r["decision"] == "denied" else True
            counts = counts and not any(f["ruleset"] == "engine" and f["action"] == "deny"
                                        and f["line_no"] == r["line_no"] for f in decision.findings)
            groups = {}
            if rec["ruleset"] is not None and r["decision"] != "denied":
                groups[rec["ruleset"]] = (rec["ded"], rec["caps"], r["deductible_applied"], r["insurer_paid"])
            if rec.get("supp"):
                ref, ded, caps, _, paid = rec["supp"]
                groups[ref] = (ded, caps, 0, paid)
            self._record_line(record_line(rec), facts, counts, r, groups)
        self.committed[decision.claim_id] = [(r["line_no"], r["member_id"], r["service_code"], r["service_date"])
                                             for r in lines]
        return True

    def _forget(self, claim_id: str) -> None:
        """A replacement or void: the superseded claim leaves the duplicate and aggregate indexes."""
        for line_no, member, code, day in self.committed.get(claim_id, ()):
            key = (member, code, day)
            self.dups[key] = [e for e in self.dups.get(key, ()) if e[0] != claim_id]
            for idx in self.index.values():
                idx.remove((claim_id, line_no))
