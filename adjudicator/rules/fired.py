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
def explode(fired):  # pragma: no cover - compiled
    """``fired[k, i]``: rule k fired on line i. Returns the (line, rule) pairs in line then rule order and each
    line's fired set as bit words (``masks[i, k // WORD]`` has bit ``k % WORD``)."""
    n_rules, n = fired.shape
    m = 0
    for k in range(n_rules):
        for i in range(n):
            if fired[k, i]:
                m += 1
    rows = np.empty(m, np.int64)
    rule = np.empty(m, np.int64)
    masks = np.zeros((n, (n_rules + WORD - 1) // WORD), np.int64)
    m = 0
    for i in range(n):
        for k in range(n_rules):
            if fired[k, i]:
                rows[m] = i
                rule[m] = k
                m += 1
                masks[i, k // WORD] |= np.int64(1) << (k % WORD)
    return rows, rule, masks
