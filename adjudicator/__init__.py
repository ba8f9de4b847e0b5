"""adjudicator: health-insurance claims adjudication with rulesets compiled to polars and Python."""

from adjudicator.errors import AdjudicatorError, InputError, RulesetConflictError, RulesetError, StoreError

__all__ = [
    "AdjudicatorError",
    "InputError",
    "RulesetConflictError",
    "RulesetError",
    "StoreError",
]
