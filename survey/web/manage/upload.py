"""Bring your own data: upload a CSV/Excel file, map its columns to constructs, import it, open its report."""
import json
import secrets
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from model import DataError, read_table
from model.spec import CONSTRUCTS

from survey import services
from survey.exceptions import ImportRejected
from survey.i18n import pick
from survey.report import t
from survey.services import importing

bp = Blueprint("upload", __name__, url_prefix="/upload")
SUFFIXES = (".csv", ".txt", ".xlsx")
KEEP_SECONDS = 24 * 3600


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _forget_old(folder: Path) -> None:
    """Delete uploads nobody finished mapping within a day."""
    for path in folder.iterdir():
        if path.stat().st_mtime < time.time() - KEEP_SECONDS:
            path.unlink(missing_ok=True)


def _stored(token: str):
    """The (file path, metadata) of an upload of the current manager.

    :raise 404: unknown token, or someone else's upload.
    """
    if not token.isalnum():
        abort(404)
    meta_path = _folder() / f"{token}.json"
    if not meta_path.exists():
        abort(404)
    meta = json.loads(meta_path.read_text())
    if meta["manager"] != current_user.get_id():
        abort(404)
    return _folder() / meta["file"], meta


def _scale(form):
    try:
        lo, hi = int(form.get("scale_min", 1)), int(form.get("scale_max", 10))
    except ValueError:
        return None
    return (lo, hi) if hi > lo else None


@bp.route("/", methods=("GET", "POST"))
def start():
    """Take the file, check it is a readable table, keep it aside and ask for the column mapping."""
    errors = []
    if request.method == "POST":
        upload = request.files.get("file")
        title = (request.form.get("title") or "").strip()
        scale = _scale(request.form)
        suffix = Path(upload.filename).suffix.lower() if upload and upload.filename else ""
        if not upload or not upload.filename:
            errors.append(t("err_no_file"))
        if not title:
            errors.append(t("err_name"))
        if scale is None:
            errors.append(t("err_scale"))
        if not errors:
            folder = _folder()
            _forget_old(folder)
            token = secrets.token_hex(16)
            path = folder / f"{token}{suffix if suffix in SUFFIXES else '.csv'}"
            upload.save(path)
            try:
                read_table(path, nrows=50)  # a readable table within the caps; the mapping page reads it all
            except DataError as err:
                path.unlink(missing_ok=True)
                errors.append(t("err_read", error=str(err)))
            else:
                (folder / f"{token}.json").write_text(json.dumps(
                    {"file": path.name, "title": title[:200], "scale": scale, "manager": current_user.get_id()}))
                return redirect(url_for(".mapping", token=token))
    return render_template("manage/upload/upload.html", t=t, errors=errors, form=request.form), 400 if errors else 200


@bp.route("/<token>", methods=("GET", "POST"))
def mapping(token):
    """Show the column → construct mapping (prefix convention pre-filled); import when it checks out."""
    path, meta = _stored(token)
    try:
        frame = read_table(path)
    except DataError as err:
        return render_template("manage/upload/upload.html", t=t, errors=[t("err_read", error=str(err))], form={}), 400
    proposed = importing.propose_mapping(frame)
    problems, total = [], 0
    if request.method == "POST":
        chosen = {name: request.form.get(f"role-{i}", "ignore") for i, name in enumerate(proposed)}
        try:
            survey = importing.import_survey(services.db_session, frame, chosen, title=meta["title"],
                                             scale=tuple(meta["scale"]), created_by=current_user)
        except ImportRejected as err:
            problems, total, proposed = err.problems, err.total, chosen
        else:
            path.unlink(missing_ok=True)
            (_folder() / f"{token}.json").unlink(missing_ok=True)
            return redirect(url_for("manage.report.show", slug=survey.slug))
    columns = [{"index": i, "name": name, "role": role, "sample": importing.sample_values(frame, frame.columns[i])}
               for i, (name, role) in enumerate(proposed.items())]
    messages = [t(p.message_id, **p.fields) for p in problems]
    return render_template("manage/upload/mapping.html", t=t, columns=columns, roles=importing.ROLES, meta=meta,
                           n_rows=len(frame), problems=messages, more=total - len(messages),
                           token=token, construct_names={c: pick(*n) for c, n in CONSTRUCTS.items()}
                           ), 422 if problems else 200
