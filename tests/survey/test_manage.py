"""Manager pages on both databases: login required everywhere, list with counts, create, edit, waves, tokens."""
import re

import pytest
import sqlalchemy as sa

from survey import services
from survey.storage.tables import InvitationToken, Question, Survey, Wave

SAMPLE_ARGS = {"slug": "csi", "code": "CE1", "construct": "CE", "filename": "x"}


def manager_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/manage")]


def test_login_required_on_every_manager_route(app, client, demo_survey):
    rules = manager_rules(app)
    assert {r.endpoint for r in rules} >= {f"manage.surveys.{name}" for name in (
        "index", "new", "detail", "status", "waves", "tokens", "question", "retire", "restore", "add", "settings",
        "archive", "unarchive", "wave_label")}
    assert {r.endpoint.split(".")[1] for r in rules} == {"surveys", "responses", "keys", "exports", "report", "upload",
                                                         "account", "audit", "team", "cases", "mail"}
    assert all(r.endpoint.startswith("manage.") for r in rules)  # every /manage page sits under the one guard
    checked = 0
    for rule in rules:
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<{name}>", SAMPLE_ARGS.get(name, "x"))
            url = re.sub(rf"<int(\([^)]*\))?:{name}>", "1", url)
            url = re.sub(rf"<[^>]*:{name}>", SAMPLE_ARGS.get(name, "x"), url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code in (302, 401), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/auth/login" in response.location, (method, url)
            checked += 1
    assert checked >= 13
    with app.app_context():
        from survey.storage.db import db
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Wave)) == 1  # nothing changed


def test_login_and_logout(client, auth):
    auth.create()
    assert client.get("/manage/").status_code == 302
    wrong = auth.login(password="not the password")
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.get_data(as_text=True)
    response = client.post("/auth/login?next=/manage/surveys/new",
                           data={"email": "Manager@Example.com", "password": "correct horse battery"})
    assert response.status_code == 302 and response.location.endswith("/manage/surveys/new")
    assert client.get("/manage/").status_code == 200
    assert client.get("/auth/login").status_code == 302  # already logged in
    assert auth.logout().status_code == 302
    assert client.get("/manage/").status_code == 302


def test_login_never_redirects_off_site(client, auth):
    auth.create()
    response = client.post("/auth/login?next=https://evil.example/x",
                           data={"email": "manager@example.com", "password": "correct horse battery"})
    assert response.location.endswith("/manage/")


def test_password_is_hashed_with_scrypt_by_default(db_session):
    account = services.create_manager(db_session, "s@example.com", "correct horse battery")
    assert "correct horse" not in account.password_hash and account.password_hash.startswith("scrypt:")
    assert services.authenticate(db_session, "s@example.com", "correct horse battery") == account
    assert services.authenticate(db_session, "s@example.com", "wrong password") is None
    assert services.authenticate(db_session, "nobody@example.com", "correct horse battery") is None


def test_survey_list_shows_counts_per_wave(client, db_session, manager, demo_survey, valid_answers):
    services.record_responses_bulk(db_session, demo_survey, [valid_answers()] * 3)
    services.new_wave(db_session, demo_survey, "Autumn")
    services.record_response(db_session, demo_survey, valid_answers())
    html = client.get("/manage/").get_data(as_text=True)
    assert "Test survey" in html
    assert re.search(r"Wave 1: <strong>3</strong>.*Wave 2: <strong>1</strong>", html, re.S)
    assert "<td>4</td>" in html


