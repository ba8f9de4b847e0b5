"""A loaded ruleset with both backends: what ``load_ruleset`` returns and what the engine holds.

``evaluate(frame, history, backend=...)`` runs the rules (not the benefits) over a frame of prepared claim lines on
either backend and returns the same two frames, which is what the differential tests compare. The Python backend
here loops over rows on purpose: it is the point-of-service path being exercised, not a batch path.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import polars as pl

from adjudicator.rules import ir, semantics
from adjudicator.rules.parse import Loaded, load_file
from adjudicator.rules.to_polars import FINDING_SCHEMA, PolarsRuleset
from adjudicator.rules.to_python import PythonRuleset, claim_facts

OUTPUTS = ("allowed_quantity", "allowed_amount", "__denied", "__pended", "__adjusted", "__member_red", "rules")


class Ruleset:
    """A checked ruleset, its tables, and its two compiled forms (built on first use)."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.ir: ir.Ruleset = loaded.ruleset
        self.id, self.ref, self.digest, self.kind = self.ir.id, self.ir.ref, self.ir.digest, self.ir.kind

    @cached_property
    def polars(self) -> PolarsRuleset:
        return PolarsRuleset(self.loaded)

    @cached_property
    def python(self) -> PythonRuleset:
        return PythonRuleset(self.loaded)

    def __repr__(self) -> str:
        return f"Ruleset({self.ref}, {len(self.ir.rules)} rules, digest {self.digest})"

    def output_columns(self) -> list[str]:
        return [*OUTPUTS[:-1], *semantics.set_fields(self.ir), "rules"]

    def evaluate(self, frame: pl.DataFrame, history: pl.DataFrame | None = None, *, backend: str = "polars"
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Rule outputs per line (claim_id, line_no, outputs) and findings, on one backend."""
        keep = ["claim_id", "line_no", *self.output_columns()]
        if backend == "polars":
            lines, findings = self.polars.evaluate(frame, history)
            return lines.select(keep).sort("claim_id", "line_no"), findings.sort(["claim_id", "line_no", "__seq"])
        return self._evaluate_python(frame, history, keep)

    def _evaluate_python(self, frame, history, keep):
        prs = self.python
        index = prs.new_index()
        prepared = []
        for part, is_batch in ((history, False), (frame, True)):
            if part is None or part.height == 0:
                continue
            rows = part.to_dicts()
            by_claim: dict[str, list[dict]] = {}
            for r in rows:
                by_claim.setdefault(r["claim_id"], []).append(r)
            facts = {c: claim_facts(ls) for c, ls in by_claim.items()}
            for r in rows:
                L = prs.prepare(r, facts[r["claim_id"]])
                index.add(L, counts=r.get("__counts", True) is not False)
                if is_batch:
                    prepared.append(L)
        outs, findings = [], []
        for L in prepared:
            index.fill(L)
            out, f = prs.evaluate(L)
            out["claim_id"], out["line_no"] = L["claim_id"], L["line_no"]
            outs.append(out)
            findings.extend(f)
        schema = {"claim_id": pl.String, "line_no": pl.Int64, "allowed_quantity": pl.Int64,
                  "allowed_amount": pl.Int64, "__denied": pl.Boolean, "__pended": pl.Boolean,
                  "__adjusted": pl.Boolean, "__member_red": pl.Int64, "rules": pl.List(pl.String)}
        lines = pl.DataFrame(outs, schema_overrides=schema, infer_schema_length=None) if outs else \
            pl.DataFrame(schema=schema)
        fr = pl.DataFrame(findings, schema=FINDING_SCHEMA) if findings else pl.DataFrame(schema=FINDING_SCHEMA)
        return lines.select([c for c in keep if c in lines.columns]).sort("claim_id", "line_no"), \
            fr.sort(["claim_id", "line_no", "__seq"])


def load_ruleset(path: str | Path) -> Ruleset:
    """Load, check and compile a ruleset file; raises RulesetError listing every diagnostic."""
    return Ruleset(load_file(path))
