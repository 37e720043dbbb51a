"""The report a manager reads, in a real browser: laptop and phone, English and Chinese, screen and PDF.

Screenshots go to test-artifacts/ (report-layout-<lang>-<width>.png, report-print-<lang>.pdf) for a person to look at;
the assertions are what a person would otherwise check by eye: the page never scrolls sideways, no chart
text sits on other chart text, no table is cut off on a laptop, names never wrap one character per line,
wide things on a phone scroll inside their box under a visible hint, and the PDF keeps its charts and fits
on four A4 pages.
"""
import re

import pytest

from .conftest import ARTIFACTS
from .test_report_browser import LAPTOP, PHONE, login, new_page

pytestmark = pytest.mark.browser
MAX_PDF_PAGES = 4

# Pairs of SVG <text> boxes in one chart that overlap by more than a pixel both ways, described for the message.
OVERLAPS = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    const boxes = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => ({text: t.textContent.trim(), r: t.getBoundingClientRect()}))
      .filter(b => b.r.width > 0 && b.r.height > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].r, b = boxes[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) out.push(svg.getAttribute('class') + ': ' + boxes[i].text + ' / ' + boxes[j].text);
    }
  }
  return out;
}"""

# Table cells whose text wraps with at most about one character per line (the Chinese-name failure).
NARROW_CELLS = """() => [...document.querySelectorAll('.report th, .report td')].filter(cell => {
  const text = cell.textContent.trim();
  if (text.length < 2 || !cell.getClientRects().length) return false;
  const range = document.createRange();
  range.selectNodeContents(cell);
  const lines = [...range.getClientRects()].filter(r => r.width > 0);
  const size = parseFloat(getComputedStyle(cell).fontSize);
  return lines.length > 1 && Math.max(...lines.map(r => r.width)) < 1.8 * size;
}).map(cell => cell.textContent.trim())"""

# Boxes that hold something wider than themselves (they scroll sideways inside the page).
SCROLLING_BOXES = """() => [...document.querySelectorAll('.table-wrap, .chart-box')]
  .filter(box => box.getClientRects().length && !box.closest('details:not([open])'))
  .filter(box => box.scrollWidth > box.clientWidth + 1)
  .map(box => box.id || box.closest('section').id + ' ' + box.className)"""


def open_report(browser, base, lang, viewport, path=""):
    page = new_page(browser, viewport)
    login(page, base)
    page.goto(f"{base}/manage/surveys/demo/report{path}?lang={lang}")
    page.wait_for_selector("#headline .csi-value", timeout=120_000)
    return page


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_report_layout_at_laptop_and_phone_width(browser, live_server, shot, lang, viewport):
    page = open_report(browser, live_server["url"], lang, viewport)
    width = viewport["width"]
    shot(page, f"report-layout-{lang}-{width}")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("innerWidth")
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate(NARROW_CELLS) == []
    scrolling = page.evaluate(SCROLLING_BOXES)
    if width == LAPTOP["width"]:
        assert scrolling == []  # nothing is clipped or needs scrolling on a laptop
    else:  # wide things on a phone scroll inside their box, each under a visible hint
        assert {"path-diagram", "drivers"} <= set(scrolling)
        for box in scrolling:
            hint = page.locator(f"#{box}").locator("xpath=preceding-sibling::*[1]")
            assert "scroll-hint" in (hint.get_attribute("class") or ""), box
            assert hint.is_visible(), box
    for hint in page.locator(".scroll-hint").all():  # a hint is only shown where there is something to scroll
        assert hint.is_visible() == (width == PHONE["width"])
    page.close()


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_printed_report_keeps_its_charts_starts_with_the_decision_and_fits_four_pages(browser, live_server, lang):
    page = open_report(browser, live_server["url"], lang, LAPTOP, "/print")
    page.emulate_media(media="print")
    bars = page.locator("svg.bar-chart rect.bar")
    assert bars.count() >= 6
    assert all(bar.is_visible() and bar.bounding_box()["width"] > 0 for bar in bars.all())
    assert page.locator("header.bar").is_hidden()
    order = page.evaluate("""() => [...document.querySelectorAll('article.report > section')]
        .filter(s => s.getClientRects().length).map(s => s.id)""")
    assert order[:2] == ["headline", "ipma"], order  # the index and what to improve first open the report
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate(NARROW_CELLS) == []
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(format="A4", print_background=True, path=str(ARTIFACTS / f"report-print-{lang}.pdf"))
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert 1 <= pages <= MAX_PDF_PAGES, pages
    page.close()