def test_create_survey_from_template(client, db_session, manager):
    assert client.get("/manage/surveys/new").status_code == 200
    response = client.post("/manage/surveys/new", data={"slug": "shop-2025", "title_en": "Shop", "title_zh": "商店"})
    assert response.status_code == 302 and response.location.endswith("/manage/surveys/shop-2025")
    survey = db_session.scalar(sa.select(Survey).where(Survey.slug == "shop-2025"))
    assert survey.title_zh == "商店" and len(survey.questions) == 25 and survey.created_by_id == manager.id
    page = client.get("/manage/surveys/shop-2025")
    assert page.status_code == 200 and "CE1" in page.get_data(as_text=True)
    duplicate = client.post("/manage/surveys/new", data={"slug": "shop-2025"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)
    bad = client.post("/manage/surveys/new", data={"slug": "Not a slug!"})
    assert bad.status_code == 422


def test_open_close_and_new_wave(client, db_session, manager, demo_survey):
    assert client.post("/manage/surveys/csi/status", data={"status": "closed"}).status_code == 302
    db_session.expire_all()
    assert db_session.get(Survey, demo_survey.id).status == "closed"
    assert "closed" in client.get("/s/csi").get_data(as_text=True)
    client.post("/manage/surveys/csi/status", data={"status": "open"})
    client.post("/manage/surveys/csi/status", data={"status": "bogus"})
    db_session.expire_all()
    assert db_session.get(Survey, demo_survey.id).status == "open"
    assert client.post("/manage/surveys/csi/waves", data={"label": "Autumn"}).status_code == 302
    waves = db_session.scalars(sa.select(Wave).where(Wave.survey_id == demo_survey.id).order_by(Wave.number)).all()
    assert [(w.number, w.label) for w in waves] == [(1, ""), (2, "Autumn")]


def test_generate_invitation_tokens(client, db_session, manager, demo_survey):
    response = client.post("/manage/surveys/csi/tokens", data={"count": "25"})
    assert response.status_code == 302
    tokens = db_session.scalars(sa.select(InvitationToken.token)).all()
    assert len(tokens) == 25 and len(set(tokens)) == 25 and all(len(t) >= 16 for t in tokens)
    page = client.get("/manage/surveys/csi/tokens").get_data(as_text=True)
    assert all(f"/s/csi?t={t}" in page for t in tokens)
    for bad in ("0", "abc", "10001"):
        client.post("/manage/surveys/csi/tokens", data={"count": bad})
    assert db_session.scalar(sa.select(sa.func.count()).select_from(InvitationToken)) == 25
    assert "25 generated, 0 used" in client.get("/manage/surveys/csi").get_data(as_text=True)


def test_edit_wording(client, db_session, manager, demo_survey):
    assert client.get("/manage/surveys/csi/questions/PQ1").status_code == 200
    response = client.post("/manage/surveys/csi/questions/PQ1", data={
        "text_en": "How good is our service?", "text_zh": "我们的服务怎么样？", "low_en": "Bad", "low_zh": "差",
        "high_en": "Great", "high_zh": "好"})
    assert response.status_code == 302
    assert "How good is our service?" in client.get("/s/csi?lang=en").get_data(as_text=True)
    assert "我们的服务怎么样？" in client.get("/s/csi?lang=zh").get_data(as_text=True)
    empty = client.post("/manage/surveys/csi/questions/PQ1", data={"text_en": "", "text_zh": "x"})
    assert empty.status_code == 422
    assert client.get("/manage/surveys/csi/questions/NOPE").status_code == 404


def test_add_and_retire_items_keep_codes_and_one_item_per_construct(client, db_session, manager, demo_survey):
    assert client.get("/manage/surveys/csi/constructs/PV/add").status_code == 200
    response = client.post("/manage/surveys/csi/constructs/PV/add", data={
        "text_en": "Compared with competitors, how is our price?", "text_zh": "与竞争对手相比，我们的价格如何？",
        "low_en": "Much worse", "high_en": "Much better"})
    assert response.status_code == 302
    codes = lambda: [q.code for q in db_session.scalars(  # noqa: E731
        sa.select(Question).where(Question.survey_id == demo_survey.id, Question.active).order_by(Question.position))]
    db_session.expire_all()
    assert codes()[6:9] == ["PV1", "PV2", "PV3"]
    unknown = client.post("/manage/surveys/csi/constructs/XX/add", data={"text_en": "a", "text_zh": "b"})
    assert unknown.status_code == 404
    assert client.post("/manage/surveys/csi/constructs/PV/add", data={"text_en": "a"}).status_code == 422
    for code in ("CC1",):
        client.post(f"/manage/surveys/csi/questions/{code}/retire")  # the only CC item: refused
    client.post("/manage/surveys/csi/questions/CE2/retire")
    client.post("/manage/surveys/csi/questions/complained/retire")  # not a model item: refused
    db_session.expire_all()
    assert "CC1" in codes() and "CE2" not in codes() and "complained" in codes()
    client.post("/manage/surveys/csi/constructs/CE/add", data={"text_en": "New", "text_zh": "新"})
    db_session.expire_all()
    assert [c for c in codes() if c.startswith("CE")] == ["CE1", "CE3", "CE4"]  # codes are never reused


@pytest.mark.parametrize("url", ["/manage/surveys/nope", "/manage/surveys/nope/tokens"])
def test_unknown_survey_404_for_manager(client, manager, url):
    assert client.get(url).status_code == 404


def test_detail_links_to_the_parts_installed(app, client, manager, demo_survey):
    html = client.get("/manage/surveys/csi").get_data(as_text=True)
    for url in ("/manage/surveys/csi/report", "/manage/surveys/csi/export.csv", "/manage/surveys/csi/api-keys"):
        assert f'href="{url}' in html


def test_tokens_never_start_with_a_formula_character(db_session, demo_survey):
    tokens = services.generate_tokens(db_session, demo_survey, 300)
    assert all(t[0].isalnum() for t in tokens)
