"""Report fixtures: a demo survey with simulated responses, and a cold report cache for every test."""
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cold_cache(request):
    """Start every test with an empty report cache; wait for every computation (cold or refresh) unless a test
    says otherwise."""
    from survey.report.cache import CACHE

    CACHE.clear()
    if "app" in request.fixturenames:
        config = request.getfixturevalue("app").config
        config.update(REPORT_WAIT_SECONDS=60, REPORT_STALE_WAIT_SECONDS=60, REPORT_REFRESH_SECONDS=0,
                      UPLOAD_WAIT_SECONDS=60)
    yield
    from survey import jobs

    assert jobs.drain(60), "a report job of this test is still running"
    CACHE.clear()


@pytest.fixture
def demo(app, db_session):
    """The demo survey (slug 'demo', two waves, 400 simulated responses)."""
    from survey.services.demo import create_demo

    return create_demo(db_session, n=400, seed=7)


@pytest.fixture(scope="session")
def say():
    """The report's wording as a page in a locale shows it, read through the Flask-Babel catalogue:
    say(msg_id, locale="en", **fields) for a message, say(function, *args, locale=…) to call a wording function
    (item_name, warning_text, str of a lazy string …) in that locale."""
    from flask_babel import force_locale

    from survey import create_app
    from survey.report.wording import t

    app = create_app({"TESTING": True, "SECRET_KEY": "wording", "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    def say(what, *args, locale="en", **fields):
        with app.test_request_context(), force_locale(locale):
            return t(what, **fields) if isinstance(what, str) else what(*args, **fields)

    return say


DATA = Path(__file__).resolve().parent.parent / "model" / "data"


@pytest.fixture(scope="session")
def fitted_results():
    """Real model results (CSIResult.to_dict(), the schema the report reads) of the engine's test data sets."""
    import json
    import warnings

    import model
    from model.exceptions import ModelWarning

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        for path in sorted(DATA.glob("*.csv")):
            mapping = path.with_suffix(".map.json")
            spec = json.loads(mapping.read_text()) if mapping.exists() else None
            out[path.stem] = model.fit(model.read_table(path), spec=spec).to_dict()
    return out


@pytest.fixture
def result(fitted_results):
    """A fresh copy of the csi_multi result (tests may change it)."""
    import copy

    return copy.deepcopy(fitted_results["csi_multi"])


@pytest.fixture
def held_import(monkeypatch):
    """Hold every upload import at its start until the test sets the returned event (released at teardown too),
    so a test sees the progress page of an import that is still running."""
    import threading

    from survey.services import importing

    release = threading.Event()
    real = importing.import_chunks

    def held(*args, **kwargs):
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(importing, "import_chunks", held)
    yield release
    release.set()
