"""Eligibility + overlap + duplicate stages at scale (pytest-benchmark).

    BENCH_LINES=1000000 pytest benchmarks/bench_eligibility.py --benchmark-only -s      # quick: 1M lines, 2M spans
    BENCH_LINES=10000000 pytest benchmarks/bench_eligibility.py --benchmark-only -s     # the issue's size

Coverage spans = 2 x lines (members = lines / 2, four spans each). Two figures:
* ``per_batch``: the stages against a coverage index and overlap report built once per coverage snapshot (the way
  a claims exchange runs: the registry changes daily, batches arrive all day);
* ``from_frames``: the same including building the index and the overlap report from the coverage frame.
"""

from __future__ import annotations

import os
import time

import pytest

from _gen_coverage import claim_lines, members_and_coverage
from adjudicator.dedup.duplicates import apply_submissions, duplicate_findings
from adjudicator.dedup.overlap import find_overlaps, load_policy, overlap_findings
from adjudicator.eligibility import build_index, eligibility

N_LINES = int(os.environ.get("BENCH_LINES", 1_000_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


@pytest.fixture(scope="module")
def data():
    t = time.perf_counter()
    members, coverage = members_and_coverage(max(1, N_LINES // 2))
    lines = claim_lines(N_LINES, members, coverage)
    policy = load_policy()
    print(f"\ngenerated {lines.height:,} lines, {coverage.height:,} spans, {members.height:,} members "
          f"in {time.perf_counter() - t:.1f}s")
    # warm the numba kernels (cache=True: compiled once per machine)
    small = build_index(coverage.head(1000), members.head(1000))
    eligibility(lines.head(1000), small)
    duplicate_findings(lines.head(1000))
    find_overlaps(coverage.head(1000), policy)
    return members, coverage, lines, policy


def stages(lines, index, report):
    out, elig = eligibility(lines, index)
    ovl = overlap_findings(lines, report)
    sub_lines, superseded, sub = apply_submissions(lines, None)
    dup = duplicate_findings(sub_lines, None, superseded)
    return out, elig, ovl, sub, dup


def _report(benchmark, name):
    best = benchmark.stats.stats.min
    benchmark.extra_info["lines"] = N_LINES
    benchmark.extra_info["lines_per_s"] = round(N_LINES / best)
    print(f"\n{name}: {N_LINES:,} lines in {best:.2f}s = {N_LINES / best / 1e6:.2f}M lines/s")


def test_per_batch(benchmark, data):
    members, coverage, lines, policy = data
    index = build_index(coverage, members)
    report = find_overlaps(coverage, policy)
    result = benchmark.pedantic(stages, args=(lines, index, report), rounds=ROUNDS, iterations=1)
    assert result[0].height == lines.height
    _report(benchmark, "per_batch (index + overlap report prebuilt)")


def test_from_frames(benchmark, data):
    members, coverage, lines, policy = data

    def run():
        return stages(lines, build_index(coverage, members), find_overlaps(coverage, policy))

    benchmark.pedantic(run, rounds=max(1, ROUNDS - 1), iterations=1)
    _report(benchmark, "from_frames (index + overlap report built inside)")


def test_build_index(benchmark, data):
    members, coverage, _, _ = data
    benchmark.pedantic(build_index, args=(coverage, members), rounds=max(1, ROUNDS - 1), iterations=1)
    benchmark.extra_info["spans"] = coverage.height
    print(f"\nbuild_index: {coverage.height:,} spans in {benchmark.stats.stats.min:.2f}s")
