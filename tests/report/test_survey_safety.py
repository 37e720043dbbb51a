"""Retiring an item and erasing a response, seen in the report's numbers on both databases: a retired item
leaves the model and comes back with its old answers; an erasure drops n by one and recomputes every figure,
even when new responses later bring the count back to the old number."""
import re
import warnings

import pytest
import sqlalchemy as sa

import model
from survey import services
from survey.report import cache, compute
from survey.storage.tables import Answer, AuditEvent, Question, ReportSnapshot, Response

META = ["response_id", "created_at", "wave", "locale", "source"]


def report(app):
    """The demo survey's report entry as the report page gets it (through the shared store)."""
    from survey.storage.db import db

    with app.app_context():
        survey = services.get_survey(db.session, "demo")
        state = cache.open_report(db.session, survey, wait=60)
        assert state.status == "ready", state
        return state.entry


def answered(db_session, demo, code) -> int:
    """Hand count: stored answers with a value on the scale for one item (don't know excluded)."""
    qid = db_session.scalar(sa.select(Question.id).where(Question.survey_id == demo.id, Question.code == code))
    return db_session.scalar(sa.select(sa.func.count()).select_from(Answer)
                             .where(Answer.question_id == qid, Answer.value.is_not(None)))


def answer_rows(db_session) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(Answer))


def test_retire_and_restore_keep_the_answers_and_the_report_follows(app, client, manager, demo, db_session,
                                                                     valid_answers):
    stored_ce2, rows = answered(db_session, demo, "CE2"), answer_rows(db_session)
    assert 300 < stored_ce2 <= 400
    before = report(app)
    assert before.n == 400 and before.result["constructs"]["CE"]["item_n"]["CE2"] == stored_ce2

    page = client.get("/manage/surveys/demo/questions/CE2/retire")  # asks first, changes nothing
    assert page.status_code == 200 and 'action="/manage/surveys/demo/questions/CE2/retire"' in page.text
    assert report(app).result["constructs"]["CE"]["items"] == ("CE1", "CE2", "CE3")
    done = client.post("/manage/surveys/demo/questions/CE2/retire", follow_redirects=True)
    assert "Question CE2 retired; its answers are kept" in done.text
    assert "/manage/surveys/demo/questions/CE2/restore" in done.text

    retired = report(app)
    assert retired.n == 400
    assert retired.result["constructs"]["CE"]["items"] == ("CE1", "CE3")
    assert "CE2" not in retired.result["constructs"]["CE"]["item_n"]
    assert "CE2" not in retired.result["model_syntax"]
    assert answer_rows(db_session) == rows and answered(db_session, demo, "CE2") == stored_ce2  # nothing deleted
    # an answer given while the item is retired has no CE2
    db_session.expire_all()
    services.record_response(db_session, demo, valid_answers(CE2=None))

    assert client.post("/manage/surveys/demo/questions/CE2/restore").status_code == 302
    restored = report(app)
    assert restored.n == 401
    assert restored.result["constructs"]["CE"]["items"] == ("CE1", "CE2", "CE3")
    assert restored.result["constructs"]["CE"]["item_n"]["CE2"] == stored_ce2 == answered(db_session, demo, "CE2")
    assert restored.result["constructs"]["CE"]["item_n"]["CE1"] == answered(db_session, demo, "CE1")
    actions = db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action != "login")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["question_retire", "question_restore"]


def fit_index(survey, frame) -> float:
    """The CSI of a plain model fit on these rows (what the report's index must equal)."""
    spec = compute.spec_for(compute.survey_info(survey))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(frame.reset_index(drop=True), spec=spec, scale=(1, 10)).csi


def test_erasure_drops_n_by_one_and_recomputes_every_report(app, client, manager, demo, db_session, valid_answers):
    secret = "Please call me back on 0123 456 789 (erase-me)"
    token = services.generate_tokens(db_session, demo, 1)[0]
    victim = services.record_response(db_session, demo, valid_answers(comment=secret, CS1="2"), token=token).id
    frame = services.responses_frame(db_session, demo)
    before = report(app)
    assert before.n == 401
    assert before.result["csi"] == pytest.approx(fit_index(demo, frame), abs=1e-9)
    assert [c["comment"] for c in before.comments[None]].count(secret) == 1  # the report quotes it
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ReportSnapshot)) >= 1

    link = f"http://localhost/s/demo?t={token}"  # found by the invitation link the respondent received
    confirm = client.get("/manage/surveys/demo/erase", query_string={"token": link})
    assert confirm.status_code == 200
    assert f'action="/manage/surveys/demo/responses/{victim}/erase"' in confirm.text and secret in confirm.text
    assert db_session.get(Response, victim) is not None  # the GET only asks
    seen = re.search(r'name="erasures" value="(\d+)"', confirm.text).group(1)
    assert seen == "0"
    done = client.post(f"/manage/surveys/demo/responses/{victim}/erase", data={"erasures": seen},
                       follow_redirects=True)
    assert f"Response {victim} was erased" in done.text

    db_session.expire_all()
    assert db_session.get(Response, victim) is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Answer).where(Answer.response_id == victim)) == 0
    # no stored report still holds the erased comment
    for payload in db_session.scalars(sa.select(ReportSnapshot.payload).where(ReportSnapshot.payload.is_not(None))):
        assert secret.encode() not in payload
    after = report(app)
    remaining = frame[frame["response_id"] != victim]
    assert after.n == 400 == len(remaining)
    assert after.result["csi"] == pytest.approx(fit_index(demo, remaining), abs=1e-9)
    assert after.result["csi"] != before.result["csi"]
    assert secret not in [c["comment"] for c in after.comments[None]]
    assert client.get(f"/manage/surveys/demo/responses/{victim}").status_code == 404

    # a new response brings the count back to 401: still not the report from before the erasure
    db_session.expire_all()
    services.record_response(db_session, demo, valid_answers())
    again = report(app)
    current = services.responses_frame(db_session, demo)
    assert again.n == 401 and again.result["csi"] == pytest.approx(fit_index(demo, current), abs=1e-9)
    assert again.result["csi"] != before.result["csi"]

    events = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "response_erase")).all()
    assert [(e.email, e.target, e.detail) for e in events] == [("manager@example.com", "demo",
                                                                 f"response_id={victim}")]
    assert not any(secret in (e.detail + e.target) or token in e.detail for e in db_session.scalars(sa.select(AuditEvent)))
    # the same confirmation sent again: refused (on SQLite the new response may even have taken the erased id),
    # and no second audit entry
    stale = client.post(f"/manage/surveys/demo/responses/{victim}/erase", data={"erasures": seen})
    assert stale.status_code == 422 and "was erased since this page was shown" in stale.text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 401
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "response_erase")) == 1
    # the invitation stays spent
    assert client.get(f"/s/demo?t={token}").status_code == 409
