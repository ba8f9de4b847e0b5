"""Issue 2, performance: the 30-rule ruleset on the polars backend, against a plain Python loop and durable-rules;
one line on the Python backend; compiling a 200-rule ruleset.

Run (the figure issue 2 asks about is at the default 1M lines):
    .venv/bin/python -m pytest benchmarks/bench_rules.py --benchmark-only -s
Sizes: ADJ_BENCH_LINES (polars frame, default 1_000_000), ADJ_BENCH_LOOP_LINES (Python-loop subset, default
100_000), ADJ_BENCH_DURABLE_LINES (durable subset, default 10_000), ADJ_BENCH_POLARS_ROUNDS (timed polars rounds,
default 7, after one warm-up round). Figures go to ``benchmark.extra_info``
(lines/s, ratios) and are printed. No timing asserts here: the targets (≥ 1.5M lines/s, ≤ 20 µs a line, ≤ 1 s
to compile 200 rules) are printed next to the figures. The baselines are checked against the polars answer on
their subset (outside the timed part), so the ratios compare engines that agree.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest

import baselines as B
import make_tables
from adjudicator.rules.parse import load_file
from adjudicator.rules.to_polars import PolarsRuleset
from adjudicator.rules.to_python import PythonRuleset, claim_facts

LOOP_LINES = int(os.environ.get("ADJ_BENCH_LOOP_LINES", "100000"))
DURABLE_LINES = int(os.environ.get("ADJ_BENCH_DURABLE_LINES", "10000"))
POLARS_ROUNDS = int(os.environ.get("ADJ_BENCH_POLARS_ROUNDS", "7"))  # timed 1M-line evaluations (one warm-up first)
TARGET_LINES_PER_S = 1_500_000
RESULTS: dict[str, float] = {}


def _load() -> str:
    try:
        return os.getloadavg()[0].__format__(".2f")
    except OSError:
        return "?"


def _report(benchmark, name: str, n: int) -> float:
    median = benchmark.stats.stats.median
    rate = n / median
    RESULTS[name] = rate
    benchmark.extra_info.update({"lines": n, "lines_per_s": round(rate), "median_s": median,
                                 "loadavg_1min": _load(), "cpus": os.cpu_count()})
    print(f"\n[{name}] {n:,} lines: median {median:.3f} s -> {rate:,.0f} lines/s (load avg {_load()}, "
          f"{os.cpu_count()} cpus)")
    return rate


@pytest.fixture(scope="module")
def tables(rs30) -> B.Tables:
    return B.Tables(rs30.loaded.tables)


# --- (a) polars backend over the whole frame ----------------------------------------------------------------------

def test_polars_30_rules(benchmark, rs30, frame):
    prs = rs30.polars
    prs.evaluate(frame.head(2000))  # warm-up: numba sweep compiled/loaded from cache, outside the timing
    lines, findings = benchmark.pedantic(prs.evaluate, args=(frame,), rounds=POLARS_ROUNDS, iterations=1,
                                         warmup_rounds=1)
    rate = _report(benchmark, "polars", frame.height)
    benchmark.extra_info.update({"findings": findings.height, "target_lines_per_s": TARGET_LINES_PER_S})
    print(f"[polars] findings {findings.height:,}; target {TARGET_LINES_PER_S:,} lines/s: "
          f"{'met' if rate >= TARGET_LINES_PER_S else 'NOT met'}")
    assert lines.height == frame.height


# --- (b) plain Python loop over a subset ------------------------------------------------------------------------

def test_python_loop_30_rules(benchmark, rs30, frame, tables):
    sub = frame.head(LOOP_LINES)
    lines, findings = benchmark.pedantic(B.run_loop, args=(sub, tables), rounds=1, iterations=1)
    rate = _report(benchmark, "python_loop", sub.height)
    p_lines, p_findings = rs30.polars.evaluate(sub)
    problems = B.check_same(p_lines, p_findings, lines, findings, "loop")
    _ratio(benchmark, "polars/python_loop", "python_loop")
    assert not problems, "\n".join(problems)
    assert rate > 0


# --- (c) durable-rules over a smaller subset ----------------------------------------------------------------------

def test_durable_30_rules(benchmark, rs30, frame, tables):
    pytest.importorskip("durable.lang", reason="durable_rules is not installed (pip install '.[durable]')")
    sub = frame.head(DURABLE_LINES)
    name, matches = B.durable_ruleset()
    B.run_durable(frame.head(50), tables, name, matches)  # registers the ruleset (outside the timing)
    lines, findings = benchmark.pedantic(B.run_durable, args=(sub, tables, name, matches), rounds=1, iterations=1)
    _report(benchmark, "durable", sub.height)
    p_lines, p_findings = rs30.polars.evaluate(sub)
    problems = B.check_same(p_lines, p_findings, lines, findings, "durable")
    _ratio(benchmark, "polars/durable", "durable")
    if "python_loop" in RESULTS:
        _ratio(benchmark, "python_loop/durable", "durable", top="python_loop")
    assert not problems, "\n".join(problems)


def _ratio(benchmark, label: str, below: str, top: str = "polars") -> None:
    if top not in RESULTS:
        print(f"[{label}] not computed: run the {top} benchmark in the same session")
        return
    r = RESULTS[top] / RESULTS[below]
    benchmark.extra_info[label] = round(r, 1)
    print(f"[{label}] {r:,.1f}x  ({RESULTS[top]:,.0f} vs {RESULTS[below]:,.0f} lines/s)")


# --- (d) Python backend: one line -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def point(rs30, frame):
    """The Python ruleset, an index holding 20k earlier lines, and 1,000 lines to check (with their claim facts)."""
    prs = rs30.python
    part = frame.head(21_000).sort("service_date", "claim_id", "line_no")
    rows = part.to_dicts()
    by_claim: dict[str, list[dict]] = {}
    for r in rows:
        by_claim.setdefault(r["claim_id"], []).append(r)
    facts = {c: claim_facts(ls) for c, ls in by_claim.items()}
    index = prs.new_index()
    for r in rows[:20_000]:
        index.add(prs.prepare(r, facts[r["claim_id"]]))
    probe = [(r, facts[r["claim_id"]]) for r in rows[20_000:]]
    return prs, index, probe


def test_python_backend_one_line(benchmark, point):
    prs, index, probe = point
    it = itertools.cycle(probe)

    def one():
        row, facts = next(it)
        L = prs.prepare(row, facts)
        index.fill(L)
        return prs.evaluate(L)

    benchmark.pedantic(one, rounds=20_000, iterations=1, warmup_rounds=1_000)
    s = benchmark.stats.stats
    benchmark.extra_info.update({"median_us": round(s.median * 1e6, 2), "target_us": 20, "loadavg_1min": _load()})
    print(f"\n[python one line: prepare + fill + evaluate] median {s.median * 1e6:.1f} µs, "
          f"mean {s.mean * 1e6:.1f} µs (target ≤ 20 µs)")


def test_python_backend_evaluate_only(benchmark, point):
    prs, index, probe = point
    prepared = []
    for row, facts in probe:
        L = prs.prepare(row, facts)
        index.fill(L)
        prepared.append(L)
    it = itertools.cycle(prepared)
    benchmark.pedantic(lambda: prs.evaluate(next(it)), rounds=20_000, iterations=1, warmup_rounds=1_000)
    s = benchmark.stats.stats
    benchmark.extra_info.update({"median_us": round(s.median * 1e6, 2)})
    print(f"\n[python one line: evaluate only] median {s.median * 1e6:.1f} µs")


# --- (e) compiling a 200-rule ruleset ---------------------------------------------------------------------------

def _compile(path):
    loaded = load_file(path)
    return PythonRuleset(loaded), PolarsRuleset(loaded)


@pytest.mark.parametrize("pair_table", [True, False], ids=["with-1M-pair-table", "without-pair-table"])
def test_compile_200_rules(benchmark, bench_dir, pair_table):
    path = make_tables.write_ruleset(bench_dir, 200, pair_table=pair_table)
    parts = {}
    t = time.perf_counter()
    loaded = load_file(path)
    parts["load_file"] = time.perf_counter() - t
    t = time.perf_counter()
    PythonRuleset(loaded)
    parts["PythonRuleset"] = time.perf_counter() - t
    t = time.perf_counter()
    PolarsRuleset(loaded)
    parts["PolarsRuleset"] = time.perf_counter() - t
    benchmark.pedantic(_compile, args=(path,), rounds=3, iterations=1)
    s = benchmark.stats.stats
    benchmark.extra_info.update({"median_s": s.median, "target_s": 1.0, "first_run_parts_s": parts,
                                 "loadavg_1min": _load()})
    print(f"\n[compile 200 rules, {'with' if pair_table else 'without'} the 1M-pair table] median {s.median:.3f} s "
          f"(target ≤ 1 s); first run: " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items()))
