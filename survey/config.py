"""Configuration in layers: defaults here, then the environment, then the instance folder, then test_config."""
import os
import secrets
from datetime import timedelta
from pathlib import Path


ENVIRONMENT = {"SECRET_KEY": "SECRET_KEY", "DATABASE_URL": "SQLALCHEMY_DATABASE_URI", "REDIS_URL": "REDIS_URL",
               "CSI_JOB_QUEUE": "JOB_QUEUE", "CSI_PUBLIC_URL": "PUBLIC_URL", "MAIL_SERVER": "MAIL_SERVER",
               "MAIL_USERNAME": "MAIL_USERNAME", "MAIL_PASSWORD": "MAIL_PASSWORD",
               "MAIL_DEFAULT_SENDER": "MAIL_DEFAULT_SENDER"}
# limits and switches that may also come from the environment as CSI_<NAME> (e.g. CSI_LOGIN_LIMIT_PER_ACCOUNT)
TUNABLE = ("LOGIN_LIMIT_PER_ADDRESS", "LOGIN_LIMIT_PER_ACCOUNT", "SUBMIT_LIMIT_PER_ADDRESS", "API_LIMIT_PER_KEY",
           "API_LIMIT_FAILED_PER_ADDRESS", "SURVEY_LIMITED_PER_ADDRESS")
FLAGS = ("RATELIMIT_ENABLED", "CASE_ALERTS", "REPORT_SECOND_PASS", "REPORT_COMPARE_GROUPS")
NUMBERS = ("REPORT_BOOTSTRAP_DRAWS", "REPORT_BOOTSTRAP_WORKERS", "REPORT_MOMENTS_MIN_RESPONSES")  # whole numbers, also as CSI_<NAME>
MAIL_FLAGS = ("MAIL_USE_TLS", "MAIL_USE_SSL")  # read as MAIL_<NAME>, the names Flask-Mailman uses


