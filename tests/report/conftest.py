"""Report fixtures: a demo survey with simulated responses, and a cold report cache for every test."""
import pytest


@pytest.fixture(autouse=True)
def cold_cache(request):
    """Start every test with an empty report cache; let cold fits finish inline unless a test says otherwise."""
    from survey.report.cache import CACHE

    CACHE.clear()
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["REPORT_WAIT_SECONDS"] = 60
    yield
    CACHE.clear()


@pytest.fixture
def demo(app, db_session):
    """The demo survey (slug 'demo', two waves, 400 simulated responses)."""
    from survey.services.demo import create_demo

    return create_demo(db_session, n=400, seed=7)
