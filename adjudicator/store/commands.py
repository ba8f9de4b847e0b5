"""What ``adjudicator store init|runs|show|export`` do, as plain functions: they open the store at a URL, act, close
it and return data for the CLI to print. They print nothing; errors are StoreError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from adjudicator.store.repository import Store


def init(url: str) -> dict[str, Any]:
    """Create the store at ``url``, or upgrade it; its URL (password hidden) and schema versions before/after."""
    with Store(url) as store:
        return {"url": store.display_url, "schema_version": store.schema_version,
                "upgraded_from": store.upgraded_from}


def runs(url: str) -> pl.DataFrame:
    """The runs in the store, oldest first."""
    with Store(url) as store:
        return store.runs()


def show(url: str, run_id: int) -> dict[str, Any]:
    """One run: its row, counts by decision and timings."""
    with Store(url) as store:
        return store.show(run_id)


def export(url: str, run_id: int, out_dir: str | Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write a run's lines, findings and claims under ``out_dir``; the paths written, by name."""
    with Store(url) as store:
        return store.export(run_id, out_dir, fmt)
