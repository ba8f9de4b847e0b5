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
    """A power of two above n, the most keys the table can receive (distinct members are usually far fewer)."""
    size = 1024
    while size <= n:
        size *= 2
    return size


@njit(cache=True)
def pack_rows(columns, perm):
    """rows[j, f] = columns[f, perm[j]]: field columns to packed rows in CSR order, in one pass."""
    nf, n = columns.shape
    rows = np.empty((n, nf), np.int32)
    for j in range(n):
        p = perm[j]
        for f in range(nf):
            rows[j, f] = columns[f, p]
    return rows


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


def _probe(keys, tkeys, tvals):
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


# small inputs run serially: a parallel region's thread start-up costs more than the work (and much more on a
# loaded machine)
PARALLEL_MIN = 200_000
_probe_par = njit(cache=True, parallel=True)(_probe)
_probe_ser = njit(cache=True)(_probe)


def probe(keys, tkeys, tvals):
    """Dense id of each key, -1 when absent."""
    return (_probe_par if keys.shape[0] >= PARALLEL_MIN else _probe_ser)(keys, tkeys, tvals)


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


# packed span fields (one row of an int32 [n_spans, NF] array per span: a member's spans share cache lines)
F_KIND, F_INS, F_START, F_END, F_PLAN, F_ACTIVE, F_WAIT, F_ROW, F_FUND, F_STATUS = range(10)
NF = 10
WAIT_NULL = np.int32(-(2**31))
# packed member fields (int64 [n_members, 4])
M_LO, M_HI, M_KNOWN, M_DEATH = range(4)
# per-line output fields (int32 [NO, n_lines]); codes -1 and dates I32_MAX mean null
O_INS, O_FUND, O_PLAN, O_STATUS, O_START, O_END, O_WAIT = range(7)
NO = 7


@njit(cache=True, inline="always")
def better(sp, a, b):
    """Span a wins over span b: later start, then lower plan, then active, then later end, then earlier row."""
    if sp[a, F_START] != sp[b, F_START]:
        return sp[a, F_START] > sp[b, F_START]
    if sp[a, F_PLAN] != sp[b, F_PLAN]:
        return sp[a, F_PLAN] < sp[b, F_PLAN]
    if sp[a, F_ACTIVE] != sp[b, F_ACTIVE]:
        return sp[a, F_ACTIVE] > sp[b, F_ACTIVE]
    if sp[a, F_END] != sp[b, F_END]:
        return sp[a, F_END] > sp[b, F_END]
    return sp[a, F_ROW] < sp[b, F_ROW]


@njit(cache=True, inline="always")
def _in_force(sp, s, d):
    return sp[s, F_START] <= d and d <= sp[s, F_END]


@njit(cache=True)
def _best(sp, lo, hi, d, kind_want, ins_want):
    best = -1
    for s in range(lo, hi):
        if sp[s, F_KIND] == kind_want and sp[s, F_INS] == ins_want and _in_force(sp, s, d):
            if best < 0 or better(sp, s, best):
                best = s
    return best


@njit(cache=True, inline="always")
def _write(out, i, sp, s, supplementary):
    if s < 0:
        out[O_INS, i] = -1
        out[O_FUND, i] = -1
        out[O_PLAN, i] = -1
        out[O_STATUS, i] = -1
        out[O_START, i] = I32_MAX
        out[O_END, i] = I32_MAX
        out[O_WAIT, i] = WAIT_NULL
    else:
        out[O_INS, i] = sp[s, F_INS]
        out[O_FUND, i] = sp[s, F_FUND]
        out[O_PLAN, i] = sp[s, F_PLAN]
        out[O_STATUS, i] = sp[s, F_STATUS]
        out[O_START, i] = sp[s, F_START]
        out[O_END, i] = sp[s, F_END]
        out[O_WAIT, i] = sp[s, F_WAIT] if supplementary else WAIT_NULL


def _evaluate(mid, lins, lsup, ldate, mem, sp):
    """Per line: ELIG code, SUPP code, and the chosen basic / supplementary span fields (see O_*)."""
    n = mid.shape[0]
    elig = np.zeros(n, np.int8)
    supp = np.full(n, SUPP_NONE, np.int8)
    cov_out = np.empty((NO, n), np.int32)
    sup_out = np.empty((NO, n), np.int32)
    for i in prange(n):
        m = mid[i]
        d = ldate[i]
        if m < 0:
            elig[i] = NOT_ENROLLED
            _write(cov_out, i, sp, -1, False)
            _write(sup_out, i, sp, -1, True)
            if lsup[i] != -2:
                supp[i] = SUPP_NOT_VALID
            continue
        lo = mem[m, M_LO]
        hi = mem[m, M_HI]
        known = mem[m, M_KNOWN] == 1
        death = mem[m, M_DEATH]
        b = _best(sp, lo, hi, d, BASIC, lins[i])
        _write(cov_out, i, sp, b, False)
        any_basic = False
        any_active = False
        other_active = False
        for s in range(lo, hi):
            if sp[s, F_KIND] != BASIC:
                continue
            any_basic = True
            if sp[s, F_ACTIVE] == 0 or not _in_force(sp, s, d):
                continue
            if any_active and (other_active or sp[s, F_INS] == lins[i]):
                continue
            # s counts only when it is the effective span of its insurer that day
            eff = True
            for t in range(lo, hi):
                if (t != s and sp[t, F_KIND] == BASIC and sp[t, F_INS] == sp[s, F_INS] and _in_force(sp, t, d)
                        and better(sp, t, s)):
                    eff = False
                    break
            if eff:
                any_active = True
                if sp[s, F_INS] != lins[i]:
                    other_active = True
        alive = known and d <= death
        if known and d > death:
            elig[i] = DECEASED
        elif not known or not any_basic:
            elig[i] = NOT_ENROLLED
        elif b < 0:
            elig[i] = WRONG_INSURER if other_active else NOT_IN_FORCE
        elif sp[b, F_ACTIVE] == 0:
            elig[i] = SUSPENDED
        sb = -1
        if lsup[i] >= 0:
            sb = _best(sp, lo, hi, d, SUPPLEMENTARY, lsup[i])
        _write(sup_out, i, sp, sb, True)
        if lsup[i] != -2:
            has = sb >= 0
            supp[i] = supplementary_code(
                has, sp[sb, F_ACTIVE] == 1 if has else False, d,
                sp[sb, F_START] if has else 0, sp[sb, F_WAIT] if has else 0, alive and any_active,
            )
    return elig, supp, cov_out, sup_out


_evaluate_par = njit(cache=True, parallel=True)(_evaluate)
_evaluate_ser = njit(cache=True)(_evaluate)


def evaluate(mid, lins, lsup, ldate, mem, sp):
    """Per line: ELIG code, SUPP code, and the chosen basic / supplementary span fields (see O_*)."""
    return (_evaluate_par if mid.shape[0] >= PARALLEL_MIN else _evaluate_ser)(mid, lins, lsup, ldate, mem, sp)
