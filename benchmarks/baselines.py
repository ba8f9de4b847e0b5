"""The 30 rules of ``fixtures/bench30.yaml`` written by hand, as the baselines the polars backend is compared with.

- ``run_loop``: a plain per-row Python loop over ``frame.iter_rows(named=True)`` (allowed here: it is a baseline).
- ``run_durable``: the same rules as a durable-rules ruleset. Durable matches conditions on a flat fact; what it
  cannot do itself (table joins, the 30-day prior count, the 1M-pair lookup, running amounts) is done by the same
  Python as the loop: ``enrich`` before asserting the facts, ``apply`` after (rule order, limits then caps).

Both return (lines, findings) frames with the same columns as ``Ruleset.evaluate`` so that ``check_same`` can hold
them to the polars backend's answer. Keep these in step with bench30.yaml.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict, deque

import polars as pl

from adjudicator.rules.functions import _py_age_at as _age  # the engine's own age rule

RULES = ["QTY-001", "TAR-001", "ATT-001", "PKG-001", "SEX-001", "AGE-001", "AGE-002", "SET-001", "PA-001", "REF-001",
         "LAB-001", "SPC-001", "LVL-001", "DEN-001", "FRQ-001", "PTP-001", "MUE-001", "MUE-002", "MUE-003", "PRC-001",
         "PRC-002", "PRC-003", "SHR-001", "TIER-001", "REV-001", "REV-002", "FLG-001", "FLG-002", "FLG-003",
         "FLG-004"]
ACTION = {r: "deny" for r in RULES[:16]} | {"MUE-001": "limit_quantity", "MUE-002": "limit_quantity",
                                             "MUE-003": "limit_quantity", "PRC-001": "cap_amount",
                                             "PRC-002": "cap_amount", "PRC-003": "cap_amount", "SHR-001": "set",
                                             "TIER-001": "set", "REV-001": "pend", "REV-002": "pend",
                                             "FLG-001": "flag", "FLG-002": "flag", "FLG-003": "flag",
                                             "FLG-004": "flag"}
VISIT_LIMIT, RURAL_SHARE, REVIEW_THRESHOLD, ER_CAP, CLAIM_LINES_FLAG = 2, 500, 40_000_000, 20_000_000, 6
BYPASS = frozenset(["59", "XE", "XS", "XP", "XU"])


class Tables:
    """Plain dict lookups over the ruleset's loaded tables (built once, outside the timed part)."""

    def __init__(self, loaded_tables: dict[str, pl.DataFrame]):
        self.tariff: dict[str, list] = defaultdict(list)
        for r in loaded_tables["tariff"].iter_rows(named=True):
            self.tariff[r["service_code"]].append((r["valid_from"] or dt.date.min, r["valid_to"] or dt.date.max, r))
        self.attrs = {r["service_code"]: r for r in loaded_tables["attrs"].iter_rows(named=True)}
        self.ptp: dict[str, dict[str, int]] = defaultdict(dict)
        p = loaded_tables["ptp"]
        for c1, c2, mok in zip(p["code_1"].to_list(), p["code_2"].to_list(), p["modifier_ok"].fill_null(0).to_list()):
            if mok != 9:
                self.ptp[c2][c1] = mok

    def find_tariff(self, code, day):
        for lo, hi, r in self.tariff.get(code, ()):
            if lo <= day <= hi:
                return r
        return None


def _lt(a, b):
    return a is not None and b is not None and a < b


def enrich(frame: pl.DataFrame, T: Tables) -> list[dict]:
    """Rows in total order with table fields, age, claim line count, prior visit count and the pair flag."""
    rows = list(frame.sort("service_date", "claim_id", "line_no").iter_rows(named=True))
    line_count: dict[str, int] = defaultdict(int)
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        line_count[r["claim_id"]] += 1
        groups[(r["member_id"], r["provider_id"], r["service_date"])].append(r)
    visits: dict[str, deque] = defaultdict(deque)
    for r in rows:
        day, code = r["service_date"], r["service_code"]
        r["t"] = T.find_tariff(code, day)
        r["a"] = T.attrs.get(code)
        r["age"] = _age(r["member.birth_date"], day)
        r["line_count"] = line_count[r["claim_id"]]
        # prior_count(per=[member_id], within="30d", where=tariff.group == "visit"): earlier lines in total order
        q = visits[r["member_id"]]
        start = day - dt.timedelta(days=29)
        while q and q[0] < start:
            q.popleft()
        r["prior_visits"] = len(q)
        if r["t"] is not None and r["t"]["group"] == "visit":
            q.append(day)
        # pair(ptp): another line of the same member, provider and day has a code_1 of this code's pairs
        pair = False
        by1 = T.ptp.get(code)
        if by1:
            bypass = r["modifier"] in BYPASS
            for o in groups[(r["member_id"], r["provider_id"], day)]:
                if o is r:
                    continue
                mok = by1.get(o["service_code"])
                if mok is not None and not (mok == 1 and bypass):
                    pair = True
                    break
        r["pair"] = pair
    return rows


