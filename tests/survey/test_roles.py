"""Roles and per-survey access, swept over every /manage and /api route on both databases.

The expectation is a table written here, independently of the app's own declarations: for each endpoint and
method, WHO may use it. An endpoint missing from DECISIONS is swept with the default of its method (GET: anyone
who may read the survey in its URL; POST: editors of that survey) and test_every_route_has_a_decision fails,
naming it, until someone adds it to DECISIONS (or to DEFAULTED after checking the default is right).
"""
import pytest
import sqlalchemy as sa
from flask import url_for

from survey import services
from survey.services import apikeys, uploads
from survey.storage.tables import AuditEvent, FollowUpCase, InvitationToken, Question, Response, Wave

PASSWORD = "correct horse battery"
# who may use an endpoint: a logged-in manager of any role ("any"), editors and admins without a survey
# ("creator"), admins ("admin"); with the survey in the URL: its readers ("reader": admins, and editors and viewers
# granted it) or its editors ("editor": admins, editors granted it). A survey one may not read answers 404.
ANY, CREATOR, ADMIN_ONLY, READER, EDITOR = "any", "creator", "admin", "reader", "editor"
DEFAULT_BY_METHOD = {"GET": READER, "POST": EDITOR}
DECISIONS = {
    "manage.surveys.index": {"GET": ANY},
    "manage.surveys.new": {"GET": CREATOR, "POST": CREATOR},
    "manage.upload.start": {"GET": CREATOR, "POST": CREATOR},
    "manage.upload.mapping": {"GET": CREATOR, "POST": CREATOR},
    "manage.upload.status": {"GET": CREATOR},
    "manage.account.index": {"GET": ANY},
    "manage.account.password": {"POST": ANY},
    "manage.account.sign_out_everywhere": {"POST": ANY},
    "manage.keys.overview": {"GET": ANY, "POST": ANY},
    "manage.keys.revoke_own": {"POST": ANY},
    "manage.audit.index": {"GET": ADMIN_ONLY},
    "manage.audit.export": {"GET": ADMIN_ONLY},
    **{f"manage.team.{name}": {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY}
       for name in ("index", "invite", "member", "role", "surveys", "deactivate", "reactivate", "link")},
    # e-mail invitations: the addresses are personal data, so reading them too needs the survey's editors
    "manage.mail.index": {"GET": EDITOR},
    "manage.mail.export": {"GET": EDITOR},
}
# endpoints checked to be right with their method's default (GET reads the survey, POST edits it)
DEFAULTED = {f"manage.surveys.{name}" for name in ("detail", "status", "access", "waves", "tokens", "question", "retire",
                                                     "restore", "add", "settings", "archive", "unarchive",
                                                     "wave_label")} | {
    *(f"manage.responses.{name}" for name in ("index", "show", "comments", "find", "erase")),
    "manage.keys.index", "manage.keys.revoke", "manage.exports.export_csv", "manage.exports.export_xlsx",
    "manage.exports.export_sav", "manage.exports.codebook_csv", "manage.cases.index", "manage.cases.detail",
    "manage.exports.tokens_csv", "manage.report.show", "manage.report.printable", "manage.report.result_json",
    "manage.report.estimates_csv", "manage.report.scores_csv", "manage.mail.recipients", "manage.mail.send",
    "manage.mail.remind", "manage.report.estimator", "manage.report.exclusion"}
API_DECISIONS = {"api.submit": "submit", "api.list_responses": "read", "api.get_response": "read",
                 "api.openapi": "public"}
ROLES = ("admin", "editor", "viewer", "outsider", "anonymous")  # outsider: an editor not granted the survey
ALLOWED = {200, 201, 202, 302, 400, 409, 422}  # done, or refused for its input (empty forms) - never for who asked
LAST = ("manage.surveys.retire", "manage.surveys.restore", "manage.responses.erase")  # in this order  # POSTs that remove what other routes' sample arguments name


def expected(role: str, who: str, names_survey: bool) -> str:
    """'ok', 'login', 403 or 404 for this role on a route open to `who`."""
    if role == "anonymous":
        return "login"
    if names_survey and role == "outsider":
        return 404
    allowed = {ANY: True, ADMIN_ONLY: role == "admin", CREATOR: role != "viewer",
               READER: True, EDITOR: role != "viewer"}[who]
    return "ok" if allowed else 403


