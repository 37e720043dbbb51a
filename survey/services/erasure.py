"""Erasing one respondent's response on their request: the one case where a response is deleted.

The answers and the response row go in one transaction; the survey's erasure counter is raised (it is part of
every report key, survey.report.cache.view_key, so no report computed before is shown again, even once new
responses bring the count back to the same number) and the stored reports of the survey, which may quote the
respondent's comment, are deleted with it. The audit log records that an erasure happened and by whom
(survey.web.auditing), never the answers.
"""
import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.exceptions import InvalidInput
from survey.storage.db import write_transaction
from survey.storage.tables import (
    MAX_ID, Answer, CaseNote, FollowUpCase, InvitationToken, MomentsState, ReportSnapshot, RespondentContact, Response,
    ResponseMoments, Survey,
)


def find_response(session: Session, survey: Survey, *, token: str = "", response_id: str = "") -> int:
    """Return the id of the survey's response given by its invitation token or its response id.

    :raise InvalidInput: neither given, or no response of this survey matches.
    """
    token, response_id = (token or "").strip(), (response_id or "").strip().lstrip("#")
    if token:
        # the token may be pasted as the whole invitation link
        token = token.rsplit("t=", 1)[-1].split("&", 1)[0] if "t=" in token else token
        found = session.scalar(sa.select(Response.id).join(InvitationToken, InvitationToken.id == Response.token_id)
                               .where(InvitationToken.survey_id == survey.id, InvitationToken.token == token,
                                      Response.survey_id == survey.id))
        if found is None:
            raise InvalidInput(_("No response of this survey was given with that invitation."))
        return found
    if response_id:
        if not response_id.isdigit() or not 0 < int(response_id) <= MAX_ID:
            raise InvalidInput(_("A response id is a whole number."))
        found = session.scalar(sa.select(Response.id).where(Response.id == int(response_id),
                                                            Response.survey_id == survey.id))
        if found is None:
            raise InvalidInput(_("This survey has no response %(id)s.", id=response_id))
        return found
    raise InvalidInput(_("Give the invitation link or token, or the response id."))


def erase_response(session: Session, survey: Survey, response_id: int, seen_erasures) -> None:
    """Delete one response with its answers, its follow-up case (and notes) and the contact details it left, and
    every stored report of the survey (they are recomputed).

    ``seen_erasures`` is the survey's erasure count when the confirmation page was shown: ids are only reused
    (SQLite hands the highest id out again once its row is gone) after an erasure, so an unchanged count proves
    the id still names the response the manager saw. The invitation the response used stays spent, so the link
    cannot answer again.

    :raise InvalidInput: another erasure happened since the page was shown, or no such response.
    """
    with write_transaction(session):
        current = session.scalar(sa.select(Survey.erasures).where(Survey.id == survey.id))
        if str(seen_erasures) != str(current):
            raise InvalidInput(_("A response of this survey was erased since this page was shown; find the "
                                 "response again."))
        found = session.scalar(sa.select(Response.id).where(Response.id == response_id,
                                                            Response.survey_id == survey.id))
        if found is None:
            raise InvalidInput(_("This survey has no response %(id)s.", id=response_id))
        case_ids = sa.select(FollowUpCase.id).where(FollowUpCase.response_id == response_id).scalar_subquery()
        session.execute(sa.delete(CaseNote).where(CaseNote.case_id.in_(case_ids)))  # notes may quote them
        session.execute(sa.delete(FollowUpCase).where(FollowUpCase.response_id == response_id))
        session.execute(sa.delete(RespondentContact).where(RespondentContact.response_id == response_id))
        session.execute(sa.delete(Answer).where(Answer.response_id == response_id))
        session.execute(sa.delete(Response).where(Response.id == response_id))
        session.execute(sa.delete(ReportSnapshot).where(ReportSnapshot.survey_id == survey.id))
        # the stored moments hold the erased answers inside their sums: they go too (rebuilt from the rows)
        session.execute(sa.delete(ResponseMoments).where(ResponseMoments.survey_id == survey.id))
        session.execute(sa.delete(MomentsState).where(MomentsState.survey_id == survey.id))
        session.execute(sa.update(Survey).where(Survey.id == survey.id)
                        .values(erasures=Survey.erasures + 1))
    session.refresh(survey)
