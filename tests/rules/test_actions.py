"""Every action against hand-computed results, on both backends (the mini fixture and small ad-hoc rulesets).

Fixture tariff (tests/rules/fixtures/tables/tariff.csv): 801010 lab 300,000 max 3/day; 901910 visit 1,000,000
(1403) / 1,200,000 (1404-) max 1; 501010 procedure 5,000,000 F-only, referral; 301010 surgery 20,000,000 age ≥ 18;
301020 surgery 8,000,000 max 2.
"""

from __future__ import annotations

from tests.rules.conftest import D, adhoc, decision, fired, line, run


def one(rs, backend, **kw):
    out, findings = run(rs, [line(**kw)], backend)
    return out[("c1", 1)], findings


def test_clean_line_is_approved(mini, backend):
    out, findings = one(mini, backend, service_code="801010", quantity=1, billed_amount=100_000)
    assert findings == []
    assert (out["allowed_quantity"], out["allowed_amount"]) == (1, 100_000)
    assert decision(out) == "approved"
    assert out["rules"] == []
    assert out["member_share"] == 3000  # 30% in basis points: coverage.fund is null


def test_set_member_share_reads_coverage(mini, backend):
    out, _ = one(mini, backend, service_code="801010", coverage_fund="rural")
    assert out["member_share"] == 500


def test_limit_quantity_scales_amount_round_half_up(mini, backend):
    # 301020 max 2/day: 3 → 2, 1,000,000 × 2/3 = 666,666.67 → 666,667
    out, findings = one(mini, backend, service_code="301020", quantity=3, billed_amount=1_000_000)
    assert (out["allowed_quantity"], out["allowed_amount"]) == (2, 666_667)
    assert [(f["rule_id"], f["amount_effect"], f["action"]) for f in findings] == [
        ("MUE-001", 333_333, "limit_quantity")]
    assert decision(out) == "adjusted"


def test_limit_quantity_exact_half_rounds_up(mini, backend):
    # 901910 max 1: 2 → 1, 3 × 1/2 = 1.5 → 2;  1,000,001 / 2 = 500,000.5 → 500,001
    out, findings = one(mini, backend, service_code="901910", quantity=2, billed_amount=3)
    assert (out["allowed_quantity"], out["allowed_amount"]) == (1, 2)
    assert findings[0]["amount_effect"] == 1
    out, _ = one(mini, backend, service_code="901910", quantity=2, billed_amount=1_000_001)
    assert out["allowed_amount"] == 500_001


def test_limit_then_cap_reads_running_quantity(mini, backend):
    # 801010 max 3: 5 → 3, 2,000,000 × 3/5 = 1,200,000; cap 300,000 × 3 = 900,000
    out, findings = one(mini, backend, service_code="801010", quantity=5, billed_amount=2_000_000)
    assert (out["allowed_quantity"], out["allowed_amount"]) == (3, 900_000)
    assert [(f["rule_id"], f["amount_effect"]) for f in findings] == [("MUE-001", 800_000), ("PRC-001", 300_000)]
    assert out["rules"] == ["test.mini:MUE-001", "test.mini:PRC-001"]


def test_cap_fires_only_when_strictly_lower(mini, backend):
    out, findings = one(mini, backend, service_code="801010", quantity=1, billed_amount=300_000)
    assert findings == [] and decision(out) == "approved"
    out, findings = one(mini, backend, service_code="801010", quantity=1, billed_amount=300_001)
    assert [(f["rule_id"], f["amount_effect"]) for f in findings] == [("PRC-001", 1)]
    assert out["allowed_amount"] == 300_000 and decision(out) == "adjusted"


def test_limit_fires_only_when_strictly_lower(mini, backend):
    out, findings = one(mini, backend, service_code="801010", quantity=3, billed_amount=900_000)
    assert findings == [] and out["allowed_quantity"] == 3


