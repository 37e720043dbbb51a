"""JSON API for kiosks and CRM systems: submit responses with a survey key, page through them with a read key.

Token authentication replaces CSRF here (the blueprint is exempt). Answers go through the same
services.record_response as the web form, so both paths accept and refuse exactly the same submissions.
"""
import json
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from survey import i18n, services
from survey.exceptions import ApiError
from survey.extensions import csrf, limiter
from survey.services import MAX_ID, SCALE, apikeys, permissions, snapshot
from survey.web.headers import retry_after_limit
from survey.web.json_errors import json_error
from survey.web.openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

BODY_FIELDS = ("locale", "wave", "token", "answers")
MAX_PAGE = 500
DEFAULT_PAGE = 100
NUL_PROBLEM = "Must not contain NUL characters (they cannot be stored)."


def key_identity() -> str:
    """The rate-limit key of an API request: the presented key's hash, else the client's address."""
    key = presented_key()
    return "key:" + apikeys.hash_key(key) if key else "address:" + get_remote_address()


limiter.limit(lambda: current_app.config["API_LIMIT_PER_KEY"], key_func=key_identity, scope="api-key")(bp)
limiter.limit(lambda: current_app.config["API_LIMIT_FAILED_PER_ADDRESS"], scope="api-refused",
              deduct_when=lambda response: response.status_code in (401, 403))(bp)


@bp.errorhandler(ApiError)
def api_error(err: ApiError):
    """Render an ApiError in the API's error shape (listings capped at API_MAX_ERROR_FIELDS entries, the total
    in fields_total); a 401 also says which scheme to use."""
    cap = current_app.config["API_MAX_ERROR_FIELDS"]
    extra = {name: capped(value, cap) if isinstance(value, dict) else value for name, value in err.extra.items()}
    if err.fields and len(err.fields) > cap:
        extra["fields_total"] = len(err.fields)
    response = json_error(err.status, err.message, err.code, capped(err.fields, cap) if err.fields else err.fields,
                          **extra)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="csi-api"'
    return response


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException):
    """Answer HTTP errors raised inside API views (404, 413, ...) in the API's error shape."""
    response = json_error(err.code or 500, err.description or err.name)
    if err.code == 429:
        response.headers["Retry-After"] = retry_after_limit()
    return response


def capped(mapping: dict, cap: int) -> dict:
    """The first `cap` entries of an error listing (a body with 500k bad codes must not answer with 30 MB)."""
    return mapping if len(mapping) <= cap else dict(list(mapping.items())[:cap])


def json_depth_exceeds(value, limit: int) -> bool:
    """Say whether parsed JSON nests deeper than `limit` containers (iterative: no recursion of our own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def read_body():
    """Read and parse the JSON body within the API's caps; None if it is not JSON (the parser then says so).

    :raise ApiError: 413 body or answer count too large, 400 nested too deep.
    """
    config = current_app.config
    limit = config["API_MAX_BODY"]
    too_large = ApiError(413, "too_large", f"The body must not exceed {limit} bytes.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    request.max_content_length = limit  # also bounds a chunked body without Content-Length
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    too_deep = ApiError(400, "too_deep", f"The body must not nest deeper than {config['API_MAX_DEPTH']} levels.")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        return None
    if json_depth_exceeds(body, config["API_MAX_DEPTH"]):
        raise too_deep
    answers = body.get("answers") if isinstance(body, dict) else None
    if isinstance(answers, (dict, list)) and len(answers) > config["API_MAX_ANSWERS"]:
        raise ApiError(413, "too_many_answers", f"At most {config['API_MAX_ANSWERS']} answers in one submission.")
    return body


def authorized_snapshot(slug: str, kind: str):
    """Check the key and its scope against this process's snapshot of the survey (one key query), before
    anything of the body is read; return the snapshot.

    :raise ApiError: 401 no or unknown key, 404 no such survey, 403 key not valid for this survey or action.
    """
    key = _presented_live_key()
    snap = services.survey_snapshot(services.db_session, slug)
    if snap is not None and not key.allows(snap.survey_id, kind):  # the snapshot may be stale
        snap = services.survey_snapshot(services.db_session, slug, fresh=True)
    _check_scope(key, snap and snap.survey_id, slug, kind)
    return snap


def _presented_live_key():
    """The request's live API key.

    :raise ApiError: 401 no or unknown key.
    """
    key = apikeys.find_key(services.db_session, presented_key())
    if key is None:
        raise ApiError(401, "unauthorized", "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    return key


def _check_scope(key, survey_id: int | None, slug: str, kind: str) -> None:
    """:raise ApiError: 404 no such survey, 403 the key may not do `kind` on it."""
    if survey_id is None:
        raise ApiError(404, "not_found", f"No survey '{slug}'.")
    allowed = (permissions.key_may_read(services.db_session, key, survey_id) if kind == apikeys.READ
               else key.allows(survey_id, kind))
    if not allowed:  # a read key also stops when the manager who made it may no longer read the survey
        action = "submit responses to" if kind == apikeys.SUBMIT else "read responses of"
        raise ApiError(403, "forbidden", f"This key may not {action} survey '{slug}'.")


def presented_key() -> str | None:
    """Return the key from `Authorization: Bearer <key>` or `X-API-Key`, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def authorized_survey(slug: str, kind: str):
    """Check the request's key and return the survey it may act on.

    :raise ApiError: 401 no or unknown key, 404 no such survey, 403 key not valid for this survey or action.
    """
    key = _presented_live_key()
    survey = services.get_survey(services.db_session, slug)
    _check_scope(key, survey and survey.id, slug, kind)
    return survey


