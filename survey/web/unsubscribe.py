"""The unsubscribe link in every invitation mail: a signed, public address that stops mail to that address
about that survey. GET asks for confirmation (mail scanners open links); POST does it, from the page's button
or from a mail program's one-click List-Unsubscribe-Post (RFC 8058), so it takes no CSRF token: the signed
link is the secret."""
from flask import Blueprint, abort, render_template

from survey import services
from survey.extensions import csrf
from survey.services import mailing

bp = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")


def _recipient_or_404(token: str):
    """The recipient of a signed link, its survey and whether it already unsubscribed.

    :raise 404: the link was not made by this service.
    """
    return mailing.recipient_for_unsubscribe(services.db_session, token) or abort(404)


@bp.get("/<token>")
def confirm(token):
    """Ask whether to stop the mails about this survey."""
    recipient, survey, done = _recipient_or_404(token)
    return render_template("unsubscribe/confirm.html", survey=survey, email=recipient.email, done=done,
                           token=token)


@bp.post("/<token>")
@csrf.exempt
def unsubscribe(token):
    """Stop the mails about this survey to this address (again: nothing changes)."""
    recipient, survey, _done = _recipient_or_404(token)
    mailing.unsubscribe(services.db_session, recipient)
    return render_template("unsubscribe/confirm.html", survey=survey, email=recipient.email, done=True,
                           token=token)
