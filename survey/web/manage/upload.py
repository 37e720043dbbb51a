"""Bring your own data: upload a CSV/Excel file, map its columns to constructs, import it as a job, open its report."""
import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from model import DataError
from model.spec import CONSTRUCTS

from survey import services
from survey.i18n import pick
from survey.report import t
from survey.services import importing, permissions, uploads
from survey.web.bodies import body_limit
from survey.web.manage.guard import requires

bp = Blueprint("upload", __name__, url_prefix="/upload")


def _scale(form):
    try:
        lo, hi = int(form.get("scale_min", 1)), int(form.get("scale_max", 10))
    except ValueError:
        return None
    return (lo, hi) if hi > lo else None


def _upload_or_404(token: str):
    """The current manager's upload.

    :raise 404: unknown token, someone else's upload, or expired.
    """
    return uploads.get_upload(services.db_session, token, current_user) or abort(404)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """A file over UPLOAD_MAX_BYTES: the upload page again, saying the limit (nothing was read or kept)."""
    if not current_user.is_authenticated:
        return render_template("errors/error.html", status=413, message=_("The upload is too large.")), 413
    limit = current_app.config["UPLOAD_MAX_BYTES"] / 2**20
    message = _("The file is larger than %(limit)s MB. Compress it as .csv.gz, or split it into smaller files.",
                limit=f"{limit:,.3g}")
    return render_template("manage/upload/upload.html", t=t, errors=[message], form={}), 413


@bp.route("/", methods=("GET", "POST"))
@body_limit("UPLOAD_MAX_BYTES")
@requires(permissions.CREATE_SURVEY)
def start():
    """Take the file, check it is a readable table, keep it and ask for the column mapping."""
    errors = []
    if request.method == "POST":
        upload = request.files.get("file")
        title = (request.form.get("title") or "").strip()
        scale = _scale(request.form)
        if not upload or not upload.filename:
            errors.append(t("err_no_file"))
        if not title:
            errors.append(t("err_name"))
        if scale is None:
            errors.append(t("err_scale"))
        if not errors:
            try:
                kept = uploads.create_upload(services.db_session, manager=current_user, filename=upload.filename,
                                             content=upload.read(), title=title, scale=scale)
            except DataError as err:
                errors.append(t("err_read", error=str(err)))
            else:
                return redirect(url_for(".mapping", token=kept.token))
    return render_template("manage/upload/upload.html", t=t, errors=errors, form=request.form), 400 if errors else 200


@bp.route("/<token>", methods=("GET", "POST"))
@requires(permissions.CREATE_SURVEY)
def mapping(token):
    """Show the column → construct mapping (prefix convention pre-filled); queue the import when sent."""
    upload = _upload_or_404(token)
    if upload.status == "done":
        return redirect(url_for("manage.report.show", slug=upload.survey_slug))
    if upload.status in ("queued", "importing"):
        return redirect(url_for(".status", token=token))
    try:
        frame = uploads.preview(upload)
    except DataError as err:
        return render_template("manage/upload/upload.html", t=t, errors=[t("err_read", error=str(err))], form={}), 400
    if request.method == "POST":
        chosen = {name: request.form.get(f"role-{i}", "ignore")
                  for i, name in enumerate(importing.propose_mapping(frame))}
        uploads.start_import(services.db_session, upload, chosen)
        return _after_import(token, frame, float(current_app.config.get("UPLOAD_WAIT_SECONDS", 2)))
    return _mapping_page(upload, frame)


def _mapping_page(upload, frame):
    """The mapping form, with the problems of the last import attempt if it had any."""
    proposed = importing.propose_mapping(frame)
    problems, total = uploads.problems_of(upload)
    if upload.mapping and problems:
        proposed = {name: upload.mapping.get(name, role) for name, role in proposed.items()}
    columns = [{"index": i, "name": name, "role": role, "sample": importing.sample_values(frame, frame.columns[i])}
               for i, (name, role) in enumerate(proposed.items())]
    messages = [t(p.message_id, **p.fields) for p in problems]
    return render_template("manage/upload/mapping.html", t=t, columns=columns, roles=importing.ROLES,
                           meta={"title": upload.title}, n_rows=len(frame),
                           more_rows=len(frame) >= uploads.PREVIEW_ROWS, problems=messages,
                           more=total - len(messages), token=upload.token,
                           construct_names={c: pick(*n) for c, n in CONSTRUCTS.items()}), 422 if problems else 200


def _after_import(token: str, frame, wait: float):
    """Wait up to `wait` seconds for the import job, then go where its outcome says."""
    deadline = time.monotonic() + wait
    while True:
        services.db_session.rollback()  # see the job's commits
        upload = _upload_or_404(token)
        if upload.status == "done":
            return redirect(url_for("manage.report.show", slug=upload.survey_slug))
        if upload.status == "mapping":  # the whole file had problems: show them on the mapping page
            return _mapping_page(upload, frame)
        if upload.status == "failed" or time.monotonic() >= deadline:
            return redirect(url_for(".status", token=token))
        time.sleep(0.1)


@bp.get("/<token>/status")
@requires(permissions.CREATE_SURVEY)
def status(token):
    """The import's progress (the page refreshes itself), then the report or what went wrong."""
    upload = _upload_or_404(token)
    if upload.status in ("done", "mapping"):
        return redirect(url_for(".mapping", token=token))
    done, total = uploads.progress(upload)
    return render_template("manage/upload/status.html", t=t, upload=upload, done=done, total=total,
                           refresh=upload.status in ("queued", "importing")), 500 if upload.status == "failed" else 200
