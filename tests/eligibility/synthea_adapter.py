"""Maps the public Synthea CSVs (patients, payers, payer_transitions, claims) onto the data contract.

Patient UUIDs become checksum-valid national codes (mapping kept); payers become insurer ids (their names);
a payer transition becomes a basic span of its payer and, when it names a secondary payer, a supplementary span.
Synthea transitions are half-open instants [START, END); as inclusive dates that is [START, END - 1 day].
"NO_INSURANCE" spans are no cover at all and are left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adjudicator.schema import CLAIM_LINES, COVERAGE, MEMBERS
from tests.eligibility.helpers import national_code

SYNTHEA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "external" / "synthea-ma-11pt"
NO_INSURANCE = "NO_INSURANCE"


@dataclass(frozen=True)
class Synthea:
    members: pl.DataFrame
    coverage: pl.DataFrame
    lines: pl.DataFrame
    national_codes: dict[str, str]   # patient uuid -> national code
    insurers: dict[str, str]         # payer uuid -> insurer id


def load(folder: Path = SYNTHEA) -> Synthea:
    patients = pl.read_csv(folder / "patients.csv", infer_schema=False)
    payers = pl.read_csv(folder / "payers.csv", infer_schema=False)
    transitions = pl.read_csv(folder / "payer_transitions.csv", infer_schema=False)
    claims = pl.read_csv(folder / "claims.csv", infer_schema=False)

    uuids = sorted(patients["Id"].to_list())
    codes = {u: national_code(100_000_000 + 7919 * i) for i, u in enumerate(uuids)}
    insurers = {p: n.upper().replace(" ", "_") for p, n in zip(payers["Id"], payers["NAME"])}
    code_map = pl.DataFrame({"uuid": list(codes), "member_id": list(codes.values())})
    ins_map = pl.DataFrame({"payer": list(insurers), "insurer_id": list(insurers.values())})

    def day(col: str) -> pl.Expr:
        return pl.col(col).str.slice(0, 10).str.to_date("%Y-%m-%d")

    members = patients.join(code_map, left_on="Id", right_on="uuid").select(
        "member_id", day("BIRTHDATE").alias("birth_date"), pl.col("GENDER").alias("sex"),
        pl.lit(None, pl.String).alias("family_id"), pl.lit("head").alias("relationship"),
        pl.when(pl.col("DEATHDATE") != "").then(day("DEATHDATE")).alias("death_date"),
        pl.col("STATE").alias("province"), pl.lit(False).alias("rural"),
    ).cast(MEMBERS).sort("member_id")

    t = (transitions.join(code_map, left_on="PATIENT", right_on="uuid")
         .join(ins_map, left_on="PAYER", right_on="payer")
         .join(ins_map.rename({"insurer_id": "secondary"}), left_on="SECONDARY_PAYER", right_on="payer", how="left")
         .with_columns(day("START_DATE").alias("start_date"),
                       (day("END_DATE") - dt.timedelta(days=1)).alias("end_date")))
    basic = t.filter(pl.col("insurer_id") != NO_INSURANCE).select(
        "member_id", "insurer_id", pl.lit("basic").alias("kind"), pl.lit("other_strata").alias("fund"),
        pl.col("PLAN_OWNERSHIP").alias("plan"), "start_date", "end_date", pl.lit("active").alias("status"),
        pl.lit(None, pl.Int64).alias("waiting_days"))
    supp = t.filter(pl.col("secondary").is_not_null()).select(
        "member_id", pl.col("secondary").alias("insurer_id"), pl.lit("supplementary").alias("kind"),
        pl.lit(None, pl.String).alias("fund"), pl.col("PLAN_OWNERSHIP").alias("plan"), "start_date", "end_date",
        pl.lit("active").alias("status"), pl.lit(0, pl.Int64).alias("waiting_days"))
    coverage = pl.concat([basic, supp]).cast(COVERAGE)

    lines = (claims.filter(pl.col("PRIMARYPATIENTINSURANCEID") != "")  # no billed insurer: quarantined upstream
             .join(code_map, left_on="PATIENTID", right_on="uuid")
             .join(ins_map, left_on="PRIMARYPATIENTINSURANCEID", right_on="payer")
             .join(ins_map.rename({"insurer_id": "supplementary_insurer_id"}),
                   left_on="SECONDARYPATIENTINSURANCEID", right_on="payer", how="left")
             .select(pl.col("Id").alias("claim_id"), pl.lit(1, pl.Int64).alias("line_no"), "member_id",
                     "insurer_id", "supplementary_insurer_id", pl.lit("outpatient").alias("setting"),
                     pl.col("PROVIDERID").alias("provider_id"), day("SERVICEDATE").alias("service_date"),
                     pl.col("DIAGNOSIS1").alias("service_code"), pl.lit(1, pl.Int64).alias("quantity"),
                     pl.lit(1000, pl.Int64).alias("billed_amount"))
             .with_columns([pl.lit(None, t).alias(c) for c, t in CLAIM_LINES.items()
                            if c not in ("claim_id", "line_no", "member_id", "insurer_id",
                                         "supplementary_insurer_id", "setting", "provider_id", "service_date",
                                         "service_code", "quantity", "billed_amount")])
             .select(list(CLAIM_LINES)).cast(CLAIM_LINES))
    return Synthea(members, coverage, lines, codes, insurers)
