"""The store at scale (pytest-benchmark): writing a run's line results, findings and claims, and the
point-of-service history lookup, on SQLite and on a private PostgreSQL 15 server (fsync on;
shared_buffers=1GB and max_wal_size=8GB as for bulk loads, other settings default).

    .venv/bin/python -m pytest benchmarks/bench_store.py --benchmark-only -s                  # 1M lines (default)
    ADJ_BENCH_STORE_LINES=10000000 .venv/bin/python -m pytest benchmarks/bench_store.py --benchmark-only -s

Data: ``tests/store/synth_results.make_results`` — ~3 lines a claim, ~20 lines a member, ~0.44 findings a line,
~0.33 claims a line. ``test_write`` times one ``Store.record_run`` into an empty store (one round: the issue's
figure is a single load); ``test_member_history`` times one member's lookup on that store, cycling over members.
``ADJ_BENCH_STORE_BACKENDS=sqlite`` (or ``postgresql``) restricts the backends.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from adjudicator.store import Store, blocks, bulk, linetext  # noqa: E402
from tests.conftest_pg import pg_binaries_present, postgres_server, wipe_postgres  # noqa: E402
from tests.store.synth_results import make_results  # noqa: E402

N_LINES = int(os.environ.get("ADJ_BENCH_STORE_LINES", 1_000_000))
BACKENDS = os.environ.get("ADJ_BENCH_STORE_BACKENDS", "sqlite,postgresql").split(",")
STORES: dict[str, Store] = {}
MEMBERS: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
def data():
    t = time.perf_counter()
    lines, findings, claims = make_results(N_LINES, seed=11)
    print(f"\n[store] generated {lines.height:,} lines, {findings.height:,} findings, {claims.height:,} claims "
          f"in {time.perf_counter() - t:.1f} s")
    return lines, findings, claims


@pytest.fixture(scope="module")
def pg_url():
    if not pg_binaries_present():
        pytest.skip("PostgreSQL 15 server binaries not found")
    # fsync on; a production-like memory budget and checkpoint spacing for bulk loads (defaults otherwise)
    with postgres_server(durable=True, settings={"shared_buffers": "1GB", "max_wal_size": "8GB"}) as url:
        yield url
    for store in STORES.values():
        store.close()


def _server_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL server at ``url`` (postmaster, its live and its reaped children):
    on a shared machine the wall clock says little, the CPU the load costs says what it would take alone."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    found = subprocess.run(["pgrep", "-f", f"port={port}"], capture_output=True, text=True).stdout.split()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in found:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        children = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
        for child in children:
            try:
                cf = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(cf[11]) + int(cf[12])) / tick
    return total


def _url(backend: str, tmp_dir: Path, request) -> str:
    if backend == "sqlite":
        path = tmp_dir / "bench.db"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    wipe_postgres(url)
    return url


@pytest.mark.parametrize("backend", BACKENDS)
def test_write(benchmark, data, backend, tmp_path_factory, request):
    lines, findings, claims = data
    tmp_dir = tmp_path_factory.mktemp(f"store-{backend}")

    def setup():
        if backend in STORES:
            STORES.pop(backend).close()
        STORES[backend] = Store(_url(backend, tmp_dir, request))
        return (), {}

    cpu: dict[str, float] = {}

    def write():
        now = datetime.now()
        server = _server_cpu(STORES[backend].url) if backend == "postgresql" else 0.0
        client = time.process_time()
        try:
            return STORES[backend].record_run(
            inputs={"claims": f"bench-{N_LINES}"}, ruleset_digests=["bench"], lines=lines, findings=findings,
            claims=claims, timings={}, started_at=now, finished_at=now)
        finally:
            cpu["client"] = time.process_time() - client
            if backend == "postgresql":
                cpu["server"] = _server_cpu(STORES[backend].url) - server

    phases: dict[str, float] = {}
    patched = {(linetext, "encode"): "encode lines", (blocks, "cut"): "encode findings/claims",
               (bulk, "insert_rows"): "write blocks",
               (bulk, "insert_frame"): "write directory + moved", (Store, "_moved_lines"): "moved lines"}
    originals = {target: getattr(*target) for target in patched}

    def timed(target, name):
        real = originals[target]

        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return run

    for target, name in patched.items():
        setattr(*target, timed(target, name))
    try:
        info = benchmark.pedantic(write, setup=setup, rounds=1, iterations=1)
    finally:
        for target, real in originals.items():
            setattr(*target, real)
    assert info.reused is False
    seconds = benchmark.stats.stats.max
    benchmark.extra_info.update(lines=lines.height, findings=findings.height, claims=claims.height)
    print(f"\n[store] {backend}: wrote {lines.height:,} lines + {findings.height:,} findings + {claims.height:,} "
          f"claims in {seconds:.1f} s ({lines.height / seconds:,.0f} lines/s); "
          + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
          + "; CPU " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items())
          + f"; load average {os.getloadavg()[0]:.1f}")
    benchmark.extra_info.update(cpu=cpu, phases=phases)
    MEMBERS[backend] = lines["member_id"].unique().sample(1000, seed=3, with_replacement=True).to_list()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["member_history_rows", "member_history"])
def test_member_history(benchmark, backend, method):
    """One member's history, as line dicts (the point path) and as a polars frame."""
    if backend not in STORES:
        pytest.skip("the write benchmark did not run")
    lookup, members = getattr(STORES[backend], method), itertools.cycle(MEMBERS[backend])
    found = benchmark(lambda: lookup(next(members)))
    ids = [r["member_id"] for r in found] if isinstance(found, list) else found["member_id"].to_list()
    assert ids and len(set(ids)) == 1
    print(f"\n[store] {backend}: {method} median {benchmark.stats.stats.median * 1e3:.3f} ms")
