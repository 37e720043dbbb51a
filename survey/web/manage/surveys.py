"""Manager pages for surveys: list, create from the template, edit items, open/close, waves, invitations."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.services import permissions
from survey.web.manage.guard import requires

bp = Blueprint("surveys", __name__)


@bp.get("/")
def index():
    """List the surveys this manager may read, with their response counts per wave."""
    return render_template("manage/surveys/index.html",
                           surveys=services.list_surveys(services.db_session, current_user))


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
        constructs=services.constructs_for(survey.model),
    )


@bp.post("/surveys/<slug>/status")
def status(slug):
    """Open or close a survey."""
    survey = services.get_survey_or_404(slug)
    try:
        services.set_status(services.db_session, survey, request.form.get("status", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
    return redirect(url_for(".detail", slug=slug))


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
    wave = services.new_wave(services.db_session, services.get_survey_or_404(slug), request.form.get("label", ""))
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
    return render_template("manage/surveys/tokens.html", survey=survey, tokens=services.list_tokens(services.db_session, survey))


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


@bp.post("/surveys/<slug>/questions/<code>/drop")
def drop(slug, code):
    """Drop one item from its construct (its stored answers are kept)."""
    survey = services.get_survey_or_404(slug)
    item = services.get_question(survey, code) or abort(404)
    try:
        services.drop_item(services.db_session, item)
    except services.InvalidInput as err:
        flash(str(err), "error")
    else:
        flash(_("Question %(code)s dropped.", code=code), "info")
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
