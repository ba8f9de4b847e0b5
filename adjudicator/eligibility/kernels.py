"""numba kernels shared by the eligibility index and the batch stage.

An open-addressing hash table maps a member key (int64 >= 0) to a dense member id; the coverage spans are laid out
member by member (CSR, a counting sort) and best first within a member; one pass evaluates every claim line against
its member's spans. The selection order of spans ("better") and the reason priority are documented in ``batch.py``.

Layout (``index.CoverageIndex``): a member is one int64 (``meminfo``: first span, death day), a span is four int32
(start, end, waiting days, class) — a member's spans usually share one cache line — and a *class* is one of the few
distinct (kind, insurer, active, fund, plan, status) combinations, in a table small enough to stay in cache. The
batch stage reads lines in claim order, so every line costs a random access into the index: the smaller the index
rows, the fewer cache misses, and the kernel prefetches the rows of the lines ahead.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from adjudicator.dedup.supplementary import supplementary_code
from adjudicator.prefetch import prefetch

EMPTY = -1
I32_MAX = np.int32(2**31 - 1)
I32_MIN = np.int32(-(2**31))
BASIC = 0
SUPPLEMENTARY = 1
OTHER_KIND = 2

# how many lines ahead the batch kernels prefetch (a miss takes about as long as this many lines' work)
AHEAD = 32
# lines per parallel block of the batch kernel (a line may reuse the previous line's scan within a block)
BLOCK = 1 << 16
# small inputs run serially: a parallel region's thread start-up costs more than the work (and much more on a
# loaded machine)
PARALLEL_MIN = 200_000

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

# span fields (int32 [n_spans, NS]); end null = I32_MAX, start null = I32_MAX (never in force)
S_START, S_END, S_WAIT, S_CLASS = range(4)
NS = 4
WAIT_NULL = I32_MIN
# class fields (int32 [n_classes, NC]): kind BASIC / SUPPLEMENTARY / OTHER_KIND; codes into the index's
# vocabularies, -1 for null or unknown; a null plan is len(plans) (it sorts after every plan)
C_KIND, C_INS, C_ACTIVE, C_FUND, C_PLAN, C_STATUS = range(6)
NC = 6
# meminfo: (first span << 32) | death day as uint32; the day is NOT_A_MEMBER for a member id that only the
# coverage frame holds, I32_MAX when the member is alive; entry n_members closes the last member's spans
NOT_A_MEMBER = I32_MIN
# per-line output fields (int32 [NO, n_lines]): class (-1 none), start, end (I32_MAX null), waiting (WAIT_NULL)
O_CLASS, O_START, O_END, O_WAIT = range(4)
NO = 4


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
def assign_ids(keys, tkeys, tvals, next_id, ids):
    """Insert keys (skipping negatives) into the table, writing each key's id into ``ids``; returns next_id."""
    mask = np.uint64(tkeys.shape[0] - 1)
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
    return next_id


def _probe(keys, tkeys, tvals, out):
    """Dense id of each key, -1 when absent."""
    mask = np.uint64(tkeys.shape[0] - 1)
    n = keys.shape[0]
    for i in prange(n):
        if i + AHEAD < n and keys[i + AHEAD] >= 0:
            ahead = _mix(keys[i + AHEAD]) & mask
            prefetch(tkeys, ahead)
            prefetch(tvals, ahead)
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


_probe_par = njit(cache=True, parallel=True)(_probe)
_probe_ser = njit(cache=True)(_probe)


def probe(keys, tkeys, tvals):
    """Dense id of each key, -1 when absent."""
    # outputs are allocated by numpy, which backs large arrays with huge pages: first-touch page faults on
    # numba-allocated arrays of millions of rows cost more than the work that fills them
    out = np.empty(keys.shape[0], np.int64)
    return (_probe_par if keys.shape[0] >= PARALLEL_MIN else _probe_ser)(keys, tkeys, tvals, out)


@njit(cache=True, inline="always")
def _better(start, plan, active, end, a, b):
    """Row a wins over row b: later start, then lower plan, then active, then later end, then earlier row."""
    if start[a] != start[b]:
        return start[a] > start[b]
    if plan[a] != plan[b]:
        return plan[a] < plan[b]
    if active[a] != active[b]:
        return active[a] > active[b]
    if end[a] != end[b]:
        return end[a] > end[b]
    return a < b


