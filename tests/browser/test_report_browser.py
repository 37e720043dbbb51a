"""Real browser: a respondent on a phone in both languages, and a manager reading the demo report."""
import re

import pytest
import sqlalchemy as sa

from .conftest import login

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
SEGMENT_CHOICES = {"customer_type": "business", "key_account": "no", "customer_status": "current",
                   "region": "east", "channel": "online", "tenure": "1to3"}


def stored_responses(app):
    from survey.storage.db import db
    from survey.storage.tables import Response

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Response))


def newest_locale(app):
    from survey.storage.db import db
    from survey.storage.tables import Response

    with app.app_context():
        return db.session.scalar(sa.select(Response.locale).order_by(Response.id.desc()).limit(1))


def new_page(browser, viewport):
    browser.clear_cookies()  # each test starts logged out, without a remembered language
    page = browser.new_page()
    page.set_viewport_size(viewport)
    return page


@pytest.mark.parametrize("lang, wording", [("en", "how satisfied are you"), ("zh_CN", "您对我们的产品和服务满意吗")])
def test_respondent_fills_the_demo_survey_on_a_phone(browser, live_server, shot, lang, wording):
    page = new_page(browser, PHONE)
    before = stored_responses(live_server["app"])
    page.goto(f"{live_server['url']}/s/demo?lang={lang}")
    html_lang = "zh-CN" if lang == "zh_CN" else "en"
    assert page.locator("html").get_attribute("lang") == html_lang
    assert wording in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    codes = page.eval_on_selector_all("fieldset .scale input[value='8']", "els => els.map(e => e.name)")
    assert {"CE1", "PQ1", "CS1", "CL2"} <= set(codes)
    for code in codes:
        if code == "complaint_handling":
            continue  # only for those who complained
        page.click(f"label[for='{code}-8']")
    page.click("label[for='complained-no']")
    for code, value in SEGMENT_CHOICES.items():
        page.click(f"label[for='{code}-{value}']")
    page.fill("#comment-text", "手机上填写很方便 / easy on a phone")
    shot(page, f"respondent-form-{lang}")
    with page.expect_navigation():  # wait_for_load_state alone can return before the POST has begun
        page.click("button[type=submit]")
    assert "/thanks" in page.url, page.content()[:2000]
    assert page.locator("html").get_attribute("lang") == html_lang
    shot(page, f"respondent-thanks-{lang}")
    assert stored_responses(live_server["app"]) == before + 1
    assert newest_locale(live_server["app"]) == lang
    page.close()


@pytest.mark.parametrize("lang, viewport, title", [("en", LAPTOP, "Customer satisfaction index"),
                                                   ("zh_CN", PHONE, "顾客满意度指数")])
def test_manager_opens_the_demo_report(browser, live_server, shot, lang, viewport, title):
    page = new_page(browser, viewport)
    base = live_server["url"]
    login(page, base)
    page.goto(f"{base}/manage/surveys/demo/report?lang={lang}")
    # A cold fit may show the self-refreshing progress page first; the meta refresh brings the report.
    page.wait_for_selector("#headline .csi-value", timeout=60_000)
    headline = page.locator("#headline")
    assert headline.is_visible() and title in headline.inner_text()
    value = float(page.locator("#headline .csi-value").inner_text())
    assert 0 < value < 100
    for selector in ("#path-diagram", "#ipma-chart"):
        figure = page.locator(selector).bounding_box()
        chart = page.locator(selector + " svg").bounding_box()
        assert figure["width"] <= viewport["width"], selector  # the page itself never scrolls sideways
        # Readable: drawn at least 500 px wide (on a phone the figure scrolls sideways instead of shrinking).
        assert chart["width"] >= 500 and chart["height"] > 250, selector
        assert page.locator(selector + " svg").is_visible()
    assert page.locator("#path-diagram svg line.path").count() == 9
    shot(page, f"report-{lang}-{viewport['width']}")
    page.screenshot(path=str(_artifact(f"report-{lang}-{viewport['width']}-top.png")))
    for section in ("levels", "ipma", "what-if", "quality", "segments", "trend"):
        page.locator(f"#{section}").screenshot(path=str(_artifact(f"report-{lang}-{section}.png")))
    too_wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.chart-box, .table-wrap'))
        .map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 40))""", viewport["width"])
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1, too_wide[:5]
    page.locator("#path-diagram").screenshot(path=str(_artifact(f"path-{lang}.png")))
    page.locator("#ipma-chart").screenshot(path=str(_artifact(f"ipma-{lang}.png")))
    page.emulate_media(media="print")
    shot(page, f"report-{lang}-print")
    assert not any(form.is_visible() for form in page.locator("form.filters").all())  # view and estimator
    page.close()


def _artifact(name):
    from .conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
