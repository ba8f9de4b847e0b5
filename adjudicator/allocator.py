"""The memory-allocator setting the engine runs with: polars' jemalloc keeps freed pages for 30 s before giving them
back to the operating system (``dirty_decay_ms`` and ``muzzy_decay_ms``), instead of returning them within a few
seconds and page-faulting fresh ones on the next batch.

Measured on the 30-rule benchmark (1M lines, 2 cores): a third of the CPU time was the kernel handling page faults
and freed memory; with this setting page faults per evaluation fell from ~100k to 30-65k and the median evaluation
from 0.76 s to 0.61-0.71 s. The cost: up to 30 s of freed memory held by the process (docs/DECISIONS.md).

jemalloc reads ``_RJEM_MALLOC_CONF`` when polars' library first allocates, so this only takes effect when
``adjudicator`` is imported before polars (its ``__init__`` imports this module first). A process that sets
``_RJEM_MALLOC_CONF`` itself keeps its own value; one that imported polars first keeps polars' defaults.
"""

from __future__ import annotations

import os
import sys

CONF = "dirty_decay_ms:30000,muzzy_decay_ms:30000"

if "polars" not in sys.modules:  # too late otherwise: the allocator is already set up
    os.environ.setdefault("_RJEM_MALLOC_CONF", CONF)
