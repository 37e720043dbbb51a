"""A real server on 127.0.0.1 (random port, temp SQLite) and Debian's chromium driven by Playwright."""
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MANAGER = ("browser@example.com", "a long browser password")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def login(page, base):
    """Log the test manager in through the real form (in English)."""
    page.goto(f"{base}/auth/login?lang=en")
    page.fill("#email", MANAGER[0])
    page.fill("#password", MANAGER[1])
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture(scope="session")
def live_server():
    """Serve the app with werkzeug in a thread against a migrated temp SQLite database holding the demo."""
    from werkzeug.serving import make_server

    from survey import create_app, services
    from survey.storage.db import db, upgrade_db
    from survey.services.demo import create_demo

    folder = tempfile.mkdtemp(prefix="csi-browser-")
    app = create_app({"TESTING": False, "SECRET_KEY": "browser-test-secret",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/csi.sqlite3", "REPORT_WAIT_SECONDS": 1.0,
                      # the second pass reloads the page while it runs (meta refresh): off unless a test needs it
                      "REPORT_SECOND_PASS": False})
    with app.app_context():
        upgrade_db()
        create_demo(db.session)
        services.create_manager(db.session, *MANAGER)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app}
    finally:
        server.shutdown()
        thread.join(5)
        with app.app_context():
            db.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium with a fresh profile (never a downloaded browser); skips visibly without it."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (make test installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="csi-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS,
                                                            headless=True)
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shot():
    """Save a full-page screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name):
        path = ARTIFACTS / f"{name}.png"
        scrolled = page.evaluate("window.scrollY")
        page.screenshot(path=str(path), full_page=True)
        # Chromium can leave the page scrolled elsewhere than it reports after a full-page shot (seen on a long
        # form: the next click landed 150 px off its button); scrolling back explicitly puts both in step.
        page.evaluate(f"window.scrollTo(0, {scrolled})")
        return path

    return take
