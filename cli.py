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


# --- store --------------------------------------------------------------------------------------------------------

DEFAULT_STORE = "sqlite:///adjudicator.db"


@main.group()
def store():
    """The store: rulesets, runs, results, history and the audit of checks (SQLite or PostgreSQL)."""


def _store_call(fn, *args):
    from adjudicator.errors import StoreError
    try:
        return fn(*args)
    except StoreError as e:
        _fail(f"store error: {e}")


@store.command("init")
@click.option("--store", "url", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
def store_init(url):
    """Create the store, or upgrade an older one to this version's schema."""
    from adjudicator.store import commands
    info = _store_call(commands.init, url)
    upgraded = f" (upgraded from version {info['upgraded_from']})" if info.get("upgraded_from") else ""
    click.echo(f"store {info['url']}: schema version {info['schema_version']}{upgraded}")


@store.command("runs")
@click.option("--store", "url", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
def store_runs(url):
    """List the runs recorded in the store."""
    from adjudicator.store import commands
    frame = _store_call(commands.runs, url)
    if frame.height == 0:
        click.echo("no runs")
        return
    with __import__("polars").Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200):
        click.echo(str(frame))


@store.command("show")
@click.argument("run_id", type=int)
@click.option("--store", "url", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
def store_show(run_id, url):
    """One run: inputs, ruleset digests, counts by decision and timings."""
    from adjudicator.store import commands
    click.echo(json.dumps(_store_call(commands.show, url, run_id), ensure_ascii=False, indent=2, default=str))


@store.command("export")
@click.argument("run_id", type=int)
@click.option("--store", "url", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "ndjson"]), default="parquet", show_default=True)
def store_export(run_id, url, out_dir, fmt):
    """Write a run's lines, findings and claims to --out."""
    from adjudicator.store import commands
    for name, path in _store_call(commands.export, url, run_id, out_dir, fmt).items():
        click.echo(f"{name}: {path}")


# --- point of service ---------------------------------------------------------------------------------------------

def _reference_options(f):
    for opt in reversed([
        click.option("--rulesets", "rulesets_dir", type=click.Path(exists=True), default=str(BUILTIN_RULESETS),
                     show_default=True, help="A ruleset file or a folder of rulesets."),
        click.option("--members", type=click.Path(exists=True, dir_okay=False), required=True),
        click.option("--coverage", type=click.Path(exists=True, dir_okay=False), required=True),
        click.option("--providers", type=click.Path(exists=True, dir_okay=False), required=True),
        click.option("--store", default=None, help="SQLAlchemy URL: member history, and the audit of checks."),
    ]):
        f = opt(f)
    return f


def _claim_input(path: str):
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        _fail(f"{path}: not a JSON document: {e}")
    if isinstance(data, dict) and "lines" in data and data.get("resourceType") != "Claim":
        data = data["lines"]
    if not (isinstance(data, list) and all(isinstance(x, dict) for x in data)) and not (
            isinstance(data, dict) and data.get("resourceType") in ("Claim", "CoverageEligibilityRequest")):
        _fail(f"{path}: expected a FHIR Claim or CoverageEligibilityRequest, a list of line objects, "
              f"or {{\"lines\": [...]}}")
    return data


def _engine(rulesets_dir, members, coverage, providers, store):
    from adjudicator import Engine
    from adjudicator.errors import AdjudicatorError, RulesetError
    try:
        return Engine(rulesets_dir, members=members, coverage=coverage, providers=providers, store=store)
    except RulesetError as e:
        _fail(str(e))
    except AdjudicatorError as e:
        _fail(f"error: {e}")


@main.command()
@click.argument("claim", type=click.Path(exists=True, dir_okay=False))
@_reference_options
@click.option("--fhir", is_flag=True, help="Print a FHIR R4 ClaimResponse instead of the decision.")
@click.option("--commit", "do_commit", is_flag=True, help="Record the claim in the store's history after the check.")
def check(claim, rulesets_dir, members, coverage, providers, store, fhir, do_commit):
    """Check one claim (CLAIM.json: a FHIR Claim or a list of lines) at the point of service."""
    from adjudicator import fhir as fhirmod
    from adjudicator.errors import AdjudicatorError
    data = _claim_input(claim)
    engine = _engine(rulesets_dir, members, coverage, providers, store)
    if isinstance(data, dict) and data.get("resourceType") == "CoverageEligibilityRequest":
        click.echo(json.dumps(engine.check_eligibility(data, created=time.strftime("%Y-%m-%d")),
                              ensure_ascii=False, indent=2, default=str))
        return
    try:
        decision = engine.check(data)
        if do_commit:
            engine.commit(decision)
    except AdjudicatorError as e:
        _fail(f"error: {e}")
    if fhir:
        resource = data if isinstance(data, dict) else {"resourceType": "Claim", "id": decision.claim_id}
        errors = [fhirmod.ClaimInputError(e.get("line_no"), "Claim", "; ".join(e["errors"]))
                  for e in decision.errors]
        out = fhirmod.claim_response(resource, decision.lines, decision.findings, errors,
                                     created=time.strftime("%Y-%m-%d"))
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(json.dumps({"claim_id": decision.claim_id, "decision": decision.decision,
                           "lines": [{k: v for k, v in line.items() if not k.startswith("__")}
                                     for line in decision.lines],
                           "findings": [{k: v for k, v in f.items() if not k.startswith("__")}
                                        for f in decision.findings],
                           "counters": decision.counters, "errors": decision.errors},
                          ensure_ascii=False, indent=2, default=str))