def _answer_type_error(value) -> str | None:
    """Say what is wrong with one answer's JSON type, or None if it is a type answers can have."""
    if isinstance(value, str) and "\x00" in value or isinstance(value, list) and any(
            isinstance(v, str) and "\x00" in v for v in value):
        return NUL_PROBLEM
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return "Must be a number, a string, a list of strings or null."


def parse_submission(snap, body) -> dict:
    """Check the JSON body's shape against a questionnaire snapshot and return services.submit's arguments.

    Shape errors (types, unknown fields) are 400; answers that do not fit the questionnaire are 422.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "not_json", "The body must be a JSON object.")
    fields = {name: "Unknown field." for name in body if name not in BODY_FIELDS}
    locale = i18n.normalize(body["locale"]) if isinstance(body.get("locale"), str) else None
    if locale is None:
        fields["locale"] = "Required: 'zh' or 'en'."
    wave = body.get("wave")
    if wave is not None and (isinstance(wave, bool) or not isinstance(wave, int) or wave < 1):
        fields["wave"] = "Must be a wave number (integer >= 1)."
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        fields["token"] = "Must be a non-empty string."
    elif token is not None and "\x00" in token:
        fields["token"] = NUL_PROBLEM
    answers = body.get("answers")
    if not isinstance(answers, dict):
        fields["answers"] = "Required: an object mapping question codes to answers."
        answers = {}
    for code, value in answers.items():
        problem = _answer_type_error(value)
        if problem:
            fields[code] = problem
    if fields:
        raise ApiError(400, "invalid_payload", "The request body does not have the documented shape.", fields)

    kinds = {item.code: item.kind for item in snap.items}
    unknown = {code: "Unknown question code." for code in answers if code not in kinds}
    # null means "don't know" on scale items; for any other question it simply means "not answered".
    data = {code: value for code, value in answers.items()
            if code in kinds and (value is not None or kinds[code] == SCALE) and value != []}
    if unknown:
        try:
            services.validate(snap, data)
        except services.InvalidResponse as err:
            raise invalid(err, unknown) from None
        raise invalid(None, unknown)
    return {"data": data, "locale": locale, "wave": wave, "token": token, "snapshot": snap}


def invalid(err, extra: dict | None = None) -> ApiError:
    """Turn validation errors into one 422 with a message and a reason code per field."""
    fields = dict(err.errors) if err is not None else {}
    reasons = dict(err.codes) if err is not None else {}
    for code, message in (extra or {}).items():
        fields[code], reasons[code] = message, "unknown_code"
    return ApiError(422, "invalid_response", "Some answers are not valid; nothing was stored.", fields,
                    reasons=reasons)


def as_utc(moment: datetime) -> datetime:
    """Return the time as aware UTC (SQLite hands back naive datetimes that are UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def response_json(row: dict) -> dict:
    """Shape one iter_responses row for the API: metadata plus an answers object."""
    meta = ("response_id", "created_at", "wave", "locale", "source")
    return {
        "id": row["response_id"],
        "created_at": as_utc(row["created_at"]).isoformat(),
        "wave": row["wave"],
        "locale": row["locale"],
        "source": row["source"],
        "answers": {code: value for code, value in row.items() if code not in meta},
    }


def int_arg(name: str, default: int | None, low: int, high: int = MAX_ID) -> int | None:
    """Read an integer query parameter within [low, high] (never beyond what the database can compare).

    :raise ApiError: 400 naming the parameter.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or value > high:
        bounds = f"between {low} and {high}"
        raise ApiError(400, "invalid_parameter", f"'{name}' must be an integer {bounds}.",
                       {name: f"Must be an integer {bounds}."})
    return value


@bp.post("/surveys/<slug>/responses")
def submit(slug):
    """Validate and store one response; 201 once it is committed.

    Order of work: the key and its scope are checked first (one query; a client without a valid key learns
    nothing else and costs no body parsing), then the body is read within API_MAX_BODY / API_MAX_DEPTH /
    API_MAX_ANSWERS, then validated; the INSERT checks the key again as it writes (services.submit), so a key
    revoked in between stores nothing.
    """
    key = presented_key()
    snap = authorized_snapshot(slug, apikeys.SUBMIT)
    body = read_body()
    try:
        args = parse_submission(snap, body)
    except ApiError:
        fresh = snapshot.take(authorized_survey(slug, apikeys.SUBMIT))
        if fresh.revision == snap.revision:
            raise
        args = parse_submission(fresh, body)
    try:
        response = services.submit(services.db_session, slug, args["data"], locale=args["locale"], token=args["token"],
                                   wave=args["wave"], source="api", key_hash=apikeys.hash_key(key))
    except (services.KeyRefused, services.SurveyNotFound):
        authorized_survey(slug, apikeys.SUBMIT)
        raise ApiError(403, "forbidden", f"This key may not submit responses to survey '{slug}'.") from None
    except services.InvalidResponse as err:
        authorized_survey(slug, apikeys.SUBMIT)  # answers were checked before the key
        raise invalid(err) from None
    except services.SurveyClosed:
        raise ApiError(409, "survey_closed", f"Survey '{slug}' is closed and accepts no responses.") from None
    except services.TokenUsed:
        raise ApiError(409, "token_used", "This invitation token has already been used.",
                       {"token": "Already used."}) from None
    except services.TokenUnknown:
        raise ApiError(422, "token_unknown", "This invitation token does not belong to this survey.",
                       {"token": "Unknown token."}) from None
    services.cases.schedule_sweep(response.survey_id)
    number = services.wave_number(services.db_session, args["snapshot"], response.wave_id)
    body = {"id": response.id, "survey": slug, "wave": number, "created_at": as_utc(response.created_at).isoformat()}
    location = url_for("api.get_response", slug=slug, response_id=response.id)
    return jsonify(body), 201, {"Location": location}


@bp.get("/surveys/<slug>/responses")
def list_responses(slug):
    """Return one page of responses, oldest first; `after` is the cursor from the previous page."""
    survey = authorized_survey(slug, apikeys.READ)
    limit = int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    after = int_arg("after", 0, 0)
    wave = int_arg("wave", None, 1)
    if wave is not None and wave not in services.count_responses(services.db_session, survey):
        raise ApiError(400, "invalid_parameter", f"Survey '{slug}' has no wave {wave}.", {"wave": "No such wave."})
    rows = list(services.iter_responses(services.db_session, survey, wave=wave, after_id=after, limit=limit + 1,
                                        batch_size=limit + 1))
    page = rows[:limit]
    return jsonify({
        "data": [response_json(row) for row in page],
        "next_after": page[-1]["response_id"] if len(rows) > limit else None,
    })


@bp.get(f"/surveys/<slug>/responses/<int(max={MAX_ID}):response_id>")
def get_response(slug, response_id):
    """Return one stored response."""
    survey = authorized_survey(slug, apikeys.READ)
    rows = list(services.iter_responses(services.db_session, survey, after_id=response_id - 1, limit=1))
    if not rows or rows[0]["response_id"] != response_id:
        raise ApiError(404, "not_found", f"No response {response_id} in survey '{slug}'.")
    return jsonify(response_json(rows[0]))


@bp.get("/openapi.json")
def openapi():
    """Serve the OpenAPI 3.1 description of this API."""
    return jsonify(document())
