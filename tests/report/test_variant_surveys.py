"""Surveys on the ECSI and CCSI variants: the template offers image items, the report fits the survey's variant."""
import numpy as np
import pytest

import model
from survey import services
from survey.report import compute
from survey.services import questionnaire
from survey.services.demo import simulate

SVG_LINE = "{http://www.w3.org/2000/svg}line"


def make_survey(db_session, slug, variant, n=300, seed=11):
    survey = services.create_survey(db_session, slug=slug, model=variant)
    rows = simulate(survey, n, np.random.default_rng(seed))
    services.record_responses_bulk(db_session, survey, rows, wave=1, source="demo")
    return survey


@pytest.mark.parametrize("variant", ["acsi", "ecsi", "ccsi"])
def test_template_items_follow_the_variant(db_session, variant):
    survey = services.create_survey(db_session, slug=f"t-{variant}", model=variant)
    constructs = {q.construct for q in survey.active_questions if q.construct}
    assert constructs == set(model.VARIANTS[variant][0])
    image = [q for q in survey.active_questions if q.construct == "IM"]
    if variant == "acsi":
        assert image == []
    else:
        assert [q.code for q in image] == ["IM1", "IM2", "IM3"]
        # asked first, in both languages, on the same labelled 10-point scale with a don't-know choice
        assert survey.active_questions[0].code == "IM1"
        assert all(q.text_en and q.text_zh and q.low_zh and q.high_zh and q.allow_dont_know for q in image)
        assert all(q.section == "image" for q in image)
    # CCSI has no complaints construct; the complaint questions that are not model items stay
    codes = {q.code for q in survey.active_questions}
    assert ("CC1" in codes) == (variant != "ccsi")
    assert "complained" in codes


def test_unknown_variant_is_refused(db_session):
    with pytest.raises(services.InvalidInput):
        services.create_survey(db_session, slug="bad-variant", model="nope")
    assert services.get_survey(db_session, "bad-variant") is None


@pytest.mark.parametrize("variant", ["ecsi", "ccsi"])
def test_report_fits_the_surveys_variant(db_session, variant):
    survey = make_survey(db_session, f"r-{variant}", variant)
    info = compute.survey_info(survey)
    frame = services.responses_frame(db_session, survey)
    entry = compute.compute_report(frame, info)
    assert entry.state == "fitted" and entry.model == variant
    result = entry.result
    assert result["model"] == variant
    paths = {(p["from"], p["to"]) for p in result["paths"]}
    assert paths == set(model.VARIANTS[variant][1])
    # the same numbers as the engine on the same rows with the same spec
    spec = model.CSISpec.from_mapping(
        {c: [q.code for q in survey.active_questions if q.construct == c] for c in model.VARIANTS[variant][0]},
        variant)
    direct = model.fit(frame, spec=spec, scale=(1, 10)).to_dict()
    assert result["constructs"]["CS"]["index"] == pytest.approx(direct["constructs"]["CS"]["index"], abs=1e-9)
    assert ("CC" in result["constructs"]) == (variant != "ccsi")


def test_variant_report_page_draws_the_image_construct(client, manager, db_session):
    make_survey(db_session, "page-ecsi", "ecsi")
    html = client.get("/manage/surveys/page-ecsi/report?lang=en").get_data(as_text=True)
    assert 'data-code="IM"' in html
    result = client.get("/manage/surveys/page-ecsi/report.json").get_json()
    assert result["model"] == "ecsi"
    zh = client.get("/manage/surveys/page-ecsi/report?lang=zh_CN").get_data(as_text=True)
    assert "企业形象" in zh


def test_ccsi_report_page_without_complaints_construct(client, manager, db_session):
    make_survey(db_session, "page-ccsi", "ccsi")
    page = client.get("/manage/surveys/page-ccsi/report?lang=zh_CN")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "品牌形象" in html and 'data-code="CC"' not in html


def test_new_survey_form_offers_the_variants(client, manager, db_session):
    form = client.get("/manage/surveys/new?lang=en").get_data(as_text=True)
    for variant in ("acsi", "ecsi", "ccsi"):
        assert f'value="{variant}"' in form
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/manage/surveys/new", data={"csrf_token": token, "slug": "via-form", "model": "ccsi"})
    assert response.status_code == 302
    survey = services.get_survey(db_session, "via-form")
    assert survey.model == "ccsi" and "IM1" in {q.code for q in survey.active_questions}
    bad = client.post("/manage/surveys/new", data={"csrf_token": token, "slug": "via-form-2", "model": "xcsi"})
    assert bad.status_code == 422 and services.get_survey(db_session, "via-form-2") is None
    # the detail page lists the variant's constructs, so image items can be added and edited
    detail = client.get("/manage/surveys/via-form?lang=en").get_data(as_text=True)
    assert "/constructs/IM/add" in detail and "/constructs/CC/add" not in detail
    assert client.get("/manage/surveys/via-form/constructs/CC/add").status_code == 404


def test_image_item_added_to_an_ecsi_survey_gets_the_next_code(db_session):
    survey = services.create_survey(db_session, slug="add-im", model="ecsi")
    item = services.add_item(db_session, survey, "IM", {"text_en": "We are innovative.", "text_zh": "我们勇于创新。"})
    assert item.code == "IM4" and item.construct == "IM"
    acsi = services.create_survey(db_session, slug="add-im-acsi")
    with pytest.raises(services.InvalidInput):
        services.add_item(db_session, acsi, "IM", {"text_en": "x", "text_zh": "x"})


def test_respondent_form_shows_the_image_section(client, db_session):
    survey = services.create_survey(db_session, slug="form-ecsi", model="ecsi")
    html = client.get("/s/form-ecsi?lang=zh_CN").get_data(as_text=True)
    assert questionnaire.IMAGE_ITEMS[0]["text_zh"] in html
    assert html.index("IM1") < html.index("CE1")
    assert survey.model == "ecsi"
