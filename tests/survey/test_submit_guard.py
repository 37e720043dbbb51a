"""The submission path on both databases: one guarded INSERT, and what happens when this process's snapshot of
the survey is stale because another worker changed the survey (simulated by changing it through db_session,
which does not refresh the snapshot the app holds)."""
import threading

import pytest
import sqlalchemy as sa

from survey.services import apikeys
from survey import services
from survey.storage.db import db
from survey.storage.tables import Answer, Question, Response, Survey, Wave

API = "/api/v1/surveys/csi/responses"


def stored(db_session) -> list[Response]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(Response).order_by(Response.id)))


@pytest.fixture
def warm(client, db_session, demo_survey, valid_answers):
    """One accepted submission, so the app holds a snapshot of survey 'csi' taken before the change."""
    assert client.post("/s/csi", data=valid_answers()).status_code == 302
    assert len(stored(db_session)) == 1


def statements_of(app, action) -> list[str]:
    """Run action() and return the SQL statements the request sent to the database meanwhile (those of this
    thread: background jobs, such as the case sweep after a submission, run on their own threads)."""
    seen = []
    with app.app_context():
        engine = db.engine
    me = threading.get_ident()
    listener = lambda conn, cursor, statement, *rest: (  # noqa: E731
        seen.append(statement) if threading.get_ident() == me else None)
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return seen


def test_a_submission_is_one_insert_on_postgresql(app, client, db_session, warm, valid_answers):
    sent = statements_of(app, lambda: client.post("/s/csi", data=valid_answers(CS1="9", comment="ok")))
    if app.config["CSI_BACKEND"] == "postgresql":
        assert len(sent) == 1 and sent[0].startswith("WITH r AS (INSERT INTO response")
    else:  # SQLite: the guarded response INSERT, then the answers
        assert len(sent) == 2 and sent[0].startswith("INSERT INTO response") and "FROM survey" in sent[0]
    latest = stored(db_session)[-1]
    answers = {q.code: (a.value, a.text) for a, q in db_session.execute(
        sa.select(Answer, Question).join(Question).where(Answer.response_id == latest.id))}
    assert answers["CS1"] == (9, None) and answers["comment"] == (None, "ok") and answers["complained"] == (None, "no")
    assert len(answers) == 22  # 14 model items, complained, 6 segment questions, comment


def test_closing_elsewhere_is_seen_by_the_insert_itself(client, db_session, demo_survey, warm, valid_answers):
    # even a bare status change (revision untouched) is caught: the INSERT checks status = 'open'
    db_session.execute(sa.update(Survey).where(Survey.id == demo_survey.id).values(status="closed"))
    db_session.commit()
    page = client.post("/s/csi", data=valid_answers())
    assert page.status_code == 200 and "closed" in page.get_data(as_text=True)
    assert len(stored(db_session)) == 1


def test_closed_then_reopened_elsewhere_accepts_again(client, db_session, demo_survey, warm, valid_answers):
    services.set_status(db_session, demo_survey, "closed")
    assert "closed" in client.post("/s/csi", data=valid_answers()).get_data(as_text=True)
    services.set_status(db_session, demo_survey, "open")
    assert client.post("/s/csi", data=valid_answers()).status_code == 302
    assert len(stored(db_session)) == 2


def test_item_added_elsewhere_is_required_at_once(client, db_session, demo_survey, warm, valid_answers):
    question = services.add_item(db_session, demo_survey, "CS", {"text_en": "Proud to be a customer",
                                                                 "text_zh": "以成为客户为荣"})
    assert question.code == "CS4"
    refused = client.post("/s/csi", data=valid_answers())
    assert refused.status_code == 422 and 'id="err-CS4"' in refused.get_data(as_text=True)
    assert len(stored(db_session)) == 1
    assert client.post("/s/csi", data=valid_answers(CS4="8")).status_code == 302
    latest = stored(db_session)[-1]
    assert db_session.scalar(sa.select(Answer.value).where(
        Answer.response_id == latest.id, Answer.question_id == question.id)) == 8


def test_item_dropped_elsewhere_is_no_longer_required(client, db_session, demo_survey, warm, valid_answers):
    services.retire_item(db_session, services.get_question(demo_survey, "CE3"))
    assert client.post("/s/csi", data=valid_answers(CE3=None)).status_code == 302
    assert len(stored(db_session)) == 2