@njit(cache=True)
def order_groups(perm, off, start, plan, active, end):
    """Sort each group ``perm[off[g]:off[g+1]]`` of coverage rows best first (``_better``), in place.

    The batch kernel then finds the winning span of an insurer as its first span in force, and each insurer's
    effective span as its first in-force one, in one pass over the member's rows. Groups are small: an insertion
    sort, and a merge sort for the rare member with many spans.
    """
    tmp = np.empty(0, np.int64)
    for g in range(off.shape[0] - 1):
        lo = off[g]
        hi = off[g + 1]
        k = hi - lo
        if k <= 16:
            for a in range(lo + 1, hi):
                x = perm[a]
                b = a - 1
                while b >= lo and _better(start, plan, active, end, x, perm[b]):
                    perm[b + 1] = perm[b]
                    b -= 1
                perm[b + 1] = x
            continue
        if tmp.shape[0] < k:
            tmp = np.empty(k, np.int64)
        src = perm[lo:hi]
        dst = tmp[:k]
        in_tmp = False
        width = 1
        while width < k:
            for a0 in range(0, k, 2 * width):
                mid = min(a0 + width, k)
                b1 = min(a0 + 2 * width, k)
                a, b, o = a0, mid, a0
                while a < mid and b < b1:
                    if _better(start, plan, active, end, src[b], src[a]):
                        dst[o] = src[b]
                        b += 1
                    else:
                        dst[o] = src[a]
                        a += 1
                    o += 1
                while a < mid:
                    dst[o] = src[a]
                    a += 1
                    o += 1
                while b < b1:
                    dst[o] = src[b]
                    b += 1
                    o += 1
            src, dst = dst, src
            in_tmp = not in_tmp
            width *= 2
        if in_tmp:
            perm[lo:hi] = tmp[:k]


@njit(cache=True)
def pack_spans(perm, start, end, wait, cls, spans):
    """spans[j] = (start, end, waiting, class) of coverage row perm[j]."""
    for j in range(perm.shape[0]):
        p = perm[j]
        spans[j, S_START] = start[p]
        spans[j, S_END] = end[p]
        spans[j, S_WAIT] = wait[p]
        spans[j, S_CLASS] = cls[p]
    return spans


@njit(cache=True, inline="always")
def _in_force(spans, s, d):
    return spans[s, S_START] <= d <= spans[s, S_END]


@njit(cache=True, inline="always")
def _prefetch_member(i, n, mid, meminfo, spans):
    """Prefetch the member of line i + 2·AHEAD and the first span rows of line i + AHEAD."""
    j = i + 2 * AHEAD
    if j < n and mid[j] >= 0:
        prefetch(meminfo, mid[j])
    j = i + AHEAD
    if j < n and mid[j] >= 0:
        lo = meminfo[mid[j]] >> 32
        prefetch(spans, lo)
        prefetch(spans, lo + 3)  # four spans are 64 bytes: at most two cache lines


@njit(cache=True, inline="always")
def _scan_basic(spans, classes, lo, hi, d, li):
    """(billed span, any basic span, any insurer's effective span active, another insurer's one active).

    Spans are best first, so an insurer's first in-force basic span is its effective one; insurer codes -1..62 are
    remembered in a bit mask, larger codes look back over the earlier spans.
    """
    b = -1
    any_basic = False
    any_active = False
    other_active = False
    seen = np.uint64(0)
    for s in range(lo, hi):
        c = spans[s, S_CLASS]
        if classes[c, C_KIND] != BASIC:
            continue
        any_basic = True
        if not _in_force(spans, s, d):
            continue
        ins = classes[c, C_INS]
        if b < 0 and ins == li:
            b = s
        first = True
        if ins < 63:
            bit = np.uint64(1) << np.uint64(ins + 1)
            first = (seen & bit) == 0
            seen |= bit
        else:
            for t in range(lo, s):
                ct = spans[t, S_CLASS]
                if classes[ct, C_KIND] == BASIC and classes[ct, C_INS] == ins and _in_force(spans, t, d):
                    first = False
                    break
        if first and classes[c, C_ACTIVE] != 0:
            any_active = True
            if ins != li:
                other_active = True
    return b, any_basic, any_active, other_active


