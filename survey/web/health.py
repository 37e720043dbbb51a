"""Health (/healthz: the process answers) and readiness (/readyz: the database answers, and the rate-limit
storage and the job queue when they are Redis) for the proxy or orchestrator; no session, no login."""
from flask import Blueprint, current_app, jsonify

from survey import services
from survey.extensions import limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Say the process is up (touches nothing else)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Say whether this worker can serve: 200 when every dependency answers, else 503 naming the failing ones."""
    checks = {"database": services.database_ready(services.db_session)}
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        checks["rate_limit_storage"] = _answers(limiter.storage.check)
    if current_app.config.get("REDIS_URL"):  # the job queue (survey.jobs)
        checks["queue"] = services.redis_ready(current_app.config["REDIS_URL"])
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    headers = {} if ready else {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}
    return jsonify(body), 200 if ready else 503, headers


def _answers(check) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - any failure of the storage means "not ready"
        return False
