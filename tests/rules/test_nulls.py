"""Nulls: a null condition does not fire, arithmetic and functions of null are null, ``is null``, ``in`` with null,
Kleene ``and``/``or``, a null if/else condition takes the else branch — the same on both backends."""

from __future__ import annotations

import pytest

from tests.rules.conftest import D, adhoc, fired, line, run


def values(tmp_path, backend, sets: dict[str, str], **kw):
    body = "\n".join(f"    {k}: '{v}'" for k, v in sets.items())
    rs = adhoc(tmp_path, "- id: S\n  set:\n" + body)
    out, _ = run(rs, [line(**kw)], backend)
    return {k: out[("c1", 1)][k] for k in sets}


def firing(tmp_path, backend, conditions: dict[str, str], **kw):
    rules = "\n".join(f"- id: {rid}\n  when: '{c}'\n  flag: MANUAL_REVIEW"
                      for rid, c in conditions.items())
    rs = adhoc(tmp_path, rules)
    _, findings = run(rs, [line(**kw)], backend)
    return fired(findings)


NULL_MEMBER = {"member_birth_date": None, "member_sex": None, "modifier": None, "referral_id": None}


def test_null_condition_does_not_fire(tmp_path, backend):
    got = firing(tmp_path, backend, {
        "LT": "member.age < 18", "NOT-LT": "not (member.age < 18)", "NE": 'member.sex != "F"',
        "EQ": 'member.sex == "F"', "TAB": "tariff.min_age > 0", "IS": "member.age is null",
        "ISNOT": "member.sex is not null",
    }, **NULL_MEMBER)
    assert got == ["IS"]


def test_kleene_and_or(tmp_path, backend):
    got = firing(tmp_path, backend, {
        "OR-T": "member.age < 18 or true", "OR-F": "member.age < 18 or false", "AND-F": "member.age < 18 and false",
        "NOT-AND-F": "not (member.age < 18 and false)", "AND-T": "member.age < 18 and true",
        "NOT-OR-T": "not (member.age < 18 or true)",
    }, **NULL_MEMBER)
    assert got == ["OR-T", "NOT-AND-F"]


def test_arithmetic_with_null_is_null(tmp_path, backend):
    got = values(tmp_path, backend, {"a": "member.age + 1", "b": "line.quantity * member.age",
                                     "c": "-member.age", "d": "line.quantity - 1", "e": "line.quantity / 0",
                                     "f": "line.quantity // 0", "g": "member.age // 2"}, quantity=3, **NULL_MEMBER)
    assert got == {"a": None, "b": None, "c": None, "d": 2, "e": None, "f": None, "g": None}


def test_in_with_null(tmp_path, backend):
    got = firing(tmp_path, backend, {
        "IN": 'line.modifier in ["59", "25"]', "NOTIN": 'line.modifier not in ["59", "25"]',
        "INLIST": '"I10" in line.diagnosis_codes', "NOTINLIST": '"I10" not in line.diagnosis_codes',
        "NULLTEST": "line.modifier is null",
    }, **NULL_MEMBER)
    assert got == ["NULLTEST"]
    got = firing(tmp_path, backend, {
        "IN": 'line.modifier in ["59", "25"]', "NOTIN": 'line.modifier not in ["59", "25"]',
        "INLIST": '"I10" in line.diagnosis_codes', "NOTINLIST": '"E11" not in line.diagnosis_codes',
    }, modifier="59", diagnosis_codes=["I10", "J45"])
    assert got == ["IN", "INLIST", "NOTINLIST"]


def test_functions_of_null_are_null(tmp_path, backend):
    got = values(tmp_path, backend, {
        "a": "days_between(line.admission_date, line.service_date)", "b": "age_at(line.service_date)",
        "c": "len(line.diagnosis_codes)", "d": "abs(member.age)", "e": "round(member.age)",
        "f": "min(line.quantity, member.age)", "g": "max(member.age, 1)", "h": "jalali_year(line.admission_date)",
        "i": 'startswith(line.modifier, "5")', "j": 'any_startswith(line.diagnosis_codes, ["I"])',
    }, **NULL_MEMBER)
    assert got == dict.fromkeys("abcdefghij")


def test_functions_of_values(tmp_path, backend):
    got = values(tmp_path, backend, {
        "a": "days_between(line.admission_date, line.service_date)", "b": "age_at(line.service_date)",
        "c": "len(line.diagnosis_codes)", "d": "abs(0 - line.quantity)", "e": "round(line.quantity / 2)",
        "f": "min(line.quantity, 2, 7)", "g": "max(line.quantity, 1)", "h": "jalali_year(line.service_date)",
        "i": 'startswith(line.modifier, "5")', "j": 'any_startswith(line.diagnosis_codes, ["J", "K"])',
        "k": "len(line.modifier)",
    }, quantity=5, admission_date=D(2025, 3, 30), member_birth_date=D(2000, 2, 29), modifier="59",
        diagnosis_codes=["I10", "J45"])
    assert got == {"a": 2, "b": 25, "c": 2, "d": 5, "e": 3, "f": 2, "g": 5, "h": 1404, "i": True, "j": True,
                   "k": 2}


@pytest.mark.parametrize("day,age", [(D(2025, 2, 28), 24), (D(2025, 3, 1), 25), (D(2024, 2, 29), 24),
                                     (D(2024, 2, 28), 23)])
def test_age_at_leap_day_birthday(tmp_path, backend, day, age):
    got = values(tmp_path, backend, {"a": "age_at(line.service_date)", "b": "member.age"},
                 service_date=day, member_birth_date=D(2000, 2, 29))
    assert got == {"a": age, "b": age}


def test_null_if_else_condition_takes_else(tmp_path, backend):
    got = values(tmp_path, backend, {"a": "1 if member.age > 3 else 2", "b": "member.age if true else 7",
                                     "c": "1 if member.age is null else 2"}, **NULL_MEMBER)
    assert got == {"a": 2, "b": None, "c": 1}


def test_null_limit_and_cap_do_not_fire(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: L
          limit_quantity: member.age
          reason: UNITS_EXCEED_LIMIT
        - id: C
          cap_amount: tariff.price
          reason: ABOVE_TARIFF
    """)
    out, findings = run(rs, [line(service_code="000000", quantity=100, member_birth_date=None)], backend)
    assert findings == [] and out[("c1", 1)]["allowed_quantity"] == 100
