"""A realistic synthetic population, coverage, providers and claim lines — clean by construction, with anomalies
injected at a chosen rate and labelled in a ``truth`` table, so that every stage of the engine can be measured
(precision and recall per anomaly type, see ``ground_truth.score``) and benchmarked at scale.

Clean means: each line is priced from the national tables (``rulesets/national``) exactly as they define it, for the
provider's sector and the service date's year, and billed at or below that price; sex, age, setting, units, referral
and prior authorisation agree with ``code-attributes.csv``; frequency limits (one visit-group line per member a day,
``visit_limit_days``), bundling pairs and global packages are respected; the member is covered by the billed insurer
on the service date with no other basic cover overlapping; no two lines share member, code and date. Anomalies then
break exactly one of these on a line (or add a second basic cover to a member), and each anomalous line carries one
label. Everything is drawn from one seeded numpy generator and built column-wise: no Python loop runs per row (the
loops run over code groups, cells of sex × age, specialties and the like).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from adjudicator import schema
from adjudicator.dates import from_jalali
from adjudicator.national_code import random_codes

__all__ = ["SynthData", "generate", "write", "load_book", "Book", "ANOMALIES", "TRUTH", "TABLES_DIR"]

TABLES_DIR = Path(__file__).resolve().parents[1] / "rulesets" / "national"

ANOMALIES = ("sex_conflict", "age_conflict", "excess_units", "over_tariff", "missing_referral", "duplicate_exact",
             "overlapping_cover", "overlapping_cover_choose", "out_of_cover")
TRUTH: dict[str, pl.DataType] = {"anomaly": pl.String, "claim_id": pl.String, "line_no": pl.Int64,
                                 "member_id": pl.String, "insurer_id": pl.String}
# Share of the anomalous lines per injected type (the overlap share is reached through members, so approximate).
_SHARES = {"sex_conflict": 0.12, "age_conflict": 0.12, "excess_units": 0.14, "over_tariff": 0.18,
           "missing_referral": 0.12, "duplicate_exact": 0.12, "out_of_cover": 0.08, "overlapping_cover": 0.12}

SECTORS = schema.SECTORS
SETTINGS = schema.SETTINGS  # outpatient, inpatient, emergency
OUT, INP, EMR = 0, 1, 2
GLOBAL_MODIFIER = "GL"  # a global-package admission bills the package code once with this modifier
BIG = np.int64(1 << 40)  # an open end date in day arithmetic
NO_AGE_MIN, NO_AGE_MAX = -1, 999

FUNDS = ("rural", "iranians", "other_strata", "civil_servants", "sso_employee", "sso_self_employed",
         "armed_forces", "relief")
FUND_INSURER = ("IHIO", "IHIO", "IHIO", "IHIO", "SSO", "SSO", "AFMO", "IKRF")
FUND_PLAN = ("rural_family_physician", "universal", "other_strata", "civil_servants", "treatment_employee",
             "self_employed", "afmo_standard", "relief")
RURAL, IRANIANS, OTHER_STRATA, CIVIL, SSO_EMP, SSO_SELF, ARMED, RELIEF = range(8)
URBAN_FUND_P = np.array([0, 0.16, 0.05, 0.13, 0.42, 0.08, 0.09, 0.07])
BASIC_INSURERS = ("IHIO", "SSO", "AFMO", "IKRF")
SUPP_INSURERS = ("DANA", "IRAN", "ASIA", "ALBORZ", "PARSIAN", "MOALLEM")
SUPP_PLANS = ("bronze", "silver", "gold")

PROVINCES = (  # 31 provinces, weighted roughly by population
    ("Tehran", 16.0), ("Razavi Khorasan", 7.9), ("Isfahan", 6.4), ("Fars", 6.1), ("Khuzestan", 5.8),
    ("East Azerbaijan", 4.9), ("Mazandaran", 4.1), ("West Azerbaijan", 4.1), ("Kerman", 4.0), ("Alborz", 3.4),
    ("Sistan and Baluchestan", 3.6), ("Gilan", 3.2), ("Kermanshah", 2.5), ("Golestan", 2.3), ("Hormozgan", 2.3),
    ("Lorestan", 2.2), ("Hamadan", 2.2), ("Kurdistan", 2.0), ("Markazi", 1.8), ("Qom", 1.6), ("Qazvin", 1.6),
    ("Ardabil", 1.6), ("Bushehr", 1.4), ("Yazd", 1.4), ("Zanjan", 1.3), ("Chaharmahal and Bakhtiari", 1.2),
    ("North Khorasan", 1.1), ("Kohgiluyeh and Boyer-Ahmad", 0.9), ("South Khorasan", 0.9), ("Semnan", 0.9),
    ("Ilam", 0.7),
)
RURAL_SHARE = 0.25

DIAGNOSES = {
    "visit": ["J06.9", "I10", "E11.9", "M54.5", "K29.7", "N39.0", "J45.9", "F32.9", "R51", "K21.9", "J02.9",
              "L30.9", "H10.9", "E78.5"],
    "lab": ["Z00.0", "E11.9", "E78.5", "D64.9", "E03.9", "N18.9", "R50.9"],
    "imaging": ["M54.5", "R10.4", "J18.9", "S62.6", "R51", "M17.9", "Z01.8"],
    "physio": ["M54.5", "M75.1", "M17.9", "G81.9", "S83.2"],
    "dental": ["K02.1", "K04.0", "K05.1", "K08.1", "K01.1"],
    "outproc": ["K21.0", "K58.9", "N18.6", "C50.9", "G40.9", "H35.3", "Z30.1", "H91.9"],
    "drug": ["J06.9", "I10", "E11.9", "M54.5", "K29.7", "N39.0", "J45.9", "F32.9", "E78.5", "J02.9"],
    "inpatient": ["J18.9", "I21.9", "I50.9", "A09", "N10", "E86", "K92.2", "P59.9", "J44.1", "K35.8", "K80.2",
                  "K40.9", "O82", "O80", "H25.9", "J35.0", "N40", "M17.1", "N20.0", "I25.1"],
    "emergency": ["S01.8", "S61.0", "R07.4", "R10.4", "T14.1", "J45.9", "S93.4"],
}
# Line shares by kind of claim: ~60 % outpatient, ~30 % drug, ~10 % inpatient (incl. emergency).
CATEGORY_SHARE = {"visit": 0.20, "lab": 0.17, "imaging": 0.07, "physio": 0.05, "dental": 0.06, "outproc": 0.05,
                  "drug": 0.30, "inpatient": 0.08, "emergency": 0.02}


# --- the national tables ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Book:
    """The national tables as numpy arrays indexed by a code index (tariff codes, then drug codes)."""

    codes: np.ndarray
    index: dict
    group: np.ndarray
    sex: np.ndarray  # 0 any, 1 M, 2 F
    min_age: np.ndarray
    max_age: np.ndarray
    setting: np.ndarray
    max_units: np.ndarray  # max_units_per_day, or max_units_per_rx for drugs
    referral: np.ndarray
    prior_auth: np.ndarray
    limit: np.ndarray  # visit_limit_days, 0 = none
    is_drug: np.ndarray
    covered: np.ndarray
    allowed: tuple  # per code: frozenset of specialties allowed to prescribe (empty = any)
    price: np.ndarray  # [code, sector, year index] Rials for one unit
    pkg_price: np.ndarray  # [code, sector, year index] global-package price (0 = not a package)
    pkg_stay: np.ndarray
    ptp: np.ndarray  # (k, 2) code indexes (code_1, code_2) of active pairs (modifier_ok 0 or 1)
    years: tuple
    specialties: tuple

    def year_index(self, year: int) -> int:
        if year not in self.years:
            raise ValueError(f"the national tables have no prices for {year} (they cover {self.years})")
        return self.years.index(year)


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _year(col: str) -> pl.Expr:
    return pl.col(col).str.slice(0, 4).cast(pl.Int64)


def load_book(tables_dir: Path | str = TABLES_DIR) -> Book:
    """Read the national tables of ``tables_dir`` into a ``Book``."""
    d = Path(tables_dir)
    tariff = _csv(d / "rvu-tariff.csv").with_columns(_year("valid_from").alias("year"))
    kc = _csv(d / "k-coefficients.csv").with_columns(_year("valid_from").alias("year"))
    attrs = _csv(d / "code-attributes.csv")
    drugs = _csv(d / "drugs.csv").with_columns(_year("valid_from").alias("year"))
    years = tuple(sorted(set(tariff["year"].to_list())))
    tcodes = attrs["service_code"].to_list()
    dcodes = list(dict.fromkeys(drugs["service_code"].to_list()))
    codes = np.array(tcodes + dcodes)
    index = {c: i for i, c in enumerate(codes.tolist())}
    n, nt = len(codes), len(tcodes)

    def col(name, fill, dtype=np.int64):
        return np.array([fill if v is None else v for v in attrs[name].to_list()], dtype=dtype)

    true = lambda s: np.array([v in ("true", "1") for v in s.to_list()])  # noqa: E731
    group = np.array(attrs["group"].to_list() + ["drug_item"] * len(dcodes))
    sex = np.concatenate([np.array([{"M": 1, "F": 2}.get(v, 0) for v in attrs["sex"].to_list()], np.int8),
                          np.zeros(len(dcodes), np.int8)])
    min_age = np.concatenate([col("min_age", NO_AGE_MIN), np.full(len(dcodes), NO_AGE_MIN)])
    max_age = np.concatenate([col("max_age", NO_AGE_MAX), np.full(len(dcodes), NO_AGE_MAX)])
    setting = np.array(attrs["setting"].to_list() + ["outpatient"] * len(dcodes))
    d1 = drugs.unique("service_code", keep="first", maintain_order=True)
    max_units = np.concatenate([col("max_units_per_day", 1), d1["max_units_per_rx"].cast(pl.Int64).to_numpy()])
    referral = np.concatenate([true(attrs["requires_referral"]), true(d1["requires_referral"])])
    prior_auth = np.concatenate([true(attrs["requires_prior_auth"]), np.zeros(len(dcodes), bool)])
    limit = np.concatenate([col("visit_limit_days", 0), np.zeros(len(dcodes), np.int64)])
    is_drug = np.arange(n) >= nt
    covered = np.concatenate([np.ones(nt, bool), true(d1["covered"])])
    allowed = tuple([frozenset()] * nt + [frozenset(v.split("|")) if v else frozenset()
                                           for v in d1["allowed_specialties"].to_list()])

    price = np.zeros((n, len(SECTORS), len(years)), np.int64)
    t = tariff.join(kc, on="year").with_columns(
        (pl.col("professional_rvu").cast(pl.Int64) * pl.col("k_professional").cast(pl.Int64)
         + pl.col("technical_rvu").cast(pl.Int64) * pl.col("k_technical").cast(pl.Int64)).alias("price"))
    ci = np.array([index[c] for c in t["service_code"].to_list()])
    si = np.array([SECTORS.index(s) for s in t["sector"].to_list()])
    yi = np.array([years.index(y) for y in t["year"].to_list()])
    price[ci, si, yi] = t["price"].to_numpy()
    dci = np.array([index[c] for c in drugs["service_code"].to_list()])
    dyi = np.array([years.index(y) for y in drugs["year"].to_list()])
    price[dci, :, dyi] = drugs["unit_price"].cast(pl.Int64).to_numpy()[:, None]

    pp = _csv(d / "global-package-prices.csv").with_columns(_year("valid_from").alias("year"))
    pkg_price = np.zeros_like(price)
    pkg_stay = np.zeros(n, np.int64)
    pci = np.array([index[c] for c in pp["package_code"].to_list()])
    pkg_price[pci, [SECTORS.index(s) for s in pp["sector"].to_list()], [years.index(y) for y in pp["year"].to_list()]] \
        = pp["price"].cast(pl.Int64).to_numpy()
    pkg_stay[pci] = pp["max_stay_days"].cast(pl.Int64).to_numpy()

    ptp = _csv(d / "ptp-pairs.csv").filter(pl.col("modifier_ok") != "9")
    ptp_idx = np.array([[index[a], index[b]] for a, b in zip(ptp["code_1"].to_list(), ptp["code_2"].to_list())],
                       np.int64).reshape(-1, 2)
    specialties = tuple(_csv(d / "specialties.csv")["specialty"].to_list())
    return Book(codes, index, group, sex, min_age, max_age, setting, max_units, referral, prior_auth, limit, is_drug,
                covered, allowed, price, pkg_price, pkg_stay, ptp_idx, years, specialties)


_BOOKS: dict[str, Book] = {}


def _book(tables_dir: Path | str) -> Book:
    key = str(Path(tables_dir).resolve())
    if key not in _BOOKS:
        _BOOKS[key] = load_book(tables_dir)
    return _BOOKS[key]


# --- small vectorized helpers ------------------------------------------------------------------------------------------

def _days(d) -> int:
    return (d - __import__("datetime").date(1970, 1, 1)).days


def _ymd(days: np.ndarray):
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    return (y.astype(np.int64) + 1970, (m - y.astype("datetime64[M]")).astype(np.int64) + 1,
            (d - m.astype("datetime64[D]")).astype(np.int64) + 1)


def age_at(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Completed Gregorian years on ``on`` (a 29 February birthday falls on 1 March in other years)."""
    by, bm, bd = _ymd(birth)
    oy, om, od = _ymd(on)
    return oy - by - ((om < bm) | ((om == bm) & (od < bd)))


