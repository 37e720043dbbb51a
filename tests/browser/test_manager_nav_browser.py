"""Real browser: the manager navigation on a phone (a Menu toggle, no JavaScript needed) and a laptop, in both
languages, and gone when printed."""
import pytest

from .conftest import MANAGER

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
# the printable report first: it waits for the computation, so the report page after it is ready (a pending page
# refreshes itself, and that refresh would cut a slow navigation short)
PAGES = ("/manage/surveys/demo/report/print", "/manage/", "/manage/surveys/demo", "/manage/surveys/demo/report",
         "/manage/upload/", "/manage/api-keys", "/manage/account/", "/manage/team/", "/manage/audit/")


def logged_in_page(browser, live_server, viewport, lang):
    browser.clear_cookies()
    page = browser.new_page()
    page.set_viewport_size(viewport)
    page.goto(live_server["url"] + "/auth/login")
    page.fill("#email", MANAGER[0])
    page.fill("#password", MANAGER[1])
    page.click("form.card button[type=submit]")
    page.goto(live_server["url"] + f"/manage/?lang={lang}")
    return page


@pytest.mark.parametrize("lang, menu, logout", [("en", "Menu", "Log out"), ("zh", "菜单", "退出登录")])
def test_phone_menu_opens_without_javascript_and_nothing_is_wider_than_the_screen(browser, live_server, shot, lang,
                                                                                 menu, logout):
    page = logged_in_page(browser, live_server, PHONE, lang)
    for path in PAGES:
        page.goto(live_server["url"] + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        assert page.is_visible(".mnav-button") and not page.is_visible("#mnav"), path
    page.goto(live_server["url"] + "/manage/surveys/demo/report")
    assert page.locator("header script").count() == 0  # the toggle is a checkbox and CSS, no script
    page.click(".mnav-button")
    assert page.is_visible("#mnav") and page.get_by_role("button", name=logout).is_visible()
    assert page.inner_text(".mnav-button") == menu
    links = page.locator("#mnav a")
    tops = [links.nth(i).bounding_box()["y"] for i in range(links.count())]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # one item per line
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, f"manager-nav-phone-{lang}")
    page.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_laptop_navigation_is_one_row_and_absent_in_print(browser, live_server, shot, lang):
    page = logged_in_page(browser, live_server, LAPTOP, lang)
    page.goto(live_server["url"] + "/manage/surveys/demo/report")
    assert page.is_visible("#mnav") and not page.is_visible(".mnav-button")
    items = page.locator("#mnav > a, #mnav > span, #mnav > form")
    tops = {round(items.nth(i).bounding_box()["y"]) for i in range(items.count())}
    assert items.count() == 8 and max(tops) - min(tops) <= 4  # surveys ... log out, on one line
    assert page.locator("#mnav a[aria-current=page]").count() == 1
    shot(page, f"manager-nav-laptop-{lang}")
    page.emulate_media(media="print")
    assert not page.is_visible("#mnav") and not page.is_visible(".mnav-button")
    page.close()