def decision(endpoint: str, method: str) -> str:
    return DECISIONS.get(endpoint, {}).get(method) or DEFAULT_BY_METHOD.get(method, EDITOR)


def manager_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/manage")]


@pytest.fixture
def people(app, db_session, demo_survey):
    """admin, editor and viewer of 'csi', an editor without it, and a colleague the team routes act on."""
    method = app.config["PASSWORD_HASH_METHOD"]
    made = {}
    for name, role in (("admin", "admin"), ("editor", "editor"), ("viewer", "viewer"), ("outsider", "editor"),
                       ("target", "viewer")):
        made[name] = services.create_manager(db_session, f"{name}@example.com", PASSWORD, role=role, method=method)
    for name in ("editor", "viewer", "target"):
        services.set_grants(db_session, made[name], [demo_survey.id])
    return made


def login(client, name):
    response = client.post("/auth/login", data={"email": f"{name}@example.com", "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def sample_urls(app, db_session, people, me):
    """Every /manage rule with every method, as (endpoint, method, url), the URL's arguments naming real things."""
    survey_key = db_session.scalar(sa.select(apikeys.ApiKey.id).where(apikeys.ApiKey.survey_id.is_not(None)))
    mine = getattr(me, "id", people["admin"].id)  # logged out: someone's
    own_key = db_session.scalar(sa.select(apikeys.ApiKey.id).where(apikeys.ApiKey.manager_id == mine,
                                                                  apikeys.ApiKey.survey_id.is_(None)))
    upload = db_session.scalar(sa.select(uploads.Upload.token).where(uploads.Upload.manager_id == mine))
    case = db_session.scalar(sa.select(FollowUpCase.id))
    response = db_session.scalar(sa.select(Response.id))
    values = {"slug": "csi", "code": "CE1", "construct": "CE", "token": upload, "manager_id": people["target"].id,
              "case_id": case, "response_id": response, "number": 1}
    found = []
    with app.test_request_context():
        for rule in manager_rules(app):
            args = {**values, "key_id": own_key if rule.endpoint.endswith("revoke_own") else survey_key}
            url = url_for(rule.endpoint, **{name: args[name] for name in rule.arguments})
            found += [(rule.endpoint, method, url, "slug" in rule.arguments)
                      for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found, key=lambda f: (f[1] != "GET", LAST.index(f[0]) + 1 if f[0] in LAST else 0, f[0]))


@pytest.mark.parametrize("role", ROLES)
def test_every_manager_route_answers_each_role_as_decided(app, client, db_session, people, demo_survey, role,
                                                         valid_answers):
    me = people.get(role)
    services.record_response(db_session, demo_survey, valid_answers(complained="yes", complaint_handling="3",
                                                                    complaint_cause="quality"))
    assert services.cases.sweep(db_session, demo_survey)  # a follow-up case for the cases pages
    apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey, manager=people["editor"])
    for name in ("admin", "editor", "viewer", "outsider"):
        apikeys.issue_key(db_session, apikeys.READ, manager=people[name])
        uploads.create_upload(db_session, manager=people[name], filename="data.csv", content=b"CE1,CS1\n3,4\n5,6\n",
                              title="Upload", scale=(1, 10))
    if me is not None:
        login(client, role)
    routes = sample_urls(app, db_session, people, me)
    assert len(routes) >= 40
    wrong = []
    for endpoint, method, url, names_survey in routes:
        want = expected(role, decision(endpoint, method), names_survey)
        response = client.open(url, method=method, data={})
        response.close()  # downloads stream from a temp file
        got = response.status_code
        to_login = got == 302 and "/auth/login?next=" in response.location  # not "signed out, log in again"
        if want == "login":
            ok = to_login or got == 401
        elif want == "ok":
            ok = got in ALLOWED and not to_login
        else:
            ok = got == want
        if not ok:
            wrong.append(f"{role} {method} {url} ({endpoint}): {got}, expected {want}")
        if method == "POST" and me is not None:
            login(client, role)  # some allowed POSTs end the session (sign out everywhere, deactivate)
    assert not wrong, "\n".join(wrong)
    db_session.expire_all()
    waves = db_session.scalar(sa.select(sa.func.count()).select_from(Wave))
    dropped = db_session.scalar(sa.select(sa.func.count()).select_from(Question).where(Question.active.is_(False)))
    if role in ("viewer", "outsider", "anonymous"):  # every POST on the survey was refused: nothing changed
        assert (waves, dropped) == (1, 0)
        assert db_session.scalar(sa.select(sa.func.count()).select_from(InvitationToken)) == 0
    else:  # the editors' POSTs went through: a new wave; the item was retired, then restored
        assert (waves, dropped) == (2, 0)
        assert any(e == "question_restore" for e in db_session.scalars(sa.select(AuditEvent.action)))
    denied = db_session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == "denied")).all()
    refused = sorted(str(expected(role, decision(e, m), s)) for e, m, _u, s in routes
                     if expected(role, decision(e, m), s) in (403, 404))
    assert sorted(d.rsplit("-> ", 1)[1] for d in denied) == refused  # every refusal is in the audit log


