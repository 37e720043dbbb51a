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
