"""numba kernels shared by the eligibility index and the batch stage.

An open-addressing hash table maps a member key (int64 >= 0) to a dense member id; the coverage spans are laid out
member by member (CSR) without sorting; one parallel pass evaluates every claim line against its member's spans.
The selection order of spans ("better") and the reason priority are documented in ``batch.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from adjudicator.dedup.supplementary import supplementary_code

EMPTY = -1
I32_MAX = np.int32(2**31 - 1)
BASIC = 0
SUPPLEMENTARY = 1

# eligibility reason codes (index into batch.ELIG_REASONS)
OK = 0
DECEASED = 1
NOT_ENROLLED = 2
WRONG_INSURER = 3
SUSPENDED = 4
NOT_IN_FORCE = 5

# supplementary codes
SUPP_NONE = -1
SUPP_VALID = 0
SUPP_NOT_VALID = 1
SUPP_WAITING = 2


@njit(cache=True, inline="always")
def _mix(k):
    # splitmix64 finaliser: a cheap, well-spread hash of an int64
    x = np.uint64(k)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def table_size(n: int) -> int:
    size = 1024
    while size < 2 * n:
        size *= 2
    return size


@njit(cache=True)
def assign_ids(keys, tkeys, tvals, next_id):
    """Insert keys (skipping negatives) into the table; returns (ids per key, new next_id)."""
    mask = np.uint64(tkeys.shape[0] - 1)
    ids = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        if k < 0:
            ids[i] = -1
            continue
        slot = _mix(k) & mask
        while True:
            tk = tkeys[slot]
            if tk == k:
                ids[i] = tvals[slot]
                break
            if tk == EMPTY:
                tkeys[slot] = k
                tvals[slot] = next_id
                ids[i] = next_id
                next_id += 1
                break
            slot = (slot + np.uint64(1)) & mask
    return ids, next_id


@njit(cache=True, parallel=True)
def probe(keys, tkeys, tvals):
    """Dense id of each key, -1 when absent."""
    mask = np.uint64(tkeys.shape[0] - 1)
    out = np.empty(keys.shape[0], np.int64)
    for i in prange(keys.shape[0]):
        k = keys[i]
        out[i] = -1
        if k < 0:
            continue
        slot = _mix(k) & mask
        while True:
            tk = tkeys[slot]
            if tk == k:
                out[i] = tvals[slot]
                break
            if tk == EMPTY:
                break
            slot = (slot + np.uint64(1)) & mask
    return out


@njit(cache=True)
def csr_order(ids, n_ids):
    """Offsets per id and a stable permutation that groups rows by id (counting sort)."""
    counts = np.zeros(n_ids + 1, np.int64)
    for i in range(ids.shape[0]):
        counts[ids[i] + 1] += 1
    for j in range(n_ids):
        counts[j + 1] += counts[j]
    fill = counts[:-1].copy()
    perm = np.empty(ids.shape[0], np.int64)
    for i in range(ids.shape[0]):
        g = ids[i]
        perm[fill[g]] = i
        fill[g] += 1
    return counts, perm


@njit(cache=True, inline="always")
def better(a, b, start, plan, active, end, row):
    """Span a wins over span b: later start, then lower plan, then active, then later end, then earlier row."""
    if start[a] != start[b]:
        return start[a] > start[b]
    if plan[a] != plan[b]:
        return plan[a] < plan[b]
    if active[a] != active[b]:
        return active[a] > active[b]
    if end[a] != end[b]:
        return end[a] > end[b]
    return row[a] < row[b]


@njit(cache=True)
def _best(lo, hi, d, kind_want, ins_want, kind, ins, start, end, plan, active, row):
    best = -1
    for s in range(lo, hi):
        if kind[s] == kind_want and ins[s] == ins_want and start[s] <= d and d <= end[s]:
            if best < 0 or better(s, best, start, plan, active, end, row):
                best = s
    return best


@njit(cache=True, parallel=True)
def evaluate(mid, lins, lsup, ldate, off, known, death, kind, ins, start, end, plan, active, waiting, row):
    """Per line: position of the billed basic span, of the named supplementary span, eligibility and supp codes."""
    n = mid.shape[0]
    cov = np.full(n, -1, np.int64)
    sup = np.full(n, -1, np.int64)
    elig = np.zeros(n, np.int8)
    supp = np.full(n, SUPP_NONE, np.int8)
    for i in prange(n):
        m = mid[i]
        d = ldate[i]
        if m < 0:
            elig[i] = NOT_ENROLLED
            if lsup[i] != -2:
                supp[i] = SUPP_NOT_VALID
            continue
        lo = off[m]
        hi = off[m + 1]
        b = _best(lo, hi, d, BASIC, lins[i], kind, ins, start, end, plan, active, row)
        cov[i] = b
        any_basic = False
        any_active = False
        other_active = False
        for s in range(lo, hi):
            if kind[s] != BASIC:
                continue
            any_basic = True
            if active[s] == 0 or start[s] > d or d > end[s]:
                continue
            if any_active and (other_active or ins[s] == lins[i]):
                continue
            # s counts only when it is the effective span of its insurer that day
            eff = True
            for t in range(lo, hi):
                if t != s and kind[t] == BASIC and ins[t] == ins[s] and start[t] <= d and d <= end[t]:
                    if better(t, s, start, plan, active, end, row):
                        eff = False
                        break
            if eff:
                any_active = True
                if ins[s] != lins[i]:
                    other_active = True
        alive = known[m] == 1 and d <= death[m]
        if known[m] == 1 and d > death[m]:
            elig[i] = DECEASED
        elif known[m] == 0 or not any_basic:
            elig[i] = NOT_ENROLLED
        elif b < 0:
            elig[i] = WRONG_INSURER if other_active else NOT_IN_FORCE
        elif active[b] == 0:
            elig[i] = SUSPENDED
        if lsup[i] != -2:
            sb = -1
            if lsup[i] >= 0:
                sb = _best(lo, hi, d, SUPPLEMENTARY, lsup[i], kind, ins, start, end, plan, active, row)
            sup[i] = sb
            has = sb >= 0
            supp[i] = supplementary_code(
                has, active[sb] == 1 if has else False, d,
                start[sb] if has else 0, waiting[sb] if has else 0, alive and any_active,
            )
    return cov, sup, elig, supp

