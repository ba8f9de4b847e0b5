"""Row chunks for the per-line passes of the batch stages (hashes, parses, codes of millions of claim lines).

A polars expression over 10M lines writes its result into fresh memory: 80 MB for a column of hashes, and the first
touch of every 4 KB page of it is a page fault. On this kind of machine those faults cost more than the hashing
(measured: hashing two string columns of 10M lines took 0.06 s of user time and 0.15–0.3 s of system time). A
quarter-million-row chunk's buffers are small enough for the allocator to hand the same memory back chunk after
chunk, so a pass that keeps only its small per-line result (codes in a numpy array, a few candidate rows) runs over
``chunks(n)`` instead of over the whole frame at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

__all__ = ["CHUNK", "chunks", "each_chunk"]

CHUNK = 1 << 18
THREADS = min(os.cpu_count() or 1, 4)


def chunks(n: int, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """(offset, length) of consecutive chunks covering rows 0..n."""
    for off in range(0, n, size):
        yield off, min(size, n - off)


def each_chunk(n: int, fn: Callable[[int, int], object], size: int = CHUNK, threads: int = THREADS) -> list:
    """``fn(offset, length)`` for every chunk of rows 0..n, on ``threads`` threads (polars and ``nogil`` numba
    kernels release the GIL, so chunks run side by side; each thread reuses its own chunk-sized buffers); the
    results in chunk order. Measured on this 2-core machine, eligibility's per-line codes of 10M lines: 1.21 s on
    one thread, 0.63 s on two."""
    spans = list(chunks(n, size))
    if threads <= 1 or len(spans) < 2:
        return [fn(off, k) for off, k in spans]
    with ThreadPoolExecutor(min(threads, len(spans))) as ex:
        return list(ex.map(lambda span: fn(*span), spans))
