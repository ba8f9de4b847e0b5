"""Reference tables: keyed joins, date-versioned rows (inclusive bounds, open ends, Solar Hijri bounds), ``is
missing``, pair tables (modifier_ok 0/1/9, bypass modifiers, within day / claim), typing, and a 1M-row pair table."""

from __future__ import annotations

import time

import pytest

from adjudicator.errors import RulesetError
from tests.rules.conftest import D, J, adhoc, fired, line, run


def price(tmp_path, backend, rows, rules=None, tables=None, field="p"):
    rs = adhoc(tmp_path, rules or """
        - id: S
          set: {p: "tariff.price"}
    """, tables)
    out, _ = run(rs, rows, backend)
    return {k: v[field] for k, v in out.items()}


def test_keyed_join(tmp_path, backend):
    rows = [line("a", service_code="801010"), line("b", service_code="301020"), line("c", service_code="000000")]
    assert price(tmp_path, backend, rows) == {("a", 1): 300_000, ("b", 1): 8_000_000, ("c", 1): None}


def test_versions_by_date_inclusive_bounds_and_open_end(tmp_path, backend):
    # 901910: 1403/01/01 (2024-03-20) .. 1403/12/30 (2025-03-20) → 1,000,000; 1404/01/01 .. open → 1,200,000
    days = {"a": D(2024, 3, 19), "b": J("1403/01/01"), "c": J("1403/12/30"), "d": J("1404/01/01"),
            "e": D(2040, 1, 1)}
    rows = [line(k, service_code="901910", service_date=d) for k, d in days.items()]
    assert price(tmp_path, backend, rows) == {("a", 1): None, ("b", 1): 1_000_000, ("c", 1): 1_000_000,
                                              ("d", 1): 1_200_000, ("e", 1): 1_200_000}


def test_open_start_and_gap_between_versions(tmp_path, backend):
    tables = {"v.csv": """
        code,price,valid_from,valid_to
        X,1,,2025-01-10
        X,2,2025-01-20,1403/12/30
        Y,9,,
    """}
    rules = """
        - id: S
          set: {p: "v.price"}
        - id: M
          when: v is missing
          flag: CODE_NOT_IN_TARIFF
        - id: NM
          when: v is not missing
          flag: MANUAL_REVIEW
    """
    header_rules = rules
    from tests.rules.conftest import HEADER
    header = HEADER.replace("params:", "  v: {path: tables/v.csv, key: {code: line.service_code}, "
                                       "valid: [valid_from, valid_to]}\nparams:")
    rs = adhoc(tmp_path, header_rules, tables, header=header)
    days = {"a": D(1990, 1, 1), "b": D(2025, 1, 10), "c": D(2025, 1, 11), "d": D(2025, 1, 20),
            "e": D(2025, 3, 20), "f": D(2025, 3, 21)}
    rows = [line(k, service_code="X", service_date=d) for k, d in days.items()] + [line("g", service_code="Y")]
    out, findings = run(rs, rows, backend)
    assert {k[0]: v["p"] for k, v in out.items()} == {"a": 1, "b": 1, "c": None, "d": 2, "e": 2, "f": None,
                                                      "g": 9}
    assert {k: fired(findings, k) for k in "abcdefg"} == {
        "a": ["NM"], "b": ["NM"], "c": ["M"], "d": ["NM"], "e": ["NM"], "f": ["M"], "g": ["NM"]}


def test_overlapping_versions_are_a_load_error(tmp_path):
    tables = {"tariff.csv": """
        service_code,price,valid_from,valid_to
        X,1,2025-01-01,2025-02-01
        X,2,2025-02-01,
    """}
    with pytest.raises(RulesetError) as e:
        adhoc(tmp_path, "- id: S\n  set: {p: 'tariff.price'}", tables,
              header="ruleset: t.x\nversion: '1'\ntables:\n  tariff: {path: tables/tariff.csv, key: [service_code],"
                     " valid: [valid_from, valid_to]}\nrules:\n")
    assert "E303" in str(e.value) and "overlap" in str(e.value)


