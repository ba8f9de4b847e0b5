"""Eligibility (استحقاق‌سنجی), the batch stage: for every claim line, the cover in force on its service date.

Which span answers for a line: among the member's *basic* spans of the *billed* insurer with
``start_date <= service_date <= end_date`` (end null = open; both bounds inclusive), the one that started latest;
ties go to the lowest plan (null plan last), then an active span, then the later end, then the earlier input row.
A later-starting span therefore overrides an earlier one, which is how suspensions and back-dated corrections are
recorded. The same order picks the *effective* span of every other insurer and the named supplementary span.

Reasons, at most one ELIG finding per line, in priority order (action ``deny``):

=================== ================= ========= ==========================================================
rule                reason            liability when
=================== ================= ========= ==========================================================
ELIG.DECEASED       MEMBER_DECEASED   member    the member died before the service (day of death is covered)
ELIG.NOT_ENROLLED   NOT_ENROLLED      member    the member is not in the members frame, or has no basic span
ELIG.WRONG_INSURER  WRONG_INSURER     provider  no span of the billed insurer that day, but another insurer's
                                                effective basic span that day is active
ELIG.SUSPENDED      COVER_SUSPENDED   member    the billed insurer's span that day is not ``active``
ELIG.NOT_IN_FORCE   NOT_IN_FORCE      member    no span of the billed insurer that day (not started / ended)
=================== ================= ========= ==========================================================

Supplementary validity (``SUPP.NOT_VALID``, flag, member) follows ``dedup.supplementary``. The work is one
numba pass over the lines against a ``CoverageIndex``; pass a prebuilt index as ``coverage`` to reuse it across
batches (the coverage registry changes far less often than claims arrive).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from adjudicator.chunks import THREADS, each_chunk
from adjudicator.dedup.supplementary import SUPP_REASONS, SUPP_RULE
from adjudicator.eligibility import kernels as K
from adjudicator.eligibility.index import DATE_NONE, CoverageIndex, build_index, date_days, encode

__all__ = [
    "ELIG_REASONS",
    "FINDINGS_SCHEMA",
    "COVERAGE_COLUMNS",
    "SUPPLEMENTARY_COLUMNS",
    "eligibility",
    "evaluate",
    "strings",
    "eligibility_report",
]

# code -> (rule_id, reason_code, action, liability)
ELIG_REASONS: dict[int, tuple[str, str, str, str]] = {
    K.DECEASED: ("ELIG.DECEASED", "MEMBER_DECEASED", "deny", "member"),
    K.NOT_ENROLLED: ("ELIG.NOT_ENROLLED", "NOT_ENROLLED", "deny", "member"),
    K.WRONG_INSURER: ("ELIG.WRONG_INSURER", "WRONG_INSURER", "deny", "provider"),
    K.SUSPENDED: ("ELIG.SUSPENDED", "COVER_SUSPENDED", "deny", "member"),
    K.NOT_IN_FORCE: ("ELIG.NOT_IN_FORCE", "NOT_IN_FORCE", "deny", "member"),
}

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.String,
    "line_no": pl.Int64,
    "rule_id": pl.String,
    "reason_code": pl.String,
    "action": pl.String,
    "liability": pl.String,
}

# the string fields are pl.Enum over the coverage index's vocabularies (KINDS for kind); ``strings`` decodes them
KINDS = ["basic"]
COVERAGE_COLUMNS: dict[str, type[pl.DataType]] = {
    "coverage.insurer_id": pl.Enum,
    "coverage.kind": pl.Enum,
    "coverage.fund": pl.Enum,
    "coverage.plan": pl.Enum,
    "coverage.start_date": pl.Date,
    "coverage.end_date": pl.Date,
    "coverage.status": pl.Enum,
}
SUPPLEMENTARY_COLUMNS: dict[str, type[pl.DataType]] = {
    "supplementary.insurer_id": pl.Enum,
    "supplementary.fund": pl.Enum,
    "supplementary.plan": pl.Enum,
    "supplementary.start_date": pl.Date,
    "supplementary.end_date": pl.Date,
    "supplementary.status": pl.Enum,
    "supplementary.waiting_days": pl.Int64,
    "supplementary.valid": pl.Boolean,
}


def evaluate(lines: pl.DataFrame, index: CoverageIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ELIG code, SUPP code, basic span, supplementary span) per line (spans as ``kernels.O_*`` rows)."""
    n = lines.height
    keys, lins, lsup = np.empty(n, np.int64), np.empty(n, np.int32), np.full(n, -2, np.int32)
    has_sup = "supplementary_insurer_id" in lines.columns

    def codes(off: int, k: int) -> None:  # the kernel's inputs a chunk at a time (``adjudicator.chunks``)
        part = lines.slice(off, k)
        keys[off:off + k] = index.member_keys(part["member_id"])
        lins[off:off + k] = encode(part["insurer_id"], index.insurers)
        if has_sup:
            lsup[off:off + k] = encode(part["supplementary_insurer_id"], index.insurers, missing=-1, null=-2)

    each_chunk(n, codes)
    mid = K.probe(keys, index.tkeys, index.tvals)
    ldate = date_days(lines["service_date"], -(2**31))
    return K.evaluate(mid, lins, lsup, ldate, index.meminfo, index.spans, index.classes)