def test_limit_to_zero_denies_with_the_rules_reason(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: LIM-0
          limit_quantity: 0
          reason: UNITS_EXCEED_LIMIT
    """)
    out, findings = one(rs, backend, quantity=2, billed_amount=500)
    assert (out["allowed_quantity"], out["allowed_amount"]) == (0, 0)
    assert decision(out) == "denied"
    assert [(f["rule_id"], f["reason_code"], f["amount_effect"], f["__sev"]) for f in findings] == [
        ("LIM-0", "UNITS_EXCEED_LIMIT", 500, 3)]


def test_negative_limit_counts_as_zero_and_null_limit_does_not_fire(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: LIM-NEG
          when: line.billed_amount == 1
          limit_quantity: -3
          reason: UNITS_EXCEED_LIMIT
        - id: LIM-NULL
          limit_quantity: member.age
          reason: UNITS_EXCEED_LIMIT
        - id: CAP-NEG
          when: line.billed_amount == 2
          cap_amount: 0 - 5
          reason: ABOVE_TARIFF
    """)
    out, findings = one(rs, backend, quantity=2, billed_amount=1, member_birth_date=None)
    assert decision(out) == "denied" and fired(findings) == ["LIM-NEG"]
    out, findings = one(rs, backend, quantity=2, billed_amount=2, member_birth_date=None)
    assert fired(findings) == ["CAP-NEG"]
    assert out["allowed_amount"] == 0 and out["allowed_quantity"] == 2 and decision(out) == "adjusted"
    out, findings = one(rs, backend, quantity=2, billed_amount=3, member_birth_date=None)
    assert findings == [] and decision(out) == "approved"


def test_fractional_limit_is_floored(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: LIM-F
          limit_quantity: line.quantity / 2
          reason: UNITS_EXCEED_LIMIT
    """)
    out, _ = one(rs, backend, quantity=5, billed_amount=1000)  # 2.5 → 2; 1000 × 2/5 = 400
    assert (out["allowed_quantity"], out["allowed_amount"]) == (2, 400)


def test_deny_sets_amounts_to_zero_and_rules_after_a_deny_still_run(mini, backend):
    # unknown code, quantity 0: QTY-001 denies (effect = billed), TAR-001 still fires (effect 0)
    out, findings = one(mini, backend, service_code="999999", quantity=0, billed_amount=1000)
    assert [(f["rule_id"], f["amount_effect"]) for f in findings] == [("QTY-001", 1000), ("TAR-001", 0)]
    assert (out["allowed_quantity"], out["allowed_amount"]) == (0, 0)
    assert decision(out) == "denied"
    assert out["member_share"] == 3000  # set still runs after a deny


def test_liability_member(mini, backend):
    # 501010 requires a referral: denied with member liability; the reduction is the member's
    out, findings = one(mini, backend, service_code="501010", quantity=1, billed_amount=1000, member_sex="F")
    assert [(f["rule_id"], f["liability"], f["amount_effect"]) for f in findings] == [
        ("REF-001", "member", 1000)]
    assert out["__member_red"] == 1000 and decision(out) == "denied"
    out, findings = one(mini, backend, service_code="501010", billed_amount=1000, member_sex="M")
    assert [(f["rule_id"], f["liability"]) for f in findings] == [("SEX-001", "provider"), ("REF-001", "member")]
    assert out["__member_red"] == 0  # the provider's deny took the amount first


def test_member_liable_cap_accumulates(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: CAP-M
          cap_amount: 700
          reason: ABOVE_TARIFF
          liability: member
        - id: CAP-P
          cap_amount: 600
          reason: ABOVE_TARIFF
    """)
    out, findings = one(rs, backend, billed_amount=1000)
    assert out["__member_red"] == 300 and out["allowed_amount"] == 600
    assert [(f["rule_id"], f["amount_effect"], f["liability"]) for f in findings] == [
        ("CAP-M", 300, "member"), ("CAP-P", 100, "provider")]


def test_pend_keeps_provisional_amounts(mini, backend):
    # 301010 surgery, 16,000,000 ≤ price: only REV-001 (> 15,000,000)
    out, findings = one(mini, backend, service_code="301010", billed_amount=16_000_000)
    assert fired(findings) == ["REV-001"] and findings[0]["amount_effect"] == 0
    assert out["allowed_amount"] == 16_000_000 and decision(out) == "pended"


def test_several_findings_and_severity_pended_over_adjusted(mini, backend):
    out, findings = one(mini, backend, service_code="301010", billed_amount=25_000_000)
    assert [(f["rule_id"], f["amount_effect"], f["__sev"]) for f in findings] == [
        ("PRC-001", 5_000_000, 1), ("REV-001", 0, 2)]
    assert out["__adjusted"] and out["__pended"] and decision(out) == "pended"


