"""The world ``bench_point.py`` measures in: a synthetic population with its coverage and providers, a SQLite store
holding the members' history (real line results of the batch engine), and held-out claims to check.

Built once per (members, history lines, seed) and cached under ``$ADJ_BENCH_CACHE`` (default
``<tmp>/adj-bench-point``) in ``m<members>-h<history>-s<seed>/``: ``members/coverage/providers.parquet``,
``probes.parquet`` (the claims to check: each the first 5 lines of a held-out IHIO outpatient claim, one per member)
and ``store.db``. Building:

1. ``synth.generate(members, history + held-out lines)`` — vectorized; ~16 s for 100k members / 1M lines.
2. Hold out IHIO outpatient claims of 5 or more lines (one per member, up to ``MAX_PROBES``) — they are what the
   benchmark checks, so they are not in the history; every other line is.
3. Adjudicate the history with the batch engine in member-partitioned chunks (a member's lines stay in one chunk, so
   the results are the ones a single run would give) and store each chunk with ``Store.record_run`` — the store's
   bulk path, which also makes the lines the members' current history.

A ``done`` file marks a complete build; a half-built folder is rebuilt.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

from adjudicator import schema, synth
from adjudicator.rules.functions import _py_age_at as _age  # the engine's own age rule

MEMBERS = int(os.environ.get("ADJ_BENCH_MEMBERS", "1000000"))
HISTORY = int(os.environ.get("ADJ_BENCH_HISTORY", "10000000"))
SEED = int(os.environ.get("ADJ_BENCH_SEED", "1404"))
CACHE = Path(os.environ.get("ADJ_BENCH_CACHE", Path(tempfile.gettempdir()) / "adj-bench-point"))
MAX_PROBES = 5_000
PROBE_LINES = 5
CHUNK_LINES = 1_000_000
ROOT = Path(__file__).resolve().parents[1]
RULESETS = ROOT / "rulesets"


def rss() -> int:
    """This process's resident set size in bytes (VmRSS)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def folder(members: int = MEMBERS, history: int = HISTORY, seed: int = SEED) -> Path:
    return CACHE / f"m{members}-h{history}-s{seed}"


def ensure(members: int = MEMBERS, history: int = HISTORY, seed: int = SEED, log=print) -> Path:
    """The cached world's folder, built first when missing."""
    out = folder(members, history, seed)
    if (out / "done").exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    build(out, members, history, seed, log)
    return out


