"""Follow-up cases of one survey: the list (by status, paginated) and one case (answers, contact details for
those who may see them, owner, status, due date, notes)."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.i18n import current_locale

bp = Blueprint("cases", __name__, url_prefix="/surveys/<slug>/cases")


def labels() -> dict:
    """The template helpers that name statuses and reasons in the active language."""
    return {"status_label": lambda s: services.cases.STATUS_LABELS.get(s, s),
            "reason_label": lambda r: services.cases.REASON_LABELS.get(r, r)}


@bp.get("/")
def index(slug):
    """The survey's cases, open ones first (?status=new|contacted|resolved, ?page=N); new responses are swept
    for cases in the background."""
    survey = services.get_survey_or_404(slug)
    checking = services.cases.sweep_pending(services.db_session, survey)
    if checking:
        services.cases.schedule_sweep(survey.id)
    status = request.args.get("status") or None
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 1_000_000))
    rows, pages = services.cases.list_cases(services.db_session, survey, status=status, page=page)
    return render_template("manage/cases/index.html", survey=survey, cases=rows, page=min(page, pages), pages=pages,
                           status=status, figures=services.cases.recovery(services.db_session, survey),
                           statuses=services.cases.CASE_STATUSES, checking=checking, **labels())


@bp.route("/<int:case_id>", methods=("GET", "POST"))
def detail(slug, case_id):
    """One case; POST changes its status, owner, due date or outcome and adds a note."""
    survey = services.get_survey_or_404(slug)
    case = services.cases.get_case(services.db_session, survey, case_id)
    if case is None:
        abort(404)
    status_code = 200
    if request.method == "POST":
        owner = request.form.get("owner", type=int)
        try:
            changed = services.cases.update_case(
                services.db_session, case, status=request.form.get("status") or None, owner_id=owner,
                due_on=request.form.get("due_on") or None, recovered=request.form.get("recovered") or None,
                note=request.form.get("note", ""), author=current_user)
        except services.InvalidInput as err:
            flash(str(err), "error")
            status_code = 422
        else:
            flash(_("Case %(id)s updated: %(what)s.", id=case.id, what=", ".join(changed)), "info")
            return redirect(url_for(".detail", slug=slug, case_id=case.id))
    allowed = services.cases.may_see_contact(current_user, survey)
    contact = services.cases.contact_of(services.db_session, case) if allowed else None
    return render_template("manage/cases/detail.html", survey=survey, case=case, contact=contact,
                           may_see_contact=allowed, **labels(),
                           response=services.get_response(services.db_session, survey, case.response_id,
                                                          str(current_locale())),
                           owners=services.cases.possible_owners(services.db_session, survey),
                           statuses=services.cases.CASE_STATUSES, form=request.form), status_code
