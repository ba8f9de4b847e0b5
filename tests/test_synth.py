"""The synthetic data is clean where it should be, and every labelled anomaly really breaks its rule. The checks
re-derive prices, ages and cover from the CSV tables with plain polars joins, independently of synth's own arrays."""


import polars as pl
import pytest
from polars.testing import assert_frame_equal

from adjudicator import national_code, schema, synth
from adjudicator.dates import jalali_year_series

T = synth.TABLES_DIR
KEY = ["claim_id", "line_no"]


@pytest.fixture(scope="module")
def data():
    return synth.generate(3000, 30_000, seed=7, anomaly_rate=0.03)


def _csv(name):
    return pl.read_csv(T / name, infer_schema=False)


def _yr(col="valid_from"):
    return pl.col(col).str.slice(0, 4).cast(pl.Int32).alias("year")


@pytest.fixture(scope="module")
def priced(data):
    """Each line with its tariff price for one unit, computed from the CSV files, and its code attributes."""
    lines = data.claims.with_columns(year=jalali_year_series(data.claims["service_date"]))
    lines = lines.join(data.providers.select("provider_id", "sector"), on="provider_id", how="left")
    tariff = _csv("rvu-tariff.csv").select("service_code", _yr(), pl.col("professional_rvu", "technical_rvu")
                                           .cast(pl.Int64))
    k = _csv("k-coefficients.csv").select("sector", _yr(), pl.col("k_professional", "k_technical").cast(pl.Int64))
    rvu = tariff.join(k, on="year").select(
        "service_code", "year", "sector",
        (pl.col("professional_rvu") * pl.col("k_professional") + pl.col("technical_rvu") * pl.col("k_technical"))
        .alias("rvu_price"))
    drugs = _csv("drugs.csv").select("service_code", _yr(), pl.col("unit_price").cast(pl.Int64).alias("drug_price"),
                                     pl.col("max_units_per_rx").cast(pl.Int64), pl.col("covered") == "true",
                                     (pl.col("requires_referral") == "true").alias("drug_referral"))
    pkg = _csv("global-package-prices.csv").select(pl.col("package_code").alias("service_code"), "sector", _yr(),
                                                   pl.col("price").cast(pl.Int64).alias("pkg_price"))
    attrs = _csv("code-attributes.csv").with_columns(
        pl.col("min_age", "max_age", "max_units_per_day", "visit_limit_days").cast(pl.Int64),
        pl.col("requires_referral", "requires_prior_auth") == "true")
    out = (lines.join(rvu, on=["service_code", "year", "sector"], how="left")
           .join(drugs, on=["service_code", "year"], how="left")
           .join(pkg, on=["service_code", "sector", "year"], how="left")
           .join(attrs, on="service_code", how="left")
           .join(data.members.select("member_id", "sex", "birth_date", "death_date"), on="member_id", how="left"))
    price = (pl.when(pl.col("modifier") == synth.GLOBAL_MODIFIER).then("pkg_price")
             .when(pl.col("drug_price").is_not_null()).then("drug_price").otherwise("rvu_price"))
    sd, bd = pl.col("service_date"), pl.col("birth_date")
    age = (sd.dt.year() - bd.dt.year() - ((sd.dt.month() < bd.dt.month())
                                          | ((sd.dt.month() == bd.dt.month()) & (sd.dt.day() < bd.dt.day())))
           .cast(pl.Int64))
    return out.with_columns(price=price, age=age)


@pytest.fixture(scope="module")
def clean(data, priced):
    return priced.join(data.truth.filter(pl.col("line_no").is_not_null()), on=KEY, how="anti")


def _truth(data, priced, anomaly):
    t = data.truth.filter(pl.col("anomaly") == anomaly, pl.col("line_no").is_not_null())
    return priced.join(t.select(KEY), on=KEY, how="semi")


