"""Where the polars backend spends its time on the 30-rule benchmark: one pass through the stages of
``PolarsRuleset.evaluate``, each timed.

    .venv/bin/python benchmarks/profile_rules.py [N_LINES]      # default ADJ_BENCH_LINES or 1_000_000
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent.parent), str(Path(__file__).parent),
                str(Path(__file__).parent / "fixtures")]  # this checkout's adjudicator, not an installed one
import adjudicator  # noqa: E402, F401 - before polars: the engine's allocator setting (adjudicator/allocator.py)
import polars as pl  # noqa: E402
import conftest  # noqa: E402
import make_tables  # noqa: E402
from adjudicator.rules.compiled import load_ruleset  # noqa: E402
from adjudicator.rules.to_polars import Batch  # noqa: E402


def timed(label, fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    dt = time.perf_counter() - t
    print(f"  {label:<56} {dt:8.3f} s")
    return out, dt


def main(n: int) -> None:
    d = Path(tempfile.mkdtemp(prefix="adj-prof-"))
    rs = load_ruleset(make_tables.write_tables(d))
    P = rs.polars
    frame = conftest.make_frame(n)
    P.evaluate(frame.head(2000))
    print(f"{n:,} lines, load avg {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus")
    _, total = timed("evaluate (whole)", P.evaluate, frame)
    print(f"  -> {n / total:,.0f} lines/s")
    b = Batch(frame.with_columns(pl.lit(False).alias("__hist")), P)
    timed("  encode claim_id, member_id, provider_id", lambda: [b.ids((c,)) for c in
                                                                ("claim_id", "member_id", "provider_id")])
    timed("  encode service_code (table code ids)", b.codes, "service_code")
    u, _ = timed("prepare (age, claim.*, 2 table lookups + gathers)", P._prepare, b)
    b.frame = u = u.with_columns(pl.lit(True).alias("__counts"))
    timed("  sweep order (by member, then date/claim/line)", b.sweep, ("member_id",))
    timed("  _aggregate (prior_count sweep)", P._aggregate, b, P.aggregates[0])
    timed("  _pair (1M-pair table)", P._pair, b, "ptp")
    u2, _ = timed("universe_columns (aggregate + pair, shared encodings)", P.universe_columns, u, b)
    g = u2.filter(~pl.col("__hist"))
    (g, hits), _ = timed("apply_rules (30 rules: per run a select, then the state pass)", P.apply_rules, g)
    fi, _ = timed("findings", P.findings, g, hits)
    timed("rules list (gathered per distinct set)", lambda: g.with_columns(P.rules_list(g, hits)))
    print(f"  frame width after apply_rules: {g.width} columns")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("ADJ_BENCH_LINES", "1000000")))
