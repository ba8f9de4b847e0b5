"""``overlap`` over a coverage registry on disk, with time and peak memory (pytest-benchmark).

    BENCH_OVERLAP_SPANS=4000000 pytest benchmarks/bench_overlap.py --benchmark-only -s     # quick
    BENCH_OVERLAP_SPANS=80000000 pytest benchmarks/bench_overlap.py --benchmark-only -s    # the issue's size

The registry is written as Parquet in parts (so generating it does not dominate memory); ``overlap_report`` runs
in a child process whose own peak RSS (``ru_maxrss``) is the figure reported. Goal: <= 8 GB at 80M spans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from _gen_coverage import members_and_coverage

N_SPANS = int(os.environ.get("BENCH_OVERLAP_SPANS", 4_000_000))
PART_MEMBERS = 2_500_000  # 10M spans per Parquet part

CHILD = """
import json, resource, sys, time
from adjudicator.dedup.overlap import find_overlaps, load_policy, overlap_report
policy = load_policy()
t = time.perf_counter()
summary = overlap_report(sys.argv[1], None, policy, sys.argv[2])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "overlaps": summary["overlaps"], "covers_to_end": summary["covers_to_end"]}))
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coverage")
    n_members = max(1, N_SPANS // 4)
    t = time.perf_counter()
    for part, first in enumerate(range(0, n_members, PART_MEMBERS)):
        _, cov = members_and_coverage(min(PART_MEMBERS, n_members - first), first=first)
        cov.write_parquet(folder / f"part-{part:04d}.parquet")
        del cov
    print(f"\nwrote {N_SPANS:,} spans in {time.perf_counter() - t:.1f}s")
    # warm the sweep kernel's cache in a small run
    subprocess.run([sys.executable, "-c", CHILD, str(folder / "part-0000.parquet"), str(folder / "warm")],
                   check=True, capture_output=True)
    return folder


def test_overlap_report(benchmark, registry, tmp_path):
    figures = {}

    def run():
        proc = subprocess.run([sys.executable, "-c", CHILD, str(registry), str(tmp_path / "out")], check=True,
                              capture_output=True, text=True)
        figures.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(figures, spans=N_SPANS)
    print(f"\noverlap: {N_SPANS:,} spans in {figures['seconds']:.1f}s, peak RSS {figures['peak_rss_gb']:.2f} GB, "
          f"{figures['overlaps']:,} overlaps, {figures['covers_to_end']:,} covers to end")
    assert figures["overlaps"] > 0