def test_shapes_and_schemas(data):
    assert data.claims.height == 30_000
    assert data.claims.schema == pl.Schema(schema.CLAIM_LINES)
    assert data.members.schema == pl.Schema(schema.MEMBERS) and data.members.height == 3000
    assert data.coverage.schema == pl.Schema(schema.COVERAGE)
    assert data.providers.schema == pl.Schema(schema.PROVIDERS)
    assert data.truth.schema == pl.Schema(synth.TRUTH)
    assert data.claims.select(KEY).is_duplicated().sum() == 0
    assert set(data.truth["anomaly"].unique()) <= set(synth.ANOMALIES)
    for col in schema.CLAIM_LINES_REQUIRED:
        assert data.claims[col].null_count() == 0, col


def test_deterministic_and_seeded():
    a = synth.generate(300, 2000, seed=3)
    b = synth.generate(300, 2000, seed=3)
    for name in ("members", "coverage", "providers", "claims", "truth"):
        assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not synth.generate(300, 2000, seed=4).claims.equals(a.claims)


def test_national_codes_and_families(data):
    m = data.members
    assert m.select(national_code.valid_expr(pl.col("member_id")).all()).item()
    assert m["member_id"].is_unique().all()
    assert data.claims.join(m, on="member_id", how="anti").height == 0
    heads = m.filter(pl.col("relationship") == "head")
    assert set(m["family_id"].unique()) == set(heads["member_id"])  # a family is keyed by its head's national code
    assert m["province"].n_unique() <= 31 and 0.15 < m["rural"].mean() < 0.35
    assert set(m["relationship"].unique()) == set(schema.RELATIONSHIPS)


def test_claims_are_consistent(data):
    per_claim = data.claims.group_by("claim_id").agg(
        pl.col("member_id", "insurer_id", "setting", "provider_id", "supplementary_insurer_id").n_unique(),
        (pl.col("line_no").max() == pl.len()).alias("contiguous"))
    assert per_claim.select(pl.exclude("claim_id", "contiguous").max()).row(0) == (1, 1, 1, 1, 1)
    assert per_claim["contiguous"].all()
    share = data.claims.with_columns(drug=pl.col("service_code").str.len_chars() == 7)
    assert 0.2 < share["drug"].mean() < 0.35
    assert 0.06 < (share["setting"] == "inpatient").mean() < 0.14
    inp = data.claims.filter(pl.col("setting") == "inpatient")
    assert inp["admission_date"].null_count() == 0
    assert inp.filter(~pl.col("service_date").is_between("admission_date", "discharge_date")).height == 0
    contracted = data.claims.join(data.providers, on="provider_id").filter(
        ~pl.col("contracted_insurers").list.contains(pl.col("insurer_id")))
    assert contracted.height == 0


def test_clean_lines_are_billed_within_tariff(clean):
    assert clean["price"].null_count() == 0
    assert clean.filter(pl.col("billed_amount") > pl.col("price") * pl.col("quantity")).height == 0
    assert clean.filter(pl.col("billed_amount") <= 0).height == 0


def test_clean_lines_agree_with_code_attributes(clean):
    tariff = clean.filter(pl.col("drug_price").is_null())
    assert tariff.filter(pl.col("sex").is_not_null() & (pl.col("sex") != pl.col("sex_right"))).height == 0
    assert tariff.filter(pl.col("age") < pl.col("min_age")).height == 0
    assert tariff.filter(pl.col("age") > pl.col("max_age")).height == 0
    assert tariff.filter(pl.col("quantity") > pl.col("max_units_per_day")).height == 0
    assert tariff.filter((pl.col("setting_right") != "any") & (pl.col("setting_right") != pl.col("setting"))).height == 0
    assert tariff.filter(pl.col("requires_referral") & pl.col("referral_id").is_null()).height == 0
    assert tariff.filter(pl.col("requires_prior_auth") & pl.col("prior_auth_id").is_null()).height == 0
    drugs = clean.filter(pl.col("drug_price").is_not_null())
    assert drugs["covered"].all() and (drugs["setting"] == "outpatient").all()
    assert drugs.filter(pl.col("quantity") > pl.col("max_units_per_rx")).height == 0
    assert drugs.filter(pl.col("drug_referral") & pl.col("referral_id").is_null()).height == 0
    assert drugs["prescriber_id"].null_count() == 0


