"""From the rules that fired on each line to the two outputs that list them: the long findings frame (one row per
line and fired rule, in line then rule order) and each line's ``rules`` list.

Both read the same compiled pass over the fired flags, so neither sorts or joins on strings: the findings' constant
columns are gathered from a small table by rule number, a rule's amounts are its fired lines' values put in place
(rules that never change an amount are skipped), and each line's list is gathered from the distinct sets of fired
rules, decoded once each.
"""

from __future__ import annotations

import numba
import numpy as np

WORD = 63  # rules per mask word


@numba.njit(cache=True)
def explode(flat, start, n):  # pragma: no cover - compiled
    """``flat[start[k]:start[k+1]]``: the lines (ascending) on which rule k fired, for ``n`` lines. Returns the
    (line, rule) pairs in line then rule order and each line's fired set as bit words (``masks[i, k // WORD]``
    has bit ``k % WORD``)."""
    n_rules = start.shape[0] - 1
    at = np.zeros(n + 1, np.int64)
    for j in range(flat.shape[0]):
        at[flat[j] + 1] += 1
    for i in range(n):
        at[i + 1] += at[i]
    m = flat.shape[0]
    rows = np.empty(m, np.int64)
    rule = np.empty(m, np.int64)
    masks = np.zeros((n, (n_rules + WORD - 1) // WORD), np.int64)
    for k in range(n_rules):  # rules in order, so each line's pairs come out in rule order
        w, bit = k // WORD, np.int64(1) << (k % WORD)
        for j in range(start[k], start[k + 1]):
            i = flat[j]
            p = at[i]
            rows[p] = i
            rule[p] = k
            at[i] = p + 1
            masks[i, w] |= bit
    return rows, rule, masks