class Config:
    """Defaults, safe for `make run` on a fresh clone (the environment and the instance folder override)."""

    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # PostgreSQL: give up connecting after DB_CONNECT_TIMEOUT seconds (a database that accepts and never
    # answers), cancel any statement after DB_STATEMENT_TIMEOUT ms, wait DB_POOL_TIMEOUT s for a pooled
    # connection; requests then get a 503 with Retry-After: RETRY_AFTER_SECONDS
    DB_CONNECT_TIMEOUT = 2
    DB_STATEMENT_TIMEOUT = 30_000
    DB_POOL_TIMEOUT = 2
    RETRY_AFTER_SECONDS = 5
    LANGUAGES = ("en", "zh_CN")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).resolve().parent / "translations")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: Secure exactly when the request came over HTTPS (behind a proxy: with PROXY_HOPS set, from its
    # X-Forwarded-Proto); SESSION_COOKIE_SECURE=1/0 in the environment forces it on or off
    SESSION_COOKIE_SECURE = None
    PERMANENT_SESSION_LIFETIME = timedelta(hours=10)  # a manager's login lasts a working day at most
    SESSION_IDLE_TIMEOUT = timedelta(hours=1)  # ... and ends after an hour without a request
    HSTS_MAX_AGE = 365 * 24 * 3600  # sent on HTTPS responses only; 0 sends none
    # who may frame the questionnaire (manager pages may never be framed): "'none'", or e.g. "https://intranet"
    RESPONDENT_FRAME_ANCESTORS = "'none'"
    PROXY_HOPS = 0  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host (werkzeug ProxyFix)
    WTF_CSRF_TIME_LIMIT = None  # a respondent may take an hour over the form; the token lives with the session
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    # the upload form only (survey.web.bodies): a 1,000,000-row export of the CSI template with an id, six
    # text segments, a wave and a comment is ~70 MB as CSV (bench/upload_bench.py), ~15 MB as .csv.gz;
    # the body is spooled to disk by the form parser, then kept once in memory and in the upload table
    UPLOAD_MAX_BYTES = 100 * 1024 * 1024
    INVITATION_TOKENS_MAX = 10_000
    REDIS_URL = None  # set: report jobs go to an RQ queue (flask --app survey worker); unset: threads in-process
    JOB_QUEUE = "csi"
    REPORT_WAIT_SECONDS = 1.0  # a view with no report yet: wait this long, then show the progress page
    REPORT_STALE_WAIT_SECONDS = 0.0  # a view with an older report: show it at once while it refreshes
    REPORT_REFRESH_SECONDS = 30.0  # refresh a view at most this often, however many responses arrive
    REPORT_CLAIM_SECONDS = 900.0  # a refresh not finished by then (its worker died) is taken over
    REPORT_SECOND_PASS = True  # after the point estimates: bootstrap intervals, second opinion, comparisons
    REPORT_BOOTSTRAP_DRAWS = 1000  # bootstrap draws of a report's intervals (0: no intervals)
    REPORT_BOOTSTRAP_WORKERS = None  # processes for the draws (None: the engine's default, up to two cores)
    REPORT_COMPARE_GROUPS = True  # test measurement invariance across waves and segment groups
    # from this many responses a report's point estimates come from the in-database moments
    # (survey.report.moments: a refresh reads only the new responses); smaller surveys read their rows
    REPORT_MOMENTS_MIN_RESPONSES = 20_000
    UPLOAD_WAIT_SECONDS = 2.0  # after "Import", wait this long for the import job before showing its progress page
    PASSWORD_HASH_METHOD = "scrypt"

    # E-mail invitations (Flask-Mailman over SMTP; every MAIL_* may come from the environment)
    MAIL_BACKEND = "smtp"  # also under TESTING (Flask-Mailman would keep mail in memory there)
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False  # STARTTLS on MAIL_PORT (587 usually)
    MAIL_USE_SSL = False  # TLS from the start (465 usually)
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "CSI survey <noreply@localhost>"
    MAIL_TIMEOUT = 20  # seconds for the SMTP server to answer
    MAIL_LIST_MAX = 5_000  # addresses in one uploaded list
    MAIL_JOB_STALE_SECONDS = 3600  # a mail job not finished by then (its worker died) no longer blocks a new one
    CASE_ALERTS = True  # e-mail a follow-up case's owner when a case becomes theirs (CSI_CASE_ALERTS=0: never)
    PUBLIC_URL = None  # the address the links in mails point to (e.g. https://survey.example.com); None: the
    # address the manager's browser used when pressing "Send"

    # The JSON API reads a body only after the key and its scope are checked, and never more than this
    API_MAX_BODY = 64 * 1024  # bytes (a full CSI response is about 1 KB)
    API_MAX_ANSWERS = 200  # answers in one submission
    API_MAX_DEPTH = 8  # JSON nesting (a submission needs 3: body, answers, a list of choices)
    API_MAX_ERROR_FIELDS = 50  # fields listed in one error body (the rest are counted)

    # Throttling (Flask-Limiter; limits syntax "N per second|minute|hour|day", several tiers separated by ";").
    # Memory storage counts per worker process; with REDIS_URL set, the counters live there, shared by every
    # worker and host.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "csi"
    RATELIMIT_HEADERS_ENABLED = False  # the error handlers put Retry-After (seconds) on every 429 themselves
    RATELIMIT_STRATEGY = "fixed-window"
    # Redis down: count in this worker's memory meanwhile (limits still hold, per worker) instead of a 500,
    # and go back to Redis once it answers; any other limiter error lets the request through, logged
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    # Failed logins only (a success costs nothing). The account tiers are the backoff: 5 wrong passwords lock
    # the account for the rest of the minute, 20 for the rest of the hour, 50 for the rest of the day; a
    # refused attempt is answered before any password hashing, so a flood of them is cheap.
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 20 per hour; 50 per day"
    LOGIN_LIMIT_PER_ADDRESS = "20 per minute; 200 per day"
    # login posts (each a password check) handled at once on this host, all workers together; a login beyond gets
    # web/shield.py's ready-made 429 with Retry-After: 1 before Flask
    LOGIN_HASH_SLOTS = 1
    # Questionnaire posts per address (generous: a shop's kiosks or an office share one address)
    SUBMIT_LIMIT_PER_ADDRESS = "120 per minute"
    # responses per address to a survey in the "limited" access mode (each browser may answer it once)
    SURVEY_LIMITED_PER_ADDRESS = "5 per day"
    # API requests per key, and refused API requests (401/403) per address
    API_LIMIT_PER_KEY = "600 per minute"
    API_LIMIT_FAILED_PER_ADDRESS = "30 per minute"


def from_environment(app) -> None:
    """Apply the environment variables that are set (DATABASE_URL, SECRET_KEY, REDIS_URL, CSI_JOB_QUEUE,
    CSI_PUBLIC_URL, MAIL_*, CSI_<tunable>)."""
    for variable, key in ENVIRONMENT.items():
        if os.environ.get(variable):
            app.config[key] = os.environ[variable]
    for key in TUNABLE:
        if os.environ.get("CSI_" + key):
            app.config[key] = os.environ["CSI_" + key]
    for key in FLAGS:
        if os.environ.get("CSI_" + key):
            app.config[key] = env_flag(os.environ["CSI_" + key])
    for key in MAIL_FLAGS:
        if os.environ.get(key):
            app.config[key] = env_flag(os.environ[key])
    if os.environ.get("MAIL_PORT"):
        app.config["MAIL_PORT"] = int(os.environ["MAIL_PORT"])
    if os.environ.get("SESSION_COOKIE_SECURE", "").strip().lower() not in ("", "auto"):
        app.config["SESSION_COOKIE_SECURE"] = env_flag(os.environ["SESSION_COOKIE_SECURE"])
    for key in NUMBERS:
        if os.environ.get("CSI_" + key):
            app.config[key] = int(os.environ["CSI_" + key])
    for key in ("PERMANENT_SESSION_LIFETIME", "SESSION_IDLE_TIMEOUT"):  # seconds
        if os.environ.get("CSI_" + key):
            app.config[key] = timedelta(seconds=int(os.environ["CSI_" + key]))
    if os.environ.get("CSI_PROXY_HOPS"):
        app.config["PROXY_HOPS"] = int(os.environ["CSI_PROXY_HOPS"])


def env_flag(value: str) -> bool:
    """Read a yes/no environment value (1/true/yes/on)."""
    return value.strip().lower() in ("1", "true", "yes", "on")


def database_url(url: str | None, instance_path: str) -> str:
    """Return a SQLAlchemy URL: SQLite in the instance folder by default, psycopg 3 for any PostgreSQL URL."""
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "csi.sqlite3")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_secret(instance_path: str) -> str:
    """Read (or create once) a random secret kept in the instance folder, so `make run` needs no set-up."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def finalize(app) -> None:
    """Fill in what the layers left open: the database URL and the secret key."""
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
        app.config.get("SQLALCHEMY_DATABASE_URI"), app.instance_path
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("pool_timeout", app.config["DB_POOL_TIMEOUT"])
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", app.config["DB_CONNECT_TIMEOUT"])
        connect_args.setdefault("options", f"-c statement_timeout={int(app.config['DB_STATEMENT_TIMEOUT'])}")
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(app.instance_path)
    if app.config.get("REDIS_URL") and app.config.get("RATELIMIT_STORAGE_URI") in (None, "memory://"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]  # the job queue's Redis shares the limits