def test_clean_lines_respect_frequency_and_duplicates(clean):
    assert clean.select("member_id", "service_code", "service_date").is_duplicated().sum() == 0
    visits = clean.filter(pl.col("group") == "visit")
    assert visits.select("member_id", "service_date").is_duplicated().sum() == 0
    lim = (clean.filter(pl.col("visit_limit_days").is_not_null()).sort("member_id", "service_code", "service_date")
           .with_columns(gap=(pl.col("service_date") - pl.col("service_date").shift(1)).dt.total_days()
                         .over("member_id", "service_code")))
    assert lim.filter(pl.col("gap") < pl.col("visit_limit_days")).height == 0


def test_clean_lines_are_covered_by_one_basic_cover(data, clean):
    basic = data.coverage.filter(pl.col("kind") == "basic").select(
        "member_id", pl.col("insurer_id").alias("cover_insurer"), "start_date", "end_date")
    lines = clean.select(*KEY, "member_id", "insurer_id", "service_date", "death_date")
    in_force = (lines.join(basic, on="member_id")
                .filter(pl.col("service_date") >= pl.col("start_date"),
                        pl.col("end_date").is_null() | (pl.col("service_date") <= pl.col("end_date")))
                .group_by(KEY).agg(pl.len().alias("n"), pl.col("cover_insurer").first(), pl.col("insurer_id").first()))
    assert in_force.height == lines.height
    assert (in_force["n"] == 1).all()
    assert (in_force["cover_insurer"] == in_force["insurer_id"]).all()
    assert lines.filter(pl.col("service_date") > pl.col("death_date")).height == 0


def test_supplementary_is_named_only_when_valid(data):
    supp = data.coverage.filter(pl.col("kind") == "supplementary")
    named = data.claims.filter(pl.col("supplementary_insurer_id").is_not_null())
    assert named.height > 0
    ok = named.join(supp, left_on=["member_id", "supplementary_insurer_id"], right_on=["member_id", "insurer_id"]) \
        .filter(pl.col("service_date") >= pl.col("start_date") + pl.duration(days=pl.col("waiting_days")),
                pl.col("end_date").is_null() | (pl.col("service_date") <= pl.col("end_date")))
    assert ok.select(KEY).unique().height == named.height


def test_truth_counts(data):
    lines = data.truth.filter(pl.col("line_no").is_not_null())
    assert lines.select(KEY).is_duplicated().sum() == 0  # one label per anomalous line
    assert 0.02 < lines.height / data.claims.height < 0.045
    for anomaly in synth.ANOMALIES:
        if anomaly != "overlapping_cover_choose":
            assert lines.filter(pl.col("anomaly") == anomaly).height > 0, anomaly
    assert data.truth.join(data.claims, on=["claim_id", "line_no", "member_id", "insurer_id"], how="anti") \
        .filter(pl.col("line_no").is_not_null()).height == 0


def test_truth_lines_break_their_rule(data, priced):
    assert _truth(data, priced, "sex_conflict").filter(
        pl.col("sex").is_null() | (pl.col("sex") == pl.col("sex_right"))).height == 0
    assert _truth(data, priced, "age_conflict").filter(
        pl.col("age").is_between(pl.col("min_age").fill_null(-1), pl.col("max_age").fill_null(999))).height == 0
    assert _truth(data, priced, "excess_units").filter(
        pl.col("quantity") <= pl.col("max_units_per_day")).height == 0
    assert _truth(data, priced, "over_tariff").filter(
        pl.col("billed_amount") <= pl.col("price") * pl.col("quantity")).height == 0
    ref = _truth(data, priced, "missing_referral")
    assert ref["referral_id"].null_count() == ref.height
    assert ref.select((pl.col("requires_referral") | pl.col("drug_referral")).fill_null(False).all()).item()
    # every other anomaly keeps the line within its other rules
    for anomaly in ("sex_conflict", "age_conflict", "excess_units", "missing_referral", "out_of_cover"):
        t = _truth(data, priced, anomaly)
        assert t.filter(pl.col("billed_amount") > pl.col("price") * pl.col("quantity")).height == 0, anomaly


