"""The adjudicator command line: parses options, calls the library, prints. No logic of its own.

A user's mistake (a broken ruleset, a bad file, a missing option) ends with a clear message and exit code 1 or 2,
never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

BUILTIN_RULESETS = Path(__file__).resolve().parent / "rulesets"


def _fail(message: str, code: int = 1):
    click.echo(message, err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Adjudicate health-insurance claims with rulesets compiled to polars and Python."""


# --- ruleset ------------------------------------------------------------------------------------------------------

@main.group()
def ruleset():
    """Check, show and test rulesets."""


def _load(path: str):
    from adjudicator.errors import RulesetError
    from adjudicator.rules.compiled import load_ruleset
    try:
        return load_ruleset(path)
    except RulesetError as e:
        click.echo(str(e), err=True)
        n = len(e.diagnostics)
        _fail(f"{n} problem{'s' if n != 1 else ''} in {path}")


def _ruleset_files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        from adjudicator.engine import _is_ruleset
        return [f for f in sorted(p.rglob("*.yaml")) if _is_ruleset(f)]
    return [p]


@ruleset.command("check")
@click.argument("path", type=click.Path(exists=True))
def ruleset_check(path):
    """Load PATH (a file or a folder) and print every diagnostic; exit 1 on error."""
    from adjudicator.errors import RulesetError
    from adjudicator.rules.compiled import load_ruleset
    bad = 0
    for f in _ruleset_files(path):
        try:
            rs = load_ruleset(f)
            click.echo(f"{f}: ok — {rs.ref}, {len(rs.ir.rules)} rules, digest {rs.digest}")
        except RulesetError as e:
            click.echo(str(e), err=True)
            bad += 1
    if bad:
        _fail(f"{bad} ruleset(s) with errors")


@ruleset.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def ruleset_show(path):
    """Print the normalised IR of a ruleset."""
    from adjudicator.rules.pretty import ruleset_text
    click.echo(ruleset_text(_load(path).ir))


@ruleset.command("test")
@click.argument("path", type=click.Path(exists=True))
def ruleset_test(path):
    """Run the embedded tests: of a ruleset on both backends."""
    from adjudicator.rules.examples import run_examples
    failed = total = 0
    for f in _ruleset_files(path):
        rs = _load(str(f))
        for r in run_examples(rs):
            total += 1
            mark = "PASS" if r.passed else "FAIL"
            failed += not r.passed
            click.echo(f"{mark} {rs.ref} [{r.backend}] {r.name}" + ("" if r.passed else f": {r.message}"))
    click.echo(f"{total - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


# --- adjudicate ---------------------------------------------------------------------------------------------------

@main.command()
@click.argument("claims", type=click.Path(exists=True, dir_okay=False))
@click.option("--rulesets", "rulesets_dir", type=click.Path(exists=True), default=str(BUILTIN_RULESETS),
              show_default=True, help="A ruleset file or a folder of rulesets.")
@click.option("--members", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--coverage", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--providers", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--store", default=None, help="SQLAlchemy URL of the store (history, runs, audit).")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Overlap priority policy (default: the IHIO policy).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "ndjson"]), default="parquet", show_default=True)
def adjudicate(claims, rulesets_dir, members, coverage, providers, store, policy, out_dir, fmt):
    """Adjudicate CLAIMS: write lines, findings, claims, quarantine and summary.json to --out."""
    from adjudicator.api import run_adjudication
    from adjudicator.errors import AdjudicatorError, RulesetError
    try:
        result = run_adjudication(claims, rulesets=rulesets_dir, members=members, coverage=coverage,
                                  providers=providers, store=store, policy=policy, out_dir=out_dir, fmt=fmt,
                                  progress=_progress())
    except RulesetError as e:
        _fail(str(e))
    except AdjudicatorError as e:
        _fail(f"error: {e}")
    click.echo(format_summary(result.summary))
    click.echo(f"results in {out_dir}/")


def _progress():
    if not sys.stderr.isatty():
        return None
    start = time.perf_counter()

    def tick(stage: str):
        click.echo(f"\r  … {stage} ({time.perf_counter() - start:.1f}s)", err=True, nl=False)
        if stage == "done":
            click.echo("", err=True)
    return tick


def format_summary(s: dict) -> str:
    out = [f"{s['lines']:,} lines in {s['claims']:,} claims ({s['quarantined']:,} rows quarantined, "
           f"{s['rows_in']:,} read)"]
    out.append("lines by decision: " + ", ".join(f"{k} {v:,}" for k, v in s["lines_by_decision"].items()))
    a = s["amounts"]
    out.append("amounts (Rials): " + ", ".join(f"{k.replace('_amount', '')} {v:,}" for k, v in a.items()))
    out.append("top reasons:")
    out += [f"  {r['reason_code']:<28} {r['lines']:>9,} lines  {r['amount_effect'] or 0:>18,} Rials"
            for r in s["top_reasons"]]
    out.append("top providers by deductions:")
    out += [f"  {p['provider_id']:<28} {p['provider_deduction']:>18,} Rials" for p in s["top_providers_by_deduction"]]
    if "timings_s" in s:
        out.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in s["timings_s"].items()))
    return "\n".join(out)


