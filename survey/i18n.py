"""Language choice: ?lang= (kept in the session), else the browser's Accept-Language, else English.

UI wording of every page (the report's included) goes through Flask-Babel's catalogues; bilingual *content*
(question wording, option labels, survey titles, construct names stored per language as *_en / *_zh) is
picked by pick(), the one place that chooses a column by locale.
"""
import functools

from babel import Locale
from flask import current_app, has_app_context, has_request_context, request, session, url_for
from werkzeug.routing import BuildError

from survey.extensions import babel
from survey.storage.tables import localized

ALIASES = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh_hans": "zh_CN", "zh-hans": "zh_CN", "en": "en"}


def languages() -> tuple[str, ...]:
    """The locales the app offers (Config.LANGUAGES: English, Chinese, and any language given a catalogue)."""
    return tuple(current_app.config["LANGUAGES"]) if has_app_context() else ("en", "zh_CN")


def normalize(value: str | None) -> str | None:
    """Return a supported locale for a user-supplied language tag, or None."""
    key = (value or "").strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    return next((code for code in languages() if code.lower().replace("_", "-") == key.replace("_", "-")), None)


@functools.cache
def _babel_locale(name: str) -> Locale:
    """Parse a locale once per process (Babel's parse of zh_CN costs about 0.25 ms; Flask-Babel would do it on
    every request and accepts a Locale as is)."""
    return Locale.parse(name)


def select_locale() -> Locale:
    """Flask-Babel's locale selector: the choice of choose_locale(), parsed once per process."""
    return _babel_locale(choose_locale())


def choose_locale() -> str:
    """Pick the request's locale and remember an explicit ?lang= choice in the session."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = normalize(request.args.get("lang"))
    if chosen:
        session["lang"] = chosen
        return chosen
    remembered = normalize(session.get("lang"))
    if remembered:
        return remembered
    others = [code.replace("_", "-") for code in languages() if code not in ("en", "zh_CN")]
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW", "zh-Hans", *others])
    if best and best.startswith("zh"):
        return "zh_CN"
    return normalize(best) if best in others else "en"


def current_locale() -> str:
    """Return the active locale as the app names it: "zh_CN" (Babel says zh_Hans_CN), "en", or the code of
    another catalogue's language that flask_babel.force_locale made active."""
    from flask_babel import get_locale

    locale = get_locale()
    if locale is None:
        return "en"
    return "zh_CN" if locale.language == "zh" else str(locale)


def pick(english, chinese, locale: str | None = None):
    """Bilingual content in the active (or given) locale: the Chinese text for a Chinese locale when there is
    one, else the English (a language without its own column falls back to English)."""
    return localized(current_locale() if locale is None else locale, english, chinese)


def language_url(lang: str) -> str:
    """This page's address in another language: its path arguments and query, minus ?lang= and any argument
    url_for would take as an option (a name starting with "_", such as ?_method=PUT, or "endpoint")."""
    view_args = dict(request.view_args or {})
    query = {key: value for key, value in request.args.items()
             if not key.startswith("_") and key not in view_args and key not in ("lang", "endpoint")}
    try:
        return url_for(request.endpoint or "index", **view_args, **query, lang=lang)
    except BuildError:
        return url_for("index", lang=lang)


def init_app(app) -> None:
    """Bind Flask-Babel and expose the locale to templates."""
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def locale_context():
        locale = current_locale()
        other_languages = [(code, _babel_locale(code).language_name, code.replace("_", "-"))
                           for code in languages() if code != locale]
        return {"locale": locale, "html_lang": locale.replace("_", "-"), "pick": pick,
                "other_languages": other_languages, "language_url": language_url}
