"""Manager pages for surveys: list (in use or archived), create from the template, settings, edit, retire and
restore items, open/close, archive, waves, invitations.

Closing, archiving and retiring ask first: the GET shows a confirmation page, its POST (with CSRF) acts."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.services import permissions
from survey.web.manage.guard import requires

bp = Blueprint("surveys", __name__)


@bp.get("/")
def index():
    """List the surveys this manager may read (or, with ?archived=1, the archived ones) with their response counts
    per wave."""
    archived = request.args.get("archived") == "1"
    return render_template("manage/surveys/index.html", archived=archived,
                           surveys=services.list_surveys(services.db_session, current_user, archived=archived),
                           archived_count=services.count_archived(services.db_session))


def confirm_page(survey, *, title, message, button, action, fields=None, cancel=None):
    """Render the page that asks before a closing, archiving or retiring action (its form POSTs to action)."""
    return render_template("manage/surveys/confirm.html", survey=survey, title=title, message=message,
                           button=button, action=action, fields=fields or {},
                           cancel=cancel or url_for(".detail", slug=survey.slug))


@bp.route("/surveys/new", methods=("GET", "POST"))
@requires(permissions.CREATE_SURVEY)
def new():
    """Create a survey from the standard CSI template."""
    if request.method == "POST":
        try:
            survey = services.create_survey(
                services.db_session, slug=request.form.get("slug", ""), title_en=request.form.get("title_en", ""),
                title_zh=request.form.get("title_zh", ""), created_by=current_user,
                model=request.form.get("model", "acsi"),
            )
        except services.InvalidInput as err:
            flash(str(err), "error")
            return render_template("manage/surveys/new.html", form=request.form, models=services.MODELS), 422
        flash(_("Survey created."), "info")
        return redirect(url_for(".detail", slug=survey.slug))
    return render_template("manage/surveys/new.html", form={}, models=services.MODELS)


@bp.get("/surveys/<slug>")
def detail(slug):
    """Show one survey: status, waves with counts, items per construct, invitations."""
    survey = services.get_survey_or_404(slug)
    return render_template(
        "manage/surveys/detail.html", survey=survey, counts=services.count_responses(services.db_session, survey),
        tokens=services.token_counts(services.db_session, survey),
        constructs=services.constructs_for(survey.model), retired=services.retired_items(survey),
    )


@bp.route("/surveys/<slug>/status", methods=("GET", "POST"))
def status(slug):
    """Open a survey, or close it after a confirmation page."""
    survey = services.get_survey_or_404(slug)
    wanted = request.values.get("status", "")
    if request.method == "GET":
        if wanted != "closed" or not survey.is_open:
            return redirect(url_for(".detail", slug=slug))
        return confirm_page(survey, title=_("Close this survey?"), button=_("Close survey"),
                            message=_("Respondents will see that the survey is closed and no new answers will be "
                                      "stored. The responses so far are kept, and you can open it again."),
                            action=url_for(".status", slug=slug), fields={"status": "closed"})
    try:
        services.set_status(services.db_session, survey, wanted)
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("The survey is open for answers.") if survey.is_open else
              _("The survey is closed: no new answers are stored. Its responses are kept."), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.route("/surveys/<slug>/archive", methods=("GET", "POST"))
def archive(slug):
    """Archive a survey after a confirmation page (closed, hidden from the list, still readable)."""
    survey = services.get_survey_or_404(slug)
    if request.method == "GET":
        return confirm_page(survey, title=_("Archive this survey?"), button=_("Archive survey"),
                            message=_("The survey is closed and moved to the archive: it leaves the list of "
                                      "surveys, and its responses and report stay readable. You can restore it "
                                      "from the archive at any time."),
                            action=url_for(".archive", slug=slug))
    services.set_archived(services.db_session, survey, True)
    flash(_("The survey is archived and closed. Its responses are kept."), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.post("/surveys/<slug>/unarchive")
def unarchive(slug):
    """Bring a survey back from the archive (it stays closed)."""
    services.set_archived(services.db_session, services.get_survey_or_404(slug), False)
    flash(_("The survey is back in the list of surveys. It is still closed."), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.route("/surveys/<slug>/settings", methods=("GET", "POST"))
def settings(slug):
    """Edit the survey's title and introduction in both languages, and its wave labels."""
    survey = services.get_survey_or_404(slug)
    if request.method == "POST":
        try:
            services.update_settings(services.db_session, survey, request.form)
        except services.InvalidInput as err:
            flash(str(err), "error")
            return render_template("manage/surveys/settings.html", survey=survey, form=request.form), 422
        flash(_("Settings saved."), "info")
        return redirect(url_for(".detail", slug=slug))
    return render_template("manage/surveys/settings.html", survey=survey, form=None)


