"""Accounts in the UI on both databases: invite with a one-time link, roles, survey access, deactivation,
password change; the CLI's --role; the migration that makes existing managers admins; the manager layout."""
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import url_for

from survey import services
from survey.storage.tables import AuditEvent, Manager, SurveyGrant

PASSWORD = "correct horse battery"


def make(app, db_session, name, role, surveys=()):
    manager = services.create_manager(db_session, f"{name}@example.com", PASSWORD, role=role,
                                      method=app.config["PASSWORD_HASH_METHOD"])
    services.set_grants(db_session, manager, [s.id for s in surveys])
    return manager


def login(client, name, password=PASSWORD):
    return client.post("/auth/login", data={"email": f"{name}@example.com", "password": password})


def events(db_session, action):
    return db_session.execute(sa.select(AuditEvent.email, AuditEvent.target, AuditEvent.detail)
                              .where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_invite_then_set_password_once_with_the_link(app, client, db_session, demo_survey):
    make(app, db_session, "boss", "admin")
    other = services.create_survey(db_session, slug="other", title_en="Other", title_zh="其他")
    assert login(client, "boss").status_code == 302
    bad = client.post("/manage/team/invite", data={"email": "not-an-address", "role": "editor"})
    assert bad.status_code == 422 and "not-an-address" in bad.get_data(as_text=True)
    page = client.post("/manage/team/invite", data={"email": "New@Example.com", "role": "editor",
                                                    "survey": [str(demo_survey.id)]})
    assert page.status_code == 201 and page.headers["Cache-Control"] == "no-store"
    link = re.search(r'<code class="wrap" id="setup-link">([^<]+)</code>', page.get_data(as_text=True)).group(1)
    path = link[link.index("/auth/set-password/"):]
    invited = db_session.scalar(sa.select(Manager).where(Manager.email == "new@example.com"))
    assert invited.role == "editor" and services.granted_survey_ids(invited) == {demo_survey.id}
    assert path.rsplit("/", 1)[1] not in (invited.setup_hash, invited.password_hash)  # only its hash is kept
    client.post("/auth/logout")

    form = client.get(path)
    assert form.status_code == 200 and "new@example.com" in form.get_data(as_text=True)
    assert form.headers["Referrer-Policy"] == "no-referrer"  # the token never leaves in a Referer
    differ = client.post(path, data={"password": "a long new password", "confirm_password": "another one"})
    short = client.post(path, data={"password": "short", "confirm_password": "short"})
    assert (differ.status_code, short.status_code) == (422, 422)
    done = client.post(path, data={"password": "a long new password", "confirm_password": "a long new password"})
    assert done.status_code == 302 and done.location.endswith("/auth/login")
    assert client.get(path).status_code == 404  # used up
    assert client.post(path, data={"password": "x" * 12, "confirm_password": "x" * 12}).status_code == 404
    assert login(client, "new", "a long new password").status_code == 302
    listing = client.get("/manage/").get_data(as_text=True)
    assert "Test survey" in listing and "Other" not in listing  # only the granted survey
    assert client.get("/manage/surveys/other").status_code == 404
    assert other.slug == "other"
    invite = events(db_session, "manager_invite")
    assert [(e.email, e.target) for e in invite] == [("boss@example.com", "new@example.com")]
    assert [e.email for e in events(db_session, "password_set_by_link")] == ["new@example.com"]


def test_expired_link_is_refused(app, client, db_session):
    member, token = services.invite_manager(db_session, "late@example.com", "viewer",
                                            method=app.config["PASSWORD_HASH_METHOD"])
    member.setup_expires_at = services.utcnow() - services.accounts.SETUP_LINK_LIFETIME / 7
    db_session.commit()
    assert client.get(f"/auth/set-password/{token}").status_code == 404
    with pytest.raises(services.InvalidInput):
        services.set_password_with_link(db_session, token, "a long enough password")


def test_change_password_keeps_this_session_and_ends_the_others(app, db_session):
    make(app, db_session, "pat", "viewer")
    here, elsewhere = app.test_client(), app.test_client()
    assert login(here, "pat").status_code == 302 and login(elsewhere, "pat").status_code == 302
    assert here.get("/manage/account/").status_code == 200
    wrong = here.post("/manage/account/password", data={"current_password": "not it", "new_password": "x" * 10,
                                                        "confirm_password": "x" * 10})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    changed = here.post("/manage/account/password", data={"current_password": PASSWORD,
                                                          "new_password": "a brand new secret",
                                                          "confirm_password": "a brand new secret"})
    assert changed.status_code == 302
    assert here.get("/manage/").status_code == 200  # this browser stays in
    assert elsewhere.get("/manage/").status_code == 302  # the other one is out
    assert login(app.test_client(), "pat").status_code == 401
    assert login(app.test_client(), "pat", "a brand new secret").status_code == 302
    assert [e.email for e in events(db_session, "password_change")] == ["pat@example.com"]


def test_deactivate_ends_sessions_and_blocks_login_until_reactivated(app, client, db_session, demo_survey):
    boss = make(app, db_session, "boss", "admin")
    ed = make(app, db_session, "ed", "editor", [demo_survey])
    theirs = app.test_client()
    assert login(theirs, "ed").status_code == 302 and theirs.get("/manage/surveys/csi").status_code == 200
    login(client, "boss")
    assert client.post(f"/manage/team/{ed.id}/deactivate").status_code == 302
    assert theirs.get("/manage/surveys/csi").status_code == 302  # signed out
    assert login(app.test_client(), "ed").status_code == 401
    assert client.post(f"/manage/team/{ed.id}/link").status_code == 422  # no link for a deactivated account
    assert client.post(f"/manage/team/{ed.id}/reactivate").status_code == 302
    assert login(app.test_client(), "ed").status_code == 302
    self_off = client.post(f"/manage/team/{boss.id}/deactivate")
    assert self_off.status_code == 422 and "own account" in self_off.get_data(as_text=True)
    last = client.post(f"/manage/team/{boss.id}/role", data={"role": "viewer"})
    assert last.status_code == 422 and "last administrator" in last.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Manager, boss.id).role == "admin" and db_session.get(Manager, boss.id).active
    assert [e.target for e in events(db_session, "manager_deactivate")] == ["ed@example.com"]


