"""The store: everything an insurer must keep about adjudication, in SQLite (default) or PostgreSQL (by URL).

``Store`` is a repository over SQLAlchemy Core: rulesets and their activation, runs with their line results,
findings and claim totals, the member history that aggregates and accumulators read, and the audit of
point-of-service checks. Results move in bulk (``bulk.py``), never row by row through an ORM. Every write is one
transaction: a run is recorded whole or not at all, and recording the same inputs with the same rulesets again
returns the run already stored instead of a second copy.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import polars as pl
import sqlalchemy as sa
from sqlalchemy import event

from adjudicator import schema
from adjudicator.errors import StoreError
from adjudicator.store import blocks, bulk, codec, linetext, models
from adjudicator.store.migrations import upgrade

__all__ = ["Store", "RunInfo", "open_store", "run_key"]

_PG_LOCK_KEY = 0x61646A75  # advisory lock taken while a store's schema is created or upgraded
_LINE_COLUMNS = list(schema.LINE_RESULTS)
_DATE_COLUMNS = frozenset(c for c, t in schema.LINE_RESULTS.items() if t == pl.Date)
_LIST_COLUMNS = frozenset(c for c, t in schema.LINE_RESULTS.items() if isinstance(t, pl.List))
_IN_LIST_MAX = 500  # more member ids than this go through a temporary table instead of an IN list
EXPORT_FORMATS = ("parquet", "csv", "ndjson")


@dataclass(frozen=True)
class RunInfo:
    """What ``record_run`` did: the run's id, and whether an identical run was already stored (nothing written)."""

    run_id: int
    reused: bool