def test_denied_over_pended(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: P
          pend: MANUAL_REVIEW
        - id: X
          deny: NOT_IN_PACKAGE
        - id: F
          flag: HIGH_COST_REVIEW
    """)
    out, findings = one(rs, backend, billed_amount=10)
    assert decision(out) == "denied" and out["__pended"]
    assert [(f["rule_id"], f["action"], f["__sev"], f["amount_effect"]) for f in findings] == [
        ("P", "pend", 2, 0), ("X", "deny", 3, 10), ("F", "flag", 0, 0)]


def test_flag_does_not_change_the_decision(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: F
          when: line.billed_amount > 5
          flag: HIGH_COST_REVIEW
    """)
    out, findings = one(rs, backend, billed_amount=10)
    assert decision(out) == "approved" and fired(findings) == ["F"]
    assert out["rules"] == ["test.adhoc:F"] and out["allowed_amount"] == 10


def test_age_rule_uses_completed_years(mini, backend):
    # 301010 needs age ≥ 18: born 2007-04-02 is 17 on 2025-04-01, born 2007-04-01 is 18
    _, findings = one(mini, backend, service_code="301010", billed_amount=1, member_birth_date=D(2007, 4, 2))
    assert fired(findings) == ["AGE-001"]
    _, findings = one(mini, backend, service_code="301010", billed_amount=1, member_birth_date=D(2007, 4, 1))
    assert findings == []


def test_set_value_is_read_by_later_rules(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: S1
          when: line.billed_amount > 100
          set: {tier: "line.billed_amount // 100"}
        - id: F-TIER
          when: line.tier >= 3
          flag: HIGH_COST_REVIEW
        - id: F-UNSET
          when: line.tier is null
          flag: MANUAL_REVIEW
        - id: S2
          set: {tier: "line.tier + 1 if line.tier is not null else 0"}
        - id: F-AGAIN
          when: line.tier == 4
          flag: HIGH_COST_REVIEW
    """)
    out, findings = one(rs, backend, billed_amount=350)
    assert out["tier"] == 4 and fired(findings) == ["F-TIER", "F-AGAIN"]
    out, findings = one(rs, backend, billed_amount=50)
    assert out["tier"] == 0 and fired(findings) == ["F-UNSET"]


def test_set_does_not_write_a_finding(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: S
          set: {member_share: "10%"}
    """)
    out, findings = one(rs, backend)
    assert findings == [] and out["rules"] == [] and out["member_share"] == 1000


def test_running_amount_after_deny_is_zero_for_later_caps(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: X
          when: line.quantity > 1
          deny: INVALID_QUANTITY
        - id: C
          cap_amount: 10
          reason: ABOVE_TARIFF
        - id: READ
          when: line.allowed_amount == 0 and line.allowed_quantity == 0 and line.billed_amount == 100
          flag: MANUAL_REVIEW
    """)
    out, findings = one(rs, backend, quantity=2, billed_amount=100)
    assert fired(findings) == ["X", "READ"] and not out["__adjusted"]
    out, findings = one(rs, backend, quantity=1, billed_amount=100)
    assert fired(findings) == ["C"] and out["allowed_amount"] == 10


def test_claim_fields(tmp_path, backend):
    rs = adhoc(tmp_path, """
        - id: CL
          when: claim.line_count == 2 and claim.total_billed == 300 and "301010" in claim.codes
          flag: MANUAL_REVIEW
        - id: LOS
          when: claim.length_of_stay == 1
          flag: HIGH_COST_REVIEW
    """)
    rows = [line(billed_amount=100, service_code="301010", admission_date=D(2025, 4, 1),
                 discharge_date=D(2025, 4, 1)),
            line(line_no=2, billed_amount=200)]
    out, findings = run(rs, rows, backend)
    assert fired(findings, "c1", 1) == ["CL", "LOS"] and fired(findings, "c1", 2) == ["CL", "LOS"]


def test_cover_fields_are_read_as_strings_from_enum_columns(tmp_path):
    # the eligibility stage gives coverage.* / supplementary.* strings as pl.Enum columns; expressions (string
    # functions included) must read them as the strings they stand for
    import polars as pl

    from tests.rules.conftest import frame

    rs = adhoc(tmp_path, """
        - id: GOLD
          when: "startswith(supplementary.plan, 'go') and coverage.fund == 'rural'"
          flag: HIGH_COST_REVIEW
        """)
    rows = [line(line_no=i, coverage_fund=f, supplementary_plan=p)
            for i, (f, p) in enumerate([("rural", "gold"), ("rural", "silver"), ("urban", "gold"), (None, None)], 1)]
    plain = frame(rows)
    coded = plain.with_columns(pl.col("coverage.fund").cast(pl.Enum(["rural", "urban"])),
                               pl.col("supplementary.plan").cast(pl.Enum(["gold", "silver"])))
    got = [rs.evaluate(f)[1]["line_no"].to_list() for f in (plain, coded)]
    assert got == [[1], [1]]
