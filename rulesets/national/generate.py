"""Writes the national reference tables (relative-value book, K coefficients, code attributes, drug list, bundling
pairs, global packages, specialties) as CSV files beside this script.

The tables are a realistic stand-in for the Ministry of Health's published books: the common codes carry real titles
(Persian and English) and plausible relative values; the rest of each group is filled with generated but plausible
codes so that the book has a realistic size. Everything is derived from a fixed seed, so running the script again
gives byte-identical files (`python rulesets/national/generate.py`). README.md beside it documents every column.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1404
YEARS = {1403: ("1403/01/01", "1403/12/30"), 1404: ("1404/01/01", "1404/12/29")}  # 1403 is a leap year
RVU_GROWTH_1404 = 1.06  # the 1404 book raises relative values by about 6 %

# --- specialties --------------------------------------------------------------------------------------------------

SPECIALTIES = [
    ("gp", "پزشک عمومی", "General practitioner"),
    ("family_medicine", "پزشک خانواده", "Family physician"),
    ("internal", "داخلی", "Internal medicine"),
    ("pediatrics", "کودکان", "Paediatrics"),
    ("obgyn", "زنان و زایمان", "Obstetrics and gynaecology"),
    ("general_surgery", "جراحی عمومی", "General surgery"),
    ("orthopedics", "ارتوپدی", "Orthopaedics"),
    ("cardiology", "قلب و عروق", "Cardiology"),
    ("neurology", "مغز و اعصاب", "Neurology"),
    ("psychiatry", "روانپزشکی", "Psychiatry"),
    ("dermatology", "پوست", "Dermatology"),
    ("ophthalmology", "چشم", "Ophthalmology"),
    ("ent", "گوش و حلق و بینی", "Otorhinolaryngology"),
    ("urology", "اورولوژی", "Urology"),
    ("neurosurgery", "جراحی مغز و اعصاب", "Neurosurgery"),
    ("endocrinology", "غدد درون‌ریز و متابولیسم", "Endocrinology"),
    ("nephrology", "نفرولوژی", "Nephrology"),
    ("gastroenterology", "گوارش و کبد", "Gastroenterology"),
    ("pulmonology", "ریه", "Pulmonology"),
    ("rheumatology", "روماتولوژی", "Rheumatology"),
    ("infectious", "عفونی", "Infectious diseases"),
    ("oncology", "خون و سرطان", "Haematology and oncology"),
    ("anesthesiology", "بیهوشی", "Anaesthesiology"),
    ("radiology", "رادیولوژی", "Radiology"),
    ("pathology", "آسیب‌شناسی", "Pathology and laboratory medicine"),
    ("emergency", "طب اورژانس", "Emergency medicine"),
    ("dentistry", "دندانپزشکی", "Dentistry"),
    ("physiotherapy", "فیزیوتراپی", "Physiotherapy"),
    ("pharmacy", "داروسازی", "Pharmacy"),
    ("general_hospital", "بیمارستان عمومی", "General hospital"),
]

# --- the relative-value book ----------------------------------------------------------------------------------------
# (code, title_en, title_fa, professional_rvu, technical_rvu, attributes); attributes override the group defaults.

GROUP_DEFAULTS = {
    "visit": dict(setting="outpatient", max_units_per_day=1),
    "lab": dict(setting="any", max_units_per_day=1),
    "imaging": dict(setting="any", max_units_per_day=1),
    "procedure": dict(setting="any", max_units_per_day=1),
    "surgery": dict(setting="inpatient", max_units_per_day=1),
    "anesthesia": dict(setting="any", max_units_per_day=1),
    "physio": dict(setting="outpatient", max_units_per_day=1, requires_referral=True),
    "dental": dict(setting="outpatient", max_units_per_day=2),
    "bed": dict(setting="inpatient", max_units_per_day=1),
    "drug": dict(setting="outpatient", max_units_per_day=1),
}

F, M = dict(sex="F"), dict(sex="M")
REF, PA = dict(requires_referral=True), dict(requires_prior_auth=True)


def _a(*parts: dict, **kw) -> dict:
    out: dict = {}
    for p in parts:
        out.update(p)
    out.update(kw)
    return out


CODES: dict[str, list[tuple]] = {
    "visit": [
        ("901910", "General practitioner visit", "ویزیت پزشک عمومی", 40, 0, {}),
        ("901911", "Family physician visit", "ویزیت پزشک خانواده", 42, 0, {}),
        ("901915", "Specialist visit", "ویزیت پزشک متخصص", 62, 0, REF),
        ("901920", "Subspecialist visit", "ویزیت پزشک فوق تخصص", 78, 0, REF),
        ("901925", "Psychiatrist visit", "ویزیت روانپزشک", 80, 0, REF),
        ("901935", "Inpatient visit (daily round)", "ویزیت بیمار بستری", 45, 0, dict(setting="inpatient")),
        ("901940", "Emergency physician visit", "ویزیت پزشک طب اورژانس", 55, 10, dict(setting="any")),
    ],
    "lab": [
        ("801010", "Complete blood count (CBC)", "شمارش کامل سلول‌های خون (CBC)", 8, 60, {}),
        ("801015", "Erythrocyte sedimentation rate (ESR)", "سرعت رسوب گلبول قرمز (ESR)", 3, 18, {}),
        ("801020", "ABO blood group and Rh", "تعیین گروه خون و Rh", 4, 30, {}),
        ("801025", "Prothrombin time (PT/INR)", "زمان پروترومبین (PT)", 5, 35, {}),
        ("801030", "Partial thromboplastin time (PTT)", "زمان ترومبوپلاستین نسبی (PTT)", 5, 38, {}),
        ("801035", "Reticulocyte count", "شمارش رتیکولوسیت", 4, 25, {}),
        ("802010", "Fasting blood sugar (FBS)", "قند خون ناشتا (FBS)", 3, 20, {}),
        ("802015", "Two-hour postprandial glucose", "قند خون دو ساعت پس از غذا", 3, 20, {}),
        ("802020", "Haemoglobin A1c", "هموگلوبین A1c", 6, 95, dict(visit_limit_days=90)),
        ("802025", "Blood urea nitrogen (BUN)", "اوره خون (BUN)", 3, 20, {}),
        ("802030", "Creatinine", "کراتینین", 3, 20, {}),
        ("802035", "Uric acid", "اسید اوریک", 3, 22, {}),
        ("802040", "Total cholesterol", "کلسترول تام", 3, 22, {}),
        ("802045", "Triglycerides", "تری‌گلیسرید", 3, 24, {}),
        ("802050", "HDL cholesterol", "کلسترول HDL", 3, 28, {}),
        ("802055", "LDL cholesterol", "کلسترول LDL", 3, 28, {}),
        ("802060", "Alanine aminotransferase (ALT)", "آلانین آمینوترانسفراز (ALT)", 3, 25, {}),
        ("802065", "Aspartate aminotransferase (AST)", "آسپارتات آمینوترانسفراز (AST)", 3, 25, {}),
        ("802070", "Alkaline phosphatase", "آلکالن فسفاتاز", 3, 25, {}),
        ("802075", "Bilirubin, total and direct", "بیلی‌روبین تام و مستقیم", 4, 30, {}),
        ("802080", "Sodium", "سدیم", 3, 20, {}),
        ("802085", "Potassium", "پتاسیم", 3, 20, {}),
        ("802090", "Calcium", "کلسیم", 3, 20, {}),
        ("802095", "Phosphorus", "فسفر", 3, 20, {}),
        ("802100", "Serum iron and TIBC", "آهن سرم و TIBC", 5, 45, {}),
        ("802105", "Ferritin", "فریتین", 6, 90, {}),
        ("802110", "Vitamin B12", "ویتامین B12", 6, 110, {}),
        ("802115", "25-hydroxy vitamin D", "ویتامین D (۲۵-هیدروکسی)", 8, 160, dict(visit_limit_days=180)),
        ("802120", "C-reactive protein (CRP)", "پروتئین واکنشی C (CRP)", 4, 35, {}),
        ("802125", "Troponin I", "تروپونین I", 8, 140, {}),
        ("802130", "Creatine kinase MB (CK-MB)", "کراتین کیناز MB", 6, 60, {}),
        ("802135", "Albumin", "آلبومین", 3, 20, {}),
        ("803010", "Thyroid-stimulating hormone (TSH)", "هورمون محرک تیروئید (TSH)", 6, 80, {}),
        ("803015", "Free thyroxine (free T4)", "تیروکسین آزاد (FT4)", 6, 80, {}),
        ("803020", "Beta-hCG, quantitative", "بتا اچ‌سی‌جی کمی", 6, 85, _a(F, min_age=10, max_age=55)),
        ("803025", "Prolactin", "پرولاکتین", 6, 85, {}),
        ("803030", "Testosterone, total", "تستوسترون تام", 6, 95, {}),
        ("803035", "Prostate-specific antigen (PSA), total", "آنتی‌ژن اختصاصی پروستات (PSA) تام", 6, 100,
         _a(M, min_age=40, visit_limit_days=365)),
        ("803040", "Prostate-specific antigen, free", "PSA آزاد", 6, 100, _a(M, min_age=40)),
        ("803045", "CA-125 tumour marker", "تومور مارکر CA-125", 8, 150, F),
        ("803050", "Anti-Müllerian hormone (AMH)", "هورمون آنتی‌مولرین (AMH)", 10, 260, _a(F, min_age=15, max_age=50)),
        ("803055", "Neonatal TSH screening", "غربالگری کم‌کاری تیروئید نوزادان", 4, 40, dict(max_age=0)),
        ("803060", "Phenylketonuria (PKU) screening", "غربالگری فنیل‌کتونوری نوزادان", 4, 45, dict(max_age=0)),
        ("804010", "Urinalysis", "آزمایش کامل ادرار (U/A)", 3, 22, {}),
        ("804015", "Urine culture and sensitivity", "کشت و آنتی‌بیوگرام ادرار", 6, 70, {}),
        ("804020", "Stool examination", "آزمایش مدفوع", 3, 20, {}),
        ("804025", "Faecal occult blood test (screening)", "خون مخفی در مدفوع (غربالگری)", 3, 30, dict(min_age=40)),
        ("804030", "Semen analysis", "آزمایش مایع منی (اسپرموگرام)", 6, 70, _a(M, min_age=15)),
        ("804035", "Cervical cytology (Pap smear)", "پاپ اسمیر", 12, 80, _a(F, min_age=18, visit_limit_days=365)),
        ("804040", "Throat culture", "کشت گلو", 5, 60, {}),
        ("804045", "Blood culture", "کشت خون", 8, 110, {}),
        ("805010", "Hepatitis B surface antigen (HBsAg)", "آنتی‌ژن سطحی هپاتیت B", 5, 70, {}),
        ("805015", "Hepatitis C antibody", "آنتی‌بادی هپاتیت C", 5, 80, {}),
        ("805020", "HIV antibody (ELISA)", "آنتی‌بادی HIV (الایزا)", 5, 80, {}),
        ("805025", "Wright test (brucellosis)", "تست رایت (بروسلوز)", 4, 35, {}),
        ("805030", "Rheumatoid factor", "فاکتور روماتوئید", 4, 40, {}),
        ("805035", "Antinuclear antibody (ANA)", "آنتی‌بادی ضد هسته (ANA)", 6, 110, {}),
        ("806010", "Histopathology, small specimen", "آسیب‌شناسی نمونه کوچک", 60, 90, {}),
        ("806015", "Histopathology, large specimen", "آسیب‌شناسی نمونه بزرگ", 110, 160, {}),
    ],
    "imaging": [
        ("701010", "Chest radiograph, PA view", "رادیوگرافی قفسه سینه (PA)", 12, 90, {}),
        ("701015", "Chest radiograph, PA and lateral", "رادیوگرافی قفسه سینه (PA و لترال)", 16, 130, {}),
        ("701020", "Lumbosacral spine radiograph", "رادیوگرافی ستون فقرات کمری-خاجی", 18, 160, {}),
        ("701025", "Knee radiograph", "رادیوگرافی زانو", 12, 100, {}),
        ("701030", "Paranasal sinus radiograph (Waters view)", "رادیوگرافی سینوس‌ها (نمای واترز)", 10, 80, {}),
        ("701035", "Hand and wrist radiograph", "رادیوگرافی دست و مچ", 10, 90, {}),
        ("701040", "Plain abdominal radiograph (KUB)", "رادیوگرافی ساده شکم (KUB)", 12, 100, {}),
        ("702010", "Ultrasound, abdomen and pelvis", "سونوگرافی شکم و لگن", 60, 140, {}),
        ("702015", "Ultrasound, thyroid", "سونوگرافی تیروئید", 40, 90, {}),
        ("702020", "Obstetric ultrasound", "سونوگرافی بارداری", 55, 120, _a(F, min_age=12, max_age=55)),
        ("702025", "Transvaginal ultrasound", "سونوگرافی واژینال", 60, 130, _a(F, min_age=12)),
        ("702030", "Female pelvic ultrasound, transabdominal", "سونوگرافی لگن زنان (از روی شکم)", 45, 100, F),
        ("702035", "Scrotal ultrasound", "سونوگرافی بیضه و اسکروتوم", 45, 100, M),
        ("702040", "Transrectal prostate ultrasound", "سونوگرافی پروستات از راه رکتوم", 60, 140, _a(M, min_age=40)),
        ("702045", "Breast ultrasound", "سونوگرافی پستان", 50, 110, F),
        ("702050", "Doppler ultrasound, lower-limb veins", "سونوگرافی داپلر وریدهای اندام تحتانی", 80, 170, {}),
        ("702055", "Transthoracic echocardiography", "اکوکاردیوگرافی از راه قفسه سینه", 120, 200,
         dict(visit_limit_days=180)),
        ("703010", "Mammography, bilateral", "ماموگرافی دوطرفه", 40, 260, _a(F, min_age=40, visit_limit_days=365)),
        ("703015", "Bone densitometry (DEXA)", "سنجش تراکم استخوان (DEXA)", 30, 240, _a(min_age=40, visit_limit_days=730)),
        ("703020", "Hysterosalpingography", "هیستروسالپنگوگرافی", 60, 280, _a(F, min_age=15)),
        ("704010", "CT scan, brain, without contrast", "سی‌تی‌اسکن مغز بدون تزریق", 90, 900, REF),
        ("704015", "CT scan, chest", "سی‌تی‌اسکن قفسه سینه", 100, 1000, REF),
        ("704020", "CT scan, abdomen and pelvis", "سی‌تی‌اسکن شکم و لگن", 130, 1300, REF),
        ("704025", "CT scan, paranasal sinuses", "سی‌تی‌اسکن سینوس‌ها", 80, 800, REF),
        ("704030", "CT angiography, coronary arteries", "سی‌تی آنژیوگرافی عروق کرونر", 220, 2600, _a(REF, PA, min_age=18)),
        ("705010", "MRI, brain", "ام‌آر‌آی مغز", 160, 2100, _a(REF, PA)),
        ("705015", "MRI, lumbar spine", "ام‌آر‌آی ستون فقرات کمری", 160, 2100, _a(REF, PA)),
        ("705020", "MRI, knee", "ام‌آر‌آی زانو", 150, 2000, _a(REF, PA)),
        ("705025", "MRI, cervical spine", "ام‌آر‌آی ستون فقرات گردنی", 160, 2100, _a(REF, PA)),
        ("706010", "Nuclear medicine, whole-body bone scan", "اسکن هسته‌ای تمام بدن استخوان", 140, 1500, _a(REF, PA)),
        ("706015", "Myocardial perfusion scan (SPECT)", "اسکن پرفیوژن قلب (اسپکت)", 200, 2400, _a(REF, PA, min_age=18)),
    ],
    "procedure": [
        ("300110", "Electrocardiogram (ECG), 12-lead", "نوار قلب (ECG)", 12, 30, {}),
        ("300115", "Exercise stress test", "تست ورزش", 60, 120, _a(setting="outpatient", min_age=12)),
        ("300120", "Holter monitoring, 24 hours", "هولتر مانیتورینگ ۲۴ ساعته", 50, 150, dict(setting="outpatient")),
        ("300210", "Spirometry", "اسپیرومتری", 20, 60, {}),
        ("300310", "Intramuscular or intravenous injection", "تزریقات عضلانی یا وریدی", 2, 8, dict(max_units_per_day=3)),
        ("300315", "Intravenous infusion (serum therapy)", "سرم‌تراپی", 6, 25, dict(max_units_per_day=2)),
        ("300320", "Nebuliser treatment", "نبولایزر", 4, 15, dict(max_units_per_day=3)),
        ("300410", "Simple wound dressing", "پانسمان ساده", 4, 12, dict(max_units_per_day=2)),
        ("300415", "Repair of superficial wound, up to 5 cm", "ترمیم زخم سطحی تا ۵ سانتی‌متر", 30, 20, {}),
        ("300420", "Repair of complex wound", "ترمیم زخم پیچیده", 70, 40, {}),
        ("300425", "Removal of foreign body from skin", "خارج کردن جسم خارجی از پوست", 25, 15, {}),
        ("300430", "Incision and drainage of abscess", "برش و تخلیه آبسه", 35, 20, {}),
        ("300435", "Cast application, forearm", "گچ‌گیری ساعد", 40, 50, {}),
        ("300440", "Splint application", "آتل‌گذاری", 20, 30, {}),
        ("300510", "Upper gastrointestinal endoscopy", "آندوسکوپی دستگاه گوارش فوقانی", 150, 250, REF),
        ("300515", "Colonoscopy", "کولونوسکوپی", 220, 350, _a(REF, min_age=12)),
        ("300520", "Flexible sigmoidoscopy", "سیگموئیدوسکوپی", 110, 180, REF),
        ("300610", "Pure-tone audiometry", "ادیومتری", 20, 40, {}),
        ("300615", "Newborn hearing screening (OAE)", "غربالگری شنوایی نوزادان (OAE)", 10, 30,
         _a(setting="outpatient", max_age=0)),
        ("300710", "Electroencephalography (EEG)", "نوار مغز (EEG)", 50, 90, {}),
        ("300715", "Electromyography and nerve conduction", "نوار عصب و عضله (EMG-NCV)", 90, 60, REF),
        ("300810", "Intrauterine device insertion", "گذاشتن آی‌یو‌دی", 40, 20, _a(F, setting="outpatient", min_age=15, max_age=50)),
        ("300815", "Endometrial biopsy", "نمونه‌برداری از آندومتر", 50, 30, _a(F, min_age=18)),
        ("300820", "Colposcopy", "کولپوسکوپی", 60, 40, _a(F, min_age=18)),
        ("300910", "Circumcision", "ختنه", 80, 30, _a(M, setting="outpatient")),
        ("300915", "Diagnostic cystoscopy", "سیستوسکوپی تشخیصی", 120, 150, REF),
        ("301010", "Bone marrow aspiration and biopsy", "آسپیراسیون و بیوپسی مغز استخوان", 90, 60, {}),
        ("301015", "Lumbar puncture", "پونکسیون کمری", 50, 20, {}),
        ("301020", "Haemodialysis session", "جلسه همودیالیز", 60, 900, {}),
        ("301025", "Chemotherapy infusion session", "جلسه تزریق شیمی‌درمانی", 60, 200, {}),
        ("301030", "Blood transfusion, per unit", "تزریق خون (هر واحد)", 10, 40, dict(max_units_per_day=4)),
        ("301115", "Intravitreal injection", "تزریق داخل زجاجیه", 160, 120, _a(REF, PA)),
        ("301120", "Retinal laser photocoagulation", "لیزر فتوکواگولاسیون شبکیه", 140, 160, REF),
        ("301210", "Diagnostic coronary angiography", "آنژیوگرافی تشخیصی عروق کرونر", 300, 1200, _a(PA, min_age=18)),
    ],
    "surgery": [
        ("401010", "Appendectomy", "آپاندکتومی", 1200, 200, {}),
        ("401015", "Laparoscopic cholecystectomy", "کوله‌سیستکتومی لاپاراسکوپیک", 1900, 450, dict(min_age=12)),
        ("401020", "Open cholecystectomy", "کوله‌سیستکتومی باز", 1700, 300, dict(min_age=12)),
        ("401025", "Inguinal hernia repair, unilateral", "ترمیم فتق اینگوینال یک‌طرفه", 1100, 200, {}),
        ("401030", "Umbilical hernia repair", "ترمیم فتق نافی", 900, 180, {}),
        ("401035", "Haemorrhoidectomy", "همورویدکتومی", 900, 150, dict(min_age=12)),
        ("401040", "Anal fistulectomy", "فیستولکتومی مقعد", 950, 150, {}),
        ("401045", "Excision of pilonidal sinus", "برداشتن سینوس پایلونیدال", 800, 140, dict(min_age=10)),
        ("401050", "Total thyroidectomy", "تیروئیدکتومی کامل", 2200, 300, {}),
        ("401055", "Exploratory laparotomy", "لاپاراتومی تجسسی", 1800, 300, {}),
        ("401060", "Partial gastrectomy", "گاسترکتومی پارشیل", 3200, 500, dict(min_age=12)),
        ("401065", "Partial colectomy", "کولکتومی پارشیل", 3100, 500, {}),
        ("401070", "Modified radical mastectomy", "ماستکتومی رادیکال تعدیل‌شده", 2600, 350, dict(min_age=18)),
        ("401075", "Varicose vein stripping", "استریپینگ واریس", 1100, 200, dict(min_age=18)),
        ("402010", "Caesarean section", "سزارین", 1500, 250, _a(F, min_age=13, max_age=55)),
        ("402015", "Normal vaginal delivery", "زایمان طبیعی", 1300, 150, _a(F, min_age=13, max_age=55)),
        ("402020", "Dilation and curettage", "دیلاتاسیون و کورتاژ", 500, 100, _a(F, min_age=12, max_age=60)),
        ("402025", "Total abdominal hysterectomy", "هیسترکتومی کامل شکمی", 2300, 350, _a(F, min_age=25)),
        ("402030", "Tubal ligation", "بستن لوله‌های رحمی", 700, 120, _a(F, min_age=18, max_age=50)),
        ("402035", "Laparoscopic ovarian cystectomy", "کیستکتومی تخمدان با لاپاراسکوپی", 1500, 400, _a(F, min_age=12)),
        ("402040", "Anterior and posterior colporrhaphy", "کولپورافی قدامی و خلفی", 1400, 200, _a(F, min_age=25)),
        ("403010", "Transurethral resection of prostate (TURP)", "برداشتن پروستات از راه مجرا (TURP)", 1900, 400,
         _a(M, min_age=40)),
        ("403015", "Transurethral ureteroscopic lithotripsy", "سنگ‌شکنی از راه حالب (TUL)", 1500, 450, {}),
        ("403020", "Percutaneous nephrolithotomy (PCNL)", "سنگ‌برداری از راه پوست (PCNL)", 2400, 550, {}),
        ("403025", "Varicocelectomy", "واریکوسلکتومی", 900, 150, _a(M, min_age=12)),
        ("403030", "Orchiopexy", "ارکیوپکسی", 900, 150, _a(M, max_age=17)),
        ("403035", "Hydrocelectomy", "هیدروسلکتومی", 800, 140, M),
        ("404010", "Cataract extraction with intraocular lens (phacoemulsification)",
         "جراحی آب مروارید با کارگذاری لنز (فیکو)", 1400, 700, dict(setting="any")),
        ("404015", "Strabismus surgery", "جراحی انحراف چشم (استرابیسم)", 1200, 250, {}),
        ("404020", "Pars plana vitrectomy", "ویترکتومی", 2600, 900, {}),
        ("404025", "Dacryocystorhinostomy", "داکریوسیستورینوستومی", 1300, 250, {}),
        ("405010", "Tonsillectomy with or without adenoidectomy", "لوزه‌برداری با یا بدون برداشتن آدنوئید", 900, 150,
         dict(min_age=2)),
        ("405015", "Septoplasty", "سپتوپلاستی", 1100, 200, dict(min_age=14)),
        ("405020", "Functional endoscopic sinus surgery (FESS)", "جراحی آندوسکوپیک سینوس (FESS)", 1600, 400,
         dict(min_age=12)),
        ("405025", "Tympanoplasty", "تمپانوپلاستی", 1600, 300, {}),
        ("405030", "Myringotomy with ventilation tube", "میرنگوتومی با لوله تهویه", 500, 120, {}),
        ("406010", "Total knee replacement", "تعویض کامل مفصل زانو", 3200, 800, _a(PA, min_age=40)),
        ("406015", "Total hip replacement", "تعویض کامل مفصل ران", 3400, 850, _a(PA, min_age=40)),
        ("406020", "Knee arthroscopy with meniscectomy", "آرتروسکوپی زانو و منیسککتومی", 1500, 450, dict(min_age=12)),
        ("406025", "Open reduction and internal fixation, femur", "جااندازی باز و فیکساسیون داخلی استخوان ران", 2400,
         500, {}),
        ("406030", "Open reduction and internal fixation, radius/ulna", "جااندازی باز و فیکساسیون داخلی ساعد", 1600,
         350, {}),
        ("406035", "Carpal tunnel release", "آزادسازی تونل کارپ", 700, 120, _a(setting="any", min_age=18)),
        ("406040", "Removal of orthopaedic implant", "خارج کردن پلاک و پیچ ارتوپدی", 700, 150, {}),
        ("407010", "Lumbar discectomy (laminectomy)", "دیسککتومی کمری (لامینکتومی)", 2600, 500, _a(PA, min_age=18)),
        ("407015", "Craniotomy for tumour", "کرانیوتومی برای تومور", 4800, 900, PA),
        ("407020", "Ventriculoperitoneal shunt", "شانت بطنی-صفاقی", 2600, 700, {}),
        ("408010", "Coronary artery bypass graft (CABG)", "جراحی بای‌پس عروق کرونر", 6000, 1500, _a(PA, min_age=18)),
        ("408015", "Percutaneous coronary intervention with stent", "آنژیوپلاستی کرونر با استنت", 2400, 2200,
         _a(PA, min_age=18)),
        ("408020", "Permanent pacemaker insertion", "کارگذاری باتری دائم قلب", 1800, 1400, PA),
        ("409010", "Excision of skin lesion or cyst", "برداشتن ضایعه یا کیست پوستی", 150, 40, dict(setting="any")),
        ("409015", "Split-thickness skin graft", "پیوند پوست با ضخامت نسبی", 1300, 250, {}),
        ("409020", "Burn debridement", "دبریدمان سوختگی", 700, 200, {}),
    ],
    "anesthesia": [
        ("950010", "General anaesthesia, basic (up to one hour)", "بیهوشی عمومی پایه (تا یک ساعت)", 200, 30, {}),
        ("950015", "General anaesthesia, intermediate", "بیهوشی عمومی متوسط", 320, 45, {}),
        ("950020", "General anaesthesia, major", "بیهوشی عمومی سنگین", 500, 70, {}),
        ("950025", "Spinal or epidural anaesthesia", "بی‌حسی نخاعی یا اپیدورال", 220, 30, {}),
        ("950030", "Regional nerve block", "بلوک عصبی ناحیه‌ای", 150, 20, {}),
        ("950035", "Monitored anaesthesia care (sedation)", "مراقبت بیهوشی تحت نظارت (سدیشن)", 120, 15, {}),
    ],
    "physio": [
        ("970010", "Physiotherapy session, musculoskeletal", "جلسه فیزیوتراپی اسکلتی-عضلانی", 25, 40, {}),
        ("970015", "Physiotherapy session, neurological", "جلسه فیزیوتراپی عصبی", 30, 45, {}),
        ("970020", "Transcutaneous electrical nerve stimulation (TENS)", "تحریک الکتریکی عصب از راه پوست (TENS)", 8, 20,
         dict(max_units_per_day=2)),
        ("970025", "Therapeutic ultrasound", "اولتراسوند درمانی", 8, 20, dict(max_units_per_day=2)),
        ("970030", "Therapeutic exercise, 15 minutes", "ورزش درمانی (۱۵ دقیقه)", 10, 10, dict(max_units_per_day=4)),
        ("970035", "Occupational therapy session", "جلسه کاردرمانی", 30, 30, {}),
        ("970040", "Speech therapy session", "جلسه گفتاردرمانی", 30, 25, {}),
        ("970045", "Cardiac rehabilitation session", "جلسه بازتوانی قلبی", 30, 60, dict(min_age=18)),
    ],
    "dental": [
        ("980010", "Dental examination", "معاینه دندانپزشکی", 20, 0, dict(max_units_per_day=1)),
        ("980015", "Periapical radiograph", "رادیوگرافی پری‌اپیکال", 6, 20, {}),
        ("980020", "Panoramic radiograph (OPG)", "رادیوگرافی پانورامیک (OPG)", 10, 60, dict(max_units_per_day=1)),
        ("980025", "Scaling and polishing", "جرم‌گیری و بروساژ", 60, 20, dict(max_units_per_day=1, visit_limit_days=180)),
        ("980030", "Fluoride varnish", "وارنیش فلوراید", 15, 10, dict(max_units_per_day=1, min_age=2, max_age=17)),
        ("980035", "Fissure sealant, per tooth", "فیشورسیلانت (هر دندان)", 20, 10, dict(max_units_per_day=4, min_age=6, max_age=14)),
        ("980040", "Amalgam filling, one surface", "ترمیم آمالگام یک سطحی", 45, 15, {}),
        ("980045", "Composite filling, one surface", "ترمیم کامپوزیت یک سطحی", 60, 25, {}),
        ("980050", "Root canal treatment, anterior tooth", "درمان ریشه دندان قدامی", 140, 30, dict(max_units_per_day=1)),
        ("980055", "Root canal treatment, molar", "درمان ریشه دندان آسیا", 240, 50, dict(max_units_per_day=1)),
        ("980060", "Pulpotomy, primary tooth", "پالپوتومی دندان شیری", 70, 15, dict(max_age=12)),
        ("980065", "Simple extraction", "کشیدن ساده دندان", 40, 10, {}),
        ("980070", "Surgical extraction of impacted tooth", "جراحی دندان نهفته", 160, 30, dict(max_units_per_day=1, min_age=15)),
        ("980075", "Stainless-steel crown, primary tooth", "روکش استیل دندان شیری", 80, 40, dict(max_age=12)),
        ("980080", "Complete denture, one arch", "دندان مصنوعی کامل یک فک", 450, 250, _a(max_units_per_day=1, min_age=30, **PA)),
    ],
    "bed": [
        ("990010", "Bed-day, general ward (three or more beds)", "تخت روز بخش عمومی (سه تخته و بیشتر)", 0, 450, {}),
        ("990015", "Bed-day, two-bed room", "تخت روز اتاق دو تخته", 0, 600, {}),
        ("990020", "Bed-day, private room", "تخت روز اتاق خصوصی", 0, 900, {}),
        ("990025", "Bed-day, intensive care unit (ICU)", "تخت روز بخش مراقبت‌های ویژه (ICU)", 0, 1800, {}),
        ("990030", "Bed-day, coronary care unit (CCU)", "تخت روز بخش مراقبت‌های ویژه قلبی (CCU)", 0, 1600, {}),
        ("990035", "Bed-day, neonatal intensive care (NICU)", "تخت روز مراقبت‌های ویژه نوزادان (NICU)", 0, 2000,
         dict(max_age=0)),
        ("990040", "Bed-day, paediatric intensive care (PICU)", "تخت روز مراقبت‌های ویژه کودکان (PICU)", 0, 1900,
         dict(max_age=14)),
        ("990045", "Companion bed-day", "تخت روز همراه", 0, 150, {}),
        ("990050", "Bed-day, psychiatric ward", "تخت روز بخش روانپزشکی", 0, 500, {}),
        ("990055", "Bed-day, burn ward", "تخت روز بخش سوختگی", 0, 1100, {}),
    ],
    "drug": [
        ("960010", "Pharmacist technical fee, per prescription", "حق فنی داروساز (هر نسخه)", 10, 0, {}),
        ("960015", "Compounding fee", "حق ساخت داروی ترکیبی", 6, 4, {}),
    ],
}

# Plausible fill for the rest of the book: (group, code range start, [(title_en, title_fa)]).
_PARTS = [
    ("skull", "جمجمه"), ("cervical spine", "ستون فقرات گردنی"), ("thoracic spine", "ستون فقرات پشتی"),
    ("shoulder", "شانه"), ("elbow", "آرنج"), ("hip", "مفصل ران"), ("pelvis", "لگن"), ("ankle", "مچ پا"),
    ("foot", "پا"), ("femur", "استخوان ران"), ("tibia and fibula", "ساق پا"), ("humerus", "بازو"),
    ("forearm", "ساعد"), ("clavicle", "ترقوه"), ("mandible", "فک تحتانی"),
]
_ANALYTES = [
    "Magnesium", "Zinc", "Copper", "Lipase", "Amylase", "Lactate dehydrogenase (LDH)", "Creatine kinase (CPK)",
    "Gamma-glutamyl transferase (GGT)", "Cortisol", "ACTH", "Follicle-stimulating hormone (FSH)",
    "Luteinising hormone (LH)", "Oestradiol", "Progesterone", "DHEA sulphate", "Total IgE", "IgG", "IgA", "IgM",
    "Complement C3", "Complement C4", "Anti-CCP antibody", "Anti-dsDNA antibody", "ANCA", "Folate", "Homocysteine",
    "Blood lead", "Lithium level", "Digoxin level", "Valproate level", "Carbamazepine level", "Phenytoin level",
    "Procalcitonin", "D-dimer", "Fibrinogen", "Haptoglobin", "G6PD activity", "Haemoglobin electrophoresis",
    "Anti-TPO antibody", "Anti-thyroglobulin antibody", "Thyroglobulin", "Calcitonin", "Parathyroid hormone (PTH)",
    "Insulin", "C-peptide", "Urine microalbumin", "24-hour urine protein", "Urine creatinine", "CEA", "CA 19-9",
    "CA 15-3", "Alpha-fetoprotein (AFP)", "Beta-2 microglobulin", "H. pylori stool antigen", "H. pylori IgG",
    "Toxoplasma IgG", "Toxoplasma IgM", "Rubella IgG", "CMV IgG", "CMV IgM", "EBV VCA IgM", "HBs antibody",
    "HBc antibody", "HBe antigen", "HCV RNA (PCR)", "HBV DNA (PCR)", "HIV viral load", "SARS-CoV-2 PCR",
    "Influenza antigen", "Widal test", "VDRL", "TPHA", "Malaria smear", "Leishmania antibody", "Hydatid antibody",
    "Stool culture", "Wound culture", "Sputum smear for AFB", "Sputum culture", "Arterial blood gases", "Lactate",
    "Ammonia", "Serum osmolality", "Ketones", "Ionised calcium", "Chloride", "Bicarbonate", "Total protein",
    "Serum protein electrophoresis", "Immunofixation", "Direct Coombs test", "Indirect Coombs test", "Cross-match",
    "Peripheral blood smear", "Bleeding time", "Factor VIII activity", "Factor IX activity", "von Willebrand factor",
    "Lupus anticoagulant", "Anticardiolipin antibody", "Protein C", "Protein S", "Antithrombin III", "Karyotype",
    "Thalassaemia gene panel", "Vitamin A", "Vitamin E", "Selenium", "Ceruloplasmin", "Anti-HAV IgM",
    "Brucella Coombs", "ASO titre", "Cold agglutinins", "Cryptococcal antigen", "Urine drug screen",
]


def _fillers() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {"lab": [(a, f"آزمایش {a}") for a in _ANALYTES]}
    img = []
    for en, fa in _PARTS:
        img.append((f"Radiograph, {en}", f"رادیوگرافی {fa}"))
    for en, fa in _PARTS[:10]:
        img.append((f"CT scan, {en}", f"سی‌تی‌اسکن {fa}"))
        img.append((f"MRI, {en}", f"ام‌آر‌آی {fa}"))
    for en, fa in [("kidneys and bladder", "کلیه و مثانه"), ("liver and gallbladder", "کبد و کیسه صفرا"),
                   ("soft tissue", "بافت نرم"), ("neck", "گردن"), ("carotid arteries (Doppler)", "شریان‌های کاروتید (داپلر)"),
                   ("renal arteries (Doppler)", "شریان‌های کلیوی (داپلر)"), ("lower-limb arteries (Doppler)",
                                                                              "شریان‌های اندام تحتانی (داپلر)")]:
        img.append((f"Ultrasound, {en}", f"سونوگرافی {fa}"))
    out["imaging"] = img
    proc = []
    for en, fa in [("Excision of nail", "کشیدن ناخن"), ("Cryotherapy of skin lesion", "کرایوتراپی ضایعه پوستی"),
                   ("Electrocautery of skin lesion", "کوتر ضایعه پوستی"), ("Joint aspiration", "آسپیراسیون مفصل"),
                   ("Intra-articular injection", "تزریق داخل مفصل"), ("Nasal packing", "تامپون بینی"),
                   ("Ear irrigation", "شستشوی گوش"), ("Urinary catheterisation", "سونداژ ادراری"),
                   ("Nasogastric tube insertion", "گذاشتن لوله معده"), ("Thoracentesis", "توراسنتز"),
                   ("Paracentesis", "پاراسنتز"), ("Fine-needle aspiration, thyroid", "آسپیراسیون سوزنی تیروئید"),
                   ("Breast core biopsy", "بیوپسی سوزنی پستان"), ("Skin biopsy", "بیوپسی پوست"),
                   ("Cardioversion", "کاردیوورژن"), ("Central venous catheter insertion", "گذاشتن کاتتر ورید مرکزی"),
                   ("Endotracheal intubation", "لوله‌گذاری داخل تراشه"), ("Closed reduction of dislocation",
                                                                              "جااندازی بسته دررفتگی"),
                   ("Closed reduction of fracture", "جااندازی بسته شکستگی"), ("Removal of cast", "باز کردن گچ"),
                   ("Tear duct probing", "پروبینگ مجرای اشکی"), ("Bronchoscopy", "برونکوسکوپی"),
                   ("ERCP", "ای‌آر‌سی‌پی"), ("Extracorporeal shock-wave lithotripsy", "سنگ‌شکنی برون‌اندامی")]:
        proc.append((en, fa))
    out["procedure"] = proc
    surg = []
    for en, fa in [("Excision of lipoma", "برداشتن لیپوم"), ("Lymph node biopsy", "بیوپسی غدد لنفاوی"),
                   ("Splenectomy", "اسپلنکتومی"), ("Nephrectomy", "نفرکتومی"), ("Pyeloplasty", "پیلوپلاستی"),
                   ("Cystolithotomy", "سیستولیتوتومی"), ("Laparoscopic appendectomy", "آپاندکتومی لاپاراسکوپیک"),
                   ("Gastrostomy", "گاستروستومی"), ("Amputation below the knee", "قطع عضو زیر زانو"),
                   ("Tendon repair, hand", "ترمیم تاندون دست"), ("Rotator cuff repair", "ترمیم روتاتور کاف"),
                   ("ACL reconstruction", "بازسازی رباط صلیبی قدامی"), ("Spinal fusion, lumbar", "فیوژن ستون فقرات کمری"),
                   ("Rhinoplasty (functional)", "رینوپلاستی (عملکردی)"), ("Parotidectomy", "پاروتیدکتومی"),
                   ("Trabeculectomy", "ترابکولکتومی"), ("Keratoplasty", "پیوند قرنیه"),
                   ("Mitral valve replacement", "تعویض دریچه میترال"), ("Carotid endarterectomy", "آندآرترکتومی کاروتید"),
                   ("Arteriovenous fistula creation", "ایجاد فیستول شریانی-وریدی"), ("Cleft lip repair", "ترمیم شکاف لب")]:
        surg.append((en, fa))
    out["surgery"] = surg
    dent = []
    for n, nfa in [("two", "دو"), ("three", "سه")]:
        dent.append((f"Amalgam filling, {n} surfaces", f"ترمیم آمالگام {nfa} سطحی"))
        dent.append((f"Composite filling, {n} surfaces", f"ترمیم کامپوزیت {nfa} سطحی"))
    dent += [("Root canal treatment, premolar", "درمان ریشه دندان پره‌مولر"), ("Retreatment of root canal",
                                                                              "درمان مجدد ریشه"),
             ("Pulpectomy, primary tooth", "پالپکتومی دندان شیری"), ("Space maintainer", "فضانگهدار"),
             ("Partial denture, acrylic", "دندان مصنوعی پارسیل آکریلی"), ("Curettage, per quadrant", "کورتاژ لثه (هر ربع)")]
    out["dental"] = dent
    out["physio"] = [("Hydrotherapy session", "جلسه آب‌درمانی"), ("Traction therapy", "کشش درمانی"),
                     ("Shock-wave therapy", "شاک‌ویو درمانی"), ("Laser therapy, low level", "لیزر درمانی کم‌توان")]
    out["bed"] = [("Bed-day, isolation room", "تخت روز اتاق ایزوله"), ("Bed-day, post-CCU", "تخت روز پست CCU"),
                  ("Bed-day, day care", "تخت روز بستری موقت")]
    return out


_FILL_START = {"lab": 807010, "imaging": 707010, "procedure": 302010, "surgery": 410010, "dental": 981010,
               "physio": 971010, "bed": 991010}
_FILL_STEP = {"lab": 5, "imaging": 5, "procedure": 5, "surgery": 5, "dental": 5, "physio": 5, "bed": 5}
_FILL_RVU = {"lab": ((3, 10), (20, 220)), "imaging": ((10, 180), (80, 2200)), "procedure": ((20, 300), (10, 500)),
             "surgery": ((600, 3500), (100, 900)), "dental": ((30, 300), (5, 120)), "physio": ((10, 30), (10, 40)),
             "bed": ((0, 0), (300, 900))}


def book(rng: random.Random) -> list[dict]:
    """Every code of the relative-value book with its 1403 values and attributes."""
    rows = []
    for group, entries in CODES.items():
        for code, en, fa, prof, tech, attrs in entries:
            rows.append(dict(service_code=code, group=group, title_en=en, title_fa=fa, prof=prof, tech=tech,
                             **{**GROUP_DEFAULTS[group], **attrs}))
    for group, titles in _fillers().items():
        code = _FILL_START[group]
        for en, fa in titles:
            (plo, phi), (tlo, thi) = _FILL_RVU[group]
            extra = {}
            if group == "imaging" and (en.startswith("CT") or en.startswith("MRI")):
                extra = dict(requires_referral=True, requires_prior_auth=en.startswith("MRI"))
            if group == "surgery" and rng.random() < 0.25:
                extra = dict(requires_prior_auth=True)
            rows.append(dict(service_code=str(code), group=group, title_en=en, title_fa=fa,
                             prof=rng.randint(plo, phi), tech=rng.randint(tlo, thi),
                             **{**GROUP_DEFAULTS[group], **extra}))
            code += _FILL_STEP[group]
    codes = [r["service_code"] for r in rows]
    assert len(codes) == len(set(codes)), "duplicate service codes"
    return rows


def _rvu_1404(v: int) -> int:
    return math.ceil(v * RVU_GROWTH_1404) if v else 0


K = {  # Rials per RVU: (k_professional, k_technical) for 1403 and 1404
    "public": ((22_000, 9_000), (27_500, 11_000)),
    "public_nongov": ((30_000, 12_000), (37_500, 15_000)),
    "charity": ((33_000, 13_000), (41_000, 16_000)),
    "private": ((52_000, 20_000), (65_000, 25_000)),
}
SECTORS = tuple(K)


def price(row: dict, sector: str, year: int) -> int:
    kp, kt = K[sector][0 if year == 1403 else 1]
    prof, tech = (row["prof"], row["tech"]) if year == 1403 else (_rvu_1404(row["prof"]), _rvu_1404(row["tech"]))
    return prof * kp + tech * kt


# --- drugs --------------------------------------------------------------------------------------------------------
# (generic_name, form, unit_price 1404 in Rials, max_units_per_rx, covered, allowed_specialties, requires_referral)

PSY = "psychiatry|neurology"
ENDO = "internal|endocrinology|pediatrics"
ONC = "oncology"
BIO = "rheumatology|dermatology|gastroenterology"
DRUGS = [
    ("amoxicillin 500 mg", "capsule", 28_000, 30, True, "", False),
    ("amoxicillin 250 mg/5 mL", "oral suspension", 310_000, 3, True, "", False),
    ("co-amoxiclav 625 mg", "tablet", 95_000, 30, True, "", False),
    ("azithromycin 250 mg", "capsule", 85_000, 6, True, "", False),
    ("azithromycin 200 mg/5 mL", "oral suspension", 720_000, 2, True, "", False),
    ("cefixime 400 mg", "capsule", 120_000, 14, True, "", False),
    ("cefixime 100 mg/5 mL", "oral suspension", 650_000, 2, True, "", False),
    ("cephalexin 500 mg", "capsule", 35_000, 40, True, "", False),
    ("ciprofloxacin 500 mg", "tablet", 42_000, 20, True, "", False),
    ("co-trimoxazole 480 mg", "tablet", 14_000, 30, True, "", False),
    ("metronidazole 250 mg", "tablet", 9_000, 42, True, "", False),
    ("doxycycline 100 mg", "capsule", 25_000, 30, True, "", False),
    ("clarithromycin 500 mg", "tablet", 140_000, 28, True, "", False),
    ("nitrofurantoin 100 mg", "capsule", 30_000, 28, True, "", False),
    ("ceftriaxone 1 g", "vial", 260_000, 14, True, "", False),
    ("penicillin G benzathine 1.2 MU", "vial", 190_000, 4, True, "", False),
    ("gentamicin 80 mg", "ampoule", 45_000, 21, True, "", False),
    ("fluconazole 150 mg", "capsule", 60_000, 4, True, "", False),
    ("acyclovir 400 mg", "tablet", 38_000, 50, True, "", False),
    ("oseltamivir 75 mg", "capsule", 250_000, 10, True, "", False),
    ("mebendazole 100 mg", "tablet", 12_000, 6, True, "", False),
    ("acetaminophen 500 mg", "tablet", 4_500, 30, True, "", False),
    ("acetaminophen 120 mg/5 mL", "syrup", 160_000, 2, True, "", False),
    ("ibuprofen 400 mg", "tablet", 8_000, 30, True, "", False),
    ("ibuprofen 100 mg/5 mL", "oral suspension", 210_000, 2, True, "", False),
    ("diclofenac 50 mg", "tablet", 7_000, 30, True, "", False),
    ("diclofenac 75 mg", "ampoule", 35_000, 6, True, "", False),
    ("naproxen 500 mg", "tablet", 13_000, 30, True, "", False),
    ("celecoxib 200 mg", "capsule", 40_000, 30, True, "", False),
    ("indomethacin 25 mg", "capsule", 9_000, 30, True, "", False),
    ("ketorolac 30 mg", "ampoule", 48_000, 6, True, "", False),
    ("tramadol 50 mg", "capsule", 15_000, 20, True, "", False),
    ("gabapentin 300 mg", "capsule", 30_000, 90, True, "", False),
    ("pregabalin 75 mg", "capsule", 42_000, 60, True, "", False),
    ("metformin 500 mg", "tablet", 6_500, 180, True, "", False),
    ("metformin 1000 mg", "tablet", 12_000, 90, True, "", False),
    ("glibenclamide 5 mg", "tablet", 4_000, 120, True, "", False),
    ("gliclazide 80 mg", "tablet", 11_000, 120, True, "", False),
    ("pioglitazone 30 mg", "tablet", 24_000, 90, True, "", False),
    ("sitagliptin 50 mg", "tablet", 95_000, 60, True, "internal|endocrinology", False),
    ("empagliflozin 10 mg", "tablet", 160_000, 30, True, "internal|endocrinology|cardiology|nephrology", False),
    ("insulin NPH 100 IU/mL", "vial", 1_150_000, 6, True, "", False),
    ("insulin regular 100 IU/mL", "vial", 1_150_000, 6, True, "", False),
    ("insulin glargine 100 IU/mL", "pen", 5_200_000, 5, True, ENDO, False),
    ("insulin aspart 100 IU/mL", "pen", 4_300_000, 5, True, ENDO, False),
    ("levothyroxine 100 mcg", "tablet", 3_500, 100, True, "", False),
    ("methimazole 5 mg", "tablet", 5_000, 100, True, "", False),
    ("atorvastatin 20 mg", "tablet", 14_000, 90, True, "", False),
    ("atorvastatin 40 mg", "tablet", 22_000, 90, True, "", False),
    ("rosuvastatin 10 mg", "tablet", 26_000, 90, True, "", False),
    ("gemfibrozil 300 mg", "capsule", 12_000, 90, True, "", False),
    ("losartan 25 mg", "tablet", 6_000, 90, True, "", False),
    ("losartan 50 mg", "tablet", 9_000, 90, True, "", False),
    ("valsartan 80 mg", "tablet", 18_000, 90, True, "", False),
    ("captopril 25 mg", "tablet", 3_000, 90, True, "", False),
    ("enalapril 5 mg", "tablet", 3_500, 90, True, "", False),
    ("amlodipine 5 mg", "tablet", 4_000, 90, True, "", False),
    ("nifedipine 10 mg", "capsule", 5_000, 90, True, "", False),
    ("atenolol 50 mg", "tablet", 3_500, 90, True, "", False),
    ("metoprolol 50 mg", "tablet", 5_000, 90, True, "", False),
    ("propranolol 10 mg", "tablet", 2_500, 90, True, "", False),
    ("carvedilol 6.25 mg", "tablet", 9_000, 90, True, "", False),
    ("hydrochlorothiazide 25 mg", "tablet", 3_000, 90, True, "", False),
    ("furosemide 40 mg", "tablet", 3_000, 90, True, "", False),
    ("furosemide 20 mg", "ampoule", 18_000, 20, True, "", False),
    ("spironolactone 25 mg", "tablet", 8_000, 90, True, "", False),
    ("triamterene-H 50/25 mg", "tablet", 4_500, 90, True, "", False),
    ("digoxin 0.25 mg", "tablet", 4_000, 60, True, "", False),
    ("isosorbide dinitrate 10 mg", "tablet", 2_800, 90, True, "", False),
    ("nitroglycerin 0.4 mg", "sublingual tablet", 6_000, 30, True, "", False),
    ("aspirin 80 mg", "tablet", 1_800, 100, True, "", False),
    ("clopidogrel 75 mg", "tablet", 16_000, 90, True, "", False),
    ("warfarin 5 mg", "tablet", 6_000, 90, True, "", False),
    ("rivaroxaban 20 mg", "tablet", 120_000, 30, True, "internal|cardiology|neurology", False),
    ("enoxaparin 40 mg", "prefilled syringe", 380_000, 30, True, "", False),
    ("heparin 5000 IU/mL", "vial", 240_000, 10, True, "", False),
    ("omeprazole 20 mg", "capsule", 9_000, 60, True, "", False),
    ("pantoprazole 40 mg", "tablet", 16_000, 60, True, "", False),
    ("ranitidine 150 mg", "tablet", 4_000, 60, False, "", False),
    ("famotidine 40 mg", "tablet", 6_000, 60, True, "", False),
    ("metoclopramide 10 mg", "tablet", 2_500, 30, True, "", False),
    ("ondansetron 4 mg", "tablet", 30_000, 20, True, "", False),
    ("ondansetron 8 mg", "ampoule", 60_000, 10, True, "", False),
    ("hyoscine butylbromide 10 mg", "tablet", 4_000, 30, True, "", False),
    ("loperamide 2 mg", "capsule", 3_500, 20, True, "", False),
    ("oral rehydration salts", "sachet", 12_000, 20, True, "", False),
    ("bisacodyl 5 mg", "tablet", 2_500, 30, True, "", False),
    ("lactulose 65%", "syrup", 280_000, 3, True, "", False),
    ("mesalazine 500 mg", "tablet", 38_000, 180, True, "gastroenterology|internal", True),
    ("salbutamol 100 mcg", "inhaler", 260_000, 3, True, "", False),
    ("budesonide 200 mcg", "inhaler", 720_000, 2, True, "", False),
    ("fluticasone-salmeterol 250/50 mcg", "inhaler", 1_400_000, 2, True, "internal|pulmonology|pediatrics", False),
    ("tiotropium 18 mcg", "inhalation capsule", 95_000, 30, True, "internal|pulmonology", False),
    ("montelukast 10 mg", "tablet", 22_000, 30, True, "", False),
    ("montelukast 5 mg", "chewable tablet", 20_000, 30, True, "", False),
    ("cetirizine 10 mg", "tablet", 4_500, 30, True, "", False),
    ("loratadine 10 mg", "tablet", 5_000, 30, True, "", False),
    ("chlorpheniramine 4 mg", "tablet", 1_500, 30, True, "", False),
    ("dextromethorphan 15 mg/5 mL", "syrup", 140_000, 2, True, "", False),
    ("diphenhydramine compound", "syrup", 110_000, 2, True, "", False),
    ("prednisolone 5 mg", "tablet", 2_500, 60, True, "", False),
    ("dexamethasone 8 mg", "ampoule", 25_000, 10, True, "", False),
    ("hydrocortisone 100 mg", "vial", 160_000, 10, True, "", False),
    ("betamethasone 0.1%", "cream", 120_000, 3, True, "", False),
    ("clotrimazole 1%", "cream", 95_000, 3, True, "", False),
    ("mupirocin 2%", "ointment", 210_000, 2, True, "", False),
    ("permethrin 5%", "cream", 180_000, 2, True, "", False),
    ("isotretinoin 20 mg", "capsule", 65_000, 60, True, "dermatology", True),
    ("adalimumab 40 mg", "prefilled syringe", 78_000_000, 2, True, BIO, True),
    ("etanercept 50 mg", "prefilled syringe", 42_000_000, 4, True, "rheumatology|dermatology", True),
    ("methotrexate 2.5 mg", "tablet", 9_000, 40, True, "rheumatology|dermatology|oncology", False),
    ("hydroxychloroquine 200 mg", "tablet", 18_000, 60, True, "rheumatology|dermatology|internal", False),
    ("allopurinol 100 mg", "tablet", 3_000, 90, True, "", False),
    ("colchicine 1 mg", "tablet", 6_000, 60, True, "", False),
    ("alendronate 70 mg", "tablet", 45_000, 4, True, "", False),
    ("calcium carbonate 500 mg + vitamin D", "tablet", 6_000, 90, True, "", False),
    ("vitamin D3 50,000 IU", "capsule", 20_000, 12, True, "", False),
    ("ferrous sulphate 50 mg", "tablet", 2_000, 90, True, "", False),
    ("folic acid 1 mg", "tablet", 1_200, 90, True, "", False),
    ("multivitamin", "tablet", 6_000, 60, False, "", False),
    ("vitamin C 1000 mg effervescent", "effervescent tablet", 25_000, 20, False, "", False),
    ("sertraline 50 mg", "tablet", 9_000, 90, True, "", False),
    ("fluoxetine 20 mg", "capsule", 7_000, 90, True, "", False),
    ("citalopram 20 mg", "tablet", 8_000, 90, True, "", False),
    ("amitriptyline 25 mg", "tablet", 2_000, 90, True, "", False),
    ("nortriptyline 10 mg", "capsule", 3_000, 90, True, "", False),
    ("alprazolam 0.5 mg", "tablet", 3_000, 30, True, "", False),
    ("clonazepam 1 mg", "tablet", 3_500, 60, True, "", False),
    ("lorazepam 1 mg", "tablet", 3_500, 30, True, "", False),
    ("risperidone 2 mg", "tablet", 12_000, 90, True, PSY, False),
    ("olanzapine 5 mg", "tablet", 18_000, 90, True, PSY, False),
    ("quetiapine 100 mg", "tablet", 22_000, 90, True, PSY, False),
    ("clozapine 100 mg", "tablet", 24_000, 90, True, "psychiatry", True),
    ("lithium carbonate 300 mg", "tablet", 5_000, 90, True, PSY, False),
    ("methylphenidate 10 mg", "tablet", 8_000, 60, True, "psychiatry|pediatrics|neurology", False),
    ("sodium valproate 200 mg", "tablet", 7_000, 120, True, "", False),
    ("carbamazepine 200 mg", "tablet", 5_000, 120, True, "", False),
    ("levetiracetam 500 mg", "tablet", 32_000, 120, True, "neurology|pediatrics|neurosurgery", False),
    ("phenytoin 100 mg", "capsule", 4_000, 120, True, "", False),
    ("levodopa-carbidopa 250/25 mg", "tablet", 14_000, 120, True, "neurology", False),
    ("interferon beta-1a 44 mcg", "prefilled syringe", 35_000_000, 12, True, "neurology", True),
    ("sumatriptan 50 mg", "tablet", 45_000, 12, True, "", False),
    ("tamsulosin 0.4 mg", "capsule", 18_000, 90, True, "", False),
    ("finasteride 5 mg", "tablet", 15_000, 90, False, "", False),
    ("sildenafil 50 mg", "tablet", 20_000, 8, False, "", False),
    ("oxybutynin 5 mg", "tablet", 6_000, 90, True, "", False),
    ("medroxyprogesterone 150 mg", "vial", 180_000, 1, True, "", False),
    ("levonorgestrel-ethinylestradiol (LD)", "tablet", 2_500, 84, True, "", False),
    ("clomiphene 50 mg", "tablet", 18_000, 10, True, "obgyn", False),
    ("letrozole 2.5 mg", "tablet", 40_000, 30, True, "oncology|obgyn", False),
    ("tamoxifen 20 mg", "tablet", 14_000, 90, True, ONC, False),
    ("capecitabine 500 mg", "tablet", 120_000, 120, True, ONC, True),
    ("imatinib 400 mg", "tablet", 650_000, 30, True, ONC, True),
    ("erythropoietin 4000 IU", "prefilled syringe", 1_900_000, 12, True, "nephrology|oncology|internal", True),
    ("ocular tropicamide 1%", "eye drops", 160_000, 1, True, "ophthalmology", False),
    ("timolol 0.5%", "eye drops", 140_000, 3, True, "", False),
    ("latanoprost 0.005%", "eye drops", 620_000, 3, True, "ophthalmology", False),
    ("chloramphenicol 0.5%", "eye drops", 90_000, 2, True, "", False),
    ("betahistine 16 mg", "tablet", 11_000, 60, True, "", False),
    ("sodium chloride 0.9% 1000 mL", "infusion bag", 260_000, 10, True, "", False),
    ("dextrose-saline 1000 mL", "infusion bag", 280_000, 10, True, "", False),
]


def write_csv(name: str, header: list[str], rows: list[list]) -> None:
    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return v

    with open(HERE / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([fmt(v) for v in r])


PACKAGES = {  # package_code: (max_stay_days, anaesthesia code, extra bundled codes)
    "401010": (3, "950010", ["702010", "806010"]),
    "401015": (2, "950015", ["702010", "806010"]),
    "401025": (2, "950025", []),
    "401030": (2, "950010", []),
    "401035": (2, "950025", ["806010"]),
    "401040": (2, "950025", ["806010"]),
    "401045": (2, "950010", ["806010"]),
    "401050": (3, "950015", ["702015", "806015", "803010"]),
    "401075": (2, "950025", ["702050"]),
    "402010": (3, "950025", ["702020", "990045"]),
    "402015": (2, "950030", ["702020"]),
    "402020": (1, "950035", ["806010"]),
    "402025": (4, "950015", ["806015"]),
    "402030": (1, "950010", []),
    "402040": (3, "950025", []),
    "403010": (4, "950025", ["806015", "702040"]),
    "403015": (2, "950010", ["701040"]),
    "403020": (4, "950015", ["701040", "704020"]),
    "403025": (1, "950025", []),
    "403030": (1, "950010", []),
    "404010": (1, "950035", []),
    "404015": (1, "950010", []),
    "405010": (2, "950010", ["990045"]),
    "405015": (2, "950010", []),
    "405020": (2, "950015", ["704025"]),
    "405025": (2, "950015", ["300610"]),
    "406010": (6, "950020", ["701025", "301030"]),
    "406015": (7, "950020", ["301030"]),
    "406020": (2, "950015", ["705020"]),
    "406035": (1, "950030", []),
    "407010": (4, "950020", ["705015"]),
    "408010": (10, "950020", ["990025", "702055", "301030"]),
    "408015": (3, "950035", ["301210", "990030"]),
}
PACKAGE_LABS = ["801010", "801020", "801025", "801030", "802010", "802025", "802030", "802080", "802085", "804010"]
PACKAGE_COMMON = ["901935", "990010"]


def main() -> None:
    rng = random.Random(SEED)
    rows = book(rng)
    by_code = {r["service_code"]: r for r in rows}

    write_csv("specialties.csv", ["specialty", "title_fa", "title_en"], [list(s) for s in SPECIALTIES])

    tariff = []
    for r in rows:
        for year, (vf, vt) in YEARS.items():
            p, t = (r["prof"], r["tech"]) if year == 1403 else (_rvu_1404(r["prof"]), _rvu_1404(r["tech"]))
            tariff.append([r["service_code"], r["title_fa"], r["title_en"], r["group"], p, t, vf, vt])
    write_csv("rvu-tariff.csv", ["service_code", "title_fa", "title_en", "group", "professional_rvu", "technical_rvu",
                                 "valid_from", "valid_to"], tariff)

    kc = []
    for sector, per_year in K.items():
        for (year, (vf, vt)), (kp, kt) in zip(YEARS.items(), per_year):
            kc.append([sector, kp, kt, vf, vt])
    write_csv("k-coefficients.csv", ["sector", "k_professional", "k_technical", "valid_from", "valid_to"], kc)

    attrs = [[r["service_code"], r.get("sex"), r.get("min_age"), r.get("max_age"), r["setting"],
              r["max_units_per_day"], bool(r.get("requires_referral", False)), bool(r.get("requires_prior_auth", False)),
              r["group"], r.get("visit_limit_days")] for r in rows]
    write_csv("code-attributes.csv", ["service_code", "sex", "min_age", "max_age", "setting", "max_units_per_day",
                                      "requires_referral", "requires_prior_auth", "group", "visit_limit_days"], attrs)

    drugs = []
    for i, (name, form, p1404, max_units, covered, spec, referral) in enumerate(DRUGS):
        code = f"1{(i + 1) * 100 + 10:06d}"
        p1403 = max(100, round(p1404 / 1.25 / 100) * 100)
        for year, (vf, vt) in YEARS.items():
            drugs.append([code, name, form, p1403 if year == 1403 else p1404, max_units, covered, spec, referral, vf, vt])
    write_csv("drugs.csv", ["service_code", "generic_name", "form", "unit_price", "max_units_per_rx", "covered",
                            "allowed_specialties", "requires_referral", "valid_from", "valid_to"], drugs)

    # Bundling edits: a major procedure (code_1) includes minor ones done the same day (code_2); open/laparoscopic and
    # similar alternatives exclude each other (modifier_ok 0); a few deleted edits are kept with modifier_ok 9.
    minors = ["300310", "300315", "300320", "300410", "300415", "300420", "300425", "300430", "300440", "409010",
              "301015", "301030", "300110"]
    majors = [r["service_code"] for r in rows if r["group"] == "surgery"]
    scopes = ["300510", "300515", "300520", "300915", "301210", "301010"]
    pairs: dict[tuple[str, str], int] = {}
    for s in majors:
        for m in rng.sample(minors, k=rng.randint(3, 7)):
            pairs[(s, m)] = rng.choices([0, 1, 9], weights=[30, 65, 5])[0]
    for s in scopes:
        for m in rng.sample(minors[:9], k=4):
            pairs[(s, m)] = rng.choices([0, 1], weights=[40, 60])[0]
    for a, b, ok in [("401020", "401015", 0), ("401055", "401010", 1), ("406010", "406020", 1),
                     ("402010", "402015", 0), ("402025", "402020", 1), ("300515", "300520", 0),
                     ("300510", "300520", 1), ("300420", "300415", 1), ("300415", "300410", 0),
                     ("300420", "300410", 0), ("408010", "408015", 1), ("401065", "401055", 1),
                     ("406025", "300440", 0), ("406030", "300435", 0), ("403020", "403015", 1)]:
        pairs[(a, b)] = ok
    write_csv("ptp-pairs.csv", ["code_1", "code_2", "modifier_ok"],
              [[a, b, ok] for (a, b), ok in sorted(pairs.items())])

    bundled, prices = [], []
    for pkg, (stay, anaes, extra) in PACKAGES.items():
        inc = [anaes] + PACKAGE_COMMON + PACKAGE_LABS + extra
        if pkg not in ("403030", "405010"):  # pre-operative ECG, except for the paediatric operations
            inc.append("300110")
        for code in dict.fromkeys(inc):
            bundled.append([pkg, code])
        for sector in SECTORS:
            for year, (vf, vt) in YEARS.items():
                total = (price(by_code[pkg], sector, year) + price(by_code[anaes], sector, year)
                         + stay * price(by_code["990010"], sector, year) + stay * price(by_code["901935"], sector, year)
                         + sum(price(by_code[c], sector, year) for c in PACKAGE_LABS + extra))
                prices.append([pkg, sector, round(total * 1.05 / 10_000) * 10_000, stay, vf, vt])
    write_csv("global-packages.csv", ["package_code", "bundled_code"], bundled)
    write_csv("global-package-prices.csv", ["package_code", "sector", "price", "max_stay_days", "valid_from",
                                            "valid_to"], prices)


if __name__ == "__main__":
    main()
