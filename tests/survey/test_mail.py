"""E-mail invitations against a real SMTP server (aiosmtpd, started here on a free port): lists, personal links
in the recipient's language, answered / bounced / unsubscribed states, reminders, the job in-process and on RQ."""
import csv
import io
import re
import secrets

import pytest
import sqlalchemy as sa

from survey.exceptions import MailListRejected
from survey.services import mailing

LINK = re.compile(r"http://survey\.test/s/csi\?t=([A-Za-z0-9_-]+)&lang=(en|zh)")
UNSUBSCRIBE = re.compile(r"http://survey\.test/unsubscribe/([A-Za-z0-9_.-]+)\?lang=(en|zh)")
LIST = """email,name,language
ann@example.com,Ann,en
li@example.com,李雷,zh
bob@example.com,,
refuse@example.com,Rex,
ANN@Example.com,Ann again,
"""


@pytest.fixture
def mail_app(app, inbox):
    """The app sending to the test's SMTP server, links under http://survey.test."""
    from survey.extensions import mail

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, MAIL_DEFAULT_SENDER="Survey <csi@example.org>",
                      PUBLIC_URL="http://survey.test", MAIL_TIMEOUT=5)
    mail.init_app(app)
    return app


def _drain():
    from survey import jobs

    assert jobs.drain(30)


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _recipients(db_session):
    from survey.storage.tables import InvitationToken, MailRecipient

    db_session.expire_all()
    return {r.email: (r, t) for r, t in db_session.execute(
        sa.select(MailRecipient, InvitationToken).join(InvitationToken, InvitationToken.id == MailRecipient.token_id))}


def _states(db_session, slug="csi"):
    from survey import services

    db_session.expire_all()
    survey = services.get_survey(db_session, slug)
    return mailing.state_counts(db_session, survey.current_wave)


def _add(client, text, language="en"):
    return client.post("/manage/surveys/csi/mail/recipients", data={"addresses": text, "language": language})


