"""Language choice: ?lang= (kept in the session), else the browser's Accept-Language, else English."""
import functools

from babel import Locale
from flask import current_app, has_request_context, request, session

from survey.extensions import babel

ALIASES = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh_hans": "zh_CN", "zh-hans": "zh_CN", "en": "en"}


def normalize(value: str | None) -> str | None:
    """Return a supported locale for a user-supplied language tag, or None."""
    return ALIASES.get((value or "").strip().lower())


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
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW", "zh-Hans"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def current_locale() -> str:
    """Return the request's locale as the app names it: "zh_CN" or "en" (Babel says zh_Hans_CN)."""
    from flask_babel import get_locale

    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def init_app(app) -> None:
    """Bind Flask-Babel and expose the locale to templates."""
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def locale_context():
        locale = current_locale()
        return {"locale": locale, "html_lang": "zh-CN" if locale == "zh_CN" else "en"}