def test_new_wave_opened_elsewhere_gets_the_next_response(client, db_session, demo_survey, warm, valid_answers):
    wave = services.new_wave(db_session, demo_survey, "Q2")
    assert client.post("/s/csi", data=valid_answers()).status_code == 302
    first, second = stored(db_session)
    assert db_session.get(Wave, first.wave_id).number == 1 and second.wave_id == wave.id


def test_api_key_revoked_elsewhere_is_refused_even_with_a_cached_survey(client, db_session, demo_survey):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    body = {"locale": "en", "answers": {code: 6 for code in ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1",
                                                             "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")}}
    body["answers"]["complained"] = "no"
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post(API, json=body, headers=headers).status_code == 201
    assert apikeys.revoke_key(db_session, key)
    res = client.post(API, json=body, headers=headers)
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    # a bad payload with a dead key is still a 401: nothing about the questionnaire is revealed
    res = client.post(API, json={"locale": "en", "answers": {"CE1": 99}}, headers=headers)
    assert res.status_code == 401
    other = services.create_survey(db_session, slug="other")
    other_key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=other)
    res = client.post(API, json=body, headers={"Authorization": f"Bearer {other_key}"})
    assert res.status_code == 403 and res.json["error"]["code"] == "forbidden"
    assert len(stored(db_session)) == 1


def test_api_sees_an_item_added_elsewhere(client, db_session, demo_survey):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    headers = {"X-API-Key": key}
    answers = {code: 6 for code in ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3",
                                    "CC1", "CL1", "CL2")}
    answers["complained"] = "no"
    assert client.post(API, json={"locale": "en", "answers": answers}, headers=headers).status_code == 201
    services.add_item(db_session, demo_survey, "CL", {"text_en": "Would choose us again", "text_zh": "会再次选择我们"})
    # CL3 was unknown to the cached snapshot: the API re-checks against the current questionnaire
    res = client.post(API, json={"locale": "en", "answers": {**answers, "CL3": 9}}, headers=headers)
    assert res.status_code == 201, res.json
    res = client.post(API, json={"locale": "en", "answers": answers}, headers=headers)
    assert res.status_code == 422 and res.json["error"]["reasons"] == {"CL3": "required"}
    assert len(stored(db_session)) == 2


def test_text_answers_arrive_exactly(client, db_session, demo_survey, valid_answers):
    comment = '送货慢了"两天" \\ back\\slash, {braces} [1, 2]\nnew line 😀 <b>&amp;</b>'
    assert client.post("/s/csi", data=valid_answers(comment=comment, complained="yes", complaint_handling="3",
                                                    complaint_cause=["employee", "quality"])).status_code == 302
    texts = dict(db_session.execute(sa.select(Question.code, Answer.text).join(Answer).where(
        Question.code.in_(("comment", "complaint_cause", "complained")))).all())
    assert texts == {"comment": comment, "complaint_cause": "quality;employee", "complained": "yes"}


def test_sqlite_writers_take_turns_on_a_lock_file(app, client, db_session, demo_survey, valid_answers):
    """A submission waits while another process holds the writers' lock, and is stored once it is released."""
    import fcntl
    import threading

    from survey.storage.db import writer_turn

    if app.config["CSI_BACKEND"] != "sqlite":
        with writer_turn(db_session):  # nothing to wait for elsewhere
            assert client.post("/s/csi", data=valid_answers()).status_code == 302
        return
    lock_path = db_session.get_bind().url.database + ".writer-lock"
    holder = open(lock_path, "a")
    fcntl.flock(holder, fcntl.LOCK_EX)  # what another worker's submission holds for its INSERT and COMMIT
    result = {}
    worker = threading.Thread(target=lambda: result.update(status=client.post("/s/csi", data=valid_answers())
                                                           .status_code))
    worker.start()
    worker.join(0.5)
    try:
        assert worker.is_alive() and not result and stored(db_session) == []
    finally:
        holder.close()  # releases the lock
    worker.join(10)
    assert result == {"status": 302} and len(stored(db_session)) == 1
