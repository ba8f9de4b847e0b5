"""Money arithmetic: integer Rials and rates in basis points, rounded half up once, here.

10_000 basis points = 100 %. ``share(amount, bp)`` is the one place a rate meets money; both backends and the
numba kernels use the same formula, so a boundary comparison can never differ between them.
"""

from __future__ import annotations

BP = 10_000


def share(amount: int, bp: int) -> int:
    """round_half_up(amount × bp / 10 000) for non-negative amounts, in integers."""
    return (amount * bp + BP // 2) // BP


def scale(amount: int, new_qty: int, old_qty: int) -> int:
    """round_half_up(amount × new / old): the allowed amount after a quantity limit."""
    return (2 * amount * new_qty + old_qty) // (2 * old_qty)
