"""A third language is one catalogue: a throwaway German .mo in a temporary folder, and the report speaks it."""
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask_babel import get_babel, get_domain

URL = "/manage/surveys/demo/report"
GERMAN = {
    "Customer satisfaction index": "Kundenzufriedenheitsindex",  # headline
    "What to improve first": "Was zuerst verbessern",  # section title
    "The model: what drives satisfaction and loyalty": "Das Modell: was Zufriedenheit und Treue antreibt",  # chart
    "{item} ({code}): score {score}, gain {gain}, impact {impact}":
        "{item} ({code}): Wert {score}, Gewinn {gain}, Wirkung {impact}",  # the improve-first lines
}


def path_diagram(html: str) -> str:
    return html.split('id="path-diagram">')[1].split("</figure>")[0]


@pytest.fixture
def german(app, tmp_path, monkeypatch):
    """A de catalogue next to the real ones, German offered as a language, and every request in German."""
    catalog = Catalog(locale="de", domain="messages")
    for english, german in GERMAN.items():
        catalog.add(english, german)
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as fh:
        write_mo(fh, catalog)
    with app.app_context():
        babel = get_babel()
        monkeypatch.setattr(babel, "translation_directories", [*babel.translation_directories, str(tmp_path)])
        monkeypatch.setattr(get_domain(), "cache", {})  # translations loaded per process; start afresh
    monkeypatch.setitem(app.config, "LANGUAGES", (*app.config["LANGUAGES"], "de"))
    return "de"


def test_a_third_language_needs_only_its_catalogue(client, manager, demo, german):
    html = client.get(URL + "?lang=de").get_data(as_text=True)
    assert '<html lang="de">' in html
    for text in GERMAN.values():
        assert text.split(": ")[-1].split(" {")[0] in html, text
    assert "Customer satisfaction index" not in html and ", gain " not in html
    assert "Drivers" in html  # what the German catalogue lacks falls back to English
    first = html.split('<ol class="improve">')[1].split("</li>")[0]
    assert "Gewinn" in first and "Wert" in first
    # Charts are drawn per language: the path diagram's title is German, in English afterwards English again.
    title = GERMAN["The model: what drives satisfaction and loyalty"]
    assert title in path_diagram(html)
    english = client.get(URL + "?lang=en").get_data(as_text=True)
    assert title not in english and "The model: what drives satisfaction and loyalty" in path_diagram(english)
    assert title in path_diagram(client.get(URL + "?lang=de").get_data(as_text=True))
    # The language switcher offers the new language by its own name.
    assert 'hreflang="de">Deutsch</a>' in english
