"""Simulated responses from the CSI structure, so a new user sees a real report at once."""
from datetime import timedelta

import numpy as np
from sqlalchemy.orm import Session

from survey import services
from survey.storage.db import write_transaction
from survey.storage.tables import Survey, utcnow

SLUG = "demo"
# Structural paths of the CSI model (standardised-ish) used to generate latent scores.
PATHS = {
    "PQ": {"CE": 0.45},
    "PV": {"CE": 0.2, "PQ": 0.55},
    "CS": {"CE": 0.1, "PQ": 0.45, "PV": 0.3},
    "CC": {"CS": -0.5},
    "CL": {"CS": 0.6, "CC": -0.15},
}
# Under ECSI/CCSI, image comes first and shapes expectations, satisfaction and loyalty.
IMAGE_PATHS = {"CE": {"IM": 0.5}, "CS": {"IM": 0.15}, "CL": {"IM": 0.1}}
ITEM_MEAN = {"IM": 7.6, "CE": 7.2, "PQ": 7.4, "PV": 6.8, "CS": 7.3, "CC": 3.2, "CL": 7.5}
SEGMENTS = {
    "customer_type": (["consumer", "business", "public"], [0.6, 0.3, 0.1]),
    "customer_status": (["current", "former"], [0.85, 0.15]),
    "region": (["north", "east", "south", "central", "west"], [0.25, 0.3, 0.2, 0.15, 0.1]),
    "channel": (["online", "store", "sales_rep", "phone"], [0.4, 0.3, 0.2, 0.1]),
    "tenure": (["lt1", "1to3", "3to5", "gt5"], [0.2, 0.35, 0.25, 0.2]),
}
REGION_SHIFT = {"north": 0.1, "east": 0.2, "south": 0.0, "central": -0.15, "west": -0.3}
COMMENTS = [
    ("en", "Delivery was fast and the staff were friendly."),
    ("en", "The price went up but the quality did not."),
    ("en", "It took three calls to get my problem solved."),
    ("en", "Very reliable, I have had no problems this year."),
    ("zh_CN", "服务态度很好，响应也很及时。"),
    ("zh_CN", "价格有点高，希望能有更多优惠。"),
    ("zh_CN", "产品质量稳定，会继续购买。"),
    ("zh_CN", "投诉处理太慢了，等了一个多星期。"),
]
CAUSES = ["organisation", "effectiveness", "quality", "employee", "systems"]


def simulate(survey: Survey, n: int, rng: np.random.Generator, *, quality_shift: float = 0.0) -> list[dict]:
    """Draw n plausible responses: latent constructs from the paths of the survey's model variant (image first
    under ECSI/CCSI, no complaints construct under CCSI), items = latent + noise on 1-10."""
    constructs = services.constructs_for(survey.model)
    paths = PATHS if "IM" not in constructs else {
        "CE": IMAGE_PATHS["CE"], **{c: {**causes, **IMAGE_PATHS.get(c, {})} for c, causes in PATHS.items()}}
    paths = {c: {cause: w for cause, w in causes.items() if cause in constructs}
             for c, causes in paths.items() if c in constructs}
    latent = {next(iter(constructs)): rng.normal(size=n)}  # the exogenous construct: CE, or IM under ECSI/CCSI
    segments = {code: rng.choice(values, size=n, p=p) for code, (values, p) in SEGMENTS.items()}
    region_shift = np.array([REGION_SHIFT[r] for r in segments["region"]])
    for construct, causes in paths.items():
        score = sum(weight * latent[cause] for cause, weight in causes.items())
        noise_sd = np.sqrt(max(0.2, 1 - sum(w * w for w in causes.values())))
        latent[construct] = score + rng.normal(scale=noise_sd, size=n)
        if construct == "PQ":
            latent[construct] += quality_shift + region_shift
    key_account = np.where(segments["customer_type"] == "business", rng.random(n) < 0.4, False)
    rows = []
    items = [q for q in survey.active_questions if q.construct]
    item_values = {}
    for q in items:
        loading = rng.uniform(0.75, 0.9)
        raw = ITEM_MEAN[q.construct] + 1.6 * (loading * latent[q.construct] + rng.normal(scale=0.45, size=n))
        values = np.clip(np.rint(raw), survey.scale_min, survey.scale_max).astype(int)
        item_values[q.code] = np.where(rng.random(n) < 0.01, -1, values)  # -1: don't know
    complained = rng.random(n) < 1 / (1 + np.exp(1.6 + 0.9 * latent["CS"]))
    for i in range(n):
        row = {code: (None if vals[i] < 0 else int(vals[i])) for code, vals in item_values.items()}
        row.update({code: str(vals[i]) for code, vals in segments.items()})
        row["key_account"] = "yes" if key_account[i] else "no"
        row["complained"] = "yes" if complained[i] else "no"
        if complained[i]:
            row["complaint_handling"] = int(np.clip(np.rint(5.5 + 1.5 * latent["CS"][i] + rng.normal()), 1, 10))
            row["complaint_cause"] = list(rng.choice(CAUSES, size=int(rng.integers(1, 3)), replace=False))
        locale = "zh_CN" if rng.random() < 0.7 else "en"
        if rng.random() < 0.15:
            pool = [text for lang, text in COMMENTS if lang == locale]
            row["comment"] = pool[int(rng.integers(len(pool)))]
        row["locale"] = locale
        rows.append(row)
    return rows


def create_demo(session: Session, *, n: int = 400, seed: int = 2024) -> Survey:
    """Create the demo survey with two waves (the second slightly better) of simulated responses."""
    rng = np.random.default_rng(seed)
    survey = services.create_survey(session, slug=SLUG, title_en="Demo: customer satisfaction survey",
                                    title_zh="演示：顾客满意度调查")
    now = utcnow()
    first = survey.current_wave
    with write_transaction(session):
        first.opened_at, first.label = now - timedelta(days=120), "Spring"
    n_first = n // 2
    for wave, count, shift, start in ((1, n_first, 0.0, 120), (2, n - n_first, 0.45, 40)):
        if wave == 2:
            services.new_wave(session, survey, "Autumn")
            with write_transaction(session):
                survey.current_wave.opened_at = now - timedelta(days=start)
        rows = simulate(survey, count, rng, quality_shift=shift)
        for row in rows:
            row["created_at"] = now - timedelta(days=start) + timedelta(seconds=float(rng.uniform(0, 30 * 86400)))
        services.record_responses_bulk(session, survey, rows, wave=wave, source="demo")
    return survey

