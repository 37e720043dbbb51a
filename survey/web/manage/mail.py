"""E-mail invitations of a survey: add an address list, send the invitations, remind, follow each address."""
from babel import Locale
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.i18n import current_locale
from survey.services import mailing, permissions
from survey.web.downloads import attachment
from survey.web.manage.guard import requires

bp = Blueprint("mail", __name__)  # every page needs the survey's editors (addresses are personal data)
LANGUAGE_NAMES = {code: Locale.parse(code).language_name for code in ("en", "zh_CN")}  # each in its own language
REFUSALS = {
    "closed": lambda: _("The survey is closed: open it before sending invitations or reminders."),
    "busy": lambda: _("A round of mails is still being sent; wait until it has finished."),
    "nobody": lambda: _("There is no one to write to."),
}


def _wave(survey):
    """The wave the page is about: ?wave=N, else the current one.

    :raise 404: no such wave.
    """
    number = request.args.get("wave", type=int)
    if number is None:
        return survey.current_wave
    return next((w for w in survey.waves if w.number == number), None) or abort(404)


def _decode(content: bytes) -> str:
    """The text of an uploaded list: UTF-8 (with or without BOM), else GB 18030 (Chinese spreadsheet exports)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("utf-8", "replace")


def _page(survey, *, text="", language=None, problems=(), more=0, status=200):
    """The mail page: the wave's counts, the latest round's progress, the list form and the recipients."""
    wave = _wave(survey)
    page = max(request.args.get("page", 1, type=int), 1)
    state = request.args.get("state") if request.args.get("state") in mailing.STATES else None
    rows, has_next = mailing.list_recipients(services.db_session, wave, page=page, state=state)
    job = mailing.latest_job(services.db_session, survey)
    return render_template(
        "manage/mail/index.html", survey=survey, wave=wave, current=wave.id == survey.current_wave.id,
        counts=mailing.state_counts(services.db_session, wave), job=job, busy=mailing.is_under_way(job), rows=rows, page=page, has_next=has_next,
        state=state, text=text, language=language or current_locale(), problems=problems, more=more,
        limit=current_app.config["MAIL_LIST_MAX"], languages=LANGUAGE_NAMES,
    ), status


@bp.get("/surveys/<slug>/mail")
@requires(permissions.EDIT_SURVEY)  # the addresses are personal data: those who may send, not every reader
def index(slug):
    """Show the e-mail invitations of a wave (the page refreshes itself while a round is being sent)."""
    return _page(services.get_survey_or_404(slug))


@bp.post("/surveys/<slug>/mail/recipients")
def recipients(slug):
    """Add an address list (pasted, or a CSV/text file) to the current wave; bad lines come back named."""
    survey = services.get_survey_or_404(slug)
    upload = request.files.get("file")
    text = _decode(upload.read()) if upload and upload.filename else request.form.get("addresses", "")
    language = request.form.get("language") if request.form.get("language") in ("en", "zh_CN") else "en"
    try:
        added = mailing.add_recipients(services.db_session, survey, text, language=language,
                                       limit=int(current_app.config["MAIL_LIST_MAX"]))
    except services.MailListRejected as err:
        flash(_("Nothing was added: correct or remove these lines and add the list again."), "error")
        return _page(survey, text=text, language=language, problems=err.messages,
                     more=err.total - len(err.problems), status=422)
    flash(_("%(added)s addresses added (%(merged)s duplicate lines merged, %(already)s already invited, "
            "%(unsubscribed)s unsubscribed left out).", added=added.added, merged=added.merged,
            already=added.already, unsubscribed=added.unsubscribed), "info")
    return redirect(url_for(".index", slug=slug))


def _start(slug, kind):
    survey = services.get_survey_or_404(slug)
    base_url = current_app.config.get("PUBLIC_URL") or request.url_root
    try:
        mailing.start_job(services.db_session, survey, kind, manager=current_user, base_url=base_url)
    except services.MailRefused as err:
        flash(REFUSALS[err.reason](), "error")
    else:
        flash(_("Sending has started.") if kind == "invite" else _("Reminders are being sent."), "info")
    return redirect(url_for(".index", slug=slug))


@bp.post("/surveys/<slug>/mail/send")
def send(slug):
    """Send the invitations not sent yet (a background job)."""
    return _start(slug, "invite")


@bp.post("/surveys/<slug>/mail/remind")
def remind(slug):
    """Remind those invited who have neither answered nor unsubscribed (a background job)."""
    return _start(slug, "remind")


@bp.get("/surveys/<slug>/mail/recipients.csv")
@requires(permissions.EDIT_SURVEY)
def export(slug):
    """Download every recipient of the survey with its state (formula-looking cells neutralized)."""
    survey = services.get_survey_or_404(slug)
    return Response(stream_with_context(mailing.csv_export(services.db_session, survey)), mimetype="text/csv",
                    headers={**attachment(f"{survey.slug}-mail-recipients-{services.utcnow():%Y%m%d}.csv"),
                             "Cache-Control": "no-store"})
