"""One translation system: UI words live in the Flask-Babel catalogues, not in Python. Chinese characters in
survey/ are content (the questionnaire template, demo data, what an uploaded file may hold), never wording,
and no module branches on Chinese to choose words (i18n.pick chooses bilingual content)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# file -> why Chinese may appear in it
CONTENT = {
    "survey/services/questionnaire.py": "the standard questionnaire's wording, copied into every new survey",
    "survey/services/demo.py": "the demo survey's title and simulated comments",
    "survey/services/importing.py": "Chinese column headers an uploaded file may use (意见, 调查期)",
    "survey/services/mailing.py": "column headers and language names an uploaded address list may use (邮箱, 中文)",
    "survey/report/figures.py": "yes/no answers as an uploaded file may hold them (是, 否)",
    "survey/web/openapi.py": "an example answer in the API description",
}
# Choosing words by language in code: is_zh(), `x if zh else y`, `[1 if zh else 0]`, startswith("zh").
BRANCH = re.compile(r"is_zh|\bif zh\b|\bzh else\b|\bif\s+\S*zh\S*\s+else\b|startswith\(\s*['\"]zh")
CHOOSERS = {"survey/i18n.py", "survey/storage/tables.py"}  # locale selection and the one content picker


def sources():
    files = [*(ROOT / "survey").rglob("*.py"), *(ROOT / "templates").rglob("*.html")]
    return sorted(p for p in files if "translations" not in p.parts and "migrations" not in p.parts)


def test_no_module_holds_chinese_wording():
    found = sorted({str(p.relative_to(ROOT)) for p in sources() if CJK.search(p.read_text(encoding="utf-8"))})
    assert [f for f in found if f not in CONTENT] == []
    assert sorted(CONTENT) == found, "a file in CONTENT holds no Chinese any more: drop it from the list"


def test_no_module_branches_on_chinese_to_choose_words():
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sources() if str(p.relative_to(ROOT)) not in CHOOSERS
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if BRANCH.search(line)]
    assert hits == []


def test_the_scan_sees_chinese_and_branches():
    assert CJK.search("满意度") and not CJK.search("satisfaction – “quoted” ≥ 0.5 χ² R² …")
    for line in ('x = name_zh if zh else name_en', "if is_zh():", "n[1 if zh else 0]",
                 "{{ q.text_zh if zh else q.text_en }}", "locale.startswith('zh')"):
        assert BRANCH.search(line), line
    assert not BRANCH.search("pick(q.text_en, q.text_zh)")
