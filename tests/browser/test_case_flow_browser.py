"""Real browser, the loop closed end to end: a manager invites by e-mail, the customer answers the personal link on a
phone in Chinese (complained, handled badly, asks to be contacted), a follow-up case appears for the manager on a
laptop, who resolves it; the report then counts the customer as won back."""
import re

import pytest
import sqlalchemy as sa

from .conftest import login

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


def _fits(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


def test_invite_answer_case_resolve(browser, live_server, inbox, shot):
    from survey import jobs
    from survey.extensions import mail
    from survey.storage.db import db
    from survey.storage.tables import FollowUpCase, RespondentContact

    app, base = live_server["app"], live_server["url"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, PUBLIC_URL=base)
    mail.init_app(app)
    browser.clear_cookies()
    manager = browser.new_page()
    manager.set_viewport_size(LAPTOP)
    login(manager, base)
    manager.goto(f"{base}/manage/surveys/demo/mail?lang=en")
    manager.fill("#addresses", "chen@example.com,Chen,zh")
    manager.click("form.stack button[type=submit]")
    manager.wait_for_load_state()
    manager.click("form[action$='/mail/send'] button")
    manager.wait_for_selector(".job :text('UTC')", timeout=30_000)
    body = inbox.take()["chen@example.com"].get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"{re.escape(base)}/s/demo\?t=\S+", body).group(0)

    customer = browser.new_page()
    customer.set_viewport_size(PHONE)
    customer.goto(link)
    customer.evaluate("""() => document.querySelectorAll("fieldset.q input[type=radio][value='8']").forEach(r => {
        if (!r.disabled) { r.checked = true; r.dispatchEvent(new Event("change", {bubbles: true})); } })""")
    customer.check("#complained-yes")  # the follow-ups appear
    customer.check("#complaint_handling-2")
    customer.check("#complaint_cause-systems")
    customer.check("#contact_consent-yes")
    customer.fill("#contact_email", "chen@example.com")
    _fits(customer, PHONE["width"])
    shot(customer, "case-flow-answer-zh-390")
    with customer.expect_navigation():
        customer.click("p.submit button")
    assert "/thanks" in customer.url, customer.url
    customer.close()
    assert jobs.drain(60)  # the sweep after the submission

    with app.app_context():
        case = db.session.scalars(sa.select(FollowUpCase).order_by(FollowUpCase.response_id.desc())).first()
        contact = db.session.scalar(sa.select(RespondentContact).where(
            RespondentContact.response_id == case.response_id))
        assert contact.email == "chen@example.com"
        assert case.reasons == "complained,poor_handling,contact_request" and case.status == "new"
        case_id = case.id
        db.session.remove()

    manager.goto(f"{base}/manage/surveys/demo/cases/{case_id}?lang=en")
    assert "chen@example.com" in manager.locator("main").inner_text()
    manager.select_option("#status", "resolved")
    manager.check("input[name=recovered][value=yes]")
    manager.fill("#note", "Called back; the order was replaced.")
    with manager.expect_navigation():
        manager.click("form.card button[type=submit]")
    text = manager.locator("main").inner_text()
    assert "Resolved" in text and "Called back; the order was replaced." in text
    _fits(manager, LAPTOP["width"])
    shot(manager, "case-flow-resolved-en-1366")
    with app.app_context():
        case = db.session.get(FollowUpCase, case_id)
        assert case.status == "resolved" and case.recovered is True and case.resolved_at is not None
        db.session.remove()
    manager.goto(f"{base}/manage/surveys/demo/cases/?lang=en")
    assert "Won back" in manager.locator("main").inner_text()
    manager.close()
