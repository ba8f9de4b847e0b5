"""Money arithmetic: integer Rials and rates in basis points, rounded half up, defined once here.

10_000 basis points = 100 %. The numba kernels call these compiled; the Python backend calls their pure-Python
``py_func``; the polars backend writes the same integer formulas as expressions (``to_polars``), and the
differential tests hold the three to one answer.
"""

from __future__ import annotations

import numba

BP = 10_000


@numba.njit(cache=True)
def share(amount, bp):
    """round_half_up(amount × bp / 10 000) for non-negative amounts, in integers."""
    return (amount * bp + BP // 2) // BP


@numba.njit(cache=True)
def scale(amount, new_qty, old_qty):
    """round_half_up(amount × new / old): the allowed amount after a quantity limit."""
    return (2 * amount * new_qty + old_qty) // (2 * old_qty)