@main.command()
@click.argument("claim", type=click.Path(exists=True, dir_okay=False))
@_reference_options
def explain(claim, rulesets_dir, members, coverage, providers, store):
    """Print every rule that ran on each line of CLAIM.json, whether it fired, and the values it read."""
    from adjudicator.explain import explain as explain_decision
    data = _claim_input(claim)
    engine = _engine(rulesets_dir, members, coverage, providers, store)
    decision = engine.check(data, audit=False)
    for e in decision.errors:
        click.echo(f"line {e.get('line_no')}: not adjudicated: {'; '.join(e['errors'])}")
    for entry in explain_decision(engine, decision):
        click.echo(f"line {entry['line_no']} {entry['service_code']}: {entry['decision']}"
                   f"{' (' + entry['primary_reason'] + ')' if entry['primary_reason'] else ''}"
                   f" — ruleset {entry['ruleset'] or 'none'}")
        for r in entry["engine"]:
            click.echo(f"  FIRED  {r}")
        for r in entry["rules"]:
            mark = {True: "FIRED ", False: "  -   ", None: "  set "}[r["fired"]]
            values = ", ".join(f"{k} = {v!r}" for k, v in r["read"].items())
            click.echo(f"  {mark} {r['id']:<10} {r['action']:<15} when {r['when']}")
            if values:
                click.echo(f"           read: {values}")


# --- eligibility and overlap --------------------------------------------------------------------------------------

@main.command()
@click.argument("claims", type=click.Path(exists=True, dir_okay=False))
@click.option("--coverage", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--members", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
def eligibility(claims, coverage, members, out_dir):
    """Coverage in force for every claim line, with the reason when not eligible."""
    from adjudicator import io
    from adjudicator.eligibility.batch import eligibility_report
    from adjudicator.errors import AdjudicatorError
    try:
        lines, q1 = io.read_source(claims, "claims")
        cov, q2 = io.read_source(coverage, "coverage")
        mem, q3 = io.read_source(members, "members")
        summary = eligibility_report(lines.drop("__row"), cov.drop("__row"), mem.drop("__row"), out_dir)
        quarantine = __import__("polars").concat([q1, q2, q3])
        io.write_frame(quarantine, Path(out_dir) / "quarantine.parquet", "parquet")
    except AdjudicatorError as e:
        _fail(f"error: {e}")
    summary["quarantined"] = quarantine.height
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))


@main.command()
@click.argument("coverage", type=click.Path(exists=True, dir_okay=False))
@click.option("--members", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--policy", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Priority policy YAML (default: the IHIO policy).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
def overlap(coverage, members, policy, out_dir):
    """Members with overlapping basic covers, which cover is primary, and per insurer the covers to end."""
    from adjudicator import io
    from adjudicator.dedup.overlap import DEFAULT_POLICY, overlap_report
    from adjudicator.errors import AdjudicatorError
    try:
        cov, q1 = io.read_source(coverage, "coverage")
        mem = None
        if members:
            mem, _ = io.read_source(members, "members")
            mem = mem.drop("__row")
        summary = overlap_report(cov.drop("__row"), mem, policy or DEFAULT_POLICY, out_dir)
    except AdjudicatorError as e:
        _fail(f"error: {e}")
    summary["quarantined_coverage_rows"] = q1.height
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))


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
                   f"precision {_ratio(r['precision'])}  recall {_ratio(r['recall'])}")
    click.echo(f"results in {out_dir}/results/")


@main.command("score")
@click.argument("truth", type=click.Path(exists=True, dir_okay=False))
@click.argument("results", type=click.Path(exists=True, file_okay=False))
def score(truth, results):
    """Precision and recall per anomaly type of a run's RESULTS folder against a synth TRUTH file."""
    from adjudicator.api import score_run
    for r in score_run(truth, results).iter_rows(named=True):
        click.echo(f"{r['anomaly']:<26} expected {r['expected']:>6,}  detected {r['detected']:>6,}  "
                   f"tp {r['true_positives']:>6,}  precision {_ratio(r['precision'])}  recall {_ratio(r['recall'])}")


def _ratio(v) -> str:
    return "  n/a" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