def test_roles_and_survey_access_change_what_a_manager_reaches(app, client, db_session, demo_survey):
    boss = make(app, db_session, "boss", "admin")
    viv = make(app, db_session, "viv", "viewer")
    theirs = app.test_client()
    login(theirs, "viv")
    assert theirs.get("/manage/surveys/csi").status_code == 404
    login(client, "boss")
    client.post(f"/manage/team/{viv.id}/surveys", data={"survey": [str(demo_survey.id), "999999", "x"]})
    assert theirs.get("/manage/surveys/csi").status_code == 200
    assert theirs.post("/manage/surveys/csi/waves", data={"label": "x"}).status_code == 403
    assert client.post(f"/manage/team/{viv.id}/role", data={"role": "editor"}).status_code == 302
    assert theirs.post("/manage/surveys/csi/waves", data={"label": "Autumn"}).status_code == 302
    created = theirs.post("/manage/surveys/new", data={"slug": "mine", "title_en": "Mine", "title_zh": "我的"})
    assert created.status_code == 302
    grants = db_session.execute(sa.select(SurveyGrant.manager_id, SurveyGrant.survey_id)).all()
    mine = services.get_survey(db_session, "mine")
    assert sorted(grants) == sorted([(viv.id, demo_survey.id), (viv.id, mine.id)])  # the creator got access
    assert boss.id not in {m for m, _ in grants}  # admins need no grants
    assert client.get(f"/manage/team/{viv.id}").status_code == 200
    assert client.get("/manage/team/999999").status_code == 404


def test_cli_create_manager_role(runner, db_session):
    result = runner.invoke(args=["create-manager", "v@example.com", "--password", PASSWORD, "--role", "viewer"])
    assert result.exit_code == 0 and "(viewer)" in result.output
    assert services.find_manager(db_session, "v@example.com").role == "viewer"
    default = runner.invoke(args=["create-manager", "a@example.com", "--password", PASSWORD])
    assert default.exit_code == 0 and services.find_manager(db_session, "a@example.com").role == "admin"
    bad = runner.invoke(args=["create-manager", "b@example.com", "--password", PASSWORD, "--role", "owner"])
    assert bad.exit_code == 2 and services.find_manager(db_session, "b@example.com") is None


def test_migration_makes_existing_managers_admins_and_grants_creators(tmp_path):
    from flask_migrate import upgrade

    from survey import create_app
    from survey.storage.db import MIGRATIONS, db

    url = "sqlite:///" + str(tmp_path / "old.sqlite3")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0008_audit_log")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO manager (id, email, password_hash, created_at, session_epoch) "
                                 "VALUES (1, 'old@example.com', 'x', '2026-01-01', 0)"))
            conn.execute(sa.text(
                "INSERT INTO survey (id, slug, title_en, title_zh, intro_en, intro_zh, status, scale_min, scale_max, "
                "created_at, created_by_id, revision, access) VALUES (7, 's', 'S', 'S', '', '', 'open', 1, 10, "
                "'2026-01-01', 1, 'r', 'open')"))
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT role, active FROM manager")).one() == ("admin", 1)
            assert conn.execute(sa.text("SELECT survey_id, manager_id FROM survey_grant")).all() == [(7, 1)]
        db.engine.dispose()