def run_key(inputs: dict[str, str], ruleset_digests: list[str]) -> str:
    """The identity of a run: its input file hashes by name and the set of ruleset digests it ran with."""
    doc = {"inputs": sorted(inputs.items()), "rulesets": sorted(set(ruleset_digests))}
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _naive_utc(moment: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC when they carry a zone, as given when they do not."""
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _normalize_url(url: str | Path) -> str:
    text = str(url)
    return text if "://" in text else f"sqlite:///{text}"


def open_store(url: str | Path | None) -> Store | None:
    """A ``Store`` at ``url`` (a SQLAlchemy URL or a file path for SQLite), or None when no store is wanted."""
    return None if url is None or str(url) == "" else Store(url)


class Store:
    """A claims store at a SQLAlchemy URL, created or upgraded to ``SCHEMA_VERSION`` when opened."""

    def __init__(self, url: str | Path):
        self.url = _normalize_url(url)
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"not a database URL: {url!r}") from exc
        self.display_url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported store backend {self.dialect!r} in {self.display_url} "
                             "(use sqlite:///path or postgresql://...)")
        self._sqlite = self.dialect == "sqlite"
        self._local = threading.local()
        self._raw_conns: list[Any] = []
        self._raw_lock = threading.Lock()
        try:
            self.engine = sa.create_engine(self.url, json_serializer=_dumps)
        except Exception as exc:  # a missing driver, a malformed option
            raise StoreError(f"cannot open the store at {self.display_url}: {exc}") from exc
        self._driver = self.engine.dialect.dbapi  # sqlite3 / psycopg2: raw cursors raise its errors
        if self._sqlite:
            memory = parsed.database in (None, "", ":memory:")
            self._install_sqlite_hooks(memory)
        try:
            with self._write() as conn:
                if not self._sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                self.upgraded_from, self.schema_version = upgrade(conn)
        except BaseException:
            self.engine.dispose()
            raise
        self._member_sql = self._member_history_sql()
        self._dictionaries: dict[int, linetext.Dictionary] = {}

    # --- connections ------------------------------------------------------------------------------------------

    def _install_sqlite_hooks(self, memory: bool) -> None:
        # pysqlite's own transaction handling defers BEGIN and commits around DDL; take it over so that every
        # transaction (DDL included) is real, and writers take the lock up front (BEGIN IMMEDIATE) rather than
        # failing halfway when a reader upgrades.
        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA page_size=16384")  # takes effect only when the file is created; wide rows fit
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-1048576")  # up to 1 GiB, used only as pages are touched: big loads
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction; database errors become StoreError, and the transaction is rolled back."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(write=True)
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, self._driver.Error) as exc:
            raise StoreError(f"store {self.display_url}: {getattr(exc, 'orig', None) or exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, self._driver.Error) as exc:
            raise StoreError(f"store {self.display_url}: {getattr(exc, 'orig', None) or exc}") from exc

    def _raw(self):
        """This thread's own autocommit driver connection, for point-of-service reads (no pool, no BEGIN)."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            raw = self.engine.raw_connection()
            if not self._sqlite:
                raw.driver_connection.autocommit = True
                cursor = raw.cursor()  # planned once per connection: planning costs more than the lookup
                for name, sql in self._member_sql.items():
                    cursor.execute(f"PREPARE adj_{name}(text) AS {sql.replace('%s', '$1')}")
                cursor.close()
            self._local.raw = raw
            with self._raw_lock:
                self._raw_conns.append(raw)
        return raw

    def close(self) -> None:
        """Release every connection of this store."""
        with self._raw_lock:
            for raw in self._raw_conns:
                try:
                    raw.close()
                except Exception:
                    pass
            self._raw_conns.clear()
        self._local = threading.local()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- rulesets ---------------------------------------------------------------------------------------------

    def save_ruleset(self, ruleset_id: str, version: str, digest: str, source_text: str) -> None:
        """Keep a ruleset's source under its digest; saving the same digest again does nothing."""
        t = models.rulesets
        with self._write() as conn:
            if conn.execute(sa.select(t.c.digest).where(t.c.digest == digest)).first():
                return
            other = conn.execute(sa.select(t.c.digest).where(
                t.c.ruleset_id == ruleset_id, t.c.version == str(version))).first()
            if other:
                raise StoreError(f"ruleset {ruleset_id}@{version} is already stored with another digest "
                                 f"({other.digest[:12]}…): give the changed ruleset a new version")
            conn.execute(sa.insert(t).values(ruleset_id=ruleset_id, version=str(version), digest=digest,
                                             source_text=source_text, saved_at=datetime.now()))

    def activate(self, ruleset_id: str, version: str) -> None:
        """Make a saved version the active one of its ruleset (the one most recently activated is active)."""
        t = models.rulesets
        with self._write() as conn:
            done = conn.execute(sa.update(t).where(t.c.ruleset_id == ruleset_id, t.c.version == str(version))
                                .values(activated_at=datetime.now()))
            if done.rowcount == 0:
                raise StoreError(f"no ruleset {ruleset_id}@{version} in the store: save it before activating it")

    def rulesets(self) -> pl.DataFrame:
        """Every saved ruleset version: ruleset_id, version, digest, saved_at, activated_at, active."""
        t = models.rulesets
        with self._read() as conn:
            rows = conn.execute(sa.select(t.c.ruleset_id, t.c.version, t.c.digest, t.c.saved_at, t.c.activated_at)
                                .order_by(t.c.ruleset_id, t.c.saved_at, t.c.version)).all()
        frame = pl.DataFrame([tuple(r) for r in rows], orient="row", schema={
            "ruleset_id": pl.String, "version": pl.String, "digest": pl.String,
            "saved_at": pl.Datetime("us"), "activated_at": pl.Datetime("us")})
        latest = pl.col("activated_at").max().over("ruleset_id")
        return frame.with_columns(active=pl.col("activated_at").is_not_null() & (pl.col("activated_at") == latest))

    def ruleset_source(self, digest: str) -> str:
        """The source text saved under ``digest``."""
        t = models.rulesets
        with self._read() as conn:
            text = conn.execute(sa.select(t.c.source_text).where(t.c.digest == digest)).scalar()
        if text is None:
            raise StoreError(f"no ruleset with digest {digest} in the store")
        return text

    # --- runs -------------------------------------------------------------------------------------------------

    def record_run(self, *, inputs: dict[str, str], ruleset_digests: list[str], lines: pl.DataFrame,
                   findings: pl.DataFrame, claims: pl.DataFrame, timings: dict[str, float] | None = None,
                   started_at: datetime | None = None, finished_at: datetime | None = None) -> RunInfo:
        """Store a batch run whole, in one transaction, and make its line results the members' history.

        A run is identified by ``run_key(inputs, ruleset_digests)``: when that run is already stored nothing is
        written and ``RunInfo(existing_id, reused=True)`` comes back. A line result replaces, in the history, any
        earlier result for the same (claim_id, line_no), under whichever member that was.
        """
        lines = codec.conform(lines, schema.LINE_RESULTS, "line results")
        findings = codec.conform(findings, schema.FINDINGS, "findings")
        claims = codec.conform(claims, schema.CLAIMS, "claims")
        _unique(lines, ["claim_id", "line_no"], "line results")
        _unique(claims, ["claim_id"], "claims")
        key = run_key(inputs, ruleset_digests)
        counts = {
            "lines": _counts(lines, schema.DECISIONS),
            "claims": _counts(claims, schema.CLAIM_DECISIONS),
        }
        runs = models.runs
        try:
            with self._write() as conn:
                found = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_key == key)).scalar()
                if found is not None:
                    return RunInfo(int(found), True)
                run_id = conn.execute(sa.insert(runs).values(
                    run_key=key, status="complete", inputs=dict(sorted(inputs.items())),
                    ruleset_digests=sorted(set(ruleset_digests)), started_at=_naive_utc(started_at),
                    finished_at=_naive_utc(finished_at), recorded_at=datetime.now(), line_count=lines.height,
                    finding_count=findings.height, claim_count=claims.height, counts=counts,
                    timings=dict(timings or {})).returning(runs.c.run_id)).scalar_one()
                moved = self._moved_lines(conn, lines, run_id)
                blocks.store_run(conn, run_id, lines, findings, claims)
                bulk.insert_frame(conn, "moved_lines", moved)
                bulk.insert_frame(conn, "member_blocks", moved.select(
                    "member_id", "run_id", pl.lit(models.MOVED_MARKER, pl.Int64).alias("block_no"),
                    pl.lit(0, pl.Int64).alias("byte_start"), pl.lit(0, pl.Int64).alias("byte_len")).unique())
                if not self._sqlite:  # fresh statistics: the point lookup must plan index scans after a big load
                    conn.execute(sa.text("ANALYZE member_blocks"))
                    conn.execute(sa.text("ANALYZE result_blocks (run_id, kind, block_no)"))
                    conn.execute(sa.text("ANALYZE moved_lines"))
                return RunInfo(int(run_id), False)
        except StoreError as exc:
            if isinstance(exc.__cause__, (sa.exc.IntegrityError, self._driver.IntegrityError)):
                # Another writer stored the same run meanwhile.
                with self._read() as conn:
                    found = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_key == key)).scalar()
                if found is not None:
                    return RunInfo(int(found), True)
            raise

    def _moved_lines(self, conn: sa.Connection, lines: pl.DataFrame, run_id: int) -> pl.DataFrame:
        """The lines of this run whose claim was held, in earlier runs or commits, by another member: rows of
        ``moved_lines`` that retire those older results from the other member's history."""
        empty = pl.DataFrame(schema={"member_id": pl.String, "claim_id": pl.String, "line_no": pl.Int64,
                                     "run_id": pl.Int64})
        datas = conn.execute(sa.text("SELECT data FROM result_blocks WHERE kind = 'claim_members' "
                                     "AND run_id <> :r"), {"r": run_id}).scalars().all()
        prior = blocks.decode_all(datas)
        pos = bulk.read_frame(conn, "SELECT DISTINCT claim_id, member_id FROM pos_lines", {},
                              {"claim_id": pl.String, "member_id": pl.String})
        if lines.height == 0:
            return empty
        claims = lines.select("claim_id").unique()
        prior = [f.join(claims, on="claim_id", how="semi") for f in (*prior, pos)]
        prior = [f for f in prior if f.height]
        if not prior:
            return empty
        held = pl.concat(prior).unique().rename({"member_id": "old_member"})
        return (lines.select("claim_id", "line_no", "member_id")
                .join(held, on="claim_id", how="inner")
                .filter(pl.col("old_member") != pl.col("member_id"))
                .select(pl.col("old_member").alias("member_id"), "claim_id", "line_no",
                        pl.lit(run_id, pl.Int64).alias("run_id"))
                .unique())

    def runs(self) -> pl.DataFrame:
        """One row per stored batch run, oldest first, with its line counts by decision."""
        t = models.runs
        with self._read() as conn:
            rows = conn.execute(sa.select(t).where(t.c.run_id != models.POS_RUN_ID).order_by(t.c.run_id)).all()
        records = []
        for r in rows:
            by = (r.counts or {}).get("lines", {})
            records.append((r.run_id, r.run_key, r.status, r.started_at, r.finished_at, r.recorded_at, r.line_count,
                            r.claim_count, r.finding_count, *(by.get(d, 0) for d in schema.DECISIONS)))
        return pl.DataFrame(records, orient="row", schema={
            "run_id": pl.Int64, "run_key": pl.String, "status": pl.String, "started_at": pl.Datetime("us"),
            "finished_at": pl.Datetime("us"), "recorded_at": pl.Datetime("us"), "line_count": pl.Int64,
            "claim_count": pl.Int64, "finding_count": pl.Int64, **{d: pl.Int64 for d in schema.DECISIONS}})

    def show(self, run_id: int) -> dict[str, Any]:
        """A run's row, its inputs and ruleset digests, counts of lines and claims by decision, and timings."""
        t = models.runs
        with self._read() as conn:
            r = conn.execute(sa.select(t).where(t.c.run_id == run_id)).first()
        if r is None:
            raise StoreError(f"no run {run_id} in the store")
        counts = r.counts or {}
        return {
            "run_id": r.run_id, "run_key": r.run_key, "status": r.status, "inputs": r.inputs,
            "ruleset_digests": r.ruleset_digests, "started_at": r.started_at, "finished_at": r.finished_at,
            "recorded_at": r.recorded_at, "line_count": r.line_count, "claim_count": r.claim_count,
            "finding_count": r.finding_count,
            "lines_by_decision": {d: counts.get("lines", {}).get(d, 0) for d in schema.DECISIONS},
            "claims_by_decision": {d: counts.get("claims", {}).get(d, 0) for d in schema.CLAIM_DECISIONS},
            "timings": r.timings or {},
        }

    def run_results(self, run_id: int) -> dict[str, pl.DataFrame]:
        """The line results, findings and claim totals of one run (``lines``, ``findings``, ``claims``)."""
        self.show(run_id)  # raises for an unknown run
        out = {}
        with self._read() as conn:
            for name, contract in models.RESULT_CONTRACTS.items():
                if run_id == models.POS_RUN_ID:
                    table = {"lines": "pos_lines", "findings": "pos_findings"}.get(name)
                    frame = self._pos_frame(conn, table, contract, "", {}) if table else schema.empty(contract)
                else:
                    datas = conn.execute(sa.text(
                        "SELECT data FROM result_blocks WHERE run_id = :r AND kind = :k ORDER BY block_no"),
                        {"r": run_id, "k": name}).scalars().all()
                    if name == "lines":
                        dictionary = self._dictionary(conn, run_id)
                        frame = linetext.decode_frame(linetext.block_texts(datas), dictionary)
                    else:
                        frame = _concat(blocks.decode_all(datas), contract)
                out[name] = frame.sort(list(blocks.CLAIM_ORDER[name]))
        return out

    def export(self, run_id: int, out_dir: str | Path, fmt: str = "parquet") -> dict[str, Path]:
        """Write lines, findings and claims of a run to ``out_dir`` as ``<name>.<fmt>``; the paths written.

        CSV follows DATA.md: list columns ``|``-separated.
        """
        if fmt not in EXPORT_FORMATS:
            raise StoreError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
        frames = self.run_results(run_id)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, frame in frames.items():
            path = out / f"{name}.{fmt}"
            if fmt == "parquet":
                frame.write_parquet(path)
            elif fmt == "ndjson":
                frame.write_ndjson(path)
            else:
                lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
                frame.with_columns(pl.col(c).list.join("|") for c in lists).write_csv(path)
            paths[name] = path
        return paths

    # --- history ----------------------------------------------------------------------------------------------

    def history(self, member_ids: list[str] | None = None, *, before: date | None = None) -> pl.DataFrame:
        """The current line results (one per claim_id, line_no) of the given members — all when None — with
        service_date before ``before`` when given; the contract's columns and dtypes, in the total order."""
        ids = None if member_ids is None else sorted({str(m) for m in member_ids})
        if ids is not None and not ids:
            return schema.empty(schema.LINE_RESULTS)
        with self._read() as conn:
            member_filter, params = "", {}
            if ids is not None:
                if len(ids) <= _IN_LIST_MAX:
                    member_filter = "member_id IN (" + ", ".join(f":m{i}" for i in range(len(ids))) + ")"
                    params = {f"m{i}": m for i, m in enumerate(ids)}
                else:
                    self._temp_members(conn, ids)
                    member_filter = "member_id IN (SELECT member_id FROM tmp_members)"
            where = f" WHERE {member_filter}" if member_filter else ""
            # the line blocks that hold these members (all of them without a filter), run by run
            join = (" JOIN (SELECT DISTINCT run_id, block_no FROM member_blocks"
                    f"{where} AND block_no >= 0) d ON d.run_id = b.run_id AND d.block_no = b.block_no"
                    if member_filter else "")
            datas_by_run: dict[int, list] = {}
            for run_id, data in conn.execute(sa.text(f"SELECT b.run_id, b.data FROM result_blocks b{join} "
                                                     "WHERE b.kind = 'lines' ORDER BY b.run_id, b.block_no"), params):
                datas_by_run.setdefault(run_id, []).append(data)
            frames = []
            for run_id, datas in sorted(datas_by_run.items()):
                dictionary = self._dictionary(conn, run_id)
                texts = linetext.block_texts(datas)
                frames.append(linetext.decode_frame(texts, dictionary)
                              .with_columns(pl.lit(run_id, pl.Int64).alias("_run")))
            pos = self._pos_frame(conn, "pos_lines", schema.LINE_RESULTS, where, params)
            moved = bulk.read_frame(conn, f"SELECT member_id, claim_id, line_no, run_id FROM moved_lines{where}",
                                    params, {"member_id": pl.String, "claim_id": pl.String, "line_no": pl.Int64,
                                             "_moved": pl.Int64})
        frames.append(pos.with_columns(pl.lit(models.POS_RUN_ID, pl.Int64).alias("_run")))
        rows = pl.concat(frames, how="vertical")
        if ids is not None:
            rows = rows.filter(pl.col("member_id").is_in(ids))
        if before is not None:
            rows = rows.filter(pl.col("service_date") < before)
        return _current(rows, moved)

    def _temp_members(self, conn: sa.Connection, ids: list[str]) -> None:
        if self._sqlite:
            conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS tmp_members (member_id TEXT PRIMARY KEY)")
            conn.exec_driver_sql("DELETE FROM tmp_members")
        else:
            conn.exec_driver_sql("CREATE TEMP TABLE tmp_members (member_id TEXT PRIMARY KEY) ON COMMIT DROP")
        bulk.insert_frame(conn, "tmp_members", pl.DataFrame({"member_id": ids}))

    def _pos_frame(self, conn: sa.Connection, table: str, contract: dict[str, pl.DataType], where: str,
                   params: dict) -> pl.DataFrame:
        return bulk.read_contract(conn, f"SELECT {', '.join(contract)} FROM {table}{where}", params, contract,
                                  dates_as_text=self._sqlite)

    def _member_history_sql(self) -> dict[str, str]:
        mark = "?" if self._sqlite else "%s"
        substr = "substr" if self._sqlite else "substring"  # the member's bytes only
        return {
            "blocks": (f"SELECT d.run_id, d.block_no, {substr}(b.data, d.byte_start + 1, d.byte_len) "
                       "FROM member_blocks d LEFT JOIN result_blocks b ON b.run_id = d.run_id AND b.kind = 'lines' "
                       f"AND b.block_no = d.block_no WHERE d.member_id = {mark}"),
            "pos": f"SELECT {', '.join(_LINE_COLUMNS)} FROM pos_lines WHERE member_id = {mark}",
            "moved": f"SELECT claim_id, line_no, run_id FROM moved_lines WHERE member_id = {mark}",
        }

    def _member_sources(self, cursor, member_id: str) -> tuple[list, list, list]:
        """The member's directory rows with their blocks, point-of-service rows and moved lines, on a driver
        cursor (the point path's own connection, or a write transaction's). The directory says whether there
        are any of the last two (marker rows), so that the usual lookup is one query."""
        prepared = not self._sqlite and cursor.connection.autocommit

        def fetch(name: str) -> list:
            sql = self._member_sql[name]
            cursor.execute(f"EXECUTE adj_{name}(%s)" if prepared else sql, (member_id,))
            return cursor.fetchall()

        found, markers = [], set()
        for run_id, block_no, data in fetch("blocks"):
            if block_no >= 0:
                found.append((run_id, self._dictionary(cursor, run_id), bytes(data).decode()))
            else:
                markers.add(block_no)
        pos = fetch("pos") if models.POS_MARKER in markers else []
        moved = fetch("moved") if models.MOVED_MARKER in markers else []
        return found, pos, moved

    def _dictionary(self, conn_or_cursor, run_id: int) -> linetext.Dictionary:
        """A run's line dictionary, read once per store (a run never changes)."""
        found = self._dictionaries.get(run_id)
        if found is None:
            sql = "SELECT data FROM result_blocks WHERE run_id = {} AND kind = 'dictionary'".format(int(run_id))
            if isinstance(conn_or_cursor, sa.Connection):
                data = conn_or_cursor.execute(sa.text(sql)).scalar()
            else:
                conn_or_cursor.execute(sql)
                row = conn_or_cursor.fetchone()
                data = row[0] if row else None
            found = self._dictionaries[run_id] = linetext.Dictionary.from_bytes(data)
        return found

    def member_history_rows(self, member_id: str) -> list[dict[str, Any]]:
        """One member's current line results as line dicts (dates as ``date``, lists as ``list``), in total order:
        the point-of-service path — one directory lookup and the decode of the member's block(s)."""
        try:
            cursor = self._raw().cursor()
            try:
                found, pos, moved = self._member_sources(cursor, member_id)
            finally:
                cursor.close()
        except Exception as exc:
            raise StoreError(f"store {self.display_url}: cannot read the history of member {member_id}: "
                             f"{exc}") from exc
        return _member_rows(found, pos, moved)

    def member_history(self, member_id: str) -> pl.DataFrame:
        """One member's current line results as a frame with the contract's columns and dtypes."""
        rows = self.member_history_rows(member_id)
        if not rows:
            return schema.empty(schema.LINE_RESULTS)
        return pl.DataFrame(rows, schema=schema.LINE_RESULTS)

    # --- point of service -------------------------------------------------------------------------------------

    def record_check(self, provider_id: str | None, member_id: str | None, claim_id: str | None, asked_at: datetime,
                     answer: dict[str, Any]) -> None:
        """Audit one point-of-service check: which provider asked about which member, when, and the answer."""
        try:
            _dumps(answer)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"the answer to a check of member {member_id} is not JSON: {exc}") from exc
        with self._write() as conn:
            conn.execute(sa.insert(models.pos_checks).values(
                provider_id=provider_id, member_id=member_id, claim_id=claim_id, asked_at=_naive_utc(asked_at),
                answer=answer))

    def checks(self, *, member_id: str | None = None, provider_id: str | None = None) -> pl.DataFrame:
        """The audit of point-of-service checks, oldest first; ``answer`` as JSON text."""
        t = models.pos_checks
        query = sa.select(t).order_by(t.c.asked_at, t.c.check_id)
        if member_id is not None:
            query = query.where(t.c.member_id == member_id)
        if provider_id is not None:
            query = query.where(t.c.provider_id == provider_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return pl.DataFrame([(r.check_id, r.provider_id, r.member_id, r.claim_id, r.asked_at,
                              _dumps(r.answer)) for r in rows], orient="row", schema={
            "check_id": pl.Int64, "provider_id": pl.String, "member_id": pl.String, "claim_id": pl.String,
            "asked_at": pl.Datetime("us"), "answer": pl.String})

    def commit_claim(self, lines: pl.DataFrame | list[dict[str, Any]],
                     findings: pl.DataFrame | list[dict[str, Any]] | None = None) -> bool:
        """Record one checked claim in the history, atomically; False (and nothing written) when that claim_id
        is already committed, or already in its member's history from a batch run."""
        line_rows = lines.to_dicts() if isinstance(lines, pl.DataFrame) else list(lines)
        finding_rows = (findings.to_dicts() if isinstance(findings, pl.DataFrame) else list(findings or []))
        if not line_rows:
            raise StoreError("commit_claim: no lines to commit")
        for row in line_rows:
            for key in ("claim_id", "line_no", "member_id"):
                if row.get(key) is None:
                    raise StoreError(f"commit_claim: a line has no {key}")
        claim_ids = {row["claim_id"] for row in line_rows}
        if len(claim_ids) != 1:
            raise StoreError(f"commit_claim takes the lines of one claim (got {len(claim_ids)} claim ids)")
        if len({row["line_no"] for row in line_rows}) != len(line_rows):
            raise StoreError(f"commit_claim: claim {next(iter(claim_ids))} repeats a line_no")
        (claim_id,) = claim_ids
        text = self._sqlite
        line_values = [tuple(codec.value_to_db(row.get(c), t, dates_as_text=text)
                             for c, t in schema.LINE_RESULTS.items()) for row in line_rows]
        finding_values = [tuple(codec.value_to_db(row.get(c), t, dates_as_text=text)
                                for c, t in schema.FINDINGS.items()) for row in finding_rows]
        mark = "?" if text else "%s"

        def insert_sql(table: str, cols: list[str]) -> str:
            return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"

        def known(conn: sa.Connection) -> bool:
            if conn.execute(sa.text("SELECT 1 FROM pos_lines WHERE claim_id = :c"), {"c": claim_id}).first():
                return True
            cursor = bulk.dbapi(conn).cursor()
            try:
                for member_id in {row["member_id"] for row in line_rows}:
                    if any(r["claim_id"] == claim_id for r in _member_rows(*self._member_sources(cursor, member_id))):
                        return True
            finally:
                cursor.close()
            return False

        try:
            with self._write() as conn:
                if known(conn):
                    return False
                cursor = bulk.dbapi(conn).cursor()
                try:
                    cursor.executemany(insert_sql("pos_lines", _LINE_COLUMNS), line_values)
                    cursor.executemany(
                        f"INSERT INTO member_blocks (member_id, run_id, block_no, byte_start, byte_len) VALUES "
                        f"({mark}, {models.POS_RUN_ID}, {models.POS_MARKER}, 0, 0) ON CONFLICT DO NOTHING",
                        [(m,) for m in sorted({row["member_id"] for row in line_rows})])
                    if finding_values:
                        cursor.executemany(insert_sql("pos_findings", list(schema.FINDINGS)), finding_values)
                finally:
                    cursor.close()
        except StoreError as exc:
            # Two commits of the same claim at once: the key lets one through, the other finds it.
            if isinstance(exc.__cause__, (sa.exc.IntegrityError, self._driver.IntegrityError)):
                with self._read() as conn:
                    if conn.execute(sa.text("SELECT 1 FROM pos_lines WHERE claim_id = :c"),
                                    {"c": claim_id}).first():
                        return False
            raise StoreError(f"cannot commit claim {claim_id}: {exc}") from exc
        return True


def _unique(frame: pl.DataFrame, keys: list[str], what: str) -> None:
    hashed = pl.struct(keys).hash(seed=7).n_unique() if len(keys) > 1 else pl.col(keys[0]).n_unique()
    if frame.select(hashed).item() == frame.height:  # distinct hashes: distinct keys (a collision only costs
        return                                        # the exact check below)
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        first = ", ".join(f"{k}={dup[k][0]!r}" for k in keys)
        raise StoreError(f"{what}: ({', '.join(keys)}) is not unique — {dup.height} rows share a key, e.g. {first}")


def _concat(frames: list[pl.DataFrame], contract: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else schema.empty(contract)


def _current(rows: pl.DataFrame, moved: pl.DataFrame) -> pl.DataFrame:
    """The current result of each line among ``rows`` (contract columns plus ``_run``): the latest run's, unless
    a later run moved the line to another member (``moved``: member_id, claim_id, line_no, _moved)."""
    keys = ["claim_id", "line_no"]
    rows = rows.sort("_run", descending=True).unique(subset=["member_id", *keys], keep="first", maintain_order=True)
    if moved.height:
        gone = rows.join(moved, on=["member_id", *keys], how="inner").filter(pl.col("_moved") > pl.col("_run"))
        rows = rows.join(gone.select("member_id", *keys, "_run"), on=["member_id", *keys, "_run"], how="anti")
    return rows.drop("_run").sort(list(schema.TOTAL_ORDER))


def _member_rows(found: list, pos: list, moved: list) -> list[dict[str, Any]]:
    """One member's current lines from its block slices (run_id, the run's Dictionary, the member's text), its
    point-of-service rows and its moved lines: the latest run's result per line, in total order."""
    candidates = []  # (run, line dict)
    for run_id, dictionary, text in found:
        candidates += [(run_id, row) for row in linetext.decode_rows(text, dictionary)]
    candidates += [(models.POS_RUN_ID, codec.row_from_db(r, _LINE_COLUMNS, _DATE_COLUMNS, _LIST_COLUMNS))
                   for r in pos]
    if len(found) + bool(pos) > 1 or moved:
        retired = {}
        for claim_id, line_no, run_id in moved:
            key = (claim_id, line_no)
            retired[key] = max(run_id, retired.get(key, run_id))
        best: dict[tuple, tuple[int, dict]] = {}
        for run_id, row in candidates:
            key = (row["claim_id"], row["line_no"])
            if retired.get(key, -1) > run_id:
                continue
            if key not in best or best[key][0] < run_id:
                best[key] = (run_id, row)
        candidates = list(best.values())
    lines = [row for _, row in candidates]
    lines.sort(key=lambda r: (r["service_date"], r["claim_id"], r["line_no"]))
    return lines


def _counts(frame: pl.DataFrame, decisions: tuple[str, ...]) -> dict[str, int]:
    got = dict(frame.group_by("decision").len().iter_rows()) if frame.height else {}
    return {d: int(got.get(d, 0)) for d in decisions} | {
        str(k): int(v) for k, v in got.items() if k not in decisions}
