"""The rules' effect on the running state of each line, and the rules that fired.

Rules apply in order and a later rule sees what an earlier one did, but on one line only: so the conditions and
values of a run of rules are computed by polars side by side (one ``select``), and one compiled pass per run walks
each line through the run's rules, updating the line's state (allowed quantity and amount, the flags, the member's
reduction) and noting each reported rule that fired with its amount and severity. A rule that reads a value an
earlier rule of the run writes starts a new run.

From the noted (line, rule) pairs come the two outputs that list them: the long findings frame (one row per line
and fired rule, in line then rule order) and each line's ``rules`` list. Neither sorts or joins on strings: the
findings' constant columns are gathered from a small table by rule number, and each line's list is gathered from
the distinct sets of fired rules, decoded once each.
"""

from __future__ import annotations

import numba
import numpy as np

from adjudicator.rules.encode import bucket

WORD = 63  # rules per mask word
DENY, PEND, FLAG, LIMIT, CAP = 0, 1, 2, 3, 4  # the reported actions, as the state pass knows them


@numba.njit(cache=True, nogil=True)
def apply_run(lo, hi, kind, member, number, sev0, deny_sev, start, pos, val,
              aq, aq_ok, aa, aa_ok, denied, pended, adjusted, red, red_ok):  # pragma: no cover - compiled
    """Apply one run of reported rules to the lines ``lo:hi``, in place on the state arrays (``*_ok``: not null);
    disjoint ranges may run on threads side by side.

    Rule ``j`` of the run has action ``kind[j]``, is member liability if ``member[j]``, is reported as rule
    ``number[j]`` with severity ``sev0[j]``; its condition holds on the lines ``pos[start[j]:start[j+1]]``
    (ascending), where a limit or cap has the values ``val[start[j]:start[j+1]]`` (-1: null; they are never
    negative). A line's rules apply in order and lines are independent, so each rule goes over its lines in turn.
    Returns the rules that fired as (line, rule number, amount effect, amount not null, severity) in rule then
    line order."""
    size = pos.shape[0]  # at most one pair per line whose condition holds
    at = np.empty(size, np.int64)
    rule = np.empty(size, np.int64)
    amt = np.empty(size, np.int64)
    amt_ok = np.empty(size, np.bool_)
    sev = np.empty(size, np.int64)
    p = 0
    for j in range(kind.shape[0]):
        k, red_too = kind[j], member[j] and kind[j] != PEND and kind[j] != FLAG
        a, b = start[j], start[j + 1]
        for q in range(a + np.searchsorted(pos[a:b], lo), a + np.searchsorted(pos[a:b], hi)):
            i = pos[q]
            e, e_ok, s = np.int64(0), True, sev0[j]
            if k == DENY:
                e, e_ok = aa[i], aa_ok[i]
                aq[i], aq_ok[i], aa[i], aa_ok[i] = 0, True, 0, True
                denied[i] = True
            elif k == PEND:
                pended[i] = True
            elif k == LIMIT or k == CAP:
                v = val[q]
                if v < 0:
                    continue
                if k == LIMIT:
                    if not aq_ok[i] or v >= aq[i]:
                        continue
                    n = aq[i]
                    if aa_ok[i]:  # a null amount stays null, and so is the effect
                        new = (2 * aa[i] * v + n) // (2 * n)
                        e = aa[i] - new
                        aa[i] = new
                    else:
                        e_ok = False
                    aq[i] = v
                    if v == 0:
                        denied[i] = True
                        s = deny_sev
                else:
                    if not aa_ok[i] or v >= aa[i]:
                        continue
                    e = aa[i] - v
                    aa[i] = v
                adjusted[i] = True
            if red_too:
                if e_ok:
                    red[i] += e
                else:
                    red_ok[i] = False
            at[p], rule[p], amt[p], amt_ok[p], sev[p] = i, number[j], e, e_ok, s
            p += 1
    return at[:p], rule[:p], amt[:p], amt_ok[:p], sev[:p]


@numba.njit(cache=True, nogil=True)
def by_line(at, rule, amt, amt_ok, sev, lo, n, n_rules):  # pragma: no cover - compiled
    """The (line, rule, amount, amount not null, severity) rows of the runs of the lines ``lo:lo+n`` (each run in
    rule then line order) put in line then rule order (``encode.bucket``, a stable counting sort), and each line's
    fired set as bit words (``masks[i - lo, k // WORD]`` has bit ``k % WORD``)."""
    order, _ = bucket(at - lo, n)
    masks = np.zeros((n, (n_rules + WORD - 1) // WORD), np.int64)
    for j in range(at.shape[0]):
        k = rule[j]
        masks[at[j] - lo, k // WORD] |= np.int64(1) << (k % WORD)
    # one column at a time: a gather of five at once reads from too many places for the prefetcher
    return _gather(at, order), _gather(rule, order), _gather(amt, order), _gather(amt_ok, order), \
        _gather(sev, order), masks


@numba.njit(cache=True, nogil=True)
def _gather(a, order):  # pragma: no cover - compiled
    out = np.empty(order.shape[0], a.dtype)
    for p in range(order.shape[0]):
        out[p] = a[order[p]]
    return out
