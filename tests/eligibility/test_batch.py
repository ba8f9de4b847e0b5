import json

import polars as pl
import pytest

from adjudicator.eligibility import build_index, eligibility, eligibility_report
from adjudicator.eligibility.batch import COVERAGE_COLUMNS, SUPPLEMENTARY_COLUMNS
from tests.eligibility.helpers import D, coverage, lines, members, national_code

M1, M2, M3, M4 = (national_code(n) for n in (123456789, 987654321, 111222333, 444555666))


@pytest.fixture(scope="module")
def registry():
    cov = coverage(
        # M1: IHIO 2024-01-01..2024-12-31, a back-dated suspension record in March, SUP1 with 30 waiting days
        {"member_id": M1, "insurer_id": "IHIO", "fund": "iranians", "plan": "B", "start_date": D(2024, 1, 1),
         "end_date": D(2024, 12, 31)},
        {"member_id": M1, "insurer_id": "IHIO", "fund": "iranians", "plan": "B", "start_date": D(2024, 3, 1),
         "end_date": D(2024, 3, 31), "status": "suspended"},
        {"member_id": M1, "insurer_id": "SUP1", "kind": "supplementary", "plan": "gold", "start_date": D(2024, 1, 1),
         "waiting_days": 30},
        # M2: SSO open-ended from 2020; two IHIO spans starting the same day (plan A wins over plan B)
        {"member_id": M2, "insurer_id": "SSO", "fund": "sso_employee", "start_date": D(2020, 1, 1)},
        {"member_id": M2, "insurer_id": "IHIO", "fund": "rural", "plan": "B", "start_date": D(2023, 1, 1),
         "end_date": D(2023, 6, 30)},
        {"member_id": M2, "insurer_id": "IHIO", "fund": "rural", "plan": "A", "start_date": D(2023, 1, 1),
         "end_date": D(2023, 3, 31)},
        {"member_id": M2, "insurer_id": "SUP1", "kind": "supplementary", "start_date": D(2019, 1, 1),
         "status": "suspended"},
        # M3: only a supplementary cover
        {"member_id": M3, "insurer_id": "SUP1", "kind": "supplementary", "start_date": D(2024, 1, 1)},
        # M4: IHIO, dies 2024-05-10; in coverage but not in members? no: in members
        {"member_id": M4, "insurer_id": "IHIO", "start_date": D(2024, 1, 1)},
        {"member_id": M4, "insurer_id": "SUP1", "kind": "supplementary", "start_date": D(2024, 1, 1)},
    )
    mem = members({"member_id": M1}, {"member_id": M2}, {"member_id": M3},
                  {"member_id": M4, "death_date": D(2024, 5, 10)})
    return cov, mem


def run(registry, *rows):
    cov, mem = registry
    out, findings = eligibility(lines(*rows), cov, mem)
    reasons = {}
    for r in findings.iter_rows(named=True):
        reasons.setdefault(r["claim_id"], []).append(r["reason_code"])
    return out, findings, [reasons.get(c, []) for c in out["claim_id"]]


def test_start_and_end_days_are_covered(registry):
    _, _, reasons = run(
        registry,
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2023, 12, 31)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 1, 1)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 12, 31)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2025, 1, 1)},
    )
    assert reasons == [["NOT_IN_FORCE"], [], [], ["NOT_IN_FORCE"]]


def test_later_started_suspension_overrides_and_bounds_are_inclusive(registry):
    out, _, reasons = run(
        registry,
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 2, 29)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 3, 1)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 3, 31)},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 4, 1)},
    )
    assert reasons == [[], ["COVER_SUSPENDED"], ["COVER_SUSPENDED"], []]
    assert out["coverage.status"].to_list() == ["active", "suspended", "suspended", "active"]
    assert out["coverage.start_date"].to_list() == [D(2024, 1, 1), D(2024, 3, 1), D(2024, 3, 1), D(2024, 1, 1)]


def test_open_ended_span_and_tie_goes_to_lowest_plan(registry):
    out, _, reasons = run(
        registry,
        {"member_id": M2, "insurer_id": "SSO", "service_date": D(2099, 1, 1)},
        {"member_id": M2, "insurer_id": "IHIO", "service_date": D(2023, 2, 1)},
        {"member_id": M2, "insurer_id": "IHIO", "service_date": D(2023, 5, 1)},
    )
    assert reasons == [[], [], []]
    assert out["coverage.end_date"].to_list() == [None, D(2023, 3, 31), D(2023, 6, 30)]
    assert out["coverage.plan"].to_list() == [None, "A", "B"]
    assert out["coverage.fund"].to_list() == ["sso_employee", "rural", "rural"]
    assert out["coverage.kind"].to_list() == ["basic"] * 3


