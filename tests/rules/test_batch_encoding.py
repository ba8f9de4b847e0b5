"""The batch backend's integer encodings stay exact where they take shortcuts: hash collisions, claim ids whose
first appearance is not their order, keys too wide for one integer, large pair tables, dates far from today.
Each test compares a fast path with the plain polars answer (or the same ruleset with the shortcut turned off)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from adjudicator.rules import encode, pairs, window
from adjudicator.rules.functions import age_series, polars_age
from tests.rules.conftest import MINI, frame, line


def _same_partition(ids: np.ndarray, values: pl.Series) -> bool:
    """Equal ids exactly where the values are equal (nulls equal each other)."""
    want = values.rank("dense").fill_null(0).to_numpy()
    pairs_seen = set(zip(ids.tolist(), want.tolist()))
    return len(pairs_seen) == len(set(ids.tolist())) == len(set(want.tolist()))


@pytest.mark.parametrize("colliding_seeds", [1, 3])
def test_dense_ids_survive_hash_collisions(monkeypatch, colliding_seeds):
    s = pl.Series(["b", "a", None, "b", "c", None, "a", "d"])
    real = encode._hash
    calls = []

    def bad_hash(series, seed):
        calls.append(seed)
        if len(calls) <= colliding_seeds:  # every value hashes alike: the check must catch it
            return np.zeros(series.len(), np.uint64)
        return real(series, seed)

    monkeypatch.setattr(encode, "_hash", bad_hash)
    ids, n = encode.encode(s)
    assert n == 5 and _same_partition(ids, s)


def test_combined_ids_are_exact():
    rng = np.random.default_rng(1)
    a = pl.Series(rng.choice(["x", "y", "z"], 500))
    b = pl.Series(rng.integers(0, 4, 500))
    ids, n = encode.combine([encode.encode(a), encode.encode(b)])
    both = pl.DataFrame({"a": a, "b": b}).select(pl.struct("a", "b").rank("dense")).to_series()
    assert n == both.n_unique() and _same_partition(ids, both)


def _sweep_order_matches_sort(key_values, days, claims, line_no):
    f = pl.DataFrame({"k": key_values, "d": days, "c": claims, "l": line_no}).with_row_index("r")
    k, nk = encode.encode(f["k"])
    c, nc = encode.encode(f["c"])
    so = window.SweepOrder(k, nk, f["d"].to_numpy().astype(np.int32), c, nc, f["l"].to_numpy().astype(np.int64),
                           f["c"])
    want = f.sort("k", "d", "c", "l")
    got = f[so.order]
    # the same rows in the same (key, day, claim, line) order; groups may come in any order of keys
    assert_frame_equal(got.sort("k", maintain_order=True).drop("r"), want.drop("r"))
    assert (np.diff(so.bounds) > 0).all() and so.bounds[-1] == f.height


@pytest.mark.parametrize("wide", [False, True], ids=["one-integer", "too-wide-for-one-integer"])
def test_sweep_order_puts_claims_of_a_day_in_string_order(wide):
    rng = np.random.default_rng(7)
    n = 3000
    claims = [f"C{x}" for x in rng.integers(0, 400, n)]  # first appearance is not string order ("C10" < "C9")
    line_no = rng.integers(1, 4, n) * (2**55 if wide else 1)  # 2**55: day + claim + line bits > 63
    _sweep_order_matches_sort(rng.choice(["m1", "m2", "m3", None], n).tolist(), rng.integers(0, 5, n), claims,
                              line_no)


def _claims(n_claims: int = 60) -> pl.DataFrame:
    """Claims of 1–3 lines over a few members, providers and days, codes that pair in the mini fixture."""
    rows = []
    codes = ["901910", "801010", "501010", "301010", "301020", "999999"]
    rng = np.random.default_rng(3)
    for c in range(n_claims):
        for n in range(int(rng.integers(1, 4))):
            rows.append(line(claim_id=f"c{c}", line_no=n + 1, member_id=f"m{c % 7}", provider_id=f"p{c % 2}",
                             service_date=dt.date(2025, 4, 1 + c % 3), service_code=codes[int(rng.integers(0, 6))],
                             modifier=[None, "59"][int(rng.integers(0, 2))]))
    return frame(rows)


def test_pair_table_searched_by_key_when_too_large_for_the_matrix(monkeypatch, mini):
    from adjudicator.rules.compiled import load_ruleset

    batch = _claims()
    want = mini.evaluate(batch, backend="polars")
    monkeypatch.setattr(pairs, "MATRIX_MAX_CODES", 0)
    fresh = load_ruleset(MINI)
    assert fresh.polars._pairs_of(fresh.polars.pairs[0]).matrix.shape[0] == 0
    got = fresh.evaluate(batch, backend="polars")
    assert_frame_equal(got[0], want[0])
    assert_frame_equal(got[1], want[1])


def test_age_of_eager_columns_matches_the_expression():
    rng = np.random.default_rng(5)
    lo, hi = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days, (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days
    birth = pl.Series(rng.integers(lo, hi, 20_000)).cast(pl.Int32).cast(pl.Date).scatter([0, 3], None)
    day = pl.Series(rng.integers(lo, hi, 20_000)).cast(pl.Int32).cast(pl.Date).scatter([5], None)
    birth = pl.concat([birth, pl.Series([dt.date(2000, 2, 29)] * 2)])
    day = pl.concat([day, pl.Series([dt.date(2001, 2, 28), dt.date(2001, 3, 1)])])
    want = pl.select(polars_age(pl.lit(birth), pl.lit(day))).to_series()
    got = age_series(birth, day)
    assert got.equals(want) and got.tail(2).to_list() == [0, 1]


def test_prepare_twice_keeps_the_joined_columns(mini):
    """A frame that already holds a table's columns is joined as before (polars names the second copy)."""
    prs = mini.polars
    once = prs.prepare(frame([line()]))
    twice = prs.prepare(once)
    assert set(once.columns) < set(twice.columns)


def test_encodings_and_sweeps_on_two_threads_change_nothing(monkeypatch, mini):
    from adjudicator.rules import to_polars

    batch = _claims(200)
    assert mini.polars.aggregates and mini.polars.pairs  # two compiled passes to run side by side
    want = mini.evaluate(batch, backend="polars")
    monkeypatch.setattr(to_polars, "PARALLEL_ROWS", 0)
    got = mini.evaluate(batch, backend="polars")
    assert_frame_equal(got[0], want[0])
    assert_frame_equal(got[1], want[1])
