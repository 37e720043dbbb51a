"""Command-line tasks: accounts, API keys, the demo survey and translations (the database command lives in
survey/storage/db.py)."""
import os
import secrets
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from survey import services
from survey.services import apikeys, demo

DEMO_EMAIL = "demo@example.com"


def fail(message: str) -> None:
    """Print one line on stderr and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.command("create-manager")
@with_appcontext
@click.argument("email")
@click.option("--password", envvar="CSI_MANAGER_PASSWORD", help="Password (else CSI_MANAGER_PASSWORD, else prompt).")
@click.option("--role", type=click.Choice(services.permissions.ROLES), default=services.permissions.ADMIN,
              show_default=True, help="admin: everything; editor/viewer: only surveys an admin grants them.")
def create_manager_command(email, password, role):
    """Create a manager account that can log in to /manage."""
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        manager = services.create_manager(services.db_session, email, password, role=role,
                                         method=current_app.config["PASSWORD_HASH_METHOD"])
    except services.InvalidInput as err:
        fail(str(err))
    services.audit.record(services.db_session, "manager_create", manager=manager, address="cli", detail=f"role={role}")
    click.echo(f"Manager {manager.email} created ({role}).")


@click.command("set-password")
@click.argument("email")
@click.option("--password", envvar="CSI_MANAGER_PASSWORD", help="Password (else CSI_MANAGER_PASSWORD, else prompt).")
@with_appcontext
def set_password_command(email, password):
    """Set a new password for an existing manager (e.g. the demo account)."""
    manager = services.find_manager(services.db_session, email)
    if manager is None:
        fail(f"no manager with the email {email}")
    if not password:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        services.set_password(services.db_session, manager, password, method=current_app.config["PASSWORD_HASH_METHOD"])
    except services.InvalidInput as err:
        fail(str(err))
    services.audit.record(services.db_session, "set_password", manager=manager, address="cli",
                          detail="every session ended")
    click.echo(f"Password of {manager.email} changed.")


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing if the demo survey already exists.")
@click.option("--responses", default=400, show_default=True, type=click.IntRange(10, 1_000_000),
              help="Simulated responses over the two waves.")
@click.option("--seed", default=2024, show_default=True, type=int)
def demo_command(if_empty, responses, seed):
    """Create the demo survey (slug 'demo') with simulated responses over two waves, and a demo manager."""
    if services.get_survey(services.db_session, demo.SLUG) is not None:
        if if_empty:
            click.echo(f"Demo survey already exists; nothing to do. Manager login: {DEMO_EMAIL} (forgot the "
                       f"password? .venv/bin/flask --app survey set-password {DEMO_EMAIL})")
            return
        fail("the demo survey already exists (responses are never deleted); use --if-empty")
    survey = demo.create_demo(services.db_session, n=responses, seed=seed)
    counts = services.count_responses(services.db_session, survey)
    click.echo(f"Demo survey '{survey.slug}' created: " + ", ".join(f"wave {w}: {n}" for w, n in counts.items()))
    if services.find_manager(services.db_session, DEMO_EMAIL) is None:
        password = os.environ.get("CSI_DEMO_PASSWORD") or secrets.token_urlsafe(9)
        services.create_manager(services.db_session, DEMO_EMAIL, password, role=services.permissions.ADMIN,
                                method=current_app.config["PASSWORD_HASH_METHOD"])
        shown = "(from CSI_DEMO_PASSWORD)" if os.environ.get("CSI_DEMO_PASSWORD") else password
        click.echo(f"Demo manager: {DEMO_EMAIL} / {shown}")


api_group = AppGroup("api", help="Manage API keys for kiosks and CRM integrations.")


@api_group.command("create-key")
@click.option("--kind", type=click.Choice(apikeys.KEY_KINDS), default=apikeys.SUBMIT, show_default=True)
@click.option("--survey", "slug", help="Survey slug (required for submit keys; limits read keys to one survey).")
@click.option("--manager", "email", help="Manager who owns a read key.")
@click.option("--label", default="", help="A note saying where the key is used.")
def create_key_command(kind, slug, email, label):
    """Issue an API key and print it once (only its hash is stored)."""
    survey = services.get_survey(services.db_session, slug) if slug else None
    if slug and survey is None:
        fail(f"no survey '{slug}'")
    manager = services.find_manager(services.db_session, email) if email else None
    if email and manager is None:
        fail(f"no manager '{email}'")
    try:
        key = apikeys.issue_key(services.db_session, kind, survey=survey, manager=manager, label=label)
    except services.InvalidInput as err:
        fail(str(err))
    click.echo(key)


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
def worker_command(burst):
    """Process background jobs (report computations) from the Redis queue of REDIS_URL.

    Run several (one per core is plenty) on one or more machines that share the database and Redis.
    """
    from survey import jobs

    if not current_app.config.get("REDIS_URL"):
        fail("REDIS_URL is not set: without Redis, jobs run inside the web process and no worker is needed")
    jobs.work(burst=burst)


@click.command("moments")
@with_appcontext
@click.option("--survey", "slug", help="Only this survey (default: every survey with at least "
              "REPORT_MOMENTS_MIN_RESPONSES responses).")
def moments_command(slug):
    """Build or bring up to date the in-database moments that large surveys' reports are computed from.

    Reports keep them current themselves; run this after loading responses in bulk (outside the app), so the
    first report of a large survey is computed from its moments at once.
    """
    from survey.report import cache

    surveys = services.list_surveys_for_moments(services.db_session, slug,
                                                current_app.config["REPORT_MOMENTS_MIN_RESPONSES"])
    if slug and not surveys:
        fail(f"no survey {slug}")
    for survey_id, survey_slug in surveys:
        done = cache.moments_job(survey_id)
        click.echo(f"{survey_slug}: {done['read'] if done else 0} responses read")


def init_app(app) -> None:
    """Register the commands on `flask --app survey`."""
    app.cli.add_command(create_manager_command)
    app.cli.add_command(set_password_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(api_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(moments_command)
    app.cli.add_command(translate_update_command)
    app.cli.add_command(translate_compile_command)


TRANSLATIONS = str(Path(__file__).resolve().parent / "translations")
BABEL_CFG = str(Path(__file__).resolve().parent / "babel.cfg")


def pybabel(*args: str) -> None:
    """Run one pybabel sub-command in-process (same as the pybabel script)."""
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", *args])


# The lazy and context markers the code uses, besides Babel's own (gettext, _, ngettext, pgettext …).
EXTRACT_KEYWORDS = ("_l", "lazy_gettext", "_lp:1c,2", "lazy_pgettext:1c,2")


def extract(pot: str) -> None:
    """Write every string marked for translation in survey/ and templates/ to the template pot."""
    pybabel("extract", "-F", BABEL_CFG, *(arg for k in EXTRACT_KEYWORDS for arg in ("-k", k)), "--no-location",
            "--sort-output", "--project=csi", "-o", pot, str(Path(TRANSLATIONS).parent.parent))


@click.command("translate-update")
def translate_update_command():
    """Extract UI strings from survey/ and templates/ and merge them into every .po catalog."""
    pot = str(Path(TRANSLATIONS) / "messages.pot")
    extract(pot)
    pybabel("update", "-i", pot, "-d", TRANSLATIONS, "-w", "120", "--no-fuzzy-matching")


@click.command("translate-compile")
def translate_compile_command():
    """Compile every .po catalog to the .mo file the app reads (commit both)."""
    pybabel("compile", "-d", TRANSLATIONS, "--statistics")