def test_wrong_insurer_when_another_basic_cover_is_active(registry):
    _, findings, reasons = run(
        registry,
        {"member_id": M2, "insurer_id": "IHIO", "service_date": D(2024, 1, 1)},   # SSO active, IHIO ended
        {"member_id": M1, "insurer_id": "SSO", "service_date": D(2024, 6, 1)},    # IHIO active
        {"member_id": M1, "insurer_id": "SSO", "service_date": D(2024, 3, 15)},   # IHIO suspended: not active
        {"member_id": M2, "insurer_id": "AFMO", "service_date": D(2019, 6, 1)},   # nothing in force that day
    )
    assert reasons == [["WRONG_INSURER"], ["WRONG_INSURER"], ["NOT_IN_FORCE"], ["NOT_IN_FORCE"]]
    wrong = findings.filter(pl.col("rule_id") == "ELIG.WRONG_INSURER")
    assert set(wrong["liability"]) == {"provider"} and set(wrong["action"]) == {"deny"}


def test_not_enrolled(registry):
    _, findings, reasons = run(
        registry,
        {"member_id": national_code(5), "insurer_id": "IHIO", "service_date": D(2024, 1, 1)},  # unknown member
        {"member_id": M3, "insurer_id": "SUP1", "service_date": D(2024, 6, 1)},  # no basic span at all
    )
    assert reasons == [["NOT_ENROLLED"], ["NOT_ENROLLED"]]
    assert findings["liability"].to_list() == ["member", "member"]


def test_member_missing_from_members_is_not_enrolled(registry):
    cov, _ = registry
    out, findings = eligibility(lines({"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 6, 1)}), cov,
                                members({"member_id": M2}))
    assert findings["reason_code"].to_list() == ["NOT_ENROLLED"]
    assert out["coverage.insurer_id"].to_list() == ["IHIO"]  # the span is still reported


def test_day_of_death_is_covered_the_day_after_is_not(registry):
    _, _, reasons = run(
        registry,
        {"member_id": M4, "insurer_id": "IHIO", "service_date": D(2024, 5, 10), "supplementary_insurer_id": "SUP1"},
        {"member_id": M4, "insurer_id": "IHIO", "service_date": D(2024, 5, 11), "supplementary_insurer_id": "SUP1"},
        {"member_id": M4, "insurer_id": "SSO", "service_date": D(2025, 5, 11)},  # deceased beats wrong insurer
    )
    assert reasons == [[], ["MEMBER_DECEASED", "SUPP_NOT_VALID"], ["MEMBER_DECEASED"]]


def test_supplementary_waiting_period_boundary(registry):
    out, findings, reasons = run(
        registry,
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 1, 30), "supplementary_insurer_id": "SUP1"},
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 1, 31), "supplementary_insurer_id": "SUP1"},
    )
    assert reasons == [["SUPP_WAITING_PERIOD"], []]
    assert out["supplementary.valid"].to_list() == [False, True]
    assert out["supplementary.waiting_days"].to_list() == [30, 30]
    assert out["supplementary.plan"].to_list() == ["gold", "gold"]
    assert findings.row(0) == (out["claim_id"][0], 1, "SUPP.NOT_VALID", "SUPP_WAITING_PERIOD", "flag", "member")


def test_supplementary_needs_a_valid_basic_cover(registry):
    out, _, reasons = run(
        registry,
        # basic suspended that day: supplementary not valid (and not merely waiting)
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 3, 10), "supplementary_insurer_id": "SUP1"},
        # billed to the wrong insurer, but an active basic cover exists: the supplementary is valid
        {"member_id": M1, "insurer_id": "SSO", "service_date": D(2024, 6, 1), "supplementary_insurer_id": "SUP1"},
        # supplementary span suspended
        {"member_id": M2, "insurer_id": "SSO", "service_date": D(2024, 6, 1), "supplementary_insurer_id": "SUP1"},
        # no basic cover at all
        {"member_id": M3, "insurer_id": "IHIO", "service_date": D(2024, 6, 1), "supplementary_insurer_id": "SUP1"},
        # an insurer with no span anywhere
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 6, 1), "supplementary_insurer_id": "NOPE"},
        # none named: null columns, no finding
        {"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 6, 1)},
    )
    assert reasons == [["COVER_SUSPENDED", "SUPP_NOT_VALID"], ["WRONG_INSURER"], ["SUPP_NOT_VALID"],
                       ["NOT_ENROLLED", "SUPP_NOT_VALID"], ["SUPP_NOT_VALID"], []]
    assert out["supplementary.valid"].to_list() == [False, True, False, False, False, None]
    assert out["supplementary.insurer_id"].to_list() == ["SUP1", "SUP1", "SUP1", "SUP1", None, None]