def _in_window(rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def _first_per(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions (into ``order``) of the first element of each distinct key, in ``order``'s sequence."""
    _, first = np.unique(keys[order], return_index=True)
    return order[np.sort(first)]


def _groups(keys: np.ndarray):
    """(key, row indexes) for each distinct key — one sort instead of a scan of all rows per key."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    cuts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else len(sk)
        yield sk[start], order[start:end]


def _choice_by_cell(rng, cand: np.ndarray, weight: np.ndarray, book: Book, sex: np.ndarray, age: np.ndarray,
                    outside_age: bool = False) -> np.ndarray:
    """For each row (member sex, age), one code of ``cand`` whose sex and age limits admit it (-1 if none); with
    ``outside_age``, one whose age limits exclude the row's age instead."""
    out = np.full(len(sex), -1, np.int64)
    if len(sex) == 0:
        return out
    cell = sex.astype(np.int64) * 1000 + np.clip(age, 0, 999)
    csex, cmin, cmax = book.sex[cand], book.min_age[cand], book.max_age[cand]
    for c, rows in _groups(cell):
        s, a = divmod(int(c), 1000)
        in_range = (cmin <= a) & (a <= cmax)
        ok = ((csex == 0) | (csex == s)) & (~in_range if outside_age else in_range)
        w = weight * ok
        if w.sum() > 0:
            out[rows] = rng.choice(cand, size=len(rows), p=w / w.sum())
    return out


# --- population and coverage ---------------------------------------------------------------------------------------

@dataclass
class _Pop:
    n: int
    ids: np.ndarray  # national codes (str)
    birth: np.ndarray
    death: np.ndarray  # BIG = alive
    sex: np.ndarray  # 1 M, 2 F
    family: np.ndarray
    relationship: np.ndarray  # str
    province: np.ndarray
    rural: np.ndarray
    category: np.ndarray  # 0 normal, 1 newborn, 2 late start, 3 lapsed, 4 switch
    fund1: np.ndarray
    start1: np.ndarray
    end1: np.ndarray  # BIG = open
    fund2: np.ndarray  # -1 = none
    start2: np.ndarray  # BIG = none
    lo: np.ndarray  # the window in which the member may have clean lines (inclusive)
    hi: np.ndarray
    supp: np.ndarray  # supplementary insurer index, -1 none
    supp_from: np.ndarray  # first day the supplementary pays (start + waiting)
    supp_to: np.ndarray
    weight: np.ndarray  # how much care the member uses


NORMAL, NEWBORN, LATE, LAPSED, SWITCH = range(5)


def _population(rng, n: int, y0: int, y1: int) -> tuple[_Pop, list[pl.DataFrame]]:
    sizes = rng.choice(np.arange(1, 8), size=n, p=[0.12, 0.18, 0.25, 0.25, 0.12, 0.05, 0.03])
    cs = np.cumsum(sizes)
    k = int(np.searchsorted(cs, n))
    sizes = sizes[: k + 1].copy()
    sizes[-1] -= cs[k] - n
    nf = len(sizes)
    fam = np.repeat(np.arange(nf), sizes)
    start_of = np.repeat(np.cumsum(sizes) - sizes, sizes)
    pos = np.arange(n) - start_of
    fsize = sizes[fam]
    has_spouse = (sizes >= 2) & (rng.random(nf) < 0.9)
    has_parent = (sizes >= 3) & (rng.random(nf) < 0.12)
    rel = np.where(pos == 0, 0, np.where((pos == 1) & has_spouse[fam], 1,
                                         np.where((pos == fsize - 1) & has_parent[fam] & (pos >= 2), 3, 2)))
    head_age = np.clip(rng.normal(44, 13, nf), 19, 92)
    age = np.where(rel == 0, head_age[fam], 0.0)
    age = np.where(rel == 1, np.clip(head_age[fam] + rng.normal(-4, 4, n), 17, 95), age)
    age = np.where(rel == 2, rng.random(n) * np.clip(head_age[fam] - 18, 1, 35), age)
    age = np.where(rel == 3, np.clip(head_age[fam] + rng.uniform(22, 35, n), 40, 100), age)
    birth = y0 - np.floor(age * 365.25).astype(np.int64) - rng.integers(1, 365, n)
    newborn = (rel == 2) & (head_age[fam] < 45) & (rng.random(n) < 0.045)
    birth = np.where(newborn, y0 + rng.integers(0, y1 - y0 - 30, n), birth)
    head_sex = np.where(rng.random(nf) < 0.88, 1, 2)
    sex = np.where(rel == 0, head_sex[fam], np.where(rel == 1, 3 - head_sex[fam], rng.integers(1, 3, n)))

    pw = np.array([w for _, w in PROVINCES])
    fprov = rng.choice(len(PROVINCES), size=nf, p=pw / pw.sum())
    frural = rng.random(nf) < RURAL_SHARE
    ffund = np.where(frural & (rng.random(nf) < 0.85), RURAL, rng.choice(8, size=nf, p=URBAN_FUND_P))
    fund1 = ffund[fam]

    u = rng.random(n)
    cat = np.where(newborn, NEWBORN, np.where(u < 0.03, LATE, np.where(u < 0.06, LAPSED,
                                                                        np.where(u < 0.09, SWITCH, NORMAL))))
    long_ago = np.maximum(birth, y0 - rng.integers(1, 4000, n))
    start1 = np.where(cat == NEWBORN, birth, np.where(cat == LATE, y0 + rng.integers(30, 250, n), long_ago))
    switch_day = y0 + rng.integers(60, y1 - y0 - 60, n)
    end1 = np.where(rng.random(n) < 0.2, y1 + rng.integers(1, 400, n), BIG)
    end1 = np.where(cat == LAPSED, y0 + rng.integers(60, y1 - y0 - 31, n), end1)
    end1 = np.where(cat == SWITCH, switch_day - 1, end1)
    fund2 = np.where(cat == SWITCH, rng.choice(8, size=n, p=URBAN_FUND_P), -1)
    ins = np.array(FUND_INSURER)
    same = (cat == SWITCH) & (ins[np.maximum(fund2, 0)] == ins[fund1])
    fund2 = np.where(same, np.where(ins[fund1] == "SSO", CIVIL, SSO_EMP), fund2)
    start2 = np.where(cat == SWITCH, switch_day, BIG)
    age0 = age_at(birth, np.full(n, y0))
    death = np.where((cat == NORMAL) & (age0 >= 60) & (rng.random(n) < 0.025), y0 + rng.integers(30, y1 - y0, n), BIG)
    lo = np.maximum(start1, y0)
    hi = np.minimum(np.minimum(np.where(cat == SWITCH, y1, end1), y1), death)

    # Supplementary cover through the employer: family level, mostly civil servants and SSO employees.
    p_supp = np.array([0.02, 0.05, 0.05, 0.5, 0.3, 0.08, 0.15, 0.0])[ffund]
    fsupp = np.where(rng.random(nf) < p_supp, rng.integers(0, len(SUPP_INSURERS), nf), -1)
    fplan = rng.integers(0, len(SUPP_PLANS), nf)
    fsstart = np.where(rng.random(nf) < 0.8, y0 - rng.integers(0, 300, nf), y0 + rng.integers(0, 180, nf))
    fsend = np.where(rng.random(nf) < 0.7, BIG, fsstart + 729)
    supp = np.where(rng.random(n) < 0.95, fsupp[fam], -1)
    sstart = np.maximum(fsstart[fam], birth)
    waiting = np.where(rng.random(n) < 0.6, 0, rng.choice([30, 60, 90], size=n))
    u = rng.gamma(0.7, 1 / 0.7, n)
    agef = np.select([age0 < 1, age0 < 15, age0 < 40, age0 < 60], [1.6, 0.8, 0.8, 1.2], 2.0)
    weight = u * agef * np.where((sex == 2) & (age0 >= 15) & (age0 < 50), 1.25, 1.0)

    ids = _unique_codes(rng, n)
    pop = _Pop(n, ids, birth, death, sex, fam, np.array(schema.RELATIONSHIPS)[rel], fprov[fam], frural[fam], cat,
               fund1, start1, end1, fund2, start2, lo, hi, supp, sstart + waiting,
               np.where(fsend[fam] == BIG, BIG, fsend[fam]), weight)

    # coverage rows: span 1 for everyone, span 2 for those who switched, supplementary rows
    cov = [_cov_frame(ids, fund1, start1, end1)]
    sw = cat == SWITCH
    cov.append(_cov_frame(ids[sw], fund2[sw], start2[sw], np.full(sw.sum(), BIG)))
    hs = supp >= 0
    cov.append(pl.DataFrame({
        "member_id": ids[hs], "insurer_id": np.array(SUPP_INSURERS)[supp[hs]], "kind": "supplementary",
        "fund": None, "plan": np.array(SUPP_PLANS)[fplan[fam][hs]], "start_date": _date(sstart[hs]),
        "end_date": _date(pop.supp_to[hs]), "status": "active", "waiting_days": waiting[hs]},
        schema=schema.COVERAGE))
    return pop, cov


def _date(days: np.ndarray) -> pl.Series:
    s = pl.Series(np.asarray(days, np.int64))
    return pl.select(pl.when(s < BIG).then(s).cast(pl.Int32).cast(pl.Date)).to_series()


def _cov_frame(ids, fund, start, end) -> pl.DataFrame:
    return pl.DataFrame({
        "member_id": ids, "insurer_id": np.array(FUND_INSURER)[fund], "kind": "basic",
        "fund": np.array(FUNDS)[fund], "plan": np.array(FUND_PLAN)[fund], "start_date": _date(start),
        "end_date": _date(end), "status": "active", "waiting_days": None}, schema=schema.COVERAGE)


def _unique_codes(rng, n: int) -> np.ndarray:
    codes = np.unique(random_codes(int(n * 1.01) + 16, rng))
    while len(codes) < n:
        codes = np.unique(np.concatenate([codes, random_codes(n - len(codes) + 16, rng)]))
    return codes[rng.permutation(len(codes))[:n]]


# --- providers -----------------------------------------------------------------------------------------------------

OFFICE_SPECIALTY_W = {
    "gp": 0.30, "family_medicine": 0.05, "internal": 0.06, "pediatrics": 0.05, "obgyn": 0.05, "general_surgery": 0.04,
    "orthopedics": 0.03, "cardiology": 0.03, "neurology": 0.025, "psychiatry": 0.025, "dermatology": 0.025,
    "ophthalmology": 0.03, "ent": 0.025, "urology": 0.02, "neurosurgery": 0.01, "endocrinology": 0.015,
    "nephrology": 0.01, "gastroenterology": 0.015, "pulmonology": 0.01, "rheumatology": 0.01, "infectious": 0.01,
    "oncology": 0.01, "dentistry": 0.10, "physiotherapy": 0.05,
}
SUBSPECIALTIES = {"cardiology", "endocrinology", "nephrology", "gastroenterology", "pulmonology", "rheumatology",
                  "infectious", "oncology"}
FACILITIES = {  # type: (id prefix, specialty, sector weights public/private/charity/public_nongov, count divisor)
    "hospital": ("HSP", "general_hospital", (0.55, 0.25, 0.08, 0.12), 5000),
    "clinic": ("CLN", "gp", (0.30, 0.45, 0.20, 0.05), 3000),
    "pharmacy": ("PHA", "pharmacy", (0.10, 0.85, 0.0, 0.05), 2000),
    "lab": ("LAB", "pathology", (0.30, 0.60, 0.10, 0.0), 4000),
    "imaging": ("IMG", "radiology", (0.30, 0.60, 0.0, 0.10), 8000),
    "health_center": ("PHC", "family_medicine", (1.0, 0.0, 0.0, 0.0), 2500),
}


@dataclass
class _Providers:
    frame: pl.DataFrame
    sector: np.ndarray  # index into SECTORS
    pools: dict  # pool name -> array of provider indexes
    contracted: np.ndarray  # [provider, basic insurer] bool

    def pick(self, rng, pool_of_row: np.ndarray, pool_names: list[str], insurer: np.ndarray) -> np.ndarray:
        """A provider of the row's pool contracted with the row's basic insurer (index into BASIC_INSURERS)."""
        out = np.full(len(insurer), -1, np.int64)
        key = pool_of_row * 8 + insurer
        for k, rows in _groups(key):
            p, i = divmod(int(k), 8)
            pool = self.pools[pool_names[p]]
            pool = pool[self.contracted[pool, i]]
            out[rows] = pool[rng.integers(0, len(pool), len(rows))]
        return out


def _providers(rng, members: int) -> _Providers:
    n_off = max(2 * len(OFFICE_SPECIALTY_W), members // 250)
    spec_rows, type_rows, ids, sectors = [], [], [], []
    council = rng.choice(900_000, size=n_off * 2, replace=False) + 100_000
    k = 0
    for spec, w in OFFICE_SPECIALTY_W.items():
        c = max(2, int(round(w * n_off)))
        spec_rows += [spec] * c
        type_rows += ["office"] * c
        ids += [str(v) for v in council[k: k + c]]
        sectors.append(np.where(rng.random(c) < 0.9, 1, 0))
        k += c
    for ptype, (prefix, spec, sw, div) in FACILITIES.items():
        c = max(4, members // div)
        spec_rows += [spec] * c
        type_rows += [ptype] * c
        ids += [f"{prefix}{i + 1:06d}" for i in range(c)]
        sectors.append(rng.choice(4, size=c, p=np.array(sw)[[0, 1, 2, 3]]))
    n = len(ids)
    sector_names = ("public", "private", "charity", "public_nongov")
    sector = np.array([SECTORS.index(s) for s in sector_names])[np.concatenate(sectors)]
    ptype = np.array(type_rows)
    spec = np.array(spec_rows)
    private = sector == SECTORS.index("private")
    contracted = ~private[:, None] | (rng.random((n, 4)) < 0.8)
    supp_contract = rng.random((n, len(SUPP_INSURERS))) < np.where(ptype == "office", 0.3, 0.6)[:, None]
    pools: dict[str, np.ndarray] = {}
    keys = np.where(ptype == "office", np.char.add("office:", spec), ptype)
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        contracted[idx[0]] = True  # every pool has a provider contracted with every basic insurer
        pools[str(key)] = idx
    basic = np.array(BASIC_INSURERS)
    supp = np.array(SUPP_INSURERS)
    lists = [list(basic[contracted[i]]) + list(supp[supp_contract[i]]) for i in range(n)]
    level = np.where(np.isin(ptype, ["office", "pharmacy", "health_center"]), 1,
                     np.where(ptype == "hospital", np.where(rng.random(n) < 0.3, 3, 2), 2))
    frame = pl.DataFrame({"provider_id": ids, "provider_type": ptype, "sector": np.array(SECTORS)[sector],
                          "level": level, "specialty": spec, "contracted_insurers": lists}, schema=schema.PROVIDERS)
    return _Providers(frame, sector, pools, contracted)


# --- claims --------------------------------------------------------------------------------------------------------

LAB_WEIGHT = {"801010": 30, "802010": 20, "802030": 15, "802025": 12, "802040": 10, "802045": 10, "802050": 8,
              "802055": 8, "804010": 15, "803010": 10, "802060": 8, "802065": 8, "801015": 6, "802120": 6,
              "802020": 6, "802115": 6, "802105": 5, "804020": 4, "802080": 3, "802085": 3}
INPATIENT_LABS = ["801010", "802010", "802025", "802030", "802080", "802085", "804010", "801025", "801030",
                  "802120", "802060", "802065"]
EMERGENCY_CODES = ["801010", "802010", "802025", "802030", "802120", "802125", "804010", "701010", "701025",
                   "701035", "701040", "702010", "300110", "300310", "300315", "300320", "300410", "300415", "300420",
                   "300425", "300430", "300435", "300440"]
VISIT_EXTRA = ["300110", "300310", "300315", "300320", "300410"]
MEDICAL = [s for s in OFFICE_SPECIALTY_W if s not in ("dentistry", "physiotherapy")]
WARDS = ["990010", "990015", "990020"]


@dataclass
class _Ctx:
    rng: np.random.Generator
    book: Book
    pop: _Pop
    prov: _Providers
    y0: int
    y1: int

    def idx(self, codes) -> np.ndarray:
        return np.array([self.book.index[c] for c in codes], np.int64)


def _members_for(ctx: _Ctx, k: int, min_age: int = 0) -> np.ndarray:
    p = ctx.pop
    w = p.weight * (age_at(p.birth, np.full(p.n, ctx.y0)) >= min_age)
    return ctx.rng.choice(p.n, size=k, p=w / w.sum())


def _claim_dates(ctx: _Ctx, m: np.ndarray, outpatient: bool = True) -> np.ndarray:
    rng, p = ctx.rng, ctx.pop
    d = _in_window(rng, p.lo[m], p.hi[m])
    if outpatient:  # fewer visits on Fridays and in the Nowruz holidays: redraw most of them once
        quiet = ((d + 3) % 7 == 4) | (d - ctx.y0 < 4) | (d - ctx.y0 == 12)
        redraw = quiet & (rng.random(len(d)) < 0.7)
        d = np.where(redraw, _in_window(rng, p.lo[m], p.hi[m]), d)
    return d


def _fund_at(p: _Pop, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.where(d >= p.start2[m], p.fund2[m], p.fund1[m])


def _insurer_idx(fund: np.ndarray) -> np.ndarray:
    return np.array([BASIC_INSURERS.index(i) for i in FUND_INSURER])[fund]


def _physicians(ctx: _Ctx, specs: np.ndarray) -> np.ndarray:
    """One office physician of each row's specialty."""
    out = np.empty(len(specs), np.int64)
    for s, rows in _groups(specs):
        pool = ctx.prov.pools[f"office:{s}"]
        out[rows] = pool[ctx.rng.integers(0, len(pool), len(rows))]
    return out


def _random_medical(ctx: _Ctx, k: int) -> np.ndarray:
    w = np.array([OFFICE_SPECIALTY_W[s] for s in MEDICAL])
    return _physicians(ctx, np.array(MEDICAL)[ctx.rng.choice(len(MEDICAL), size=k, p=w / w.sum())])


def _lines(claim, member, setting, provider, prescriber, date, code, qty=None, adm=None, dis=None, modifier=None,
           order=None, cat=0) -> dict:
    n = len(claim)
    z = np.full(n, -1, np.int64)
    return {"claim": claim, "member": member, "setting": np.broadcast_to(setting, n).astype(np.int64),
            "provider": provider, "prescriber": prescriber, "date": date, "code": code,
            "qty": np.ones(n, np.int64) if qty is None else qty, "adm": z if adm is None else adm,
            "dis": z if dis is None else dis, "modifier": np.zeros(n, np.int64) if modifier is None else modifier,
            "order": np.zeros(n, np.int64) if order is None else order, "cat": np.full(n, cat, np.int64)}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _expand(sizes: np.ndarray):
    claim = np.repeat(np.arange(len(sizes)), sizes)
    j = np.arange(len(claim)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return claim, j


def _units(ctx: _Ctx, code: np.ndarray) -> np.ndarray:
    mx = ctx.book.max_units[code]
    extra = (mx > 1) & (ctx.rng.random(len(code)) < 0.3)
    return np.where(extra, ctx.rng.integers(1, np.maximum(mx, 1) + 1), 1)


def _simple_category(ctx: _Ctx, cat: str, k: int, sizes: np.ndarray, cand: np.ndarray, weight: np.ndarray,
                     pools: list[tuple[str, float]], min_age: int = 0, prescriber: str = "medical") -> dict:
    """Claims of one provider pool with ``sizes`` lines drawn from ``cand``: lab, imaging, physio, dental, outproc."""
    rng, p = ctx.rng, ctx.pop
    m = _members_for(ctx, k, min_age)
    d = _claim_dates(ctx, m)
    ins = _insurer_idx(_fund_at(p, m, d))
    pool_p = np.array([w for _, w in pools])
    pool = rng.choice(len(pools), size=k, p=pool_p / pool_p.sum())
    prov = ctx.prov.pick(rng, pool, [name for name, _ in pools], ins)
    presc = _random_medical(ctx, k) if prescriber == "medical" else np.where(
        ctx.prov.frame["provider_type"].to_numpy()[prov] == "office", prov, -1)
    claim, _ = _expand(sizes)
    mm, dd = m[claim], d[claim]
    code = _choice_by_cell(rng, cand, weight, ctx.book, p.sex[mm], age_at(p.birth[mm], dd))
    return _lines(claim, mm, OUT, prov[claim], presc[claim], dd, code, _units(ctx, code), cat=CATS.index(cat))


def _visit(ctx: _Ctx, k: int) -> dict:
    rng, p, b = ctx.rng, ctx.pop, ctx.book
    m = _members_for(ctx, k)
    d = _claim_dates(ctx, m)
    fund = _fund_at(p, m, d)
    ins = _insurer_idx(fund)
    age, sex = age_at(p.birth[m], d), p.sex[m]
    # where: rural-fund members see their family physician at the health centre; others mostly an office
    u = rng.random(k)
    where = np.where(fund == RURAL, np.where(u < 0.7, 2, 0), np.where(u < 0.75, 0, np.where(u < 0.95, 1, 2)))
    spec = np.empty(k, dtype=object)
    base = np.array([OFFICE_SPECIALTY_W[s] for s in MEDICAL])
    names = np.array(MEDICAL)
    for key in range(4):  # (sex, child?) cells
        s, child = 1 + key // 2, key % 2
        rows = np.flatnonzero((sex == s) & ((age < 15) == bool(child)))
        w = base * np.where(names == "pediatrics", 6.0 if child else 0.0, 1.0)
        w = w * np.where(names == "obgyn", 0.0 if (s == 1 or child) else 2.0, 1.0)
        if child:
            w = w * np.where(np.isin(names, ["gp", "family_medicine", "pediatrics"]), 1.0, 0.15)
        spec[rows] = names[rng.choice(len(names), size=len(rows), p=w / w.sum())]
    spec = spec.astype(str)
    pool_names = [f"office:{s}" for s in MEDICAL] + ["clinic", "health_center"]
    order = np.argsort(names)
    spec_pos = order[np.searchsorted(names[order], spec)]
    pool = np.where(where == 0, spec_pos, np.where(where == 1, len(MEDICAL), len(MEDICAL) + 1))
    prov = ctx.prov.pick(rng, pool, pool_names, ins)
    vcode = np.where(np.isin(spec, ["gp"]), "901910", np.where(spec == "family_medicine", "901911",
                     np.where(spec == "psychiatry", "901925", np.where(np.isin(spec, list(SUBSPECIALTIES)), "901920",
                                                                       "901915"))))
    vcode = np.where(where == 2, "901911", np.where(where == 1, np.where(rng.random(k) < 0.7, "901910", "901915"),
                                                     vcode))
    code = ctx.idx(vcode)
    presc = np.where(where == 0, prov, _physicians(ctx, np.full(k, "gp")))
    sizes = 1 + (rng.random(k) < 0.12)
    claim, j = _expand(sizes)
    extra = ctx.idx(VISIT_EXTRA)
    ecode = _choice_by_cell(rng, extra, np.ones(len(extra)), b, sex[claim], age[claim])
    line_code = np.where(j == 0, code[claim], ecode)
    return _lines(claim, m[claim], OUT, prov[claim], presc[claim], d[claim], line_code,
                  np.where(j == 0, 1, _units(ctx, line_code)), cat=CATS.index("visit"))


def _drug(ctx: _Ctx, k: int) -> dict:
    rng, p, b = ctx.rng, ctx.pop, ctx.book
    m = _members_for(ctx, k)
    d = _claim_dates(ctx, m)
    ins = _insurer_idx(_fund_at(p, m, d))
    prov = ctx.prov.pick(rng, np.zeros(k, np.int64), ["pharmacy"], ins)
    base = np.array([OFFICE_SPECIALTY_W[s] for s in MEDICAL])
    spec = np.array(MEDICAL)[rng.choice(len(MEDICAL), size=k, p=base / base.sum())]
    presc = _physicians(ctx, spec)
    fee = rng.random(k) < 0.85
    n_drugs = np.minimum(1 + rng.poisson(1.6, k), 6)
    sizes = fee + n_drugs
    claim, j = _expand(sizes)
    dcodes = np.flatnonzero(b.is_drug & b.covered)
    dw = 1.0 / np.sqrt(b.price[dcodes, 0, -1].astype(float))
    code = np.empty(len(claim), np.int64)
    line_spec = spec[claim]
    for s, rows in _groups(line_spec):
        ok = np.array([not b.allowed[c] or s in b.allowed[c] for c in dcodes])
        w = dw * ok
        code[rows] = rng.choice(dcodes, size=len(rows), p=w / w.sum())
    is_fee = fee[claim] & (j == 0)
    code = np.where(is_fee, b.index["960010"], code)
    mx = b.max_units[code]
    qty = np.clip(np.round(mx * rng.choice([1 / 3, 1 / 2, 1.0], size=len(code))), 1, mx).astype(np.int64)
    qty = np.where(is_fee, 1, qty)
    return _lines(claim, m[claim], OUT, prov[claim], presc[claim], d[claim], code, qty, cat=CATS.index("drug"))


def _emergency(ctx: _Ctx, k: int) -> dict:
    rng, p = ctx.rng, ctx.pop
    m = _members_for(ctx, k)
    d = _claim_dates(ctx, m, outpatient=False)
    ins = _insurer_idx(_fund_at(p, m, d))
    prov = ctx.prov.pick(rng, np.zeros(k, np.int64), ["hospital"], ins)
    presc = _random_medical(ctx, k)
    sizes = 1 + rng.integers(0, 5, k)
    claim, j = _expand(sizes)
    mm, dd = m[claim], d[claim]
    cand = ctx.idx(EMERGENCY_CODES)
    code = _choice_by_cell(rng, cand, np.ones(len(cand)), ctx.book, p.sex[mm], age_at(p.birth[mm], dd))
    code = np.where(j == 0, ctx.book.index["901940"], code)
    return _lines(claim, mm, EMR, prov[claim], presc[claim], dd, code, np.where(j == 0, 1, _units(ctx, code)),
                  order=j, cat=CATS.index("emergency"))


def _inpatient(ctx: _Ctx, k: int) -> dict:
    rng, p, b = ctx.rng, ctx.pop, ctx.book
    m = _members_for(ctx, k)
    adm = _in_window(rng, p.lo[m], np.maximum(p.lo[m], p.hi[m] - 14))
    age, sex = age_at(p.birth[m], adm), p.sex[m]
    pkgs = np.flatnonzero(b.pkg_stay > 0)
    surg = np.flatnonzero((b.group == "surgery") & (b.pkg_stay == 0) & np.isin(b.setting, ["inpatient", "any"]))
    pkg_code = _choice_by_cell(rng, pkgs, np.ones(len(pkgs)), b, sex, age)
    surg_code = _choice_by_cell(rng, surg, np.ones(len(surg)), b, sex, age)
    u = rng.random(k)
    kind = np.where((u < 0.3) & (pkg_code >= 0), 0, np.where((u < 0.6) & (surg_code >= 0), 1, 2))
    nights = np.where(kind == 0, np.floor(rng.random(k) * (b.pkg_stay[np.maximum(pkg_code, 0)] + 1)),
                      np.where(kind == 1, rng.integers(1, 8, k), np.minimum(rng.geometric(0.3, k), 14)))
    nights = np.minimum(nights.astype(np.int64), p.hi[m] - adm)
    crosses = (adm < p.start2[m]) & (p.start2[m] <= adm + nights)  # a switch of insurer mid-stay: end the stay
    nights = np.where(crosses, p.start2[m] - 1 - adm, nights)
    los = np.maximum(nights, 1)
    dis = adm + nights
    ins = _insurer_idx(_fund_at(p, m, adm))
    prov = ctx.prov.pick(rng, np.zeros(k, np.int64), ["hospital"], ins)
    presc = _random_medical(ctx, k)
    parts = []
    cat = CATS.index("inpatient")

    def block(sel_sizes, code, date, order, modifier=None):
        claim, j = _expand(sel_sizes)
        c = code(claim, j) if callable(code) else code[claim]
        dt_ = date(claim, j)
        parts.append(_lines(claim, m[claim], INP, prov[claim], presc[claim], dt_, c, None, adm[claim], dis[claim],
                            None if modifier is None else np.full(len(claim), modifier), np.full(len(claim), order) * 100
                            + j, cat))

    at_adm = lambda c, j: adm[c]  # noqa: E731
    block((kind == 0).astype(np.int64), np.where(kind == 0, pkg_code, 0), at_adm, 0, modifier=1)
    block((kind == 1).astype(np.int64), np.where(kind == 1, surg_code, 0), at_adm, 1)
    tier = np.where(b.price[np.maximum(surg_code, 0), 0, -1] > 80_000_000, "950020",
                    np.where(b.price[np.maximum(surg_code, 0), 0, -1] > 45_000_000, "950015", "950010"))
    block((kind == 1).astype(np.int64), ctx.idx(tier), at_adm, 2)
    item = kind > 0
    labs = ctx.idx(INPATIENT_LABS)
    block(np.where(item, rng.integers(2, 6, k), 0),
          lambda c, j: _choice_by_cell(rng, labs, np.ones(len(labs)), b, sex[c], age[c]), at_adm, 3)
    imgs = np.flatnonzero((b.group == "imaging") & ~b.referral & ~b.prior_auth)
    block(np.where(kind == 2, rng.integers(0, 2, k), 0),
          lambda c, j: _choice_by_cell(rng, imgs, np.ones(len(imgs)), b, sex[c], age[c]),
          lambda c, j: adm[c] + np.floor(rng.random(len(c)) * los[c]).astype(np.int64), 4)
    nicu = (kind == 2) & (age_at(p.birth[m], dis) == 0) & (rng.random(k) < 0.5)
    ward = np.where(nicu, b.index["990035"], ctx.idx(WARDS)[rng.choice(3, size=k, p=[0.7, 0.2, 0.1])])
    block(np.where(item, los, 0), ward, lambda c, j: adm[c] + j, 5)
    block(np.where(item, los, 0), np.full(k, b.index["901935"]), lambda c, j: adm[c] + j, 6)
    return _concat(parts)


CATS = tuple(CATEGORY_SHARE)
_MEAN_LINES = {"visit": 1.12, "lab": 3.5, "imaging": 1.2, "physio": 2.0, "dental": 2.0, "outproc": 1.0, "drug": 3.3,
               "inpatient": 8.0, "emergency": 3.0}


def _generate_lines(ctx: _Ctx, target: int) -> dict:
    rng, b = ctx.rng, ctx.book
    parts = []
    lab = np.flatnonzero(b.group == "lab")
    lab_w = np.array([LAB_WEIGHT.get(c, 1.0 if c < "807000" else 0.3) for c in b.codes[lab]])
    img = np.flatnonzero(b.group == "imaging")
    img_w = np.array([4.0 if c.startswith(("701", "702")) else 1.0 if c < "707000" else 0.3 for c in b.codes[img]])
    phy = np.flatnonzero(b.group == "physio")
    den = np.flatnonzero(b.group == "dental")
    proc = np.flatnonzero((b.group == "procedure") & np.isin(b.setting, ["outpatient", "any"]))
    for cat in CATS:
        k = max(1, int(np.ceil(target * CATEGORY_SHARE[cat] / _MEAN_LINES[cat])))
        if cat == "visit":
            part = _visit(ctx, k)
        elif cat == "drug":
            part = _drug(ctx, k)
        elif cat == "emergency":
            part = _emergency(ctx, k)
        elif cat == "inpatient":
            part = _inpatient(ctx, k)
        elif cat == "lab":
            sizes = np.minimum(1 + rng.poisson(2.5, k), 10)
            part = _simple_category(ctx, cat, k, sizes, lab, lab_w, [("lab", 0.8), ("clinic", 0.1), ("hospital", 0.1)])
        elif cat == "imaging":
            sizes = 1 + (rng.random(k) < 0.2)
            part = _simple_category(ctx, cat, k, sizes, img, img_w, [("imaging", 0.8), ("hospital", 0.2)])
        elif cat == "physio":
            sizes = rng.integers(1, 4, k)
            part = _simple_category(ctx, cat, k, sizes, phy, np.ones(len(phy)),
                                    [("office:physiotherapy", 0.7), ("clinic", 0.3)], min_age=5)
        elif cat == "dental":
            sizes = rng.integers(1, 4, k)
            part = _simple_category(ctx, cat, k, sizes, den, np.ones(len(den)),
                                    [("office:dentistry", 0.8), ("clinic", 0.2)], min_age=2, prescriber="provider")
        else:
            part = _simple_category(ctx, cat, k, np.ones(k, np.int64), proc, np.ones(len(proc)),
                                    [("clinic", 0.5), ("hospital", 0.5)])
        part["claim"] = part["claim"] + (0 if not parts else max(int(q["claim"].max()) + 1 for q in parts))
        parts.append(part)
    lines = _concat(parts)
    keep = lines["code"] >= 0  # a cell with no admissible code drops the line
    return {k: v[keep] for k, v in lines.items()}


# --- making the lines clean ----------------------------------------------------------------------------------------

def _clean(ctx: _Ctx, lines: dict) -> pl.DataFrame:
    """Drops what would break a rule on clean data: overlapping stays, outpatient care during a stay, a second line of
    one member, code and date, a second visit-group line of a member on a day, repeats inside a code's
    ``visit_limit_days``, and the second code of a bundling pair billed by the same provider on the same day."""
    b = ctx.book
    df = pl.DataFrame(lines).with_row_index("pos")
    stays = (df.filter(pl.col("setting") == INP).group_by("claim")
             .agg(pl.col("member").first(), pl.col("adm").first(), pl.col("dis").first())
             .sort("member", "adm", "claim")
             .with_columns(prev=pl.col("dis").cum_max().shift(1).over("member")))
    bad = stays.filter(pl.col("adm") <= pl.col("prev"))["claim"]
    stays = stays.filter(~pl.col("claim").is_in(bad.implode()))
    df = df.filter(~pl.col("claim").is_in(bad.implode()))
    inside = (df.filter(pl.col("setting") != INP).select("pos", "member", "date")
              .join(stays.select("member", "adm", "dis"), on="member")
              .filter(pl.col("date").is_between(pl.col("adm"), pl.col("dis")))["pos"])
    df = df.filter(~pl.col("pos").is_in(inside.implode())).sort("claim", "order", "pos")
    df = df.unique(["member", "code", "date"], keep="first", maintain_order=True)
    visit = pl.Series((b.group == "visit")[df["code"].to_numpy()])
    df = df.with_columns(visit=visit)
    df = df.filter(~pl.col("visit") | pl.struct("member", "date", "visit").is_first_distinct()).drop("visit")
    df = df.with_columns(lim=pl.Series(b.limit[df["code"].to_numpy()]))
    lim = df.filter(pl.col("lim") > 0).sort("member", "code", "date")
    lim = lim.with_columns(gap=pl.when((pl.col("member") == pl.col("member").shift(1))
                                       & (pl.col("code") == pl.col("code").shift(1)))
                           .then(pl.col("date") - pl.col("date").shift(1)))
    too_soon = lim.filter(pl.col("gap") < pl.col("lim"))["pos"]
    df = df.filter(~pl.col("pos").is_in(too_soon.implode())).drop("lim")
    pairs = pl.DataFrame({"code": b.ptp[:, 0], "code_2": b.ptp[:, 1]})
    bundled = (df.select("member", "provider", "date", "code").join(pairs, on="code")
               .select("member", "provider", "date", pl.col("code_2").alias("code")).unique())
    return df.join(bundled, on=["member", "provider", "date", "code"], how="anti", maintain_order="left")


def _clean_lines(ctx: _Ctx, target: int) -> pl.DataFrame:
    df = _clean(ctx, _generate_lines(ctx, int(target * 1.12) + 50))
    for _ in range(8):
        if df.height >= target:
            break
        more = _generate_lines(ctx, int((target - df.height) * 1.5) + 200)
        more["claim"] = more["claim"] + int(df["claim"].max()) + 1
        raw = {c: np.concatenate([df[c].to_numpy(), more[c]]) for c in more}
        df = _clean(ctx, raw)
    rank = ctx.rng.permutation(int(df["claim"].max()) + 1)
    return (df.with_columns(rank=pl.Series(rank[df["claim"].to_numpy()]))
            .sort("rank", "order", "pos").head(target).drop("rank"))


# --- prices, anomalies, frames ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthData:
    """Synthetic inputs in the data contract's columns, and the labelled anomalies (``truth``)."""

    members: pl.DataFrame
    coverage: pl.DataFrame
    providers: pl.DataFrame
    claims: pl.DataFrame
    truth: pl.DataFrame


def _loser(fa, sa, fb, sb) -> np.ndarray:
    """IHIO priority between two overlapping basic covers a and b: 0 = a goes, 1 = b goes, 2 = the member chooses."""
    sso_a, sso_b = (fa == SSO_EMP) | (fa == SSO_SELF), (fb == SSO_EMP) | (fb == SSO_SELF)
    choose = ((fa == CIVIL) & (fb == ARMED)) | ((fa == ARMED) & (fb == CIVIL))
    return np.select([(fa == RURAL) & (fb != RURAL), (fb == RURAL) & (fa != RURAL), (fa == CIVIL) & sso_b,
                      sso_a & (fb == CIVIL), choose], [0, 1, 1, 0, 2], np.where(sa > sb, 0, 1))


_NEW_FUND = np.array([SSO_EMP, SSO_SELF, SSO_SELF, ARMED, CIVIL, CIVIL, CIVIL, SSO_SELF])  # by existing fund


class _Anomalies:
    def __init__(self, ctx: _Ctx, L: dict, n_members: int):
        self.ctx, self.L = ctx, L
        self.used = np.zeros(n_members, bool)
        self.rows: list[tuple[str, np.ndarray]] = []  # (anomaly, line positions)

    def select(self, mask: np.ndarray, n: int) -> np.ndarray:
        """Up to ``n`` lines of ``mask``, each of a member not yet touched by another anomaly."""
        m = self.L["member"]
        cand = np.flatnonzero(mask & ~self.used[m])
        if n <= 0 or len(cand) == 0:
            return np.zeros(0, np.int64)
        sel = _first_per(m, self.ctx.rng.permutation(cand))[:n]
        self.used[m[sel]] = True
        return sel


def _inject(ctx: _Ctx, L: dict, n_anom: int, n_dup: int):
    rng, b, p = ctx.rng, ctx.book, ctx.pop
    A = _Anomalies(ctx, L, p.n)
    m, code, setting = L["member"], L["code"], L["setting"]
    n = {k: int(round(v * n_anom)) for k, v in _SHARES.items()}
    member_rows, cov_rows = [], None

    # overlapping cover: a second basic cover of another insurer for some members, taken in random order until the
    # lines it makes ineligible reach the target
    if n["overlapping_cover"] > 0:
        early = np.isin(p.fund1, [IRANIANS, OTHER_STRATA, RELIEF])
        ok = (p.category == NORMAL) & (~early | (p.start1 - p.birth > 60)) & (np.bincount(m, minlength=p.n) > 0)
        mem = rng.permutation(np.flatnonzero(ok))
        fa, sa, ea = p.fund1[mem], p.start1[mem], p.end1[mem]
        fb = _NEW_FUND[fa]
        e = early[mem]
        back = np.minimum(2000, sa - p.birth[mem] - 1)
        sb = np.where(e, sa - 30 - np.floor(rng.random(len(mem)) * np.maximum(back - 30, 1)).astype(np.int64),
                      ctx.y0 + rng.integers(30, 250, len(mem)))
        eb = np.where(e, ctx.y0 + rng.integers(60, 300, len(mem)), BIG)
        loser = _loser(fa, sa, fb, sb)
        slot = np.full(p.n, -1, np.int64)
        slot[mem] = np.arange(len(mem))
        s = slot[m]
        sl = np.maximum(s, 0)
        in_ovl = (s >= 0) & (L["date"] >= np.maximum(sa, sb)[sl]) & (L["date"] <= np.minimum(ea, eb)[sl])
        in_ovl &= loser[sl] != 1  # every line of these members is billed to the existing cover (a)
        labelled = np.bincount(sl[in_ovl], minlength=len(mem))
        k = int(np.searchsorted(np.cumsum(labelled), n["overlapping_cover"])) + 1
        chosen = np.zeros(len(mem), bool)
        chosen[:k] = True
        in_ovl &= chosen[sl]
        A.used[mem[:k]] = True
        A.rows.append(("overlapping_cover", np.flatnonzero(in_ovl & (loser[sl] == 0))))
        A.rows.append(("overlapping_cover_choose", np.flatnonzero(in_ovl & (loser[sl] == 2))))
        mem, fa, fb, sb, eb = mem[:k], fa[:k], fb[:k], sb[:k], eb[:k]
        ins = np.array(FUND_INSURER)
        member_rows.append(pl.DataFrame({"anomaly": "overlapping_cover", "claim_id": None, "line_no": None,
                                         "member_id": np.concatenate([p.ids[mem], p.ids[mem]]),
                                         "insurer_id": np.concatenate([ins[fa], ins[fb]])}, schema=TRUTH))
        cov_rows = _cov_frame(p.ids[mem], fb, sb, eb)

    # out of cover: a one-line outpatient claim moved past the end (or before the start) of its member's cover
    claim = L["claim"]
    _, inv, counts = np.unique(claim, return_inverse=True, return_counts=True)
    no_age = (b.min_age[code] == NO_AGE_MIN) & (b.max_age[code] == NO_AGE_MAX)
    cat = p.category[m]
    sel = A.select((counts[inv] == 1) & (setting == OUT) & np.isin(cat, [LAPSED, LATE]) & no_age, n["out_of_cover"])
    shift = rng.integers(1, 31, len(sel))
    L["date"][sel] = np.where(cat[sel] == LAPSED, p.end1[m[sel]] + shift, p.start1[m[sel]] - shift)
    L["supp"][sel] = False
    A.rows.append(("out_of_cover", sel))

    dup = A.select((setting == OUT) & (L["modifier"] == 0), n_dup)

    # sex and age conflicts: a lab or imaging line's code becomes one the member's sex or age excludes
    simple = np.isin(b.group, ["lab", "imaging"]) & (b.setting == "any") & ~b.referral & ~b.prior_auth & (b.limit == 0)
    labimg = np.isin(b.group[code], ["lab", "imaging"]) & (setting != INP)
    for kind in ("sex_conflict", "age_conflict"):
        sel = A.select(labimg, n[kind])
        age = age_at(p.birth[m[sel]], L["date"][sel])
        if kind == "sex_conflict":
            cand = np.flatnonzero(simple & (b.sex > 0))
            new = _choice_by_cell(rng, cand, np.ones(len(cand)), b, 3 - p.sex[m[sel]], age)
        else:
            cand = np.flatnonzero(simple & (b.sex == 0) & ((b.min_age > NO_AGE_MIN) | (b.max_age < NO_AGE_MAX)))
            new = _choice_by_cell(rng, cand, np.ones(len(cand)), b, p.sex[m[sel]], age, outside_age=True)
        sel, new = sel[new >= 0], new[new >= 0]
        code[sel] = new
        L["qty"][sel] = 1
        L["billed"][sel] = b.price[new, L["sector"][sel], L["yi"][sel]]
        A.rows.append((kind, sel))

    sel = A.select(np.isin(b.group[code], ["visit", "lab", "imaging", "procedure", "physio", "dental"])
                   & (L["modifier"] == 0), n["excess_units"])
    L["qty"][sel] = b.max_units[code[sel]] + rng.integers(1, 3, len(sel))
    L["billed"][sel] = L["unit"][sel] * L["qty"][sel]
    A.rows.append(("excess_units", sel))

    sel = A.select(L["modifier"] == 0, n["over_tariff"])
    full = L["unit"][sel] * L["qty"][sel]
    L["billed"][sel] = full + np.maximum(1000, np.floor(full * rng.uniform(0.05, 0.5, len(sel)))).astype(np.int64)
    A.rows.append(("over_tariff", sel))

    sel = A.select(b.referral[code] & np.isin(L["fund"], [RURAL, OTHER_STRATA]) & L["ref"], n["missing_referral"])
    L["ref"][sel] = False
    A.rows.append(("missing_referral", sel))
    return A.rows, dup, member_rows, cov_rows


def _str(values, idx: np.ndarray) -> pl.Series:
    """values[idx] as a polars String series, null where idx < 0."""
    s = pl.Series(list(values) + [None], dtype=pl.String)
    return s.gather(np.where(idx < 0, len(values), idx))


def generate(members: int, lines: int, *, seed: int = 1404, year: int = 1404, anomaly_rate: float = 0.02,
             tables_dir: Path | str = TABLES_DIR) -> SynthData:
    """A synthetic population of ``members`` and ``lines`` claim lines over the Solar Hijri ``year``, with anomalies
    on about ``anomaly_rate`` of the lines (labelled in ``truth``). Deterministic for a given seed."""
    if members < 1 or lines < 1:
        raise ValueError(f"'members' and 'lines' must be positive (got {members}, {lines})")
    if lines > 40 * members:
        raise ValueError(f"'lines' may be at most 40 per member for clean data (got {lines} for {members} members)")
    if not 0 <= anomaly_rate <= 0.5:
        raise ValueError(f"'anomaly_rate' must be between 0 and 0.5 (got {anomaly_rate})")
    book = _book(tables_dir)
    book.year_index(year)
    rng = np.random.default_rng(seed)
    y0 = _days(from_jalali(year, 1, 1))
    y1 = _days(from_jalali(year + 1, 1, 1)) - 1
    pop, cov = _population(rng, members, y0, y1)
    prov = _providers(rng, members)
    ctx = _Ctx(rng, book, pop, prov, y0, y1)
    n_anom = int(round(anomaly_rate * lines))
    n_dup = int(round(_SHARES["duplicate_exact"] * n_anom))
    df = _clean_lines(ctx, lines - n_dup)
    L = {c: df[c].to_numpy().copy() for c in df.columns}

    m, d, code = L["member"], L["date"], L["code"]
    L["fund"] = _fund_at(pop, m, np.where(L["adm"] >= 0, L["adm"], d))
    L["sector"] = prov.sector[L["provider"]]
    starts = np.array([_days(from_jalali(y, 1, 1)) for y in book.years])
    L["yi"] = np.searchsorted(starts, d, side="right") - 1
    L["unit"] = np.where(L["modifier"] == 1, book.pkg_price[code, L["sector"], L["yi"]],
                         book.price[code, L["sector"], L["yi"]])
    full = L["unit"] * L["qty"]
    cut = np.floor(full * rng.uniform(0.85, 1.0, len(full)) / 1000).astype(np.int64) * 1000
    L["billed"] = np.where((rng.random(len(full)) < 0.15) & (cut > 0), cut, full)
    L["ref"] = book.referral[code] | (np.isin(L["fund"], [RURAL, OTHER_STRATA]) & (L["setting"] == OUT)
                                      & (rng.random(len(code)) < 0.3))
    L["pa"] = book.prior_auth[code]
    L["supp"] = (pop.supp[m] >= 0) & (pop.supp_from[m] <= d) & (d <= pop.supp_to[m])
    rows, dup, member_rows, cov_extra = _inject(ctx, L, n_anom, n_dup)

    n_lines = len(m)
    cols = ["claim", "member", "setting", "provider", "prescriber", "date", "adm", "dis", "code", "qty", "modifier",
            "cat", "order", "fund", "billed", "ref", "pa", "supp"]
    frame = pl.DataFrame({c: L[c] for c in cols}).with_row_index("pos")
    frame = frame.with_columns(pl.col("supp").all().over("claim"), pl.col("date").min().over("claim").alias("first"))
    seq = frame.select(pl.struct("first", "claim").rank("dense").alias("seq"))["seq"].to_numpy().astype(np.int64)
    copies = frame[dup.tolist()] if len(dup) else frame.clear()
    copies = copies.with_columns(pos=pl.int_range(n_lines, n_lines + len(dup), dtype=pl.UInt32),
                                 claim=pl.int_range(0, len(dup)) - len(dup) - 1)
    frame = pl.concat([frame, copies])
    seq = np.concatenate([seq, seq.max(initial=0) + 1 + np.arange(len(dup))])
    frame = frame.with_columns(seq=pl.Series(seq)).sort("seq", "order", "pos")
    frame = frame.with_columns(line_no=pl.int_range(1, pl.len() + 1).over("seq"))
    rows.append(("duplicate_exact", n_lines + np.arange(len(dup))))
    out = _frames(ctx, frame, year)
    claims = out.drop("pos")
    truth_lines = []
    by_pos = out.select("pos", "claim_id", "line_no", "member_id", "insurer_id").sort("pos")
    for anomaly, positions in rows:
        if len(positions):
            truth_lines.append(by_pos[np.sort(positions).tolist()].select(
                pl.lit(anomaly).alias("anomaly"), "claim_id", "line_no", "member_id", "insurer_id"))
    truth = pl.concat([pl.DataFrame(schema=TRUTH), *truth_lines, *member_rows]).sort(
        "anomaly", "claim_id", "line_no", "insurer_id", nulls_last=True)
    coverage = pl.concat([*cov, *([cov_extra] if cov_extra is not None else [])]).sort("member_id", "kind",
                                                                                     "start_date")
    members_frame = pl.DataFrame({
        "member_id": pop.ids, "birth_date": _date(pop.birth), "sex": np.array(["", "M", "F"])[pop.sex],
        "family_id": pop.ids[_family_heads(pop)], "relationship": pop.relationship, "death_date": _date(pop.death),
        "province": np.array([n for n, _ in PROVINCES])[pop.province], "rural": pop.rural}, schema=schema.MEMBERS)
    return SynthData(members_frame.sort("member_id"), coverage, prov.frame.sort("provider_id"),
                     claims.sort("claim_id", "line_no"), truth)


def _family_heads(pop: _Pop) -> np.ndarray:
    first = np.r_[True, pop.family[1:] != pop.family[:-1]]
    return np.flatnonzero(first)[np.cumsum(first) - 1]


def _frames(ctx: _Ctx, f: pl.DataFrame, year: int) -> pl.DataFrame:
    b, p, prov = ctx.book, ctx.pop, ctx.prov
    rng = ctx.rng
    claim_no = pl.col("seq").cast(pl.String).str.zfill(9)
    n_claims = int(f["seq"].max()) + 1
    cat = f["cat"].to_numpy()
    diag_of_claim = rng.random(n_claims)
    second = rng.random(n_claims) < 0.25
    seq = f["seq"].to_numpy()
    diag = np.empty(f.height, dtype=object)
    for i, name in enumerate(CATS):
        rows = np.flatnonzero(cat == i)
        options = np.array(DIAGNOSES[name])
        first = options[(diag_of_claim[seq[rows]] * len(options)).astype(np.int64)]
        other = options[(diag_of_claim[seq[rows]] * 7919 * len(options)).astype(np.int64) % len(options)]
        diag[rows] = np.where(second[seq[rows]] & (other != first), np.char.add(np.char.add(first, "|"), other), first)
    pid = prov.frame["provider_id"].to_list()
    return f.select(
        "pos",
        pl.concat_str([pl.lit(f"C{year}-"), claim_no]).alias("claim_id"),
        pl.col("line_no").cast(pl.Int64),
        _str(p.ids, f["member"].to_numpy()).alias("member_id"),
        _str(BASIC_INSURERS, _insurer_idx(f["fund"].to_numpy())).alias("insurer_id"),
        _str(SUPP_INSURERS, np.where(f["supp"].to_numpy(), p.supp[f["member"].to_numpy()], -1))
        .alias("supplementary_insurer_id"),
        _str(SETTINGS, f["setting"].to_numpy()).alias("setting"),
        _str(pid, f["provider"].to_numpy()).alias("provider_id"),
        _str(pid, f["prescriber"].to_numpy()).alias("prescriber_id"),
        _date(f["date"].to_numpy()).alias("service_date"),
        _date(np.where(f["adm"].to_numpy() < 0, BIG, f["adm"].to_numpy())).alias("admission_date"),
        _date(np.where(f["dis"].to_numpy() < 0, BIG, f["dis"].to_numpy())).alias("discharge_date"),
        _str(b.codes, f["code"].to_numpy()).alias("service_code"),
        _str([GLOBAL_MODIFIER], np.where(f["modifier"].to_numpy() == 1, 0, -1)).alias("modifier"),
        pl.col("qty").cast(pl.Int64).alias("quantity"),
        pl.col("billed").cast(pl.Int64).alias("billed_amount"),
        pl.Series(diag.astype(str)).str.split("|").alias("diagnosis_codes"),
        pl.when("ref").then(pl.concat_str([pl.lit(f"RF{year}"), claim_no])).alias("referral_id"),
        pl.when("pa").then(pl.concat_str([pl.lit(f"PA{year}"), claim_no])).alias("prior_auth_id"),
        pl.lit("original").alias("submission"),
        pl.lit(None, pl.String).alias("replaces_claim_id"),
    )


# --- files ---------------------------------------------------------------------------------------------------------

def write(data: SynthData, out_dir: Path | str, fmt: str = "parquet") -> dict[str, Path]:
    """Write each frame of ``data`` as ``<name>.<fmt>`` (parquet, csv or ndjson) in ``out_dir``, atomically."""
    if fmt not in ("parquet", "csv", "ndjson"):
        raise ValueError(f"'fmt' must be parquet, csv or ndjson (got {fmt!r})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for field in dataclasses.fields(data):
        df: pl.DataFrame = getattr(data, field.name)
        if fmt == "csv":  # list columns are |-separated in CSV
            df = df.with_columns(pl.col(c).list.join("|") for c, t in df.schema.items() if isinstance(t, pl.List))
        path = out / f"{field.name}.{fmt}"
        fd, tmp = tempfile.mkstemp(prefix=f".{field.name}.", suffix=f".{fmt}.tmp", dir=out)
        os.close(fd)
        try:
            getattr(df, f"write_{fmt}")(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        paths[field.name] = path
    return paths