def build(out: Path, members: int, history: int, seed: int, log=print) -> None:
    from adjudicator import Engine
    from adjudicator.store import Store

    timings = {}
    t0 = t = time.perf_counter()
    # ~5 % extra lines: the held-out claims come out of them, the history keeps its size
    data = synth.generate(members, history + max(history // 20, 1_000), seed=seed)
    timings["synth_s"] = time.perf_counter() - t
    log(f"[build] synth.generate({members:,} members, {data.claims.height:,} lines): {timings['synth_s']:.1f} s")
    claims = data.claims
    sizes = claims.group_by("claim_id").agg(pl.len().alias("n"), pl.col("member_id").first(),
                                            pl.col("insurer_id").first(), pl.col("setting").first())
    candidates = sizes.filter((pl.col("n") >= PROBE_LINES) & (pl.col("insurer_id") == "IHIO")
                              & (pl.col("setting") == "outpatient")).sort("claim_id")
    held = candidates.unique("member_id", keep="last", maintain_order=True).head(MAX_PROBES)
    probes = claims.join(held.select("claim_id"), on="claim_id", how="semi").filter(
        pl.col("line_no") <= PROBE_LINES).sort("claim_id", "line_no")
    rest = claims.join(held.select("claim_id"), on="claim_id", how="anti")
    # trim to ``history`` lines by dropping whole claims at the end
    order = rest.group_by("claim_id", maintain_order=True).len().with_columns(pl.col("len").cum_sum().alias("cum"))
    keep = order.filter(pl.col("cum") <= history).select("claim_id")
    rest = rest.join(keep, on="claim_id", how="semi")
    log(f"[build] {held.height:,} held-out claims ({candidates.height:,} IHIO outpatient claims of ≥{PROBE_LINES} "
        f"lines); history {rest.height:,} lines")
    data.members.write_parquet(out / "members.parquet")
    data.coverage.write_parquet(out / "coverage.parquet")
    data.providers.write_parquet(out / "providers.parquet")
    probes.write_parquet(out / "probes.parquet")

    t = time.perf_counter()
    engine = Engine(str(RULESETS), members=data.members, coverage=data.coverage, providers=data.providers)
    store = Store(f"sqlite:///{out / 'store.db'}")
    n_chunks = max(1, -(-rest.height // CHUNK_LINES))
    part = rest.with_columns((pl.col("member_id").hash(seed=7) % n_chunks).alias("__part"))
    adj_s = store_s = 0.0
    for k in range(n_chunks):
        chunk = part.filter(pl.col("__part") == k).drop("__part")
        t1 = time.perf_counter()
        res = engine.adjudicate(chunk)
        t2 = time.perf_counter()
        now = datetime.now()
        store.record_run(inputs={"claims": f"bench-point-{members}-{history}-{seed}-part{k}"},
                         ruleset_digests=[r.digest for r in engine.rulesets], lines=res.lines,
                         findings=res.findings, claims=res.claims, timings=res.summary.get("timings", {}),
                         started_at=now, finished_at=now)
        t3 = time.perf_counter()
        adj_s += t2 - t1
        store_s += t3 - t2
        log(f"[build] chunk {k + 1}/{n_chunks}: {chunk.height:,} lines adjudicated in {t2 - t1:.1f} s, "
            f"stored in {t3 - t2:.1f} s")
    store.close()
    timings.update(adjudicate_s=adj_s, store_s=store_s, total_s=time.perf_counter() - t0,
                   engine_and_rest_s=time.perf_counter() - t - adj_s - store_s)
    info = {"members": members, "history_lines": rest.height, "probes": held.height, "timings": timings,
            "store_bytes": sum(p.stat().st_size for p in out.glob("store.db*"))}
    (out / "info.json").write_text(json.dumps(info, indent=1))
    (out / "done").write_text("ok\n")
    log(f"[build] done in {timings['total_s']:.0f} s; store {info['store_bytes'] / 1e9:.2f} GB")


def load(out: Path) -> dict:
    """The cached frames, the probe claims as lists of line dicts (contract columns), and the build info."""
    probes = pl.read_parquet(out / "probes.parquet").select(list(schema.CLAIM_LINES))
    claims = [g.to_dicts() for _, g in probes.group_by("claim_id", maintain_order=True)]
    return {
        "members": pl.read_parquet(out / "members.parquet"),
        "coverage": pl.read_parquet(out / "coverage.parquet"),
        "providers": pl.read_parquet(out / "providers.parquet"),
        "probe_frame": probes,
        "claims": claims,
        "store_url": f"sqlite:///{out / 'store.db'}",
        "info": json.loads((out / "info.json").read_text()),
    }


# --- durable-rules: the 14 rules of ihio/outpatient, hand-written --------------------------------------------------

RULE_IDS = ["QTY-001", "TAR-001", "DRG-001", "SEX-001", "AGE-001", "SET-001", "MUE-001", "DRG-002", "FRQ-001",
            "REF-001", "PTP-001", "PRC-001", "PRC-002", "REV-001"]
GP_VISIT = "901910"
HIGH_COST_REVIEW = 400_000_000
ENGINE_DENY = frozenset(("NOT_ENROLLED", "NOT_IN_FORCE", "COVER_SUSPENDED", "MEMBER_DECEASED", "WRONG_INSURER",
                         "OTHER_PRIMARY", "DUPLICATE_EXACT", "SUPERSEDED", "VOIDED", "NO_RULESET"))


def _valid(frame: pl.DataFrame, key: str) -> dict:
    out: dict = {}
    for r in frame.iter_rows(named=True):
        out.setdefault(r[key], []).append((r.get("valid_from") or dt.date.min, r.get("valid_to") or dt.date.max, r))
    return out


def _find(table: dict, key, day):
    for lo, hi, r in table.get(key, ()):
        if lo <= day <= hi:
            return r
    return None


class Context:
    """What the durable baseline looks up in Python before posting facts: the ruleset's tables as dicts, the probe
    members and the providers, and the probe members' counted history (GP visits by day, codes by
    member/provider/day for the bundling pairs), read from the store once, outside the timing."""

    def __init__(self, rs, engine, claims):
        T = rs.loaded.tables
        self.tariff = _valid(T["tariff"], "service_code")
        self.k = _valid(T["k"], "sector")
        self.attr = {r["service_code"]: r for r in T["attr"].iter_rows(named=True)}
        self.drug = _valid(T["drug"], "service_code")
        self.ptp: dict[str, dict[str, int | None]] = {}
        for c1, c2, mok in T["ptp"].select("code_1", "code_2", "modifier_ok").iter_rows():
            self.ptp.setdefault(c2, {})[c1] = mok
        self.bypass = frozenset(str(m) for m in rs.ir.bypass_modifiers)
        ids = sorted({c[0]["member_id"] for c in claims})
        mem = engine.members.filter(pl.col("member_id").is_in(ids))
        self.members = {m: (s, b) for m, s, b in mem.select("member_id", "sex", "birth_date").iter_rows()}
        self.sector = dict(engine.providers.select("provider_id", "sector").iter_rows())
        self.gp: dict[tuple, list] = {}
        self.groups: dict[tuple, list] = {}
        for m in ids:
            for r in engine.store.member_history_rows(m):
                if r.get("primary_reason") in ENGINE_DENY:
                    continue
                order = (r["service_date"], r["claim_id"], r["line_no"])
                if r["service_code"] == GP_VISIT:
                    self.gp.setdefault((m, r["service_date"]), []).append(order)
                self.groups.setdefault((m, r["provider_id"], r["service_date"]), []).append(r["service_code"])


_facts = itertools.count()


def _enrich(lines: list[dict], ctx: Context) -> list[dict]:
    """One fact per line, in total order: table fields, age, the 1-day GP count and the pair flag."""
    lines = sorted(lines, key=lambda r: (r["service_date"], r["claim_id"], r["line_no"]))
    out = []
    for j, r in enumerate(lines):
        day, code, m = r["service_date"], r["service_code"], r["member_id"]
        sector = ctx.sector.get(r["provider_id"])
        t, k, d = _find(ctx.tariff, code, day), _find(ctx.k, sector, day), _find(ctx.drug, code, day)
        a = ctx.attr.get(code) or {}
        sex, birth = ctx.members.get(m, (None, None))
        order = (day, r["claim_id"], r["line_no"])
        prior_gp = 0
        if code == GP_VISIT:
            prior_gp = sum(1 for o in ctx.gp.get((m, day), ()) if o < order) + sum(
                1 for x in lines[:j] if x["service_code"] == GP_VISIT and x["service_date"] == day)
        pair = False
        by1 = ctx.ptp.get(code)
        if by1:
            bypass = r.get("modifier") in ctx.bypass
            others = ctx.groups.get((m, r["provider_id"], day), []) + [
                x["service_code"] for x in lines if x is not r and x["provider_id"] == r["provider_id"]
                and x["service_date"] == day]
            pair = any((mok := by1.get(c, "-")) != "-" and not (mok == 1 and bypass) for c in others)
        unit = None if t is None or k is None else (t["professional_rvu"] * k["k_professional"]
                                                     + t["technical_rvu"] * k["k_technical"])
        out.append({
            "i": next(_facts), "line_no": r["line_no"], "quantity": r["quantity"],
            "billed_amount": r["billed_amount"], "has_referral": r.get("referral_id") is not None,
            "t_found": t is not None, "k_found": k is not None, "d_found": d is not None,
            "d_covered": None if d is None else d["covered"], "d_ref": None if d is None else d["requires_referral"],
            "d_max_units": None if d is None else d["max_units_per_rx"],
            "d_price": None if d is None else d["unit_price"], "unit": unit,
            "m_sex": sex, "age": _age(birth, day), "a_sex": a.get("sex"), "a_min_age": a.get("min_age"),
            "a_max_age": a.get("max_age"), "a_setting": a.get("setting"), "a_max_units": a.get("max_units_per_day"),
            "a_ref": a.get("requires_referral"), "gp": code == GP_VISIT, "prior_gp": prior_gp, "pair": pair,
        })
    return out


def durable_ruleset():
    """The 14 conditions as a durable ruleset; returns (name, matches): matches[fact i] lists rule indexes.

    Limits, caps and the review threshold act on running values: durable matches a necessary condition on the
    submitted values and ``_apply`` finishes them in rule order."""
    from durable.lang import m, ruleset, when_all

    name = f"ihio_outpatient_{next(_facts)}"
    matches: dict[int, list[int]] = {}
    conds = [
        m.quantity <= 0,
        (m.t_found == False) & (m.d_found == False),  # noqa: E712 - durable's DSL
        (m.d_found == True) & (m.d_covered == False),  # noqa: E712
        (m.a_sex != None) & (m.m_sex != None) & (m.m_sex != m.a_sex),  # noqa: E711
        (m.age < m.a_min_age) | (m.age > m.a_max_age),
        m.a_setting == "inpatient",
        m.quantity > m.a_max_units,
        m.quantity > m.d_max_units,
        (m.gp == True) & (m.prior_gp >= 1),  # noqa: E712
        ((m.a_ref == True) | (m.d_ref == True)) & (m.has_referral == False),  # noqa: E712
        m.pair == True,  # noqa: E712
        (m.t_found == True) & (m.k_found == True),  # noqa: E712
        m.d_found == True,  # noqa: E712
        m.billed_amount > HIGH_COST_REVIEW,
    ]
    with ruleset(name):
        for i, c in enumerate(conds):
            when_all(c)(_action(matches, i))
    return name, matches


def _action(matches: dict, i: int):
    def action(c):  # one argument: a synchronous action
        matches.setdefault(c.m.i, []).append(i)
    return action


def _apply(f: dict, cond: set) -> tuple:
    aq, aa = f["quantity"], f["billed_amount"]
    denied = pended = False
    mred = 0
    fired = []

    def deny(i):
        nonlocal aq, aa, denied, mred
        if i in cond:
            fired.append(RULE_IDS[i])
            if RULE_IDS[i] == "REF-001":
                mred += aa
            aq = aa = 0
            denied = True

    def limit(i, v):
        nonlocal aq, aa, denied
        if i in cond and v is not None:
            v = max(v, 0)
            if v < aq:
                fired.append(RULE_IDS[i])
                aq, aa = v, (2 * aa * v + aq) // (2 * aq)
                denied = denied or v == 0

    def cap(i, v):
        nonlocal aa
        if i in cond and v is not None:
            v = max(v, 0)
            if v < aa:
                fired.append(RULE_IDS[i])
                aa = v

    for i in range(6):
        deny(i)
    limit(6, f["a_max_units"])
    limit(7, f["d_max_units"])
    for i in (8, 9, 10):
        deny(i)
    cap(11, None if f["unit"] is None else f["unit"] * aq)
    cap(12, None if f["d_price"] is None else f["d_price"] * aq)
    if 13 in cond and aa > HIGH_COST_REVIEW:
        fired.append("REV-001")
        pended = True
    return f["line_no"], aq, aa, denied, pended, mred, fired


def run_claim(lines: list[dict], ctx: Context, name: str, matches: dict) -> list[tuple]:
    """Enrich in Python, assert and retract each line's fact (JSON into the C engine), apply the actions."""
    from durable.lang import assert_fact, retract_fact

    facts = _enrich(lines, ctx)
    for f in facts:
        assert_fact(name, f)
        retract_fact(name, f)
    out = [_apply(f, set(matches.pop(f["i"], ()))) for f in facts]
    return out


def compare(engine, claims, ctx, name, matches) -> tuple[int, int, list]:
    """Lines where durable and the point engine agree on allowed amount and fired rules (of the lines the point
    engine ran through ihio.outpatient)."""
    agree = compared = 0
    bad = []
    for c in claims:
        d = engine.check(c, audit=False)
        mine = {x[0]: x for x in run_claim(c, ctx, name, matches)}
        for line in d.lines:
            if not (line["ruleset"] or "").startswith("ihio.outpatient"):
                continue
            compared += 1
            rules = sorted(r.split(":", 1)[1] for r in line["rules"] if r.startswith("ihio.outpatient:")
                           and r.split(":", 1)[1] in RULE_IDS)
            _, aq, aa, *_, fired = mine[line["line_no"]]
            if aa == line["allowed_amount"] and sorted(fired) == rules:
                agree += 1
            else:
                bad.append((line["claim_id"], line["line_no"], line["allowed_amount"], rules, aa, sorted(fired)))
    return agree, compared, bad