def conditions(r: dict) -> list[bool]:
    """The static `when` of each rule (running values are applied in ``apply``), null → False."""
    t, a, age = r["t"] or {}, r["a"] or {}, r["age"]
    cat = a.get("category")
    return [
        r["quantity"] <= 0,
        r["t"] is None,
        r["a"] is None,
        a.get("covered") is False,
        t.get("sex") is not None and r["member.sex"] is not None and r["member.sex"] != t["sex"],
        _lt(age, t.get("min_age")),
        _lt(t.get("max_age"), age),
        t.get("setting") is not None and r["setting"] != t["setting"],
        t.get("requires_prior_auth") is True and r["prior_auth_id"] is None,
        t.get("requires_referral") is True and r["referral_id"] is None and r["coverage.fund"] in ("rural",
                                                                                                  "other_strata"),
        cat == "lab" and r["provider.provider_type"] is not None and
        r["provider.provider_type"] not in ("lab", "hospital", "health_center"),
        a.get("specialty") is not None and r["provider.specialty"] is not None and
        r["provider.specialty"] != a["specialty"],
        _lt(r["provider.level"], a.get("min_level")),
        cat == "dental" and _lt(18, age) and r["coverage.plan"] == "basic",
        t.get("group") == "visit" and r["prior_visits"] >= VISIT_LIMIT,
        r["pair"],
        True,  # MUE-001 (value checked in apply)
        r["setting"] == "outpatient",
        _lt(age, 12),
        True,  # PRC-001
        r["provider.sector"] == "public",
        r["setting"] == "emergency",
        True,  # SHR-001
        True,  # TIER-001
        True,  # REV-001 (running amount checked in apply)
        a.get("high_cost") is True and r["provider.sector"] == "private",
        t.get("price") is not None and r["billed_amount"] > 3 * t["price"] * r["quantity"],
        a.get("needs_modifier") is True and r["modifier"] is None,
        r["line_count"] > CLAIM_LINES_FLAG,
        cat == "imaging" and age is not None and age >= 65,
    ]