def test_output_keeps_rows_and_contract_types(registry):
    cov, mem = registry
    ls = lines(*({"member_id": m, "insurer_id": "IHIO", "service_date": D(2024, 6, 1)} for m in (M4, M1, M2, M1)))
    out, findings = eligibility(ls, cov, mem)
    assert out.height == ls.height and out["claim_id"].to_list() == ls["claim_id"].to_list()
    assert out.select(ls.columns).equals(ls)
    for name, dtype in {**COVERAGE_COLUMNS, **SUPPLEMENTARY_COLUMNS}.items():
        assert out.schema[name] == dtype, name
    assert findings.schema == pl.Schema({"claim_id": pl.String, "line_no": pl.Int64, "rule_id": pl.String,
                                         "reason_code": pl.String, "action": pl.String, "liability": pl.String})


def test_prebuilt_index_gives_the_same_answers(registry):
    cov, mem = registry
    ls = lines(*({"member_id": m, "insurer_id": "IHIO", "service_date": D(2024, 3, d)} for m in (M1, M2, M4)
                 for d in (1, 15)))
    a = eligibility(ls, cov, mem)
    b = eligibility(ls, build_index(cov, mem), None)
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_non_numeric_member_ids_fall_back_to_a_dictionary():
    cov = coverage({"member_id": "abc", "insurer_id": "IHIO", "start_date": D(2024, 1, 1)},
                   {"member_id": "x1", "insurer_id": "SSO", "start_date": D(2024, 1, 1)})
    mem = members({"member_id": "abc"}, {"member_id": "x1"})
    out, findings = eligibility(lines({"member_id": "abc", "insurer_id": "IHIO", "service_date": D(2024, 2, 1)},
                                      {"member_id": "x1", "insurer_id": "IHIO", "service_date": D(2024, 2, 1)},
                                      {"member_id": "zz", "insurer_id": "IHIO", "service_date": D(2024, 2, 1)}),
                                cov, mem)
    assert findings["reason_code"].to_list() == ["WRONG_INSURER", "NOT_ENROLLED"]
    assert out["coverage.insurer_id"].to_list() == ["IHIO", None, None]


def test_empty_coverage_and_members():
    cov = coverage().clear()
    out, findings = eligibility(lines({"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 1, 1),
                                       "supplementary_insurer_id": "SUP1"}), cov, members().clear())
    assert findings["reason_code"].to_list() == ["NOT_ENROLLED", "SUPP_NOT_VALID"]
    assert out["coverage.insurer_id"].to_list() == [None]


def test_eligibility_report_writes_outputs(tmp_path, registry):
    cov, mem = registry
    ls = lines({"member_id": M1, "insurer_id": "IHIO", "service_date": D(2024, 6, 1)},
               {"member_id": M1, "insurer_id": "SSO", "service_date": D(2024, 6, 1)})
    path = tmp_path / "claims.parquet"
    ls.write_parquet(path)
    summary = eligibility_report(path, cov, mem, tmp_path / "out")
    assert summary["lines"] == 2 and summary["eligible"] == 1 and summary["by_reason"] == {"WRONG_INSURER": 1}
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    assert pl.read_parquet(tmp_path / "out" / "eligibility.parquet").height == 2
    assert pl.read_parquet(tmp_path / "out" / "findings.parquet").height == 1


def test_a_signed_id_is_not_taken_for_the_national_code_it_parses_to():
    code = national_code(12345678)
    assert code.startswith("0")
    cov = coverage({"member_id": code, "insurer_id": "IHIO", "start_date": D(2024, 1, 1)})
    out, findings = eligibility(lines({"member_id": "+" + code[1:], "insurer_id": "IHIO",
                                       "service_date": D(2024, 6, 1)},
                                      {"member_id": code, "insurer_id": "IHIO", "service_date": D(2024, 6, 1)}),
                                cov, members({"member_id": code}))
    assert findings["reason_code"].to_list() == ["NOT_ENROLLED"]
    assert out["coverage.insurer_id"].to_list() == [None, "IHIO"]
