"""Embedded ruleset tests (``tests:``) run on both backends: the fixture's examples pass, and a wrong or
uncheckable expectation fails with a message that says which key and why."""

from __future__ import annotations

import datetime as dt

from adjudicator.rules.compiled import load_ruleset
from adjudicator.rules.examples import ExampleResult, example_frames, run_examples
from tests.rules.conftest import FIXTURES, HEADER, write_ruleset

EXAMPLES = FIXTURES / "examples" / "mini_tests.yaml"


def test_fixture_examples_pass_on_both_backends():
    results = run_examples(load_ruleset(EXAMPLES))
    assert len(results) == 12 and {r.backend for r in results} == {"polars", "python"}
    assert [r for r in results if not r.passed] == []


def failing(tmp_path, tests_yaml: str) -> list[ExampleResult]:
    body = HEADER.replace('version: "1"', 'version: "1"\neffective: {from: 1404/01/01}') + """\
  - id: QTY-001
    when: line.quantity <= 0
    deny: INVALID_QUANTITY
  - id: SHR
    set: {member_share: "10%"}
tests:
""" + tests_yaml
    return run_examples(load_ruleset(write_ruleset(tmp_path, body)))


def test_wrong_expectations_fail_with_the_key(tmp_path):
    results = failing(tmp_path, """\
  - name: wrong decision
    line: {quantity: 0, billed_amount: 5}
    expect: {decision: approved, rules: [QTY-001], allowed_amount: 1, member_share: 10%}
""")
    assert [(r.backend, r.passed, r.message) for r in results] == [
        (b, False, "decision: expected 'approved', got 'denied'; allowed_amount: expected 1, got 0")
        for b in ("polars", "python")]


def test_benefit_keys_are_reported_not_checked(tmp_path):
    results = failing(tmp_path, """\
  - name: benefits
    line: {quantity: 1, billed_amount: 5}
    expect: {decision: approved, insurer_paid: 4}
""")
    assert {r.message for r in results} == {"not checked by ruleset test: insurer_paid"}
    assert not any(r.passed for r in results)


def test_bad_example_input_is_a_failure_not_a_crash(tmp_path):
    results = failing(tmp_path, """\
  - name: bad date
    line: {service_date: 1404/13/40}
    expect: {decision: approved}
  - name: unknown member field
    member: {colour: blue}
    line: {}
    expect: {decision: approved}
""")
    assert [r.passed for r in results] == [False] * 4
    assert all(r.message.startswith("cannot build the example") for r in results)


def test_defaults_fill_the_required_columns():
    rs = load_ruleset(EXAMPLES)
    frame, history = example_frames(rs.ir, rs.ir.tests[2])
    row = frame.row(0, named=True)
    assert (row["claim_id"], row["line_no"], row["insurer_id"], row["setting"], row["provider_id"],
            row["quantity"]) == ("T1", 1, "TEST", "outpatient", "P1", 1)
    assert row["service_date"] == dt.date(2024, 7, 22)  # 1403/05/01
    assert history.row(0, named=True)["claim_id"] == "H1"
    frame, _ = example_frames(rs.ir, rs.ir.tests[0])
    assert frame.row(0, named=True)["service_date"] == rs.ir.effective_from
    assert frame.row(0, named=True)["member.birth_date"] == dt.date(1991, 3, 21)  # 1370/01/01
