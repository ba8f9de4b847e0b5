"""prior_count / prior_sum: keys, windows (days, clamped months, years, the Solar Hijri benefit year), where, the
total order (service_date, claim_id, line_no), history, and lines that must not count — on both backends.

Each ad-hoc ruleset exposes the aggregate through ``set`` so the test reads the number itself."""

from __future__ import annotations

import polars as pl

from tests.rules.conftest import D, J, adhoc, fired, frame, line, run


def counts(tmp_path, backend, expr, rows, history=None, name="n"):
    rs = adhoc(tmp_path, f"""
        - id: AGG
          set: {{{name}: '{expr}'}}
    """)
    out, _ = run(rs, rows, backend, history)
    return {k: v[name] for k, v in out.items()}


def test_frequency_window_is_two_sided(tmp_path, backend):
    # within="30d" on 2025-05-31: the window is (2025-05-01, 2025-05-31]: 05-01 is out, 05-02 in, the same day in
    # when earlier in the total order, and a later line (06-01, or same day later claim) never counts
    day = D(2025, 5, 31)
    rows = [line("a", service_date=D(2025, 5, 1)), line("b", service_date=D(2025, 5, 2)),
            line("c", service_date=day), line("d", service_date=day), line("e", service_date=D(2025, 6, 1))]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="30d")', rows)
    assert n == {("a", 1): 0, ("b", 1): 1, ("c", 1): 1, ("d", 1): 2, ("e", 1): 2}


def test_one_day_window_is_the_same_day_only(tmp_path, backend):
    rows = [line("a", service_date=D(2025, 4, 1)), line("b", service_date=D(2025, 4, 2)),
            line("c", service_date=D(2025, 4, 2))]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="1d")', rows)
    assert n == {("a", 1): 0, ("b", 1): 0, ("c", 1): 1}


def test_no_window_counts_every_earlier_line(tmp_path, backend):
    rows = [line("a", service_date=D(2020, 1, 1)), line("b", service_date=D(2025, 4, 2))]
    n = counts(tmp_path, backend, "prior_count(per=[line.member_id])", rows)
    assert n == {("a", 1): 0, ("b", 1): 1}


def test_month_window_clamps_to_month_end(tmp_path, backend):
    # 2025-03-31 − 1 month = 2025-02-28 (clamped): the window starts 2025-03-01
    rows = [line("a", service_date=D(2025, 2, 28)), line("b", service_date=D(2025, 3, 1)),
            line("c", service_date=D(2025, 3, 31))]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="1m")', rows)
    assert n[("c", 1)] == 1
    # mid-month: 2025-05-15 − 1 month = 2025-04-15 → starts 2025-04-16
    rows = [line("a", service_date=D(2025, 4, 15)), line("b", service_date=D(2025, 4, 16)),
            line("c", service_date=D(2025, 5, 15))]
    assert counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="1m")', rows)[("c", 1)] == 1


def test_year_window_from_leap_day(tmp_path, backend):
    # 2024-02-29 − 1 year = 2023-02-28 (clamped) → starts 2023-03-01
    rows = [line("a", service_date=D(2023, 2, 28)), line("b", service_date=D(2023, 3, 1)),
            line("c", service_date=D(2024, 2, 29))]
    assert counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="1y")', rows)[("c", 1)] == 1
    rows = [line("a", service_date=D(2024, 5, 15)), line("b", service_date=D(2024, 5, 16)),
            line("c", service_date=D(2025, 5, 15))]
    assert counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="1y")', rows)[("c", 1)] == 1


def test_benefit_year_starts_at_nowruz(tmp_path, backend):
    # 1403/12/30 (2025-03-20, 1403 is a leap year) and 1404/01/01 (2025-03-21) are different benefit years
    rows = [line("a", service_date=J("1403/12/30")), line("b", service_date=J("1404/01/01")),
            line("c", service_date=J("1404/12/29"))]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="benefit_year")', rows)
    assert n == {("a", 1): 0, ("b", 1): 0, ("c", 1): 1}
    n = counts(tmp_path, backend, "prior_count(per=[line.member_id, benefit_year])", rows)
    assert n == {("a", 1): 0, ("b", 1): 0, ("c", 1): 1}


