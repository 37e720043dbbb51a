"""Translations: the committed .mo is the compiled .po, and every UI string has a Chinese translation."""
import io
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "survey" / "translations"
CATALOGS = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def messages(catalog):
    return {_plain(m.id): _plain(m.string) for m in catalog if m.id and not m.fuzzy}


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parts[-3])
def test_committed_mo_matches_po(po_path):
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    with po_path.with_suffix(".mo").open("rb") as fh:
        committed = read_mo(fh)
    assert messages(read_mo(compiled)) == messages(committed), "run: flask --app survey translate-compile"


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parts[-3])
def test_every_message_is_translated(po_path):
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    untranslated = [m.id for m in catalog if m.id and (m.fuzzy or not all(
        m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert untranslated == []


def test_catalog_covers_the_chinese_ui():
    assert [p.parts[-3] for p in CATALOGS] == ["zh"]


def test_catalog_holds_every_string_the_code_marks(tmp_path):
    """What translate-update would extract today is in every .po already (nobody forgot to run it)."""
    from survey.commands import extract

    pot = tmp_path / "messages.pot"
    extract(str(pot))
    with pot.open("rb") as fh:
        wanted = {(m.context, _plain(m.id)) for m in read_po(fh) if m.id}
    assert len(wanted) > 300
    for po_path in CATALOGS:
        with po_path.open("rb") as fh:
            have = {(m.context, _plain(m.id)) for m in read_po(fh) if m.id}
        assert sorted(wanted - have, key=str) == [], f"{po_path.parts[-3]}: run flask --app survey translate-update"


def test_the_report_wording_is_in_the_catalog_and_translated():
    """Every report message, item name, warning and verdict reads differently in Chinese (the old bilingual
    table had two spellings for each, except the two symbols below)."""
    from flask_babel import force_locale

    from survey import create_app
    from survey.report import wording

    same_in_both = {"Cronbach's α", "R²"}
    lazies = [*wording.MESSAGES.values(), *wording.ITEM_NAMES.values(), *wording.VERDICTS.values(),
              *(text for pair in [*wording.WARNINGS.values(), wording.UNKNOWN_WARNING] for text in pair)]
    app = create_app({"TESTING": True, "SECRET_KEY": "catalog", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.test_request_context():
        with force_locale("en"):
            english = [str(lazy) for lazy in lazies]
        with force_locale("zh_CN"):
            chinese = [str(lazy) for lazy in lazies]
    assert len(lazies) == 192 + 39 + 14 + 5 + 2 * 19 + 1  # 1 moments note, 157 moved from the old table, 2 stale-report, 6 import
    # progress, the trend axis label ("generated" moved to wording.PLURALS); 8 for the manager's page (latest wave,
    # lower is better, complaints → loyalty, scroll hint);
    # decision layer (issue 10): 9 priority/quadrant words replaced by 28 (zones, ties, context, what-if);
    # 39 for the estimator, second opinion, bootstrap intervals and fair comparisons (issue 10);
    # 9 + 1 warnings from the old table, 9 for the estimates issue's new warning codes
    untranslated = [en for en, zh in zip(english, chinese) if en == zh and en not in same_in_both]
    assert untranslated == []
    assert {en for en, zh in zip(english, chinese) if en == zh} == same_in_both
