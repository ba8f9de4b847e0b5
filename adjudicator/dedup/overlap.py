"""Overlap removal (رفع همپوشانی): members holding two basic covers of different insurers at the same time.

``find_overlaps`` sweeps each member's basic, active spans in start order (one numba pass after one sort) and
reports every overlapping pair of spans of different insurers with the interval they share and which cover is
primary under a YAML priority policy (``rulesets/overlap/ihio-policy.yaml``). The non-primary cover ends from the
first day of the overlap (DATA.md): ``to_end`` lists each such span once, with the earliest such day.
``overlap_findings`` turns the report into stage findings for claim lines: ``OVL.OTHER_PRIMARY`` (deny, provider)
on a line billed to the secondary insurer inside the overlap, ``OVL.MEMBER_MUST_CHOOSE`` (pend, provider) on a
line billed to either insurer inside an overlap the member must settle.

Coverage may be a DataFrame, a LazyFrame or a Parquet path: only five columns of basic, active spans are ever
materialised (member key int64, insurer and fund codes, start and end days), which keeps 80M spans in a few GB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import yaml
from numba import njit
from pydantic import BaseModel, ConfigDict, ValidationError

from adjudicator.chunks import each_chunk
from adjudicator.errors import Diagnostic, RulesetError
from adjudicator.prefetch import prefetch

__all__ = [
    "CoverMatch",
    "PolicyRule",
    "Policy",
    "OverlapReport",
    "load_policy",
    "find_overlaps",
    "overlap_findings",
    "overlap_report",
    "DEFAULT_POLICY",
]

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "rulesets" / "overlap" / "ihio-policy.yaml"
OPEN = np.int32(2**31 - 1)


class CoverMatch(BaseModel):
    """One side of a policy rule: a cover whose fund is in ``funds`` or whose insurer is in ``insurers``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    funds: tuple[str, ...] = ()
    insurers: tuple[str, ...] = ()

    def matches(self, insurer: str | None, fund: str | None) -> bool:
        if not self.funds and not self.insurers:
            return True
        return (fund is not None and fund in self.funds) or (insurer is not None and insurer in self.insurers)


class PolicyRule(BaseModel):
    """A pair of covers and which of them stays."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    description: str = ""
    covers: tuple[CoverMatch, CoverMatch]
    primary: Literal["first", "second", "member_choice"]


class Policy(BaseModel):
    """An overlap priority policy: rules in order, then the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    version: int | str = 1
    description: str = ""
    rules: tuple[PolicyRule, ...] = ()
    default: Literal["earliest_start"] = "earliest_start"
    on_tie: Literal["member_choice", "lowest_insurer_id"] = "member_choice"

    def decide(self, ins_a: str, fund_a: str | None, ins_b: str, fund_b: str | None) -> tuple[str, str]:
        """(outcome, rule id) for covers a and b: outcome 'a' or 'b' (which stays), 'choose' or 'earliest'."""
        for rule in self.rules:
            first, second = rule.covers
            ab = first.matches(ins_a, fund_a) and second.matches(ins_b, fund_b)
            ba = first.matches(ins_b, fund_b) and second.matches(ins_a, fund_a)
            if not (ab or ba):
                continue
            if rule.primary == "member_choice":
                return "choose", rule.id
            if ab and ba:
                continue  # the rule cannot tell the two apart
            first_is_a = ab
            keep_first = rule.primary == "first"
            return ("a" if first_is_a == keep_first else "b"), rule.id
        return "earliest", "EARLIEST_START"


