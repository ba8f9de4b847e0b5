"""Row chunks for the per-line passes of the batch stages (hashes, parses, codes of millions of claim lines).

A polars expression over 10M lines writes its result into fresh memory: 80 MB for a column of hashes, and the first
touch of every 4 KB page of it is a page fault. On this kind of machine those faults cost more than the hashing
(measured: hashing two string columns of 10M lines took 0.06 s of user time and 0.15–0.3 s of system time). A
quarter-million-row chunk's buffers are small enough for the allocator to hand the same memory back chunk after
chunk, so a pass that keeps only its small per-line result (codes in a numpy array, a few candidate rows) runs over
``chunks(n)`` instead of over the whole frame at once.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["CHUNK", "chunks"]

CHUNK = 1 << 18


def chunks(n: int, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """(offset, length) of consecutive chunks covering rows 0..n."""
    for off in range(0, n, size):
        yield off, min(size, n - off)
