"""Deductibles and benefit caps, accumulated in the total order by one compiled pass.

Lines arrive sorted by (service_date, claim_id, line_no). Each line names, per accumulator, a dense group id (or −1
when the accumulator does not apply): the deductible row chosen for it and every cap that applies. History lines
come first in the same order with ``fixed`` set: they add what they already consumed/paid to the state and are not
recomputed. The same kernel serves the batch (millions of lines) and a single claim at the counter (a few lines with
the state loaded from history), so the two paths cannot disagree.

Per line: remaining = allowed → deductible (up to what is left of its group's amount) → member share =
round_half_up(remaining × rate) → insurer share → each cap in order: the insurer pays at most what is left of the
cap's group; the excess is the member's. Every cap group then counts what the insurer finally paid.
"""

from __future__ import annotations

import numba
import numpy as np

from adjudicator.benefits.money import BP
from adjudicator.benefits.money import share as round_share


@numba.njit(cache=True)
def accumulate(allowed, active, fixed, fixed_ded, fixed_paid, rate_bp, ded_gid, ded_amount, ded_used,
               cap_gid, cap_amount, cap_used):  # pragma: no cover - compiled
    """Returns (deductible, member_share, insurer_paid, cap_excess[n, C]); mutates the *_used state arrays."""
    n = allowed.shape[0]
    ncap = cap_amount.shape[0]
    ded = np.zeros(n, np.int64)
    share = np.zeros(n, np.int64)
    paid = np.zeros(n, np.int64)
    excess = np.zeros((n, ncap), np.int64)
    for i in range(n):
        if fixed[i]:
            g = ded_gid[i]
            if g >= 0:
                ded_used[g] += fixed_ded[i]
            for c in range(ncap):
                g = cap_gid[i, c]
                if g >= 0:
                    cap_used[g] += fixed_paid[i]
            continue
        if not active[i]:
            continue
        rem = allowed[i]
        g = ded_gid[i]
        if g >= 0:
            room = ded_amount[i] - ded_used[g]
            if room < 0:
                room = 0
            d = rem if rem < room else room
            ded_used[g] += d
            ded[i] = d
            rem -= d
        s = round_share(rem, rate_bp[i])
        if s > rem:
            s = rem
        share[i] = s
        ins = rem - s
        for c in range(ncap):
            g = cap_gid[i, c]
            if g < 0:
                continue
            room = cap_amount[c] - cap_used[g]
            if room < 0:
                room = 0
            pay = ins if ins < room else room
            excess[i, c] = ins - pay
            ins = pay
        for c in range(ncap):
            g = cap_gid[i, c]
            if g >= 0:
                cap_used[g] += ins
        paid[i] = ins
    return ded, share, paid, excess


def accumulate_keyed(lines, cap_amount, ded_start, cap_start, ded, cap, bound):
    """``accumulate`` in plain Python over a claim's few lines (calling the compiled kernel costs more than running
    this on 5 lines), the groups named by any hashable key: each line is (allowed, active, rate_bp, deductible
    group or None, deductible amount, [cap group or None per cap]). A group's consumption starts at
    ``*_start.get(key, 0)`` (not changed) and runs in ``ded``/``cap`` (key → consumed so far, written).
    The same arithmetic step for step as the kernel. ``bound``: when given, returns None as soon as an amount or
    a starting consumption is not a plain int below it in size, or a rate not below 2**14 — the caller then runs
    the kernel (with every value inside the bound nothing here leaves int64, so the integers are the kernel's).
    Returns per line (deductible, member_share, insurer_paid, [cap excess per cap])."""
    ncap = len(cap_amount)
    out = []
    for allowed, active, rate, dkey, ded_amount, ckeys in lines:
        if bound is not None and not (type(allowed) is int and -bound < allowed < bound and type(rate) is int
                                      and -_RATE_BOUND < rate < _RATE_BOUND):
            return None
        if not active:
            out.append((0, 0, 0, [0] * ncap))
            continue
        rem = allowed
        d = 0
        if dkey is not None:
            used = ded.get(dkey)
            if used is None:
                used = ded_start.get(dkey, 0)
                if bound is not None and not (type(used) is int and -bound < used < bound):
                    return None
            room = ded_amount - used
            if room < 0:  # noqa: PLR1730 - the kernel's statements, without a call to min/max each
                room = 0
            d = rem if rem < room else room  # noqa: FURB136
            ded[dkey] = used + d
            rem -= d
        s = (rem * rate + _HALF) // _BP  # money.share
        if s > rem:  # noqa: PLR1730
            s = rem
        ins = rem - s
        excess = [0] * ncap
        if ncap:
            for c in range(ncap):
                key = ckeys[c]
                if key is None:
                    continue
                used = cap.get(key)
                if used is None:
                    used = cap[key] = cap_start.get(key, 0)
                    if bound is not None and not (type(used) is int and -bound < used < bound):
                        return None
                room = cap_amount[c] - used
                if room < 0:  # noqa: PLR1730
                    room = 0
                pay = ins if ins < room else room  # noqa: FURB136
                excess[c] = ins - pay
                ins = pay
            for c in range(ncap):
                key = ckeys[c]
                if key is not None:
                    cap[key] += ins
        out.append((d, s, ins, excess))
    return out


_RATE_BOUND = 1 << 14
_BP, _HALF = BP, BP // 2


def i64(a) -> np.ndarray:
    """A contiguous, writable int64 array (numba compiles once for this signature)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64))


def b1(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.bool_))