def test_every_route_has_a_decision(app):
    """A new manager or API route fails here until its permission is decided in this file's tables."""
    manage = {r.endpoint for r in manager_rules(app)}
    assert not manage - set(DECISIONS) - DEFAULTED, "decide who may use: " + ", ".join(
        sorted(manage - set(DECISIONS) - DEFAULTED))
    assert not set(DECISIONS) & DEFAULTED
    api = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api")}
    assert api == set(API_DECISIONS), "decide the API's permissions for: " + ", ".join(sorted(api ^ set(API_DECISIONS)))


@pytest.mark.parametrize("role", ROLES)
def test_api_read_key_reads_what_its_maker_may(app, client, db_session, people, demo_survey, valid_answers, role):
    response_id = services.record_response(db_session, demo_survey, valid_answers()).id
    other = services.create_survey(db_session, slug="other", title_en="Other", title_zh="其他")
    headers = {}
    if role != "anonymous":
        headers = {"X-API-Key": apikeys.issue_key(db_session, apikeys.READ, manager=people[role])}
    reads = role in ("admin", "editor", "viewer")
    want = {"read": 200 if reads else 401 if role == "anonymous" else 403,
            "submit": 401 if role == "anonymous" else 403, "public": 200}
    with app.test_request_context():
        urls = {r.endpoint: url_for(r.endpoint, slug="csi", response_id=response_id)
                for r in app.url_map.iter_rules() if r.rule.startswith("/api")}
    for endpoint, url in sorted(urls.items()):
        method = "POST" if API_DECISIONS[endpoint] == "submit" else "GET"
        got = client.open(url, method=method, headers=headers,
                          json={"locale": "en", "answers": {}} if method == "POST" else None).status_code
        assert got == want[API_DECISIONS[endpoint]], (role, endpoint, got)
    if role != "anonymous":  # the other survey: only the admin's key reads it
        got = client.get("/api/v1/surveys/other/responses", headers=headers).status_code
        assert got == (200 if role == "admin" else 403)
    assert other.id != demo_survey.id


def test_read_key_stops_with_its_makers_access(client, db_session, people, demo_survey):
    key = {"X-API-Key": apikeys.issue_key(db_session, apikeys.READ, survey=demo_survey, manager=people["viewer"])}
    assert client.get("/api/v1/surveys/csi/responses", headers=key).status_code == 200
    services.set_grants(db_session, people["viewer"], [])
    assert client.get("/api/v1/surveys/csi/responses", headers=key).status_code == 403
    services.set_grants(db_session, people["viewer"], [demo_survey.id])
    assert client.get("/api/v1/surveys/csi/responses", headers=key).status_code == 200
    services.set_active(db_session, people["viewer"], False)
    assert client.get("/api/v1/surveys/csi/responses", headers=key).status_code == 403
    # a read key nobody owns (the command line without --manager) keeps its scope
    cli_key = {"X-API-Key": apikeys.issue_key(db_session, apikeys.READ)}
    assert client.get("/api/v1/surveys/csi/responses", headers=cli_key).status_code == 200
