"""A throwaway PostgreSQL 15 server for the tests and the store benchmark, started from the server binaries.

``postgres_server()`` runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a free port of 127.0.0.1
(the unix socket in the same directory, trust authentication), yields its URL and stops and removes it afterwards.
PostgreSQL refuses to run as root, so under root (CI) the directory is handed to the ``postgres`` system user and
the binaries run through ``runuser``. ``pg_server_url`` is the session fixture built on it: skipped only when the
binaries are absent (and ``ADJ_REQUIRE_POSTGRES=1``, as CI sets, turns even that into a failure); when they are
present, a server that fails to start fails the tests. ``ADJ_TEST_PG_URL``
points the tests at an existing server instead (its database is wiped between tests).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("ADJ_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"


def pg_binaries_present() -> bool:
    return (PG_BIN / "initdb").is_file() and (PG_BIN / "pg_ctl").is_file()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], as_user: str | None) -> subprocess.CompletedProcess:
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def postgres_server(*, durable: bool = False, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a private PostgreSQL server; yield ``postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres``.

    ``durable=False`` (tests) turns fsync off; the benchmark passes True to measure what a real server does.
    """
    as_user = PG_USER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="adj-pg-"))
    data, log = root / "data", root / "server.log"
    started = False
    try:
        if as_user:
            pw = pwd.getpwnam(as_user)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        init = _run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER, "-E", "UTF8",
                     "--locale=C", *([] if durable else ["--no-sync"])], as_user)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr or init.stdout}")
        opts = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(root), "max_connections": "50"}
        if not durable:
            opts |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        opts |= settings or {}
        for attempt in range(3):
            port = _free_port()
            line = " ".join(f"-c {k}={v}" for k, v in (opts | {"port": str(port)}).items())
            start = _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", line, "-w", "-t", "60",
                          "start"], as_user)
            if start.returncode == 0:
                started = True
                break
        if not started:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {start.stderr or start.stdout}\n{tail}")
        yield f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_user)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server for this test session (see the module docstring)."""
    external = os.environ.get("ADJ_TEST_PG_URL")
    if external:
        yield external
        return
    if not pg_binaries_present():
        if os.environ.get("ADJ_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ADJ_REQUIRE_POSTGRES=1 but the PostgreSQL 15 server binaries are not in {PG_BIN}",
                        pytrace=False)
        pytest.skip(f"PostgreSQL 15 server binaries not found in {PG_BIN} (install postgresql-15, or set "
                    "ADJ_PG_BIN or ADJ_TEST_PG_URL)")
    try:
        server = postgres_server()
        url = server.__enter__()
    except Exception as exc:
        pytest.fail(f"the PostgreSQL server binaries are present but the test server did not start: {exc}",
                    pytrace=False)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def wipe_postgres(url: str) -> None:
    """Drop everything in the public schema of the database at ``url``."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