def test_duplicate_key_without_validity_is_a_load_error(tmp_path):
    tables = {"k.csv": "code,price\nX,1\nX,2\n"}
    with pytest.raises(RulesetError, match="E303"):
        adhoc(tmp_path, "- id: S\n  set: {p: 'k.price'}", tables,
              header="ruleset: t.x\nversion: '1'\ntables:\n  k: {path: tables/k.csv, key: {code: service_code}}\n"
                     "rules:\n")


def test_column_types_bool_list_and_leading_zeros(tmp_path, backend):
    tables = {"t.csv": """
        code,flag,tags,n
        059,1,a|b,7
        59,0,c,8
    """}
    header = ("ruleset: t.x\nversion: '1'\ntables:\n  t: {path: tables/t.csv, key: {code: line.modifier}, "
              "types: {flag: bool}}\nrules:\n")
    rs = adhoc(tmp_path, """
        - id: F
          when: t.flag and "b" in t.tags and t.n == 7
          flag: MANUAL_REVIEW
        - id: G
          when: not t.flag and len(t.tags) == 1
          flag: HIGH_COST_REVIEW
    """, tables, header=header)
    out, findings = run(rs, [line("a", modifier="059"), line("b", modifier="59"), line("c", modifier=None)],
                        backend)
    assert (fired(findings, "a"), fired(findings, "b"), fired(findings, "c")) == (["F"], ["G"], [])


def test_fixture_table_missing_rule(mini, backend):
    out, findings = run(mini, [line(service_code="777777", billed_amount=5)], backend)
    assert fired(findings) == ["TAR-001"] and out[("c1", 1)]["allowed_amount"] == 0


# --- pairs --------------------------------------------------------------------------------------------------------

def surgery_pair(**second):
    return [line(service_code="301010", billed_amount=10), line(line_no=2, service_code="301020", billed_amount=10,
                                                               **second)]


@pytest.mark.parametrize("modifier,bundled", [(None, True), ("25", True), ("59", False), ("XU", False)])
def test_pair_modifier_ok_1_lets_bypass_modifiers_through(mini, backend, modifier, bundled):
    out, findings = run(mini, surgery_pair(modifier=modifier), backend)
    assert fired(findings, "c1", 2) == (["PTP-001"] if bundled else [])
    assert fired(findings, "c1", 1) == []  # the code_1 line is not bundled


def test_pair_needs_same_member_provider_and_day(mini, backend):
    base = [line("a", service_code="301010", billed_amount=10)]
    for other, hit in [({}, True), ({"provider_id": "p2"}, False), ({"member_id": "m2"}, False),
                       ({"service_date": D(2025, 4, 2)}, False)]:
        out, findings = run(mini, base + [line("b", service_code="301020", billed_amount=10, **other)], backend)
        assert (fired(findings, "b") == ["PTP-001"]) is hit, other


def test_pair_row_with_modifier_ok_9_is_ignored(mini, backend):
    _, findings = run(mini, [line(service_code="301010", billed_amount=10),
                             line(line_no=2, service_code="801010", billed_amount=10)], backend)
    assert fired(findings, "c1", 2) == []


def test_pair_code_1_in_history_bundles(mini, backend):
    _, findings = run(mini, [line("b", service_code="301020", billed_amount=10)], backend,
                      history=[line("h", service_code="301010", billed_amount=10)])
    assert fired(findings, "b") == ["PTP-001"]


PAIRS = """
    code_1,code_2,modifier_ok
    A,B,0
    A,C,1
    A,D,9
    C,A,1
"""


def pair_rs(tmp_path, within="day", bypass=None):
    header = ("ruleset: t.pairs\nversion: '1'\n"
              + (f"bypass_modifiers: {bypass}\n" if bypass is not None else "")
              + f"tables:\n  pp: {{path: tables/pp.csv, pair: [code_1, code_2], within: {within}}}\nrules:\n")
    return adhoc(tmp_path, """
        - id: PAIR
          when: pair(pp)
          deny: BUNDLED_PAIR
    """, {"pp.csv": PAIRS}, header=header)