def test_duplicates_copy_an_earlier_line_on_another_claim(data):
    cols = ["member_id", "provider_id", "service_code", "service_date", "modifier", "quantity", "billed_amount"]
    dups = data.claims.join(data.truth.filter(pl.col("anomaly") == "duplicate_exact").select(KEY), on=KEY, how="semi")
    pairs = dups.join(data.claims, on=cols, nulls_equal=True, suffix="_orig").filter(
        pl.col("claim_id_orig") < pl.col("claim_id"))
    assert pairs.select(KEY).unique().height == dups.height
    # apart from the copies, no exact duplicates at all
    rest = data.claims.join(dups.select(KEY), on=KEY, how="anti")
    assert rest.select(cols).is_duplicated().sum() == 0


def test_out_of_cover_lines_are_outside_every_cover(data):
    t = data.claims.join(data.truth.filter(pl.col("anomaly") == "out_of_cover").select(KEY), on=KEY, how="semi")
    covered = t.join(data.coverage.filter(pl.col("kind") == "basic"), on=["member_id", "insurer_id"]).filter(
        pl.col("service_date") >= pl.col("start_date"),
        pl.col("end_date").is_null() | (pl.col("service_date") <= pl.col("end_date")))
    assert t.height > 0 and covered.height == 0
    assert t.join(data.coverage, on=["member_id", "insurer_id"], how="semi").height == t.height  # enrolled, not in force


def test_overlapping_cover(data):
    members = data.truth.filter(pl.col("anomaly") == "overlapping_cover", pl.col("line_no").is_null())
    assert members.height > 0 and (members.group_by("member_id").agg(pl.col("insurer_id").n_unique())["insurer_id"] == 2).all()
    basic = data.coverage.filter(pl.col("kind") == "basic")
    two = basic.join(members.select("member_id").unique(), on="member_id", how="semi").group_by("member_id").len()
    assert (two["len"] == 2).all()
    # every labelled line lies where both covers are in force
    for anomaly in ("overlapping_cover", "overlapping_cover_choose"):
        t = data.claims.join(data.truth.filter(pl.col("anomaly") == anomaly, pl.col("line_no").is_not_null())
                             .select(KEY), on=KEY, how="semi")
        n = t.join(basic, on="member_id").filter(
            pl.col("service_date") >= pl.col("start_date"),
            pl.col("end_date").is_null() | (pl.col("service_date") <= pl.col("end_date"))).group_by(KEY).len()
        assert n.height == t.height and (n["len"] == 2).all(), anomaly
    choose = data.claims.join(data.truth.filter(pl.col("anomaly") == "overlapping_cover_choose").select(KEY), on=KEY,
                              how="semi")
    funds = choose.join(basic, on="member_id")["fund"].unique().to_list()
    assert set(funds) <= {"civil_servants", "armed_forces"}


def test_no_anomalies_at_rate_zero():
    d = synth.generate(500, 4000, seed=11, anomaly_rate=0.0)
    assert d.truth.height == 0 and d.claims.height == 4000


def test_bad_arguments():
    with pytest.raises(ValueError, match="lines"):
        synth.generate(10, 10_000)
    with pytest.raises(ValueError, match="1399"):
        synth.generate(100, 100, year=1399)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_write(tmp_path, fmt):
    d = synth.generate(200, 1000, seed=5)
    paths = synth.write(d, tmp_path, fmt=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.{fmt}" for n in
                                                                ("members", "coverage", "providers", "claims", "truth"))
    if fmt == "parquet":
        assert_frame_equal(pl.read_parquet(paths["claims"]), d.claims)
    if fmt == "csv":
        back = pl.read_csv(paths["claims"], infer_schema=False)
        assert back.height == d.claims.height and "|" in "".join(back["diagnosis_codes"].drop_nulls().to_list())