def load_policy(path: str | Path = DEFAULT_POLICY) -> Policy:
    """Read a policy YAML; every problem is reported at once as a ``RulesetError``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RulesetError([Diagnostic(str(path), line, col, "E001", f"cannot read overlap policy: {exc}")])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise RulesetError([
            Diagnostic(str(path), 1, 1, "E100", f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
            for e in exc.errors()
        ]) from None


@dataclass(frozen=True)
class OverlapReport:
    """Overlapping basic covers, the covers to end, and counts per insurer."""

    overlaps: pl.DataFrame
    to_end: pl.DataFrame
    counts: pl.DataFrame

    @cached_property
    def sides(self) -> tuple[pl.DataFrame, np.ndarray, np.uint64]:
        """(one row per (member, insurer, interval) that a line billed there must answer for, with ``_k`` 0 for
        OTHER_PRIMARY and 1 for MEMBER_MUST_CHOOSE; a bit set of their (member, insurer) hashes, indexed by a
        hash's top bits; the shift that gives them).

        Built once per report and kept with it: a batch then costs one hash and one bit test per line.
        """
        ov = self.overlaps
        sides = pl.concat([
            ov.filter(pl.col("primary_insurer").is_not_null())
            .select("member_id", pl.col("secondary_insurer").alias("insurer_id"), "overlap_start", "overlap_end",
                    pl.lit(0, pl.Int8).alias("_k")),
            ov.filter(pl.col("primary_insurer").is_null())
            .select("member_id", pl.col("insurer_a").alias("insurer_id"), "overlap_start", "overlap_end",
                    pl.lit(1, pl.Int8).alias("_k")),
            ov.filter(pl.col("primary_insurer").is_null())
            .select("member_id", pl.col("insurer_b").alias("insurer_id"), "overlap_start", "overlap_end",
                    pl.lit(1, pl.Int8).alias("_k")),
        ]).unique()
        # ~32 bits per side: a 400k-side report is a 2 MB set that stays in cache, ~3 % false candidates
        log2 = max(16, int(np.ceil(np.log2(max(sides.height, 1) * 32))))
        bits = np.zeros(1 << (log2 - 6), np.uint64)
        shift = np.uint64(64 - log2)
        _set_bits(_pair_hash(sides), shift, bits)
        return sides, bits, shift


OVERLAPS_SCHEMA = {
    "member_id": pl.String, "insurer_a": pl.String, "fund_a": pl.String, "start_a": pl.Date, "end_a": pl.Date,
    "insurer_b": pl.String, "fund_b": pl.String, "start_b": pl.Date, "end_b": pl.Date,
    "overlap_start": pl.Date, "overlap_end": pl.Date, "primary_insurer": pl.String,
    "secondary_insurer": pl.String, "rule": pl.String,
}
TO_END_SCHEMA = {"member_id": pl.String, "insurer_id": pl.String, "fund": pl.String, "start_date": pl.Date,
                 "end_date": pl.Date, "end_from": pl.Date}
COUNTS_SCHEMA = {"insurer_id": pl.String, "covers_to_end": pl.Int64, "members_to_end": pl.Int64,
                 "overlaps": pl.Int64, "member_must_choose": pl.Int64}


@njit(cache=True)
def _sweep(mkey, ins, start, end, count_only, out_i, out_j):
    """Pairs (i, j), i < j, same member, different insurer, start[j] <= end[i] (rows sorted by member, start)."""
    n = mkey.shape[0]
    k = 0
    for i in range(n):
        j = i + 1
        while j < n and mkey[j] == mkey[i] and start[j] <= end[i]:
            if ins[j] != ins[i]:
                if not count_only:
                    out_i[k] = i
                    out_j[k] = j
                k += 1
            j += 1
    return k


def _lazy(coverage: pl.DataFrame | pl.LazyFrame | str | Path) -> pl.LazyFrame:
    if isinstance(coverage, pl.LazyFrame):
        return coverage
    if isinstance(coverage, pl.DataFrame):
        return coverage.lazy()
    path = Path(coverage)
    if path.is_dir():
        return pl.scan_parquet(path / "*.parquet")
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    return pl.scan_csv(path, try_parse_dates=True, schema_overrides={"member_id": pl.String})


def find_overlaps(
    coverage: pl.DataFrame | pl.LazyFrame | str | Path,
    policy: Policy | str | Path = DEFAULT_POLICY,
    members: pl.DataFrame | None = None,
) -> OverlapReport:
    """Overlaps between basic, active covers of different insurers, decided by ``policy``.

    With ``members``, an overlap that starts after the member's death is dropped (the covers are moot).
    """
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    basic = (_lazy(coverage)
             .filter((pl.col("kind") == "basic") & (pl.col("status") == "active"))
             .filter(pl.col("end_date").is_null() | (pl.col("end_date") >= pl.col("start_date"))))
    key = pl.col("member_id").str.to_integer(strict=False).cast(pl.Int64)
    spans = basic.select(
        pl.when((pl.col("member_id").str.len_bytes() == 10) & ~pl.col("member_id").str.starts_with("+"))
        .then(key).alias("k"),
        pl.col("insurer_id").cast(pl.Categorical).alias("ins"),
        pl.col("fund").cast(pl.Categorical).alias("fund"),
        pl.col("start_date").cast(pl.Int32).alias("s"),
        pl.col("end_date").cast(pl.Int32).fill_null(OPEN).alias("e"),
    ).collect(engine="streaming")
    numeric = spans["k"].null_count() == 0 and (spans.height == 0 or spans["k"].min() >= 0)
    member_ids = None
    if not numeric:  # not national codes: a dense rank of the ids is the key (and the ids are kept)
        member_ids = basic.select(pl.col("member_id")).collect(engine="streaming")["member_id"]
        spans = spans.with_columns(member_ids.rank("dense").cast(pl.Int64).alias("k"))
    # one sort by (member, start): a single int64 key when the values allow it, else two keys
    day0 = -25567  # 1900-01-01
    if spans.height and spans["k"].max() < 2**45 and spans["s"].min() >= day0 and spans["s"].max() < day0 + 2**17:
        order = (spans["k"] * 2**17 + (spans["s"].cast(pl.Int64) - day0)).arg_sort()
    else:
        order = spans.select(pl.arg_sort_by("k", "s")).to_series()
    order = order.to_numpy()

    def arr(series: pl.Series, dtype) -> np.ndarray:
        return np.ascontiguousarray(series.to_numpy()[order], dtype=dtype)

    mkey, start, end = arr(spans["k"], np.int64), arr(spans["s"], np.int32), arr(spans["e"], np.int32)
    ins = arr(spans["ins"].to_physical(), np.int64)
    empty = np.empty(0, np.int64)
    n = _sweep(mkey, ins, start, end, True, empty, empty)
    pi, pj = np.empty(n, np.int64), np.empty(n, np.int64)
    _sweep(mkey, ins, start, end, False, pi, pj)
    del mkey, ins, start, end
    ri, rj = pl.Series(order[pi]), pl.Series(order[pj])
    del order

    def side(rows: pl.Series, suffix: str) -> list[pl.Series]:
        part = spans[rows]
        return [part["ins"].cast(pl.String).alias("insurer" + suffix),
                part["fund"].cast(pl.String).alias("fund" + suffix),
                part["s"].alias("s" + suffix), part["e"].alias("e" + suffix)]

    if numeric:
        member = spans["k"][ri].cast(pl.String).str.zfill(10).alias("member_id")
    else:
        member = member_ids[ri].alias("member_id")
    pairs = pl.DataFrame([member, *side(ri, "_a"), *side(rj, "_b")])
    del spans

    def day(c: str) -> pl.Expr:
        return pl.when(pl.col(c) != OPEN).then(pl.col(c)).cast(pl.Date)

    # a canonical orientation: a started first, or on the same day has the smaller insurer id
    swap = (pl.col("s_a") > pl.col("s_b")) | (
        (pl.col("s_a") == pl.col("s_b")) & (pl.col("insurer_a") > pl.col("insurer_b")))
    pairs = pairs.select(
        "member_id",
        *[pl.when(swap).then(pl.col(f"{c}_b")).otherwise(pl.col(f"{c}_a")).alias(f"{c}_a")
          for c in ("insurer", "fund", "s", "e")],
        *[pl.when(swap).then(pl.col(f"{c}_a")).otherwise(pl.col(f"{c}_b")).alias(f"{c}_b")
          for c in ("insurer", "fund", "s", "e")],
    ).select(
        "member_id", "insurer_a", "fund_a", day("s_a").alias("start_a"), day("e_a").alias("end_a"),
        "insurer_b", "fund_b", day("s_b").alias("start_b"), day("e_b").alias("end_b"),
        day("s_b").alias("overlap_start"),
        pl.min_horizontal("e_a", "e_b").pipe(lambda e: pl.when(e != OPEN).then(e)).cast(pl.Date)
        .alias("overlap_end"),
    )
    if members is not None and "death_date" in members.columns and pairs.height:
        pairs = (pairs.join(members.select("member_id", "death_date").unique("member_id"), on="member_id",
                            how="left")
                 .filter(pl.col("death_date").is_null() | (pl.col("overlap_start") <= pl.col("death_date")))
                 .drop("death_date"))

    # the policy is decided once per distinct (insurer, fund) pair — a handful — then joined back
    combos = pairs.select("insurer_a", "fund_a", "insurer_b", "fund_b").unique()
    decided = [policy.decide(*row) for row in combos.iter_rows()]
    table = combos.with_columns(
        pl.Series("_outcome", [d[0] for d in decided], dtype=pl.String),
        pl.Series("_rule", [d[1] for d in decided], dtype=pl.String),
    )
    pairs = pairs.join(table, on=["insurer_a", "fund_a", "insurer_b", "fund_b"], how="left", nulls_equal=True)
    a_first = pl.col("start_a") < pl.col("start_b")
    tie = pl.col("start_a") == pl.col("start_b")
    low_a = pl.col("insurer_a") < pl.col("insurer_b")
    earliest = pl.col("_outcome") == "earliest"
    keep = (pl.when(pl.col("_outcome").is_in(["a", "b"])).then(pl.col("_outcome"))
            .when(earliest & ~tie).then(pl.when(a_first).then(pl.lit("a")).otherwise(pl.lit("b")))
            .when(earliest & tie & pl.lit(policy.on_tie == "lowest_insurer_id"))
            .then(pl.when(low_a).then(pl.lit("a")).otherwise(pl.lit("b")))
            .otherwise(pl.lit(None, pl.String)))
    rule = (pl.when(earliest & tie)
            .then(pl.lit("EARLIEST_START_TIE")).otherwise(pl.col("_rule")))
    overlaps = (pairs.with_columns(keep.alias("_keep"), rule.alias("rule"))
                .with_columns(
                    pl.when(pl.col("_keep") == "a").then("insurer_a").when(pl.col("_keep") == "b")
                    .then("insurer_b").alias("primary_insurer"),
                    pl.when(pl.col("_keep") == "a").then("insurer_b").when(pl.col("_keep") == "b")
                    .then("insurer_a").alias("secondary_insurer"),
                )
                .select(list(OVERLAPS_SCHEMA))
                .cast(OVERLAPS_SCHEMA)
                .sort("member_id", "overlap_start", "insurer_a", "insurer_b", "start_a", "start_b"))

    sec_is_a = pl.col("secondary_insurer") == pl.col("insurer_a")
    to_end = (overlaps.filter(pl.col("secondary_insurer").is_not_null())
              .select(
                  "member_id",
                  pl.col("secondary_insurer").alias("insurer_id"),
                  pl.when(sec_is_a).then("fund_a").otherwise("fund_b").alias("fund"),
                  pl.when(sec_is_a).then("start_a").otherwise("start_b").alias("start_date"),
                  pl.when(sec_is_a).then("end_a").otherwise("end_b").alias("end_date"),
                  "overlap_start")
              .group_by("member_id", "insurer_id", "fund", "start_date", "end_date", maintain_order=True)
              .agg(pl.col("overlap_start").min().alias("end_from"))
              .cast(TO_END_SCHEMA)
              .sort("insurer_id", "member_id", "start_date", "end_from"))
    return OverlapReport(overlaps=overlaps, to_end=to_end, counts=_counts(overlaps, to_end))


def _counts(overlaps: pl.DataFrame, to_end: pl.DataFrame) -> pl.DataFrame:
    involved = pl.concat([
        overlaps.select("member_id", pl.col("insurer_a").alias("insurer_id"), "primary_insurer"),
        overlaps.select("member_id", pl.col("insurer_b").alias("insurer_id"), "primary_insurer"),
    ])
    per = involved.group_by("insurer_id").agg(
        pl.len().cast(pl.Int64).alias("overlaps"),
        pl.col("primary_insurer").is_null().sum().cast(pl.Int64).alias("member_must_choose"),
    )
    ends = to_end.group_by("insurer_id").agg(
        pl.len().cast(pl.Int64).alias("covers_to_end"),
        pl.col("member_id").n_unique().cast(pl.Int64).alias("members_to_end"),
    )
    return (per.join(ends, on="insurer_id", how="full", coalesce=True)
            .with_columns(pl.col("covers_to_end", "members_to_end", "overlaps", "member_must_choose").fill_null(0))
            .select(list(COUNTS_SCHEMA)).cast(COUNTS_SCHEMA).sort("insurer_id"))


FINDING_SCHEMA = {"claim_id": pl.String, "line_no": pl.Int64, "rule_id": pl.String, "reason_code": pl.String,
                  "action": pl.String, "liability": pl.String}


def _pair_hash(frame: pl.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (member_id, insurer_id)."""
    return frame.select(pl.col("member_id", "insurer_id").cast(pl.String)).hash_rows(41).to_numpy()


@njit(cache=True)
def _set_bits(h, shift, bits):
    for i in range(h.shape[0]):
        x = h[i] >> shift
        bits[x >> np.uint64(6)] |= np.uint64(1) << (x & np.uint64(63))


@njit(cache=True, nogil=True)
def _bit_rows(h, shift, bits):
    """The rows whose hash's bit is set."""
    n = h.shape[0]
    hit = np.empty(n, np.bool_)
    k = 0
    for i in range(n):
        if i + 16 < n:
            prefetch(bits, (h[i + 16] >> shift) >> np.uint64(6))
        x = h[i] >> shift
        hit[i] = (bits[x >> np.uint64(6)] >> (x & np.uint64(63))) & np.uint64(1)
        k += hit[i]
    rows = np.empty(k, np.int64)
    j = 0
    for i in range(n):
        if hit[i]:
            rows[j] = i
            j += 1
    return rows


def overlap_findings(lines: pl.DataFrame, report: OverlapReport) -> pl.DataFrame:
    """``OVL.OTHER_PRIMARY`` / ``OVL.MEMBER_MUST_CHOOSE`` findings for claim lines (one of each per line at most)."""
    if report.overlaps.height == 0 or lines.height == 0:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    sides, bits, shift = report.sides
    # candidates: lines whose (member, insurer) hash is a side's (a hash collision only adds a candidate; the join
    # below is exact) — hashing is far cheaper than matching millions of member-id strings
    rows = pl.Series("_row", np.concatenate(
        each_chunk(lines.height, lambda off, n: _bit_rows(_pair_hash(lines.slice(off, n)), shift, bits) + off)))
    cand = (lines.select("claim_id", pl.col("line_no").cast(pl.Int64), "member_id", "insurer_id", "service_date")
            [rows].with_columns(rows))
    hits = (cand.join(sides, on=["member_id", "insurer_id"], how="inner")
            .filter((pl.col("service_date") >= pl.col("overlap_start"))
                    & (pl.col("overlap_end").is_null() | (pl.col("service_date") <= pl.col("overlap_end"))))
            .select("_row", "claim_id", "line_no", "_k").unique(["_row", "_k"]).sort("_row", "_k"))
    return hits.select(
        "claim_id", "line_no",
        pl.when(pl.col("_k") == 0).then(pl.lit("OVL.OTHER_PRIMARY")).otherwise(pl.lit("OVL.MEMBER_MUST_CHOOSE"))
        .alias("rule_id"),
        pl.when(pl.col("_k") == 0).then(pl.lit("OTHER_PRIMARY")).otherwise(pl.lit("MEMBER_MUST_CHOOSE"))
        .alias("reason_code"),
        pl.when(pl.col("_k") == 0).then(pl.lit("deny")).otherwise(pl.lit("pend")).alias("action"),
        pl.lit("provider").alias("liability"),
    )


def overlap_report(
    coverage: pl.DataFrame | pl.LazyFrame | str | Path,
    members: pl.DataFrame | None,
    policy: Policy | str | Path,
    out_dir: str | Path,
) -> dict:
    """Write ``overlaps.parquet``, ``to_end.parquet`` (all insurers), ``to_end/<insurer>.parquet``,
    ``counts.parquet`` and ``summary.json``; returns the summary."""
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    report = find_overlaps(coverage, policy, members)
    out = Path(out_dir)
    (out / "to_end").mkdir(parents=True, exist_ok=True)
    report.overlaps.write_parquet(out / "overlaps.parquet")
    report.to_end.write_parquet(out / "to_end.parquet")
    for (insurer,), part in report.to_end.partition_by("insurer_id", as_dict=True, maintain_order=True).items():
        part.write_parquet(out / "to_end" / f"{insurer}.parquet")
    report.counts.write_parquet(out / "counts.parquet")
    summary = {
        "policy": f"{policy.id}@{policy.version}",
        "overlaps": report.overlaps.height,
        "members_with_overlap": report.overlaps["member_id"].n_unique(),
        "member_must_choose": int(report.overlaps["primary_insurer"].is_null().sum()),
        "covers_to_end": report.to_end.height,
        "by_rule": dict(report.overlaps.group_by("rule").len().sort("rule").iter_rows()),
        "per_insurer": report.counts.to_dicts(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary
