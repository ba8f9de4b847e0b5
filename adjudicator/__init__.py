"""adjudicator: health-insurance claims adjudication with rulesets compiled to polars (batch) and Python (point of
service). The public API is listed in ``__all__``."""

from adjudicator import allocator  # noqa: F401 - first, before anything loads polars
from adjudicator.engine import Engine, Result
from adjudicator.errors import (
    AdjudicatorError,
    Diagnostic,
    InputError,
    RulesetConflictError,
    RulesetError,
    StoreError,
)
from adjudicator.rules.compiled import Ruleset, load_ruleset


def adjudicate(claims, *, rulesets, members=None, coverage=None, providers=None, store=None) -> Result:
    """One-shot batch adjudication: ``Engine(...).adjudicate(claims)``."""
    return Engine(rulesets, members=members, coverage=coverage, providers=providers, store=store).adjudicate(claims)


def check(claim, *, rulesets, members=None, coverage=None, providers=None, store=None):
    """One-shot point-of-service check (builds an Engine: keep an ``Engine`` and call ``engine.check`` instead
    when checking more than one claim)."""
    return Engine(rulesets, members=members, coverage=coverage, providers=providers, store=store).check(claim)


__all__ = [
    "AdjudicatorError",
    "Diagnostic",
    "Engine",
    "InputError",
    "Result",
    "Ruleset",
    "RulesetConflictError",
    "RulesetError",
    "StoreError",
    "adjudicate",
    "check",
    "load_ruleset",
]
