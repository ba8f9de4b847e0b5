"""``pair(T)`` in batch: one compiled pass over lines grouped by (member, provider, day) or by claim.

Groups come from the batch's dense integer ids (see ``encode``): the aggregates' sweep order (lines by member,
then date) cut into days, or claims bucketed by a counting sort — no string is compared or sorted. Within a group every (other line, this line) code pair is looked up in the pair table — as a
2-bit matrix over the code ids when it is small enough (a lookup is one memory read), else as a sorted array of
64-bit keys ``code_1 << 32 | code_2`` searched by bisection; lookups are buffered so that their cache misses
overlap instead of each waiting for the last. Nothing is joined, so no row is multiplied. Groups
are small (a day's lines at one provider, or one admission).
"""

from __future__ import annotations

import numba
import numpy as np

from adjudicator.prefetch import prefetch

NONE, ALWAYS, BYPASSABLE = 0, 1, 2
MATRIX_MAX_CODES = 16_384  # a 2-bit matrix of at most 64 MiB
AHEAD = 64  # how many buffered lookups ahead ``_resolve`` prefetches the matrix byte


class PairIndex:
    """A pair table over code ids: ``codes_1``, ``codes_2`` (int64 ids < ``n_codes``) and each pair's
    ``modifier_ok`` (already the strictest of duplicate rows)."""

    def __init__(self, codes_1: np.ndarray, codes_2: np.ndarray, mok: np.ndarray, n_codes: int):
        self.n_codes = n_codes
        state = np.where(mok == 1, BYPASSABLE, ALWAYS).astype(np.uint8)
        if n_codes <= MATRIX_MAX_CODES:
            cell = codes_1.astype(np.int64) * n_codes + codes_2
            self.matrix = np.zeros((n_codes * n_codes + 3) // 4, np.uint8)
            np.bitwise_or.at(self.matrix, cell >> 2, (state << ((cell & 3) * 2)).astype(np.uint8))
            self.keys = np.zeros(0, np.uint64)
            self.state = np.zeros(0, np.uint8)
        else:
            self.matrix = np.zeros(0, np.uint8)
            keys = (codes_1.astype(np.uint64) << np.uint64(32)) | codes_2.astype(np.uint64)
            order = np.argsort(keys)
            self.keys, self.state = np.ascontiguousarray(keys[order]), np.ascontiguousarray(state[order])


@numba.njit(cache=True, nogil=True)
def _resolve(m, cells, owner, order, bypass, n_codes, matrix, keys, state, out):  # pragma: no cover - compiled
    """Look up a buffer of candidate cells (``code_1 * n_codes + code_2``) at once — independent reads, so the
    cache misses overlap — and mark the lines (sorted positions in ``owner``) they hit."""
    for k in range(m):
        cell = cells[k]
        if matrix.shape[0]:
            if k + AHEAD < m:  # the byte of the lookup AHEAD on (the loop alone overlaps too few misses)
                prefetch(matrix, cells[k + AHEAD] >> 2)
            st = (matrix[cell >> 2] >> ((cell & 3) * 2)) & 3
        else:
            key = (np.uint64(cell // n_codes) << np.uint64(32)) | np.uint64(cell % n_codes)
            a = np.searchsorted(keys, key)
            st = state[a] if a < keys.shape[0] and keys[a] == key else 0
        i = order[owner[k]]
        if st == ALWAYS or (st == BYPASSABLE and not bypass[i]):
            out[i] = True


@numba.njit(cache=True, nogil=True)
def pair_sweep(order, bounds, days, sub, code, counts, bypass, n_codes, matrix, keys, state):  # pragma: no cover
    """For each line (row order): does another counted line of its group hold a code_1 paired with this line's
    code_2, not bypassed (modifier_ok = 1 and the line's modifier in the bypass list)? Codes < 0 never pair.

    A group is a run of equal ``days`` (in sorted order) inside a bucket ``order[bounds[g]:bounds[g+1]]``, among
    the lines of equal ``sub`` (row order): the (member, day) runs of the aggregates' sweep with the provider
    checked here, or a claim's bucket with one run."""
    n = order.shape[0]
    out = np.zeros(n, np.bool_)
    cs = np.empty(n, np.int64)
    ss = np.empty(n, np.int64)
    ok = np.empty(n, np.bool_)
    for p in range(n):  # the group's columns in sorted order, read once
        i = order[p]
        cs[p], ss[p] = code[i], sub[i]
        ok[p] = counts[i] and code[i] >= 0
    size = 4096
    cells = np.empty(size, np.int64)
    owner = np.empty(size, np.int64)
    m = 0
    for g in range(bounds.shape[0] - 1):
        s0, end = bounds[g], bounds[g + 1]
        while s0 < end:
            s, e = s0, s0 + 1
            while e < end and days[e] == days[s]:
                e += 1
            s0 = e
            if e - s < 2:
                continue
            for p in range(s, e):
                if cs[p] < 0:
                    continue
                for q in range(s, e):
                    if q == p or not ok[q] or ss[q] != ss[p]:
                        continue
                    if m == size:
                        _resolve(m, cells, owner, order, bypass, n_codes, matrix, keys, state, out)
                        m = 0
                    cells[m] = cs[q] * n_codes + cs[p]
                    owner[m] = p
                    m += 1
    _resolve(m, cells, owner, order, bypass, n_codes, matrix, keys, state, out)
    return out
