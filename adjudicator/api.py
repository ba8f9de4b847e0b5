"""Whole jobs as library calls: adjudicate files into an output folder (and the store), the demo, scoring.

The CLI calls these and only prints; exchange services and scripts may call them the same way.
"""

from __future__ import annotations

import hashlib
import datetime as dt
from pathlib import Path

import polars as pl

from adjudicator import io
from adjudicator.engine import Engine, Result

RULESETS_DIR = Path(__file__).resolve().parent.parent / "rulesets"
OUTPUTS = ("lines", "findings", "claims", "quarantine")


def file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_result(result: Result, out_dir, fmt: str = "parquet") -> None:
    """The four frames and summary.json, each written atomically; deterministic (no timings in the files)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        io.write_frame(getattr(result, name), out / f"{name}.{fmt}", fmt)
    summary = {k: v for k, v in result.summary.items() if k != "timings_s"}
    io.write_json(summary, out / "summary.json")


def run_adjudication(claims, *, rulesets=RULESETS_DIR, members, coverage, providers, store=None, policy=None,
                     out_dir, fmt="parquet", progress=None) -> Result:
    """Adjudicate a claims file with the given reference files; write the results; record the run in the store."""
    started = dt.datetime.now(dt.timezone.utc)
    engine = Engine(rulesets, members=members, coverage=coverage, providers=providers, store=store, policy=policy)
    result = engine.adjudicate(claims, progress=progress)
    write_result(result, out_dir, fmt)
    if engine.store is not None:
        inputs = {name: file_hash(p) for name, p in (("claims", claims), ("members", members),
                                                       ("coverage", coverage), ("providers", providers))}
        for rs in engine.rulesets:
            engine.store.save_ruleset(rs.id, rs.ir.version, rs.digest, rs.loaded.source_text)
        info = engine.store.record_run(
            inputs=inputs, ruleset_digests=sorted(rs.digest for rs in engine.rulesets), lines=result.lines,
            findings=result.findings, claims=result.claims, timings=result.summary.get("timings_s", {}),
            started_at=started, finished_at=dt.datetime.now(dt.timezone.utc))
        result.summary["run_id"] = info.run_id
    if progress:
        progress("done")
    return result


def score_run(truth, results_dir) -> pl.DataFrame:
    """Precision and recall per anomaly type of a results folder against a synth ground-truth file."""
    from adjudicator.ground_truth import score
    results = Path(results_dir)
    lines = io.read_frame(_one(results, "lines"))
    findings = io.read_frame(_one(results, "findings"))
    return score(io.read_frame(truth), lines, findings)


def _one(folder: Path, name: str) -> Path:
    for ext in ("parquet", "csv", "ndjson"):
        p = folder / f"{name}.{ext}"
        if p.exists():
            return p
    raise FileNotFoundError(f"no {name}.parquet/.csv/.ndjson in {folder}")


def run_demo(out_dir, *, n_lines: int = 200_000, n_members: int = 20_000, store: str | None = None, progress=None):
    """synth → adjudicate with the shipped rulesets (embedded SQLite store) → summary and anomaly scores."""
    from adjudicator import synth
    from adjudicator.ground_truth import score
    out = Path(out_dir)
    data_dir, results_dir = out / "data", out / "results"
    data = synth.generate(members=n_members, lines=n_lines)
    synth.write(data, data_dir, fmt="parquet")
    if progress:
        progress("synthetic data written")
    if store is None:
        db = out / "adjudicator.db"
        db.unlink(missing_ok=True)
        store = f"sqlite:///{db}"
    result = run_adjudication(data_dir / "claims.parquet", rulesets=RULESETS_DIR,
                              members=data_dir / "members.parquet", coverage=data_dir / "coverage.parquet",
                              providers=data_dir / "providers.parquet", store=store, out_dir=results_dir,
                              progress=progress)
    scores = score(data.truth, result.lines, result.findings)
    io.write_frame(scores, out / "scores.csv", "csv")
    return result, scores
