"""Whole jobs: adjudicate files into a folder (deterministic, atomic), the CLI, the demo, ground-truth scores."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import cli
from adjudicator import io, synth
from adjudicator.api import run_adjudication, score_run
from tests.conftest import RULESETS


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    data = synth.generate(members=1_500, lines=6_000, seed=7)
    synth.write(data, out, fmt="parquet")
    return out


def _run(synth_dir: Path, out: Path, fmt: str = "parquet", claims: Path | None = None, store=None):
    return run_adjudication(claims or synth_dir / "claims.parquet", rulesets=RULESETS,
                            members=synth_dir / "members.parquet", coverage=synth_dir / "coverage.parquet",
                            providers=synth_dir / "providers.parquet", out_dir=out, fmt=fmt, store=store)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_same_inputs_give_byte_identical_files(synth_dir, tmp_path, fmt):
    _run(synth_dir, tmp_path / "a", fmt)
    _run(synth_dir, tmp_path / "b", fmt)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([f"{n}.{fmt}" for n in ("lines", "findings", "claims", "quarantine")] + ["summary.json"])
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not list((tmp_path / "a").glob("*.tmp*"))


def test_outputs_are_sorted_and_complete(synth_dir, tmp_path):
    res = _run(synth_dir, tmp_path)
    lines = io.read_frame(tmp_path / "lines.parquet")
    assert lines.height == 6_000
    assert lines.select("claim_id", "line_no").rows() == sorted(lines.select("claim_id", "line_no").rows())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows_in"] == summary["lines"] + summary["quarantined"] == 6_000
    assert sum(summary["lines_by_decision"].values()) == 6_000
    assert res.claims["claim_id"].n_unique() == res.claims.height


def test_bad_rows_go_to_quarantine_with_file_row_and_reason(synth_dir, tmp_path):
    claims = pl.read_parquet(synth_dir / "claims.parquet").head(50)
    text = claims.with_columns(pl.col("diagnosis_codes").list.join("|")).cast(pl.String)
    text = text.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("1234567890")).otherwise(pl.col("member_id"))
        .alias("member_id"),
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("12345.5")).otherwise(pl.col("billed_amount"))
        .alias("billed_amount"),
        pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("1404/13/40")).otherwise(pl.col("service_date"))
        .alias("service_date"))
    path = tmp_path / "claims.csv"
    text.write_csv(path)
    res = _run(synth_dir, tmp_path / "out", claims=path)
    q = res.quarantine.filter(pl.col("source") == "claims")
    assert q["row"].to_list() == [4, 8, 10]
    assert set(q["file"]) == {"claims.csv"}
    errors = " ".join(q["error"])
    assert "national code" in errors and "money" in errors and "date" in errors
    assert res.lines.height + q.height == 50


def test_ground_truth_scores_from_a_results_folder(synth_dir, tmp_path):
    _run(synth_dir, tmp_path)
    scores = {r["anomaly"]: r for r in score_run(synth_dir / "truth.parquet", tmp_path).iter_rows(named=True)}
    for kind in ("duplicate_exact", "overlapping_cover", "out_of_cover"):
        if scores[kind]["expected"]:
            assert scores[kind]["recall"] == 1.0, kind
            assert scores[kind]["precision"] >= 0.99, kind


def test_store_run_is_recorded_once(synth_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'adj.db'}"
    first = _run(synth_dir, tmp_path / "a", store=url)
    again = _run(synth_dir, tmp_path / "b", store=url)
    assert first.summary["run_id"] == again.summary["run_id"]


def test_cli_ruleset_check_reports_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: x\nversion: '1'\nrules:\n  - id: A\n    when: line.quantiy > 1\n    deny: NOPE\n")
    res = CliRunner().invoke(cli.main, ["ruleset", "check", str(bad)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert "bad.yaml:5:11: E102 unknown field 'line.quantiy'" in res.output
    assert "did you mean 'line.quantity'?" in res.output
    assert "E205 unknown reason code 'NOPE'" in res.output


def test_cli_ruleset_test_runs_shipped_examples():
    res = CliRunner().invoke(cli.main, ["ruleset", "test", str(RULESETS / "ihio")])
    assert res.exit_code == 0, res.output
    assert " 0 failed" in res.output


def test_cli_adjudicate_prints_summary(synth_dir, tmp_path):
    res = CliRunner().invoke(cli.main, [
        "adjudicate", str(synth_dir / "claims.parquet"), "--members", str(synth_dir / "members.parquet"),
        "--coverage", str(synth_dir / "coverage.parquet"), "--providers", str(synth_dir / "providers.parquet"),
        "--out", str(tmp_path / "out"), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "lines by decision" in res.output and "top reasons" in res.output
    assert (tmp_path / "out" / "lines.csv").exists()


def test_cli_missing_option_is_a_usage_error(synth_dir):
    res = CliRunner().invoke(cli.main, ["adjudicate", str(synth_dir / "claims.parquet"), "--out", "x"])
    assert res.exit_code == 2 and "Missing option" in res.output


def test_cli_demo_small(tmp_path):
    res = CliRunner().invoke(cli.main, ["demo", "--out", str(tmp_path / "demo"), "--lines", "4000",
                                        "--members", "1000"])
    assert res.exit_code == 0, res.output
    assert "anomaly detection against the ground truth" in res.output
    assert (tmp_path / "demo" / "adjudicator.db").exists()
    assert (tmp_path / "demo" / "results" / "summary.json").exists()


def test_cli_check_and_explain_one_claim(synth_dir, tmp_path):
    claims = pl.read_parquet(synth_dir / "claims.parquet")
    first = claims.filter(pl.col("claim_id") == claims["claim_id"][0])
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(first.to_dicts(), default=str))
    ref = ["--members", str(synth_dir / "members.parquet"), "--coverage", str(synth_dir / "coverage.parquet"),
           "--providers", str(synth_dir / "providers.parquet")]
    res = CliRunner().invoke(cli.main, ["check", str(path), *ref])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["claim_id"] == first["claim_id"][0]
    assert sorted(x["line_no"] for x in out["lines"]) == sorted(first["line_no"].to_list())
    assert all(x["decision"] in ("approved", "adjusted", "denied", "pended") for x in out["lines"])
    res = CliRunner().invoke(cli.main, ["explain", str(path), *ref])
    assert res.exit_code == 0, res.output
    for line_no in first["line_no"]:
        assert f"line {line_no} " in res.output
    assert "when " in res.output  # every rule of the line's ruleset is listed with its condition
