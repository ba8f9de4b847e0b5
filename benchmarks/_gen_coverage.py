"""A synthetic registry (members, coverage) and claim lines at benchmark scale, generated vectorized.

Per member four spans: three yearly basic spans of the member's insurer (the last open-ended), and a fourth that is
a supplementary cover (40 %), another insurer's overlapping basic cover (4 %), a suspension record (5 %) or an old
basic span (the rest). Lines: 3 per claim, 97 % billed to the member's insurer, ~1 % of claims resubmitted as exact
duplicates under another claim id.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

INSURERS = np.array(["IHIO", "SSO", "AFMO", "IKRF"])
FUNDS = np.array(["iranians", "sso_employee", "armed_forces", "relief"])
EPOCH = dt.date(1970, 1, 1)


def days(d: dt.date) -> int:
    return (d - EPOCH).days


def national_codes(n: np.ndarray) -> pl.Series:
    """Checksum-valid 10-digit codes from nine-digit integers."""
    s = np.zeros(n.shape[0], np.int64)
    for i in range(9):
        s += (n // 10 ** (8 - i) % 10) * (10 - i)
    r = s % 11
    check = np.where(r < 2, r, 11 - r)
    return pl.Series(n * 10 + check).cast(pl.String).str.zfill(10)


def members_and_coverage(n_members: int, seed: int = 1, first: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed + first)
    idx = np.arange(first, first + n_members, dtype=np.int64)
    ids = national_codes((idx * 7919 + 12345) % 10**9)
    ins = rng.choice(4, n_members, p=[0.5, 0.35, 0.05, 0.10])
    shift = rng.integers(0, 180, n_members)
    y = [days(dt.date(2022, 1, 1)), days(dt.date(2023, 1, 1)), days(dt.date(2024, 1, 1))]
    kind4 = rng.choice(4, n_members, p=[0.40, 0.04, 0.05, 0.51])  # supp, overlap, suspension, old basic
    other = (ins + 1 + rng.integers(0, 3, n_members)) % 4
    start4 = np.select([kind4 == 0, kind4 == 1, kind4 == 2], [y[0] + shift, y[1] + shift + 30, y[2] + shift + 10],
                       days(dt.date(2019, 1, 1)) + shift)
    end4 = np.select([kind4 == 0, kind4 == 1, kind4 == 2], [-1, y[2] + shift + 60, y[2] + shift + 40],
                     y[0] + shift - 1)
    ins4 = np.select([kind4 == 0, kind4 == 1], [4, other], ins)
    n = n_members
    cov = pl.DataFrame({
        "m": np.concatenate([np.arange(n)] * 4),
        "i": np.concatenate([ins, ins, ins, ins4]),
        "k": np.concatenate([np.zeros(3 * n, np.int8), (kind4 == 0).astype(np.int8)]),
        "s": np.concatenate([y[0] + shift, y[1] + shift, y[2] + shift, start4]).astype(np.int32),
        "e": np.concatenate([y[1] + shift - 1, y[2] + shift - 1, np.full(n, -1), end4]).astype(np.int32),
        "st": np.concatenate([np.zeros(3 * n, np.int8), (kind4 == 2).astype(np.int8)]),
    })
    ins_names = pl.Series(list(INSURERS) + ["SUP1"])
    fund_names = pl.Series(list(FUNDS) + [None])
    coverage = cov.select(
        pl.lit(ids).gather(pl.col("m")).alias("member_id"),
        pl.lit(ins_names).gather(pl.col("i")).alias("insurer_id"),
        pl.when(pl.col("k") == 1).then(pl.lit("supplementary")).otherwise(pl.lit("basic")).alias("kind"),
        pl.lit(fund_names).gather(pl.col("i")).alias("fund"),
        pl.when(pl.col("k") == 1).then(pl.lit("gold")).otherwise(pl.lit("base")).alias("plan"),
        pl.col("s").cast(pl.Date).alias("start_date"),
        pl.when(pl.col("e") >= 0).then(pl.col("e")).cast(pl.Date).alias("end_date"),
        pl.when(pl.col("st") == 1).then(pl.lit("suspended")).otherwise(pl.lit("active")).alias("status"),
        pl.when(pl.col("k") == 1).then(pl.lit(30, pl.Int64)).alias("waiting_days"),
    )
    dead = rng.random(n_members) < 0.01
    death = np.where(dead, y[2] + rng.integers(0, 365, n_members), -1).astype(np.int32)
    members = pl.DataFrame({"member_id": ids, "d": death}).select(
        "member_id", pl.lit(dt.date(1980, 1, 1)).alias("birth_date"), pl.lit("F").alias("sex"),
        pl.when(pl.col("d") >= 0).then(pl.col("d")).cast(pl.Date).alias("death_date"))
    return members, coverage


def claim_lines(n_lines: int, members: pl.DataFrame, coverage: pl.DataFrame, seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_members = members.height
    base = int(n_lines * 0.99)
    n_claims = (base + 2) // 3
    cm = rng.integers(0, n_members, n_claims)
    claim = np.arange(base) // 3
    member = cm[claim]
    main = coverage.filter(pl.col("kind") == "basic").head(n_members)["insurer_id"]  # first span: the main insurer
    wrong = rng.random(base) < 0.03
    ins_idx = pl.Series(member)
    df = pl.DataFrame({"claim": claim, "m": member, "wrong": wrong,
                       "alt": rng.integers(0, 4, base),
                       "d": (days(dt.date(2023, 1, 1)) + rng.integers(0, 730, n_claims)[claim]).astype(np.int32),
                       "code": rng.integers(0, 5000, base), "prov": rng.integers(0, 50000, n_claims)[claim],
                       "supp": rng.random(base) < 0.3, "amt": rng.integers(1, 500, base) * 10000})
    del ins_idx
    dups = rng.choice(n_claims, (n_lines - base + 2) // 3, replace=False)
    extra = df.filter(pl.col("claim").is_in(dups)).head(n_lines - base).with_columns(
        (pl.col("claim") + n_claims).alias("claim"))
    df = pl.concat([df, extra])
    line_no = df.select((pl.int_range(pl.len()).over("claim") + 1).alias("n"))["n"]
    return df.select(
        (pl.lit("C") + pl.col("claim").cast(pl.String).str.zfill(9)).alias("claim_id"),
        line_no.cast(pl.Int64).alias("line_no"),
        pl.lit(members["member_id"]).gather(pl.col("m")).alias("member_id"),
        pl.when(pl.col("wrong")).then(pl.lit(pl.Series(list(INSURERS))).gather(pl.col("alt")))
        .otherwise(pl.lit(main).gather(pl.col("m"))).alias("insurer_id"),
        pl.when(pl.col("supp")).then(pl.lit("SUP1")).alias("supplementary_insurer_id"),
        pl.lit("outpatient").alias("setting"),
        (pl.lit("P") + pl.col("prov").cast(pl.String)).alias("provider_id"),
        pl.col("d").cast(pl.Date).alias("service_date"),
        (pl.lit("K") + pl.col("code").cast(pl.String)).alias("service_code"),
        pl.lit(None, pl.String).alias("modifier"),
        pl.lit(1, pl.Int64).alias("quantity"),
        pl.col("amt").cast(pl.Int64).alias("billed_amount"),
        pl.lit("original").alias("submission"),
        pl.lit(None, pl.String).alias("replaces_claim_id"),
    )