@njit(cache=True, inline="always")
def _scan_supplementary(spans, classes, lo, hi, d, ls):
    """The named supplementary insurer's span in force on d (-1: none, or none named)."""
    if ls < 0:
        return -1
    for s in range(lo, hi):
        c = spans[s, S_CLASS]
        if classes[c, C_KIND] == SUPPLEMENTARY and classes[c, C_INS] == ls and _in_force(spans, s, d):
            return s
    return -1


@njit(cache=True, inline="always")
def _write(out, i, spans, s, supplementary):
    if s < 0:
        out[O_CLASS, i] = -1
        out[O_START, i] = I32_MAX
        out[O_END, i] = I32_MAX
        if supplementary:
            out[O_WAIT, i] = WAIT_NULL
    else:
        out[O_CLASS, i] = spans[s, S_CLASS]
        out[O_START, i] = spans[s, S_START]
        out[O_END, i] = spans[s, S_END]
        if supplementary:
            out[O_WAIT, i] = spans[s, S_WAIT]


def _evaluate(mid, lins, lsup, ldate, meminfo, spans, classes, elig, supp, cov_out, sup_out):
    """Fill per line: ELIG code, SUPP code, and the chosen basic / supplementary span (see O_*).

    The billed insurer's winning span is its first in-force basic span, the named supplementary span its first
    in-force supplementary span. A claim's lines usually share member and date: a line that repeats the previous
    line's (member, date, insurer) reuses its scan. Blocks of lines run in parallel; the reuse stays in a block.
    """
    n = mid.shape[0]
    for blk in prange((n + BLOCK - 1) // BLOCK):
        pm, pd, pli, pls = -2, 0, 0, 0
        b = sb = -1
        any_basic = any_active = other_active = False
        for i in range(blk * BLOCK, min(n, (blk + 1) * BLOCK)):
            _prefetch_member(i, n, mid, meminfo, spans)
            m = mid[i]
            d = ldate[i]
            li = lins[i]
            ls = lsup[i]
            elig[i] = OK
            supp[i] = SUPP_NONE
            if m < 0:
                pm = -2
                elig[i] = NOT_ENROLLED
                _write(cov_out, i, spans, -1, False)
                _write(sup_out, i, spans, -1, True)
                if ls != -2:
                    supp[i] = SUPP_NOT_VALID
                continue
            info = meminfo[m]
            lo = info >> 32
            hi = meminfo[m + 1] >> 32
            if m != pm or d != pd or li != pli:
                b, any_basic, any_active, other_active = _scan_basic(spans, classes, lo, hi, d, li)
                sb = _scan_supplementary(spans, classes, lo, hi, d, ls)
            elif ls != pls:
                sb = _scan_supplementary(spans, classes, lo, hi, d, ls)
            pm, pd, pli, pls = m, d, li, ls
            death = np.int32(info & 0xFFFFFFFF)
            known = death != NOT_A_MEMBER
            _write(cov_out, i, spans, b, False)
            _write(sup_out, i, spans, sb, True)
            if known and d > death:
                elig[i] = DECEASED
            elif not known or not any_basic:
                elig[i] = NOT_ENROLLED
            elif b < 0:
                elig[i] = WRONG_INSURER if other_active else NOT_IN_FORCE
            elif classes[spans[b, S_CLASS], C_ACTIVE] == 0:
                elig[i] = SUSPENDED
            if ls != -2:
                has = sb >= 0
                supp[i] = supplementary_code(
                    has, classes[spans[sb, S_CLASS], C_ACTIVE] == 1 if has else False, d,
                    spans[sb, S_START] if has else 0, spans[sb, S_WAIT] if has else 0,
                    known and d <= death and any_active,
                )


_evaluate_par = njit(cache=True, parallel=True)(_evaluate)
_evaluate_ser = njit(cache=True)(_evaluate)


def evaluate(mid, lins, lsup, ldate, meminfo, spans, classes):
    """Per line: ELIG code, SUPP code, and the chosen basic / supplementary span (int32 [NO, n] each, see O_*)."""
    n = mid.shape[0]
    out = (np.empty(n, np.int8), np.empty(n, np.int8), np.empty((NO, n), np.int32), np.empty((NO, n), np.int32))
    (_evaluate_par if n >= PARALLEL_MIN else _evaluate_ser)(mid, lins, lsup, ldate, meminfo, spans, classes, *out)
    return out