@bp.post("/surveys/<slug>/waves/<int:number>")
def wave_label(slug, number):
    """Change one wave's label."""
    survey = services.get_survey_or_404(slug)
    try:
        services.rename_wave(services.db_session, survey, number, request.form.get("label", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("Wave %(number)s saved.", number=number), "info")
    return redirect(url_for(".settings", slug=slug))


@bp.post("/surveys/<slug>/access")
def access(slug):
    """Choose who may answer: anyone, anyone within limits, or invitation links only."""
    survey = services.get_survey_or_404(slug)
    try:
        services.set_access(services.db_session, survey, request.form.get("access", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("Access changed."), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.post("/surveys/<slug>/waves")
def waves(slug):
    """Start a new wave."""
    try:
        wave = services.new_wave(services.db_session, services.get_survey_or_404(slug), request.form.get("label", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("Wave %(number)s started.", number=wave.number), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.route("/surveys/<slug>/tokens", methods=("GET", "POST"))
def tokens(slug):
    """List invitation links, or generate N more."""
    survey = services.get_survey_or_404(slug)
    if request.method == "POST":
        try:
            created = services.generate_tokens(services.db_session, survey, int(request.form.get("count") or 0))
        except (ValueError, services.InvalidInput) as err:
            flash(str(err) if isinstance(err, services.InvalidInput) else _("Please enter a number."), "error")
        else:
            flash(_("%(count)s invitations created.", count=len(created)), "info")
        return redirect(url_for(".tokens", slug=slug))
    return render_template("manage/surveys/tokens.html", survey=survey, tokens=services.page_tokens(
        services.db_session, survey, services.page_number(request.args.get("page"))))


@bp.route("/surveys/<slug>/questions/<code>", methods=("GET", "POST"))
def question(slug, code):
    """Edit the wording of one question."""
    survey = services.get_survey_or_404(slug)
    item = services.get_question(survey, code) or abort(404)
    if request.method == "POST":
        try:
            services.update_question(services.db_session, item, request.form)
        except services.InvalidInput as err:
            flash(str(err), "error")
            return render_template("manage/surveys/question.html", survey=survey, question=item, form=request.form), 422
        flash(_("Question %(code)s saved.", code=code), "info")
        return redirect(url_for(".detail", slug=slug))
    return render_template("manage/surveys/question.html", survey=survey, question=item, form=None)


@bp.route("/surveys/<slug>/questions/<code>/retire", methods=("GET", "POST"))
def retire(slug, code):
    """Retire one item after a confirmation page: out of the questionnaire and the model, answers kept."""
    survey = services.get_survey_or_404(slug)
    item = services.get_question(survey, code) or abort(404)
    if request.method == "GET":
        return confirm_page(survey, title=_("Retire question %(code)s?", code=code), button=_("Retire"),
                            message=_("Respondents will no longer be asked this question and the report leaves it "
                                      "out of the model. Its stored answers are kept: restore it and they count "
                                      "again."),
                            action=url_for(".retire", slug=slug, code=code), fields={})
    try:
        services.retire_item(services.db_session, item)
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("Question %(code)s retired; its answers are kept and it can be restored below.", code=code), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.post("/surveys/<slug>/questions/<code>/restore")
def restore(slug, code):
    """Bring a retired item back, with the answers it had."""
    survey = services.get_survey_or_404(slug)
    item = services.get_retired(survey, code) or abort(404)
    services.restore_item(services.db_session, item)
    flash(_("Question %(code)s restored, with its earlier answers.", code=code), "info")
    return redirect(url_for(".detail", slug=slug))


@bp.route("/surveys/<slug>/constructs/<construct>/add", methods=("GET", "POST"))
def add(slug, construct):
    """Add an item to a construct."""
    survey = services.get_survey_or_404(slug)
    constructs = services.constructs_for(survey.model)
    if construct not in constructs:
        abort(404)
    if request.method == "POST":
        try:
            item = services.add_item(services.db_session, survey, construct, request.form)
        except services.InvalidInput as err:
            flash(str(err), "error")
            return render_template("manage/surveys/add.html", survey=survey, construct=construct,
                                   names=constructs[construct], form=request.form), 422
        flash(_("Question %(code)s added.", code=item.code), "info")
        return redirect(url_for(".detail", slug=slug))
    return render_template("manage/surveys/add.html", survey=survey, construct=construct, names=constructs[construct],
                           form={})