def _decode(index: CoverageIndex, out: np.ndarray, supplementary: bool) -> list[pl.Series]:
    """The contract columns of the kernel's per-line spans (class, start, end, waiting).

    The string fields are ``pl.Enum`` columns over the index's vocabularies: one byte a line gathered from a table
    of the few span classes, where ``pl.String`` would write sixteen (nine such columns on 10M lines were 1.4 GB of
    fresh memory, most of the stage's time). Readers that need strings decode the columns they read
    (``rules.to_polars`` does).
    """
    rows = pl.Series((out[K.O_CLASS] + 1).view(np.uint32))  # 0: no span

    def field(f: int, vocab: list[str], kind: bool = False) -> pl.Series:
        # row 0 answers "no span", row c + 1 class c
        codes = index.classes[:, f].tolist()
        if kind:  # (null when the span's insurer is: the stage has always read it so)
            values = ["basic" if c >= 0 else None for c in codes]
        else:
            values = [vocab[c] if 0 <= c < len(vocab) else None for c in codes]
        return pl.Series([None, *values], dtype=pl.Enum(vocab)).gather(rows)

    def masked(values: np.ndarray, none) -> pl.Series:
        # the kernel's numpy buffer as the column's values (no copy), its "none" rows as nulls
        return pl.Series(np.ma.masked_array(values, mask=values == none))

    def day(values: np.ndarray) -> pl.Series:
        return masked(values, DATE_NONE).cast(pl.Date)

    cols = [field(K.C_INS, index.insurers)]
    if not supplementary:
        cols.append(field(K.C_INS, KINDS, kind=True))
    cols += [field(K.C_FUND, index.funds), field(K.C_PLAN, index.plans), day(out[K.O_START]), day(out[K.O_END]),
             field(K.C_STATUS, index.statuses)]
    if supplementary:
        cols.append(masked(out[K.O_WAIT].astype(np.int64), K.WAIT_NULL))
    schema = SUPPLEMENTARY_COLUMNS if supplementary else COVERAGE_COLUMNS
    return [c.alias(name) for c, name in zip(cols, schema)]


def _findings(lines: pl.DataFrame, elig: np.ndarray, supp: np.ndarray) -> pl.DataFrame:
    """ELIG findings in line order, then SUPP findings in line order."""
    table = {**ELIG_REASONS, **{100 + k: (SUPP_RULE, r, "flag", "member") for k, r in SUPP_REASONS.items()}}
    e_rows = np.flatnonzero(elig > 0)
    s_rows = np.flatnonzero(supp > 0)
    if not e_rows.size and not s_rows.size:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    rows = pl.Series(np.concatenate([e_rows, s_rows]))
    codes = pl.Series(np.concatenate([elig[e_rows].astype(np.int32), supp[s_rows].astype(np.int32) + 100]))
    # each field is a gather from a small table indexed by code
    fields = {name: pl.Series([table.get(c, (None,) * 4)[i] for c in range(max(table) + 1)], dtype=pl.String)
              for i, name in enumerate(("rule_id", "reason_code", "action", "liability"))}
    return pl.DataFrame({
        "claim_id": lines["claim_id"].gather(rows),
        "line_no": lines["line_no"].gather(rows).cast(pl.Int64),
        **{name: values.gather(codes) for name, values in fields.items()},
    })


def eligibility(
    lines: pl.DataFrame, coverage: pl.DataFrame | CoverageIndex, members: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(lines with ``coverage.*`` and ``supplementary.*`` columns, stage findings). Row order and count kept."""
    index = coverage if isinstance(coverage, CoverageIndex) else build_index(coverage, members)
    elig, supp, cov_out, sup_out = evaluate(lines, index)
    valid = pl.Series("supplementary.valid", np.ma.masked_array(supp == K.SUPP_VALID, mask=supp == K.SUPP_NONE))
    # the output columns are gathers into fresh memory (polars releases the GIL): the basic cover's, the
    # supplementary cover's and the findings side by side
    with ThreadPoolExecutor(THREADS) as ex:
        basic = ex.submit(_decode, index, cov_out, supplementary=False)
        extra = ex.submit(_decode, index, sup_out, supplementary=True)
        findings = ex.submit(_findings, lines, elig, supp)
        out = lines.with_columns([*basic.result(), *extra.result(), valid])
        return out, findings.result()


def strings(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its ``pl.Enum`` columns as ``pl.String`` (for files and readers that need plain strings)."""
    return frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Enum)


def _read_claims(claims: pl.DataFrame | str | Path) -> pl.DataFrame:
    if isinstance(claims, pl.DataFrame):
        return claims
    path = Path(claims)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix in (".ndjson", ".jsonl"):
        return pl.read_ndjson(path)
    return pl.read_csv(path, try_parse_dates=True, schema_overrides={"member_id": pl.String, "line_no": pl.Int64})


def eligibility_report(
    claims: pl.DataFrame | str | Path,
    coverage: pl.DataFrame | CoverageIndex,
    members: pl.DataFrame | None,
    out_dir: str | Path,
) -> dict:
    """Write ``eligibility.parquet`` (keys + coverage columns), ``findings.parquet`` and ``summary.json``."""
    lines = _read_claims(claims)
    out, findings = eligibility(lines, coverage, members)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = [c for c in ("claim_id", "line_no", "member_id", "insurer_id", "supplementary_insurer_id",
                        "service_date") if c in out.columns]
    strings(out.select(*keep, *COVERAGE_COLUMNS, *SUPPLEMENTARY_COLUMNS)).write_parquet(out_dir / "eligibility.parquet")
    findings.write_parquet(out_dir / "findings.parquet")
    by_reason = findings.group_by("reason_code").len().sort("reason_code")
    elig_denied = findings.filter(pl.col("rule_id").str.starts_with("ELIG.")).height
    summary = {
        "lines": out.height,
        "eligible": out.height - elig_denied,
        "not_eligible": elig_denied,
        "by_reason": dict(zip(by_reason["reason_code"].to_list(), by_reason["len"].to_list())),
        "supplementary_named": int(out["supplementary.valid"].is_not_null().sum()),
        "supplementary_valid": int(out["supplementary.valid"].sum() or 0),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary
