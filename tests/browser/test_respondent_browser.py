"""Real browser, a 390 px phone in English and Chinese: the scale on one row, no sideways scrolling, the complaint
follow-ups hidden until "yes", the answered count following the answers, and a compact error summary."""
import re

import pytest

from .conftest import ARTIFACTS
from .test_report_browser import PHONE, new_page

pytestmark = pytest.mark.browser
SUMMARY_MAX_PX = 200  # 13 errors as a full list were about two phone screens (1,700 px)


def scale_rows(page, code):
    """The distinct offsetTop values of one scale's points (one value: a single row)."""
    return set(page.eval_on_selector_all(f"#q-{code} .scale label.pt", "els => els.map(e => e.offsetTop)"))


def no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def counts(page):
    """(answered, asked) as the answered line shows them."""
    return tuple(int(n) for n in re.findall(r"\d+", page.inner_text("#answered label")))


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_phone_scale_conditional_questions_and_compact_errors(browser, live_server, shot, lang):
    page = new_page(browser, PHONE)
    page.goto(f"{live_server['url']}/s/demo?lang={lang}")
    assert no_sideways_scroll(page)
    for code in ("CE1", "CS1", "CL2"):
        assert len(page.query_selector_all(f"#q-{code} .scale label.pt")) == 10
        assert len(scale_rows(page, code)) == 1, code
    assert counts(page) == (0, 23)
    for code in ("complaint_handling", "complaint_cause"):
        assert page.locator(f"#q-{code}").is_hidden()
    shot(page, f"respondent-phone-fresh-{lang}")

    page.click("label[for='complained-yes']")
    assert page.locator("#q-complaint_handling").is_visible() and page.locator("#q-complaint_cause").is_visible()
    assert len(scale_rows(page, "complaint_handling")) == 1
    assert counts(page) == (1, 25)
    page.click("label[for='complaint_handling-3']")
    assert counts(page) == (2, 25)
    shot(page, f"respondent-phone-yes-{lang}")
    complaints = page.locator("section[aria-labelledby='part-complaints']")
    complaints.screenshot(path=str(ARTIFACTS / f"respondent-phone-complaints-yes-{lang}.png"))
    page.click("label[for='complained-no']")  # hidden again, and disabled: the chosen 3 is not sent
    assert page.locator("#q-complaint_handling").is_hidden()
    assert counts(page) == (1, 23)

    page.click("label[for='CL2-8']")  # 13 of the 14 model items left out
    assert counts(page) == (2, 23)
    with page.expect_navigation():
        page.click("button[type=submit]")
    summary = page.locator("#errors")
    assert summary.is_visible()
    assert len(page.query_selector_all("#errors li a")) == 13
    height = summary.evaluate("e => e.getBoundingClientRect().height")
    assert height < SUMMARY_MAX_PX, height
    print(f"error summary with 13 errors at 390 px ({lang}): {height:.0f} px")
    assert no_sideways_scroll(page)
    assert page.locator("#q-complaint_handling").is_hidden()  # no contradiction was sent
    assert page.is_checked("#CL2-8") and page.is_checked("#complained-no")
    assert counts(page) == (2, 23)
    shot(page, f"respondent-phone-errors-{lang}")
    page.screenshot(path=str(ARTIFACTS / f"respondent-phone-errors-top-{lang}.png"))  # the first screen only
    page.click("#errors li a >> nth=0")
    assert page.url.endswith("#q-CE1")
    page.close()


def test_laptop_summary_lists_the_questions_in_full(browser, live_server, shot):
    from .test_report_browser import LAPTOP

    page = new_page(browser, LAPTOP)
    page.goto(f"{live_server['url']}/s/demo?lang=en")
    assert len(scale_rows(page, "CS1")) == 1
    page.click("label[for='complained-no']")
    with page.expect_navigation():
        page.click("button[type=submit]")
    items = page.query_selector_all("#errors li")
    assert len(items) == 14  # every model item
    assert items[0].inner_text().startswith("Question 1: Before you became our customer")
    assert not page.locator("#errors li .short >> nth=0").is_visible()
    assert no_sideways_scroll_at(page, LAPTOP["width"])
    page.screenshot(path=str(ARTIFACTS / "respondent-laptop-errors-en.png"))
    page.close()


def no_sideways_scroll_at(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width
