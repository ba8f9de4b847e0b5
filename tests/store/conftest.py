"""One ``store`` fixture over both backends: a fresh SQLite file, and a fresh schema on the session's PostgreSQL."""

from __future__ import annotations

import pytest

from adjudicator.store import Store
from tests.conftest_pg import pg_server_url, wipe_postgres  # noqa: F401  (pg_server_url is a fixture)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """The URL of an empty store database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = request.getfixturevalue("pg_server_url")
    wipe_postgres(url)
    yield url


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    try:
        yield s
    finally:
        s.close()