def test_per_keys_separate_groups(tmp_path, backend):
    rows = [line("a", member_id="m1", provider_id="p1"), line("b", member_id="m1", provider_id="p2"),
            line("c", member_id="m2", provider_id="p1"), line("d", member_id="m1", provider_id="p1")]
    n = counts(tmp_path, backend, "prior_count(per=[member_id, line.provider_id])", rows)
    assert n == {("a", 1): 0, ("b", 1): 0, ("c", 1): 0, ("d", 1): 1}
    n = counts(tmp_path, backend, "prior_count(per=[line.member_id])", rows)
    assert n == {("a", 1): 0, ("b", 1): 1, ("c", 1): 0, ("d", 1): 2}


def test_family_key(tmp_path, backend):
    rows = [line("a", member_id="m1", member_family_id="F1"), line("b", member_id="m2", member_family_id="F1"),
            line("c", member_id="m3", member_family_id="F2"), line("d", member_id="m4", member_family_id=None)]
    n = counts(tmp_path, backend, "prior_count(per=[family])", rows)
    assert n == {("a", 1): 0, ("b", 1): 1, ("c", 1): 0, ("d", 1): 0}  # a null key has no group


def test_where_filters_the_counted_lines(tmp_path, backend):
    rows = [line("a", service_code="901910"), line("b", service_code="801010"), line("c", service_code="901910"),
            line("d", service_code="801010")]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], where=tariff.group == "visit")', rows)
    assert n == {("a", 1): 0, ("b", 1): 1, ("c", 1): 1, ("d", 1): 2}


def test_prior_sum(tmp_path, backend):
    rows = [line("a", billed_amount=100, quantity=2), line("b", billed_amount=250, quantity=3),
            line("c", billed_amount=7, quantity=1)]
    n = counts(tmp_path, backend, 'prior_sum(line.billed_amount * line.quantity, per=[line.member_id], '
                                  'where=line.quantity > 1)', rows)
    assert n == {("a", 1): 0, ("b", 1): 200, ("c", 1): 950}


def test_ties_on_the_same_date_follow_claim_id_then_line_no(tmp_path, backend):
    # given out of order: the total order is (date, claim_id, line_no)
    rows = [line("b", 1), line("a", 2), line("a", 1), line("a", 10)]
    n = counts(tmp_path, backend, "prior_count(per=[line.member_id])", rows)
    assert n == {("a", 1): 0, ("a", 2): 1, ("a", 10): 2, ("b", 1): 3}


def test_history_lines_count_but_later_history_does_not(tmp_path, backend):
    hist = [line("h1", service_date=D(2025, 3, 30)), line("h2", service_date=D(2025, 4, 5)),
            line("h3", service_date=D(2025, 3, 30), member_id="m9")]
    rows = [line("c1", service_date=D(2025, 4, 1))]
    n = counts(tmp_path, backend, 'prior_count(per=[line.member_id], within="30d")', rows, hist)
    assert n == {("c1", 1): 1}  # history lines are not in the output


def test_lines_marked_not_counting_are_not_counted(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: AGG
          set: {n: 'prior_count(per=[line.member_id])'}
    """)
    extra = {"__counts": pl.Boolean}
    hist = frame([line("h1", service_date=D(2025, 3, 1)) | {"__counts": False},
                  line("h2", service_date=D(2025, 3, 2)) | {"__counts": True}], extra)
    rows = frame([line("a") | {"__counts": False}, line("b") | {"__counts": True}, line("c") | {"__counts": True}],
                 extra)
    lines, _ = rs.evaluate(rows, hist, backend=backend)
    assert dict(zip(lines["claim_id"], lines["n"])) == {"a": 1, "b": 1, "c": 2}


def test_frequency_rule_of_the_fixture(mini, backend):
    # one visit a day per member, across providers: the second visit (claim order) is denied
    rows = [line("c2", service_code="901910", provider_id="p2", billed_amount=1000),
            line("c1", service_code="901910", billed_amount=1000),
            line("c3", service_code="901910", billed_amount=1000, service_date=D(2025, 4, 2))]
    out, findings = run(mini, rows, backend)
    assert fired(findings, "c1") == [] and fired(findings, "c2") == ["FRQ-001"] and fired(findings, "c3") == []


def test_aggregates_see_submitted_values_not_decisions(mini, backend):
    # the first visit is denied (quantity 0) yet still counts for the second one
    rows = [line("c1", service_code="901910", quantity=0, billed_amount=1000),
            line("c2", service_code="901910", billed_amount=1000)]
    out, findings = run(mini, rows, backend)
    assert fired(findings, "c1") == ["QTY-001"] and fired(findings, "c2") == ["FRQ-001"]
