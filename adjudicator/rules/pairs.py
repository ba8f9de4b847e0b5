"""``pair(T)`` in batch: one compiled pass over lines grouped by (member, provider, day) or by claim.

Lines are sorted by a hash of their group and then by the group's real columns, so a group is one contiguous run
(exact: adjacent rows are compared on the real columns). Within a run every (other line, this line) code pair is
looked up in the pair table, held as a sorted array of 64-bit keys ``code_1 << 32 | code_2`` — a binary search,
no join that multiplies rows. Groups are small (a day's lines at one provider, or one admission).
"""

from __future__ import annotations

import numba
import numpy as np


def first_code_offsets(keys: np.ndarray, n_codes: int) -> np.ndarray:
    """``off[c]:off[c+1]`` is the run of sorted keys whose code_1 is ``c`` (so a lookup searches only that run)."""
    return np.ascontiguousarray(np.searchsorted(keys >> np.uint64(32), np.arange(n_codes + 1, dtype=np.uint64)))


@numba.njit(cache=True)
def pair_sweep(starts, code, counts, bypass, keys, mok, off):  # pragma: no cover - compiled
    """For each line: does another counted line of its group hold a code_1 paired with this line's code_2,
    not bypassed (modifier_ok = 1 and the line's modifier in the bypass list)?"""
    n = code.shape[0]
    out = np.zeros(n, np.bool_)
    ng = starts.shape[0]
    for g in range(ng):
        s = starts[g]
        e = starts[g + 1] if g + 1 < ng else n
        if e - s < 2:
            continue
        for i in range(s, e):
            if code[i] < 0:
                continue
            for j in range(s, e):
                if j == i or not counts[j] or code[j] < 0:
                    continue
                key = (np.uint64(code[j]) << np.uint64(32)) | np.uint64(code[i])
                lo, hi = off[code[j]], off[code[j] + 1]
                if lo == hi:
                    continue
                k = lo + np.searchsorted(keys[lo:hi], key)
                if k < hi and keys[k] == key and not (mok[k] == 1 and bypass[i]):
                    out[i] = True
                    break
    return out
