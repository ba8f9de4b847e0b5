"""The store: rulesets, runs, line results, findings, member history and the point-of-service audit, kept in
SQLite (a file, by default) or PostgreSQL (by URL) through SQLAlchemy. See ``repository.Store``."""

from adjudicator.store.commands import export, init, runs, show
from adjudicator.store.migrations import SCHEMA_VERSION
from adjudicator.store.repository import EXPORT_FORMATS, RunInfo, Store, open_store, run_key

__all__ = [
    "EXPORT_FORMATS",
    "SCHEMA_VERSION",
    "RunInfo",
    "Store",
    "export",
    "init",
    "open_store",
    "run_key",
    "runs",
    "show",
]
