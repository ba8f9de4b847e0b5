import polars as pl
import pytest

from adjudicator.ground_truth import REASON_CODES, SCORE, score
from adjudicator.synth import ANOMALIES


def _findings(rows):
    return pl.DataFrame(
        [dict(claim_id=c, line_no=n, ruleset="r", rule_id="X", reason_code=r, action="deny", amount_effect=0,
              liability="provider", message="m", message_fa="m") for c, n, r in rows],
        schema={"claim_id": pl.String, "line_no": pl.Int64, "ruleset": pl.String, "rule_id": pl.String,
                "reason_code": pl.String, "action": pl.String, "amount_effect": pl.Int64, "liability": pl.String,
                "message": pl.String, "message_fa": pl.String})


def test_every_anomaly_type_has_a_reason_code():
    assert set(REASON_CODES) == set(ANOMALIES)


def test_score_by_hand():
    lines = pl.DataFrame({"claim_id": ["A", "A", "B", "C", "D"], "line_no": [1, 2, 1, 1, 1]})
    truth = pl.DataFrame({
        "anomaly": ["sex_conflict", "sex_conflict", "sex_conflict", "over_tariff", "overlapping_cover", "out_of_cover"],
        "claim_id": ["A", "B", "Z", "C", None, "D"],  # Z is not in the lines: not counted
        "line_no": [1, 1, 1, 1, None, 1],
        "member_id": ["m"] * 6, "insurer_id": ["IHIO"] * 6})
    findings = _findings([
        ("A", 1, "SEX_CONFLICT"), ("A", 1, "SEX_CONFLICT"),  # two findings on one line: one detection
        ("A", 2, "SEX_CONFLICT"),  # false positive
        ("C", 1, "ABOVE_TARIFF"), ("C", 1, "SEX_CONFLICT"),  # a second, false, sex finding
        ("B", 1, "FREQUENCY_EXCEEDED"),  # not a scored code
        ("D", 1, "NOT_ENROLLED"),  # wrong code for out_of_cover: missed
    ])
    out = score(truth, lines, findings)
    assert out.schema == pl.Schema(SCORE)
    assert out["anomaly"].to_list() == list(REASON_CODES)
    row = {r["anomaly"]: r for r in out.to_dicts()}
    # sex: expected A1, B1; detected A1, A2, C1; TP A1 -> precision 1/3, recall 1/2
    assert row["sex_conflict"] == dict(anomaly="sex_conflict", expected=2, detected=3, true_positives=1,
                                       precision=pytest.approx(1 / 3), recall=0.5)
    assert row["over_tariff"] == dict(anomaly="over_tariff", expected=1, detected=1, true_positives=1, precision=1.0,
                                      recall=1.0)
    assert row["out_of_cover"] == dict(anomaly="out_of_cover", expected=1, detected=0, true_positives=0,
                                       precision=None, recall=0.0)
    # member-level rows are not lines
    assert row["overlapping_cover"]["expected"] == 0 and row["overlapping_cover"]["recall"] is None


def test_score_of_empty_inputs():
    lines = pl.DataFrame({"claim_id": ["A"], "line_no": [1]})
    truth = pl.DataFrame(schema={"anomaly": pl.String, "claim_id": pl.String, "line_no": pl.Int64,
                                 "member_id": pl.String, "insurer_id": pl.String})
    out = score(truth, lines, _findings([]))
    assert out.height == len(REASON_CODES)
    assert out["expected"].sum() == 0 and out["precision"].null_count() == len(REASON_CODES)
