"""Fuzzing the loader: junk expression text and junk YAML documents never make it raise anything but RulesetError,
and a RulesetError always carries at least one diagnostic located at line ≥ 1, column ≥ 1. When junk happens to be
a valid ruleset, both backends must still compile it."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adjudicator.errors import RulesetError
from adjudicator.rules.compiled import Ruleset
from adjudicator.rules.parse import TOP_KEYS, Loader
from tests.rules.conftest import FIXTURES

TOKENS = [
    "line.quantity", "line.billed_amount", "line.allowed_amount", "line.service_date", "line.modifier",
    "line.diagnosis_codes", "line.quantiy", "member.age", "member.sex", "coverage.fund", "claim.codes", "tariff.price",
    "tariff.group", "tariff", "ptp", "params.visit_limit", "params.nope", "basic.insurer_paid", "rx.event", "line",
    "(", ")", "[", "]", ",", ":", "and", "or", "not", "in", "is", "null", "None", "missing", "true", "False", "if",
    "else", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%", "**", "@", "~", "0", "1", "-1", "3.5",
    "1e999", "30%", "7.5%", "0.001%", "'x'", '"59"', '"1404/01/01"', '"2025-02-30"', "'", '"', "prior_count(",
    "prior_sum(", "per=[line.member_id]", "per=[benefit_year]", "per=[x]", "within=", '"30d"', '"1m"', '"benefit_year"',
    '"7w"', "where=", "pair(ptp)", "pair(tariff)", "pair(", "min(", "max(", "abs(", "round(", "len(", "startswith(",
    "any_startswith(", "days_between(", "age_at(", "jalali_year(", "__rate__(", "__import__('os')", "lambda x: x",
    "x.y.z", "f'{1}'", "{1: 2}", "[x for x in y]", "\n", "\t", "#", "\\", "λ", "۱۴۰۴", "\x00",
]

expressions = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
    st.text(max_size=40),
    st.integers(), st.booleans(), st.none(), st.floats(allow_nan=True),
)

ACTION_KEYS = st.sampled_from(["deny", "pend", "flag", "limit_quantity", "cap_amount", "set", "reason", "when",
                               "liability", "id", "whenn"])


def check_loader(text: str) -> None:
    try:
        loaded = Loader(FIXTURES / "fuzz.yaml", text, "fuzz.yaml").load()
    except RulesetError as e:
        assert e.diagnostics, "a RulesetError without diagnostics"
        assert all(d.line >= 1 and d.col >= 1 for d in e.diagnostics), e.diagnostics
        assert str(e)
        return
    rs = Ruleset(loaded)
    rs.python  # noqa: B018 - compiling is the check
    rs.polars  # noqa: B018


def ruleset_doc(rules, scope=None, params=None) -> str:
    doc = {"ruleset": "fuzz.x", "version": "1",
           "tables": {"tariff": {"path": "tables/tariff.csv", "key": ["service_code"],
                                 "valid": ["valid_from", "valid_to"]},
                      "ptp": {"path": "tables/pairs.csv", "pair": ["code_1", "code_2"]}},
           "params": params or {"visit_limit": 1}, "rules": rules}
    if scope is not None:
        doc["scope"] = scope
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=expressions, value=expressions, action=st.sampled_from(["deny", "pend", "flag", "limit_quantity",
                                                                      "cap_amount", "set"]))
def test_junk_expressions_only_raise_ruleset_error(when, value, action):
    rule = {"id": "R-1", "when": when}
    if action in ("deny", "pend", "flag"):
        rule[action] = "INVALID_QUANTITY"
    elif action == "set":
        rule["set"] = {"member_share": value, "tier": when}
    else:
        rule[action] = value
        rule["reason"] = "ABOVE_TARIFF"
    check_loader(ruleset_doc([rule, {"id": "R-2", "when": value, "flag": "MANUAL_REVIEW"}], scope=when))


@settings(max_examples=40, deadline=None)
@given(expr=expressions)
def test_junk_in_params_and_benefits(expr):
    doc = yaml.safe_load(ruleset_doc([{"id": "R", "deny": "INVALID_QUANTITY", "when": "line.quantity < 0"}],
                                     params={"p": expr, "q": "5%"}))
    doc["benefits"] = {"member_share": [{"when": expr, "rate": expr}, {"rate": "30%"}],
                       "caps": [{"id": "C", "per": ["member_id"], "amount": expr, "where": expr}],
                       "deductible": [{"per": [expr], "amount": 0, "when": expr}]}
    check_loader(yaml.safe_dump(doc, allow_unicode=True))


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12), st.dates(),
              st.sampled_from(TOKENS)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(list(TOP_KEYS)), ACTION_KEYS, st.text(max_size=6)), children,
                        max_size=5)),
    max_leaves=25,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(st.sampled_from(list(TOP_KEYS) + ["rulez"]), yaml_values, max_size=8))
def test_junk_structures_only_raise_ruleset_error(doc):
    check_loader(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(
    st.text(max_size=200),
    st.text(alphabet=string.printable + "λ۱", max_size=200),
    st.lists(st.sampled_from(["ruleset: x\n", "rules:\n", "  - id: A\n", "    when: ", "deny: X\n", "- ", ": ",
                              "{", "}", "[", "]", "&a ", "*a ", "!!python/object:os.system ", "---\n", "...\n",
                              "  ", "\t", "'", '"', "|\n", ">\n", "? ", "%YAML 1.2\n", "@", "`"]),
             max_size=30).map("".join),
))
def test_junk_text_only_raises_ruleset_error(text):
    check_loader(text)


def test_rules_with_unhashable_and_odd_ids():
    for rules in ([{"id": [1], "deny": "X"}], [{"id": {"a": 1}, "deny": "INVALID_QUANTITY"}], [None], [[]],
                  [{"id": "A", "set": {"": "1"}}], [{"id": "A", "set": {"line.x": 1}}],
                  [{"id": "A", "deny": ["INVALID_QUANTITY"]}], [{"id": "A", "deny": None}]):
        check_loader(ruleset_doc(rules))