@pytest.mark.parametrize("code,modifier,hit", [
    ("B", None, True), ("B", "59", True),      # modifier_ok 0: no bypass
    ("C", None, True), ("C", "59", False),     # modifier_ok 1: bypass with 59
    ("D", None, False), ("D", "59", False),    # modifier_ok 9: ignored
])
def test_pair_modifier_ok_values(tmp_path, backend, code, modifier, hit):
    rs = pair_rs(tmp_path)
    _, findings = run(rs, [line(service_code="A"), line(line_no=2, service_code=code, modifier=modifier)], backend)
    assert (fired(findings, "c1", 2) == ["PAIR"]) is hit


def test_pair_both_directions_each_line_checked(tmp_path, backend):
    rs = pair_rs(tmp_path)  # A→C and C→A: both lines bundled
    _, findings = run(rs, [line(service_code="A"), line(line_no=2, service_code="C")], backend)
    assert fired(findings, "c1", 1) == ["PAIR"] and fired(findings, "c1", 2) == ["PAIR"]


def test_custom_bypass_modifiers(tmp_path, backend):
    rs = pair_rs(tmp_path, bypass="[ZZ]")
    for modifier, hit in [("59", True), ("ZZ", False)]:
        _, findings = run(rs, [line(service_code="A"), line(line_no=2, service_code="C", modifier=modifier)],
                          backend)
        assert (fired(findings, "c1", 2) == ["PAIR"]) is hit


def test_pair_within_claim(tmp_path, backend):
    rs = pair_rs(tmp_path, within="claim")
    rows = [line("a", service_code="A", service_date=D(2025, 4, 1)),
            line("a", 2, service_code="B", service_date=D(2025, 4, 3), provider_id="p9"),
            line("b", service_code="B")]  # same member, provider and day as a/1 but another claim
    _, findings = run(rs, rows, backend)
    assert fired(findings, "a", 2) == ["PAIR"] and fired(findings, "b") == []


def test_pair_within_day_across_claims(tmp_path, backend):
    rs = pair_rs(tmp_path)
    _, findings = run(rs, [line("a", service_code="A"), line("b", service_code="B")], backend)
    assert fired(findings, "b") == ["PAIR"]


def test_a_line_does_not_pair_with_itself(tmp_path, backend):
    rs = pair_rs(tmp_path)  # A,A is not a row; C→A and A→C: a lone C or A does not bundle
    _, findings = run(rs, [line(service_code="C")], backend)
    assert findings == []


def _big_pairs(path, n):
    with open(path, "w") as f:
        f.write("code_1,code_2,modifier_ok\n")
        for i in range(n):
            f.write(f"{i:07d},{(i * 7919) % n:07d},{i % 3 if i % 3 != 2 else 9}\n")


@pytest.mark.slow
def test_a_pair_table_of_a_million_rows_loads_and_works(tmp_path, backend):
    (tmp_path / "tables").mkdir()
    _big_pairs(tmp_path / "tables" / "pp.csv", 1_000_000)
    header = ("ruleset: t.big\nversion: '1'\ntables:\n  pp: {path: tables/pp.csv, pair: [code_1, code_2]}\n"
              "rules:\n")
    t0 = time.perf_counter()
    rs = adhoc(tmp_path, "- id: PAIR\n  when: pair(pp)\n  deny: BUNDLED_PAIR", header=header)
    # row 3: 0000003 → (3·7919) mod 1e6 = 0023757, modifier_ok 0; row 5: modifier_ok 9 (ignored)
    rows = [line(service_code="0000003"), line(line_no=2, service_code="0023757", modifier="59"),
            line(line_no=3, service_code="0000005"), line(line_no=4, service_code=f"{5 * 7919:07d}")]
    _, findings = run(rs, rows, backend)
    assert [(f["line_no"], f["rule_id"]) for f in findings] == [(2, "PAIR")]
    assert time.perf_counter() - t0 < 60
