"""Original vs. suggested polars backend (patched_polars.py) on the 30-rule benchmark: same answer, time of each.

    .venv/bin/python benchmarks/compare_patched.py [N_LINES]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent / "fixtures")]
import conftest  # noqa: E402
import make_tables  # noqa: E402
from adjudicator.rules.compiled import load_ruleset  # noqa: E402
from patched_polars import PatchedPolarsRuleset  # noqa: E402


def main(n: int) -> None:
    rs = load_ruleset(make_tables.write_tables(Path(tempfile.mkdtemp(prefix="adj-cmp-"))))
    orig, new = rs.polars, PatchedPolarsRuleset(rs.loaded)
    frame = conftest.make_frame(n)
    keep = ["claim_id", "line_no", *rs.output_columns()]
    orig.evaluate(frame.head(2000))
    new.evaluate(frame.head(2000))
    res = {}
    for rep in range(2):
        for name, p in (("original", orig), ("patched", new)):
            t = time.perf_counter()
            lines, findings = p.evaluate(frame)
            dt = time.perf_counter() - t
            res.setdefault(name, []).append(dt)
            res[name + "_out"] = (lines.select(keep), findings)
            print(f"{name:<9} {n:,} lines: {dt:7.2f} s  {n / dt:12,.0f} lines/s  (load avg {os.getloadavg()[0]:.1f})")
    assert_frame_equal(res["original_out"][0], res["patched_out"][0])
    assert_frame_equal(res["original_out"][1], res["patched_out"][1])
    print("same lines and findings; best-of-2 speed-up "
          f"{min(res['original']) / min(res['patched']):.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