def test_one_manager_layout_on_every_manager_page(app, client, db_session, demo_survey, valid_answers):
    """Every manager page that answers 200 with HTML carries the navigation and a CSRF-protected logout; the
    admin-only links show only to admins."""
    make(app, db_session, "boss", "admin")
    make(app, db_session, "viv", "viewer", [demo_survey])
    services.record_responses_bulk(db_session, demo_survey, [valid_answers()] * 3)
    login(client, "boss")
    pages = 0
    with app.test_request_context():
        urls = [url_for(r.endpoint, slug="csi", code="CE1", construct="CE", manager_id=1)
                for r in app.url_map.iter_rules() if r.rule.startswith("/manage") and "GET" in r.methods
                and set(r.arguments) <= {"slug", "code", "construct", "manager_id"}]
    for url in urls:
        response = client.get(url)
        response.close()
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        nav = html[html.index('<nav aria-label="Manager"'):html.index("</nav>", html.index('class="mnav"'))]
        assert 'action="/auth/logout"' in nav and 'name="csrf_token"' in nav, url
        assert all(f'href="{link}"' in nav for link in ("/manage/", "/manage/upload/", "/manage/api-keys",
                                                         "/manage/account/", "/manage/team/", "/manage/audit/"))
        assert "boss@example.com" in nav, url
        pages += 1
    assert pages >= 12  # surveys, detail, question, add, tokens, keys, report, printable, upload, account, team, audit
    client.post("/auth/logout")
    login(client, "viv")
    html = client.get("/manage/surveys/csi/report?lang=zh").get_data(as_text=True)
    nav = html[html.index('class="mnav"'):]
    nav = nav[:nav.index("</nav>")]
    assert "/manage/team/" not in nav and "/manage/audit/" not in nav and "/manage/upload/" not in nav
    assert "退出登录" in nav and "查看者" in nav  # Chinese: log out, viewer


def test_navigation_collapses_without_javascript_and_hides_in_print(app):
    css = (Path(app.static_folder) / "csi.css").read_text(encoding="utf-8")
    assert re.search(r"@media \(max-width: 47\.99rem\) \{[^@]*\.mnav \{ display: none;", css)
    assert ".mnav-toggle:checked ~ .mnav { display: flex; }" in css
    assert re.search(r"@media print \{ \.mnav, \.mnav-button", css)


def test_pages_offer_only_what_the_role_may_do(app, db_session, demo_survey):
    make(app, db_session, "viv", "viewer", [demo_survey])
    make(app, db_session, "ed", "editor", [demo_survey])
    seen = {}
    for name in ("viv", "ed"):
        client = app.test_client()
        login(client, name)
        seen[name] = (client.get("/manage/surveys/csi").get_data(as_text=True),
                      client.get("/manage/").get_data(as_text=True),
                      client.get("/manage/surveys/csi/api-keys").get_data(as_text=True))
    for page, marker in zip(range(3), ("Close survey", "New survey from the CSI template", "Issue key")):
        assert marker not in seen["viv"][page] and marker in seen["ed"][page]


def test_an_editor_who_imports_a_data_set_may_use_it(app, db_session):
    from types import SimpleNamespace

    from survey.services import importing, permissions
    from tests.report.test_report_upload import table

    ed = make(app, db_session, "ed", "editor")
    other = make(app, db_session, "other", "editor")
    frame = table(n=40)
    survey = importing.import_survey(db_session, frame, importing.propose_mapping(frame), title="Imported",
                                     scale=(1, 10), created_by=SimpleNamespace(id=ed.id))
    assert services.granted_survey_ids(ed) == {survey.id} and services.granted_survey_ids(other) == set()
    assert permissions.can(ed, "edit", survey) and not permissions.can(other, "read", survey)
    assert [s.slug for s, _ in services.list_surveys(db_session, other)] == []


def test_the_permission_rule_other_routes_call(app, db_session, demo_survey):
    from survey.services import permissions

    viv = make(app, db_session, "viv", "viewer", [demo_survey])
    other = services.create_survey(db_session, slug="other", title_en="Other", title_zh="其他")
    assert permissions.can(viv, "read", demo_survey) and permissions.can(viv, "read", demo_survey.id)
    assert not permissions.can(viv, "read", other) and not permissions.can(viv, "edit", demo_survey)
    assert permissions.can(viv, "own_account") and not permissions.can(viv, "create")
    with pytest.raises(ValueError, match="unknown action"):
        permissions.can(viv, "delete_everything", demo_survey)
    with pytest.raises(services.PermissionDenied):
        permissions.require(viv, "edit", demo_survey)
    services.set_active(db_session, viv, False)
    assert not permissions.can(viv, "read", demo_survey) and not permissions.can(None, "read")
