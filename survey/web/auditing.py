"""Record manager actions in the audit log from the request: who (the logged-in manager, or the email a failed
login typed), what (an action name, the survey it concerns, a short detail), when, and from where (the client's
address, from X-Forwarded-For when CSI_PROXY_HOPS is set)."""
from flask import g, request
from flask_login import current_user

from survey import services

# form fields worth keeping in an event's detail (never passwords or free text)
DETAIL_FIELDS = ("status", "access", "estimator", "kind", "label", "count", "code", "construct", "wave", "role",
                 "language", "exclude")
EXPORT_SUFFIXES = (".csv", ".xlsx", ".sav", ".json")
ACTIONS = {"keys.index": "key_create", "keys.revoke": "key_revoke", "surveys.new": "survey_create",
           "surveys.status": "survey_status", "surveys.access": "survey_access", "surveys.waves": "wave_start",
           "surveys.tokens": "invitations_create", "surveys.question": "question_update",
           "surveys.retire": "question_retire", "surveys.restore": "question_restore", "surveys.add": "question_add",
           "surveys.archive": "survey_archive", "surveys.unarchive": "survey_unarchive",
           "surveys.settings": "survey_settings", "surveys.wave_label": "wave_label",
           "responses.erase": "response_erase", "upload.start": "upload",
           "upload.mapping": "upload_mapping", "account.password": "password_change", "team.invite": "manager_invite",
           "team.role": "manager_role", "team.surveys": "manager_surveys", "team.deactivate": "manager_deactivate",
           "team.reactivate": "manager_reactivate", "team.link": "manager_setup_link",
           "mail.recipients": "mail_list_add", "mail.send": "mail_send_start", "mail.remind": "mail_remind_start",
           "report.estimator": "report_estimator", "report.exclusion": "report_exclusion"}


def record(action: str, *, target: str = "", detail: str = "", email: str | None = None, manager=None) -> None:
    """Append one event for this request."""
    if manager is None and email is None and current_user.is_authenticated:
        manager = current_user
    services.audit.record(services.db_session, action, manager=manager, email=email or "", target=target,
                          detail=detail, address=request.remote_addr or "")


def note(*, target: str | None = None, detail: str = "") -> None:
    """Say, from a view, what this request's automatic event should name (the manager acted on, what else)."""
    if target is not None:
        g.audit_target = target
    if detail:
        g.audit_detail = detail


def record_manager_request(response):
    """After a manager page: log every accepted change (POST below 400) and every export download."""
    endpoint = request.endpoint or ""
    changed = request.method == "POST" and response.status_code < 400
    exported = request.method == "GET" and response.status_code == 200 and request.path.endswith(EXPORT_SUFFIXES)
    if (changed or exported) and current_user.is_authenticated:
        args = dict(request.view_args or {})
        target = g.pop("audit_target", None) or str(args.pop("slug", ""))
        fields = [f"{name}={value}" for name, value in args.items()]
        fields += [g.pop("audit_detail")] if "audit_detail" in g else []
        fields += [f"{name}={request.form[name][:60]}" for name in DETAIL_FIELDS if request.form.get(name)]
        fields += [f"{name}={request.args[name][:60]}" for name in ("wave", "segment") if request.args.get(name)]
        name = endpoint.removeprefix("manage.")
        action = ACTIONS.get(name, name) if changed else "export:" + name
        record(action, target=target, detail="; ".join(fields))
    return response
