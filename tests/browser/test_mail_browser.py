"""Real browser: a manager invites by e-mail on the page (phone in Chinese, laptop in English), the mail arrives
at a real SMTP server, the personal link opens the questionnaire, the unsubscribe link stops the mails."""
import re

import pytest

from .conftest import login

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


def _fits(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


@pytest.mark.parametrize("lang, viewport, address, heading, opening, states", [
    ("zh_CN", PHONE, "li@example.com", "电子邮件邀请", "您好", ("已退订", "退信")),
    ("en", LAPTOP, "ann@example.com", "E-mail invitations", "Hello,", ("unsubscribed", "bounced")),
])
def test_invite_by_mail_and_follow_the_links(browser, live_server, inbox, shot, lang, viewport, address, heading,
                                             opening, states):
    from survey.extensions import mail

    app, base = live_server["app"], live_server["url"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, PUBLIC_URL=base)
    mail.init_app(app)
    browser.clear_cookies()
    page = browser.new_page()
    page.set_viewport_size(viewport)
    login(page, base)
    page.goto(f"{base}/manage/surveys/demo/mail?lang={lang}")
    assert heading in page.locator("h1").inner_text()
    refused = f"refuse-{lang[:2]}@example.com"
    page.fill("#addresses", f"{address},,{lang[:2]}\n{refused}")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    page.click("form[action$='/mail/send'] button")
    page.wait_for_selector(".job :text('UTC')", timeout=30_000)  # the page refreshes itself until the round ends
    _fits(page, viewport["width"])
    shot(page, f"mail-{lang}-{viewport['width']}")
    page.emulate_media(media="print")
    shot(page, f"mail-{lang}-print")
    page.emulate_media(media=None)

    message = inbox.take()[address]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith(opening)
    link = re.search(rf"{re.escape(base)}/s/demo\?t=\S+", body).group(0)
    unsubscribe = str(message["List-Unsubscribe"]).strip()[1:-1]

    respondent = browser.new_page()
    respondent.set_viewport_size(viewport)
    respondent.goto(link)
    assert respondent.locator("input[name=t]").get_attribute("value") == link.split("t=")[1].split("&")[0]
    assert respondent.locator("html").get_attribute("lang") == lang.replace("_", "-")
    respondent.goto(unsubscribe)
    _fits(respondent, viewport["width"])
    respondent.click("main form button[type=submit]")
    respondent.wait_for_load_state()
    assert address in respondent.locator("main [role=status]").inner_text()
    respondent.close()

    page.goto(f"{base}/manage/surveys/demo/mail?lang={lang}")
    rows = {row.split("\t")[0]: row for row in page.locator("table.list").last.inner_text().splitlines()}
    assert states[0] in rows[address].split("\t") and states[1] in rows[refused].split("\t")
    page.close()
