"""The plain-Python benefits pass of the point of service (``accumulate_keyed``) gives the numba kernel's integers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator.benefits.accumulate import accumulate, accumulate_keyed

AMOUNT = st.one_of(st.integers(0, 10**12), st.integers(-10**6, 0))  # a typed negative amount passes normalise


@st.composite
def claims(draw):
    n, ncap = draw(st.integers(0, 6)), draw(st.integers(0, 3))
    nded, ngroups = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    lines = [(draw(AMOUNT), draw(st.booleans()), draw(st.integers(0, 10_000)), draw(st.integers(-1, nded - 1)),
              draw(st.sampled_from([0, 1, 500_000, 10**9])), [draw(st.integers(-1, ngroups - 1)) for _ in range(ncap)])
             for _ in range(n)]
    ded_used = [draw(st.sampled_from([0, 7, 10**9])) for _ in range(nded)]
    cap_amount = [draw(st.sampled_from([0, 1, 3_000_000, 10**11])) for _ in range(ncap)]
    cap_used = [draw(st.sampled_from([0, 5, 10**10])) for _ in range(ngroups)]
    return lines, ded_used, cap_amount, cap_used


@settings(max_examples=300, deadline=None)
@given(case=claims())
def test_small_pass_equals_kernel(case):
    lines, ded_used, cap_amount, cap_used = case
    n, ncap = len(lines), len(cap_amount)
    allowed, active, rate, ded_gid, ded_amount, cap_gid = (list(x) for x in zip(*lines)) if lines else ([],) * 6
    d_used, c_used = np.array(ded_used, np.int64), np.array(cap_used, np.int64)
    zeros = np.zeros(n, np.int64)
    d, s, paid, excess = accumulate(
        np.array(allowed, np.int64), np.array(active, np.bool_), np.zeros(n, np.bool_), zeros, zeros,
        np.array(rate, np.int64), np.array(ded_gid, np.int64), np.array(ded_amount, np.int64), d_used,
        np.array(cap_gid, np.int64).reshape(n, ncap), np.array(cap_amount, np.int64), c_used)
    # the same lines with the groups as keys (the point path names them by tuples; any hashable will do)
    lines_keyed = [(a, act, r, None if dg < 0 else ("d", dg), da, [None if g < 0 else ("c", g) for g in cg])
                   for a, act, r, dg, da, cg in lines]
    ded_start = {("d", g): v for g, v in enumerate(ded_used)}
    cap_start = {("c", g): v for g, v in enumerate(cap_used)}
    ded, cap = {}, {}
    got = accumulate_keyed(lines_keyed, cap_amount, ded_start, cap_start, ded, cap, 1 << 48)
    assert got == [(int(d[i]), int(s[i]), int(paid[i]), [int(x) for x in excess[i]]) for i in range(n)]
    assert {**ded_start, **ded} == {("d", g): v for g, v in enumerate(d_used.tolist())}
    assert {**cap_start, **cap} == {("c", g): v for g, v in enumerate(c_used.tolist())}
    assert ded_start == {("d", g): v for g, v in enumerate(ded_used)}  # the starting state is not changed


def test_a_value_past_the_bound_hands_over_to_the_kernel():
    line = (1 << 48, True, 3000, None, 0, [])
    assert accumulate_keyed([line], [], {}, {}, {}, {}, 1 << 48) is None
    (ded, share, paid, excess), = accumulate_keyed([line], [], {}, {}, {}, {}, None)  # no bound: Python integers
    assert (ded, share + paid, excess) == (0, 1 << 48, []) and share == ((1 << 48) * 3000 + 5000) // 10000
    assert accumulate_keyed([(10, True, 1 << 14, None, 0, [])], [], {}, {}, {}, {}, 1 << 48) is None
    assert accumulate_keyed([(10, True, 0, ("d", 0), 5, [])], [], {("d", 0): 1 << 50}, {}, {}, {}, 1 << 48) is None