def apply(r: dict, cond, out: list, findings: list) -> None:
    """Run the actions in rule order with the running quantity/amount; append the outputs and findings."""
    t, a = r["t"] or {}, r["a"] or {}
    aq, aa = r["quantity"], r["billed_amount"]
    denied = pended = adjusted = False
    mred = 0
    cid, ln = r["claim_id"], r["line_no"]
    fired = []

    def limit(i, v):
        nonlocal aq, aa, denied, adjusted
        if not cond[i] or v is None:
            return
        v = max(v, 0)
        if v < aq:
            new = (2 * aa * v + aq) // (2 * aq)
            findings.append((cid, ln, RULES[i], "limit_quantity", aa - new))
            fired.append(RULES[i])
            aq, aa, adjusted = v, new, True
            if v == 0:
                denied = True

    def cap(i, v):
        nonlocal aa, adjusted
        if not cond[i] or v is None:
            return
        v = max(v, 0)
        if v < aa:
            findings.append((cid, ln, RULES[i], "cap_amount", aa - v))
            fired.append(RULES[i])
            aa, adjusted = v, True

    for i in range(16):  # the denies
        if cond[i]:
            findings.append((cid, ln, RULES[i], "deny", aa))
            fired.append(RULES[i])
            if i == 9:  # REF-001: liability member
                mred += aa
            aq = aa = 0
            denied = True
    limit(16, t.get("max_units_per_day"))
    limit(17, a.get("max_per_claim"))
    limit(18, 2)
    price = t.get("price")
    cap(19, None if price is None else price * aq)
    cap(20, None if price is None else price * aq * 9 // 10)
    cap(21, ER_CAP)
    share = RURAL_SHARE if r["coverage.fund"] == "rural" else 3000
    tier = 2 if a.get("high_cost") is True else 1
    for i, ok in ((24, aa > REVIEW_THRESHOLD), (25, cond[25] and tier == 2)):
        if ok and cond[i]:
            findings.append((cid, ln, RULES[i], "pend", 0))
            fired.append(RULES[i])
            pended = True
    for i in range(26, 30):
        if cond[i]:
            findings.append((cid, ln, RULES[i], "flag", 0))
            fired.append(RULES[i])
    out.append((cid, ln, aq, aa, denied, pended, adjusted, mred, share, tier, fired))


LINE_SCHEMA = {"claim_id": pl.String, "line_no": pl.Int64, "allowed_quantity": pl.Int64, "allowed_amount": pl.Int64,
               "__denied": pl.Boolean, "__pended": pl.Boolean, "__adjusted": pl.Boolean, "__member_red": pl.Int64,
               "member_share": pl.Int64, "review_tier": pl.Int64, "rules": pl.List(pl.String)}
FINDING_SCHEMA = {"claim_id": pl.String, "line_no": pl.Int64, "rule_id": pl.String, "action": pl.String,
                  "amount_effect": pl.Int64}


def _frames(out, findings):
    return (pl.DataFrame(out, schema=LINE_SCHEMA, orient="row"),
            pl.DataFrame(findings, schema=FINDING_SCHEMA, orient="row"))


def run_loop(frame: pl.DataFrame, T: Tables) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The plain Python baseline: enrich, test the 30 conditions, apply the actions, build the two frames."""
    out, findings = [], []
    for r in enrich(frame, T):
        apply(r, conditions(r), out, findings)
    return _frames(out, findings)


# --- durable-rules ------------------------------------------------------------------------------------------------

_counter = itertools.count()


def _fact(i: int, r: dict) -> dict:
    t, a = r["t"] or {}, r["a"] or {}
    return {
        "i": i, "quantity": r["quantity"], "billed_amount": r["billed_amount"], "setting": r["setting"],
        "modifier": r["modifier"], "referral_id": r["referral_id"], "prior_auth_id": r["prior_auth_id"],
        "m_sex": r["member.sex"], "age": r["age"], "fund": r["coverage.fund"], "plan": r["coverage.plan"],
        "p_type": r["provider.provider_type"], "p_sector": r["provider.sector"], "p_level": r["provider.level"],
        "p_specialty": r["provider.specialty"], "line_count": r["line_count"], "prior_visits": r["prior_visits"],
        "pair": r["pair"], "t_found": r["t"] is not None, "a_found": r["a"] is not None,
        "t_group": t.get("group"), "t_price": t.get("price"),
        "tariff_amount": None if t.get("price") is None else t["price"] * r["quantity"], "t_sex": t.get("sex"), "t_min_age": t.get("min_age"),
        "t_max_age": t.get("max_age"), "t_setting": t.get("setting"), "t_prior_auth": t.get("requires_prior_auth"),
        "t_referral": t.get("requires_referral"), "t_max_units": t.get("max_units_per_day"),
        "a_covered": a.get("covered"), "a_category": a.get("category"), "a_specialty": a.get("specialty"),
        "a_min_level": a.get("min_level"), "a_high_cost": a.get("high_cost"),
        "a_needs_modifier": a.get("needs_modifier"), "a_max_per_claim": a.get("max_per_claim"),
    }


def durable_ruleset():
    """Define the 30 conditions as a durable ruleset; returns (name, matches) where matches[i] lists rule indexes.

    Rules whose when is "always" (MUE-001, PRC-001, SHR-001, TIER-001, REV-001) get a necessary condition on the
    submitted values (or none) and are finished by ``apply`` with the running values."""
    from durable.lang import m, ruleset, when_all

    name = f"bench30_{next(_counter)}"
    matches: dict[int, list[int]] = defaultdict(list)
    conds = [
        m.quantity <= 0,
        m.t_found == False,  # noqa: E712 - durable's DSL
        m.a_found == False,  # noqa: E712
        m.a_covered == False,  # noqa: E712
        (m.t_sex != None) & (m.m_sex != m.t_sex),  # noqa: E711
        m.age < m.t_min_age,
        m.age > m.t_max_age,
        (m.t_setting != None) & (m.setting != m.t_setting),  # noqa: E711
        (m.t_prior_auth == True) & (m.prior_auth_id == None),  # noqa: E711,E712
        (m.t_referral == True) & (m.referral_id == None) & ((m.fund == "rural") | (m.fund == "other_strata")),  # noqa
        (m.a_category == "lab") & (m.p_type != "lab") & (m.p_type != "hospital") & (m.p_type != "health_center"),
        (m.a_specialty != None) & (m.p_specialty != m.a_specialty),  # noqa: E711
        m.p_level < m.a_min_level,
        (m.a_category == "dental") & (m.age > 18) & (m.plan == "basic"),
        (m.t_group == "visit") & (m.prior_visits >= VISIT_LIMIT),
        m.pair == True,  # noqa: E712
        m.quantity > m.t_max_units,
        (m.setting == "outpatient") & (m.quantity > m.a_max_per_claim),
        (m.age < 12) & (m.quantity > 2),
        m.t_price != None,  # noqa: E711
        (m.p_sector == "public") & (m.t_price != None),  # noqa: E711
        (m.setting == "emergency") & (m.billed_amount > ER_CAP),
        None, None,  # SHR-001, TIER-001: sets, in apply
        m.billed_amount > REVIEW_THRESHOLD,
        (m.a_high_cost == True) & (m.p_sector == "private"),  # noqa: E712
        m.billed_amount > m.tariff_amount * 3,  # durable's arithmetic takes one fact field and constants
        (m.a_needs_modifier == True) & (m.modifier == None),  # noqa: E711,E712
        m.line_count > CLAIM_LINES_FLAG,
        (m.a_category == "imaging") & (m.age >= 65),
    ]
    with ruleset(name):
        for i, c in enumerate(conds):
            if c is None:
                continue

            when_all(c)(_action(matches, i))
    return name, matches


def _action(matches: dict, i: int):
    def action(ctx):  # durable reads the arity: one argument = a synchronous action
        matches[ctx.m.i].append(i)
    return action


def run_durable(frame: pl.DataFrame, T: Tables, name: str, matches: dict):
    """Enrich in Python, assert each fact (JSON into the C engine) and retract it, apply the actions in Python.

    One fact at a time: with ``assert_facts`` batches (100 or 1000 facts, then ``retract_facts``) durable 2.0.28
    silently ran only part of the matching actions here (3 % to 30 % of findings missing)."""
    from durable.lang import assert_fact, retract_fact

    rows = enrich(frame, T)
    for i, r in enumerate(rows):
        fact = _fact(i, r)
        assert_fact(name, fact)
        retract_fact(name, fact)
    out, findings = [], []
    always = (22, 23)
    for i, r in enumerate(rows):
        cond = [False] * 30
        for k in matches.get(i, ()):
            cond[k] = True
        for k in always:
            cond[k] = True
        apply(r, cond, out, findings)
    matches.clear()
    return _frames(out, findings)


def check_same(polars_lines: pl.DataFrame, polars_findings: pl.DataFrame, lines: pl.DataFrame,
               findings: pl.DataFrame, what: str) -> list[str]:
    """Differences between a baseline's answer and the polars backend's (empty when they agree)."""
    problems = []
    cols = ["allowed_quantity", "allowed_amount", "__denied", "__pended", "__adjusted", "__member_red",
            "member_share", "review_tier"]
    j = polars_lines.select("claim_id", "line_no", *cols).join(
        lines.select("claim_id", "line_no", *cols), on=["claim_id", "line_no"], how="full", suffix="_b")
    if j.height != polars_lines.height or j.height != lines.height:
        problems.append(f"{what}: line counts differ ({polars_lines.height} vs {lines.height})")
    for c in cols:
        bad = j.filter(pl.col(c).ne_missing(pl.col(f"{c}_b")))
        if bad.height:
            problems.append(f"{what}: {c} differs on {bad.height} lines, e.g. {bad.row(0, named=True)}")
    pf = polars_findings.group_by("rule_id").len().rename({"len": "polars"})
    bf = findings.group_by("rule_id").len().rename({"len": what})
    cmp = pf.join(bf, on="rule_id", how="full", coalesce=True).fill_null(0).filter(pl.col("polars") != pl.col(what))
    if cmp.height:
        problems.append(f"{what}: findings per rule differ:\n{cmp.sort('rule_id')}")
    return problems