# --- synth and demo -----------------------------------------------------------------------------------------------

@main.command()
@click.option("--members", "n_members", type=click.IntRange(1), default=20_000, show_default=True)
@click.option("--lines", "n_lines", type=click.IntRange(1), default=200_000, show_default=True)
@click.option("--seed", type=int, default=1404, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "ndjson"]), default="parquet", show_default=True)
def synth(n_members, n_lines, seed, out_dir, fmt):
    """Write a synthetic population, coverage, providers and claims with labelled anomalies."""
    from adjudicator import synth as syn
    data = syn.generate(members=n_members, lines=n_lines, seed=seed)
    syn.write(data, out_dir, fmt=fmt)
    click.echo(f"{data.members.height:,} members, {data.coverage.height:,} coverage spans, "
               f"{data.providers.height:,} providers, {data.claims.height:,} claim lines, "
               f"{data.truth.height:,} ground-truth rows → {out_dir}/")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/demo", show_default=True)
@click.option("--lines", "n_lines", type=click.IntRange(1), default=200_000, show_default=True)
@click.option("--members", "n_members", type=click.IntRange(1), default=20_000, show_default=True)
@click.option("--store", default=None, help="SQLAlchemy URL (default: an SQLite file in --out).")
def demo(out_dir, n_lines, n_members, store):
    """Synthesize a population and claims, adjudicate them with the shipped rulesets, print the summary."""
    from adjudicator.api import run_demo
    from adjudicator.errors import AdjudicatorError
    try:
        result, scores = run_demo(out_dir, n_lines=n_lines, n_members=n_members, store=store, progress=_progress())
    except AdjudicatorError as e:
        _fail(f"error: {e}")
    click.echo(format_summary(result.summary))
    click.echo("anomaly detection against the ground truth:")
    for r in scores.iter_rows(named=True):
        click.echo(f"  {r['anomaly']:<26} expected {r['expected']:>6,}  detected {r['true_positives']:>6,}  "
                   f"precision {r['precision']:.3f}  recall {r['recall']:.3f}")
    click.echo(f"results in {out_dir}/results/")


@main.command("score")
@click.argument("truth", type=click.Path(exists=True, dir_okay=False))
@click.argument("results", type=click.Path(exists=True, file_okay=False))
def score(truth, results):
    """Precision and recall per anomaly type of a run's RESULTS folder against a synth TRUTH file."""
    from adjudicator.api import score_run
    for r in score_run(truth, results).iter_rows(named=True):
        click.echo(f"{r['anomaly']:<26} expected {r['expected']:>6,}  detected {r['detected']:>6,}  "
                   f"tp {r['true_positives']:>6,}  precision {r['precision']:.3f}  recall {r['recall']:.3f}")


if __name__ == "__main__":
    main()