def test_invite_answer_remind_unsubscribe_bounce(mail_app, client, manager, demo_survey, db_session, inbox,
                                                 valid_answers):
    from survey.storage.tables import AuditEvent

    added = _add(client, LIST)
    assert added.status_code == 302
    flashed = client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    assert "4 addresses added (1 duplicate lines merged, 0 already invited, 0 unsubscribed left out)" in flashed
    assert _states(db_session)["pending"] == 4

    assert client.post("/manage/surveys/csi/mail/send").status_code == 302
    _drain()
    mails = inbox.take()
    assert sorted(mails) == ["ann@example.com", "bob@example.com", "li@example.com"]
    recipients = _recipients(db_session)
    for address, message in mails.items():
        recipient, token = recipients[address]
        body = _body(message)
        links = LINK.findall(body)
        assert links and {t for t, _ in links} == {token.token}  # the recipient's own token, nobody else's
        assert message["From"] == "Survey <csi@example.org>" and message["To"] == address
        unsubscribe = str(message["List-Unsubscribe"]).strip()
        assert unsubscribe.startswith("<http://survey.test/unsubscribe/") and unsubscribe[1:-1] in body
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = message.get_body(preferencelist=("html",)).get_content()
        assert token.token in html
    assert LINK.search(_body(mails["li@example.com"])).group(2) == "zh"
    assert "测试调查" in mails["li@example.com"]["Subject"] and "李雷" in _body(mails["li@example.com"])
    assert "如不想再收到关于此调查的邮件" in _body(mails["li@example.com"])
    assert "退订" in mails["li@example.com"].get_body(preferencelist=("html",)).get_content()
    assert LINK.search(_body(mails["bob@example.com"])).group(2) == "en"
    assert mails["ann@example.com"]["Subject"] == "Your opinion on “Test survey”"
    assert _body(mails["ann@example.com"]).startswith("Dear Ann,")
    assert _body(mails["bob@example.com"]).startswith("Hello,")
    recipients = _recipients(db_session)
    assert recipients["refuse@example.com"][0].status == "bounced"
    assert recipients["refuse@example.com"][0].error.startswith("550 5.1.1")
    assert _states(db_session) == {"pending": 0, "sent": 3, "bounced": 1, "answered": 0, "unsubscribed": 0,
                                   "total": 4}

    token = LINK.search(_body(mails["ann@example.com"])).group(1)
    client.get("/s/csi?t=" + token)
    assert client.post("/s/csi", data=valid_answers(t=token)).status_code == 302
    assert _states(db_session)["answered"] == 1

    assert client.post("/manage/surveys/csi/mail/remind").status_code == 302
    _drain()
    reminded = inbox.take()
    assert sorted(reminded) == ["bob@example.com", "li@example.com"]
    assert reminded["bob@example.com"]["Subject"] == "Reminder: your opinion on “Test survey”"
    assert "提醒" in reminded["li@example.com"]["Subject"]
    recipients = _recipients(db_session)
    assert [recipients[a][0].reminders for a in ("ann@example.com", "bob@example.com", "li@example.com")] == [0, 1, 1]
    assert recipients["bob@example.com"][0].reminded_at is not None

    unsubscribe = str(reminded["bob@example.com"]["List-Unsubscribe"]).strip()[1:-1].removeprefix("http://survey.test")
    confirm = client.get(unsubscribe)
    assert confirm.status_code == 200 and "bob@example.com" in confirm.get_data(as_text=True)
    assert _states(db_session)["unsubscribed"] == 0  # opening the link (a mail scanner may) changes nothing
    one_click = client.post(unsubscribe.split("?")[0], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "no more e-mails" in one_click.get_data(as_text=True)
    assert _states(db_session)["unsubscribed"] == 1

    assert client.post("/manage/surveys/csi/mail/remind").status_code == 302
    _drain()
    assert sorted(inbox.take()) == ["li@example.com"]

    page = client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    for word in ("answered", "bounced", "unsubscribed", "550 5.1.1 No such user here"):
        assert word in page

    assert _add(client, "bob@example.com\nnew@example.com").status_code == 302
    assert "1 addresses added (0 duplicate lines merged, 1 already invited, 0 unsubscribed left out)" in \
        client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    client.post("/manage/surveys/csi/waves", data={"label": "Spring"})  # the next wave: bob stays unsubscribed
    assert _add(client, "bob@example.com\nli@example.com").status_code == 302
    assert "1 addresses added (0 duplicate lines merged, 0 already invited, 1 unsubscribed left out)" in \
        client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    assert _states(db_session) == {"pending": 1, "sent": 0, "bounced": 0, "answered": 0, "unsubscribed": 0,
                                   "total": 1}
    db_session.expire_all()
    events = {e.action: e.detail for e in db_session.scalars(sa.select(AuditEvent))}
    assert "sent=3; bounced=1" in events["mail_invite"]
    assert "status=done; sent=1; bounced=0" in events["mail_remind"]  # the last round: li only
    assert {"mail_list_add", "mail_send_start", "mail_remind_start", "mail_unsubscribe"} <= set(events)


def test_a_temporary_refusal_stays_pending_and_the_next_round_retries(mail_app, client, manager, demo_survey,
                                                                      db_session, inbox):
    _add(client, "later@example.com\nok@example.com")
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    assert sorted(inbox.take()) == ["ok@example.com"]
    later = _recipients(db_session)["later@example.com"][0]
    assert later.status == "pending" and later.error.startswith("451 4.3.0")
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    assert inbox.take() == {}  # still refused for now
    assert "1 refused for now" in client.get("/manage/surveys/csi/mail").get_data(as_text=True)


def test_a_server_that_hangs_up_after_each_mail_is_called_again(mail_app, client, manager, demo_survey,
                                                                db_session, inbox):
    inbox.hang_up = True
    _add(client, "a@example.com\nb@example.com\nc@example.com")
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    assert sorted(inbox.take()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert _states(db_session)["sent"] == 3


def test_a_round_lost_with_its_worker_no_longer_blocks_the_next(mail_app, client, manager, demo_survey, db_session,
                                                                inbox):
    from datetime import timedelta

    from survey.storage.tables import MailJob

    _add(client, "ann@example.com")
    survey = demo_survey
    db_session.add(MailJob(survey_id=survey.id, wave_id=survey.current_wave.id, kind="invite", status="running",
                           base_url="http://survey.test", total=5, sent=2,
                           created_at=mailing.utcnow() - timedelta(hours=2)))
    db_session.commit()
    page = client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    assert "stopped after 2 of 5" in page and 'http-equiv="refresh"' not in page
    mail_app.config["MAIL_JOB_STALE_SECONDS"] = 3 * 3600  # the same job, still young enough: sending waits
    assert "still being sent" in client.post("/manage/surveys/csi/mail/send", follow_redirects=True) \
        .get_data(as_text=True)
    mail_app.config["MAIL_JOB_STALE_SECONDS"] = 3600
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    assert sorted(inbox.take()) == ["ann@example.com"]


def test_a_mail_server_that_cannot_be_reached_fails_the_round_and_keeps_the_states(mail_app, client, manager,
                                                                                   demo_survey, db_session,
                                                                                   unused_port):
    from survey.extensions import mail

    mail_app.config.update(MAIL_PORT=unused_port)  # nothing listens there
    mail.init_app(mail_app)
    _add(client, "ann@example.com")
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    page = client.get("/manage/surveys/csi/mail").get_data(as_text=True)
    assert "could not be reached" in page and "ConnectionRefusedError" in page
    assert _states(db_session)["pending"] == 1


def test_the_round_runs_on_the_redis_queue(mail_app, client, manager, demo_survey, db_session, inbox):
    import redis
    from rq import Queue, SimpleWorker

    connection = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as err:
        pytest.skip(f"Redis not reachable: {err}")
    name = "csi-test-" + secrets.token_hex(4)
    mail_app.config.update(REDIS_URL="redis://127.0.0.1:6379/15", JOB_QUEUE=name)
    queue = Queue(name, connection=connection)
    try:
        _add(client, "ann@example.com,Ann\nli@example.com,李雷,zh")
        client.post("/manage/surveys/csi/mail/send")
        assert queue.count == 1 and inbox.take() == {}  # nothing is sent in the request
        assert "waiting to be sent" in client.get("/manage/surveys/csi/mail").get_data(as_text=True)
        with mail_app.app_context():
            SimpleWorker([queue], connection=connection).work(burst=True)
        mails = inbox.take()
        assert sorted(mails) == ["ann@example.com", "li@example.com"]
        assert LINK.search(_body(mails["li@example.com"])).group(2) == "zh"
        assert _states(db_session)["sent"] == 2
    finally:
        queue.delete(delete_jobs=True)
        connection.close()


def test_a_list_with_bad_lines_comes_back_with_each_line_named(mail_app, client, manager, demo_survey,
                                                               db_session):
    text = "ann@example.com\nnot-an-address\nbob@example.com,Bob,fr\n\n,Nobody\n"
    page = _add(client, text)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Line 2: “not-an-address” is not an e-mail address." in html
    assert "Line 3: language “fr” is not offered (write en or zh)." in html
    assert "Line 5: no e-mail address." in html
    assert "bob@example.com,Bob,fr" in html  # the list comes back to be corrected
    assert _states(db_session)["total"] == 0  # nothing added


def test_a_csv_file_in_gb18030_is_read(mail_app, client, manager, demo_survey, db_session):
    content = "邮箱,姓名,语言\nli@example.com,李雷,中文\n".encode("gb18030")
    response = client.post("/manage/surveys/csi/mail/recipients",
                           data={"file": (io.BytesIO(content), "list.csv"), "language": "en"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    recipient = _recipients(db_session)["li@example.com"][0]
    assert (recipient.name, recipient.language) == ("李雷", "zh_CN")


@pytest.mark.parametrize("text, entries, merged", [
    ("a@example.com", [("a@example.com", "", None)], 0),
    ("Ann Lee <Ann@Example.COM>\nann@example.com", [("ann@example.com", "Ann Lee", None)], 1),
    ("b@example.com;Bob;zh", [("b@example.com", "Bob", "zh_CN")], 0),
    ("name\temail\nBo\tb@example.com", [("b@example.com", "Bo", None)], 0),
    ("x@bücher.de,X,English", [("x@bücher.de", "X", "en")], 0),
])
def test_parse_list_reads_the_common_shapes(text, entries, merged):
    parsed, merged_lines = mailing.parse_list(text, limit=10)
    assert [(e.email, e.name, e.language) for e in parsed] == entries and merged_lines == merged


@pytest.mark.parametrize("address", ["a@b", "a@@b.com", "a b@c.com", ".a@b.com", "a..b@c.com", "a@-b.com",
                                     "a@b.123", "x" * 65 + "@b.com", "a@" + "b" * 64 + ".com", "ä@b.com"])
def test_addresses_that_are_refused(address):
    assert mailing.normalize_address(address) is None


def test_the_list_size_is_capped():
    text = "\n".join(f"p{i}@example.com" for i in range(6))
    assert len(mailing.parse_list(text, limit=6)[0]) == 6
    with pytest.raises(MailListRejected) as err:
        mailing.parse_list(text, limit=5)
    assert [p.code for p in err.value.problems] == ["too_many"]
    with pytest.raises(MailListRejected) as err:
        mailing.parse_list("name,language\nAnn,en", limit=5)
    assert [p.code for p in err.value.problems] == ["no_email_column"]


def test_sending_is_refused_when_closed_or_nobody_is_left(mail_app, client, manager, demo_survey, inbox):
    page = client.post("/manage/surveys/csi/mail/send", follow_redirects=True).get_data(as_text=True)
    assert "There is no one to write to." in page
    _add(client, "ann@example.com")
    client.post("/manage/surveys/csi/status", data={"status": "closed"})
    page = client.post("/manage/surveys/csi/mail/send", follow_redirects=True).get_data(as_text=True)
    assert "The survey is closed" in page
    _drain()
    assert inbox.take() == {}


def test_unsubscribe_links_must_be_signed_by_the_service(mail_app, client, demo_survey, db_session):
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("another-secret", salt="csi-mail-unsubscribe").dumps(1)
    assert client.get("/unsubscribe/" + forged).status_code == 404
    assert client.post("/unsubscribe/" + forged).status_code == 404
    assert client.get("/unsubscribe/nonsense").status_code == 404


def test_the_export_neutralizes_formulas(mail_app, client, manager, demo_survey):
    _add(client, 'ann@example.com,"=HYPERLINK(""http://evil"")"\n+1@example.com,Plus')
    response = client.get("/manage/surveys/csi/mail/recipients.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == list(mailing.EXPORT_COLUMNS)
    assert rows[1][:5] == ["ann@example.com", "'=HYPERLINK(\"http://evil\")", "en", "1", "pending"]
    assert rows[2][:2] == ["'+1@example.com", "Plus"]


def test_the_mail_page_in_chinese(mail_app, client, manager, demo_survey):
    _add(client, "ann@example.com")
    page = client.get("/manage/surveys/csi/mail?lang=zh_CN").get_data(as_text=True)
    assert "电子邮件邀请" in page and "尚未发送" in page


def test_the_mail_pages_need_a_login(mail_app, client, demo_survey):
    for path in ("/manage/surveys/csi/mail", "/manage/surveys/csi/mail/recipients.csv"):
        assert client.get(path).status_code == 302
    for path in ("/manage/surveys/csi/mail/send", "/manage/surveys/csi/mail/remind",
                 "/manage/surveys/csi/mail/recipients"):
        assert client.post(path).status_code in (302, 401)


def test_the_csv_of_links_leaves_out_the_personal_links_sent_by_mail(mail_app, client, manager, demo_survey,
                                                                    db_session):
    _add(client, "ann@example.com")
    client.post("/manage/surveys/csi/tokens", data={"count": "2"})
    mailed = _recipients(db_session)["ann@example.com"][1].token
    rows = list(csv.DictReader(io.StringIO(client.get("/manage/surveys/csi/tokens.csv").get_data(as_text=True)
                                           .lstrip("\ufeff"))))
    assert len(rows) == 2 and mailed not in {row["token"] for row in rows}
    assert mailed not in client.get("/manage/surveys/csi/tokens").get_data(as_text=True)


def test_a_name_with_markup_is_escaped_in_the_html_mail(mail_app, client, manager, demo_survey, inbox):
    _add(client, 'x@example.com,"<img src=x onerror=alert(1)>"')
    client.post("/manage/surveys/csi/mail/send")
    _drain()
    message = inbox.take()["x@example.com"]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x onerror=alert(1)>" in _body(message)  # the plain text part is text
