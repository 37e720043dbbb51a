"""E-mail invitations and reminders: address lists, personal single-use links, sending as a job, unsubscribing.

A manager's list (CSV or pasted lines: address, optional name and language) becomes one ``mail_recipient``
per address of the survey's current wave, each with its own invitation token (the same single-use tokens as
the CSV of links). Sending never happens in the request: ``start_job`` records a ``mail_job`` and hands it to
survey.jobs (RQ with REDIS_URL, threads without); the job sends one mail at a time over one SMTP connection and
commits each outcome, so the page reads progress and states from the database on any worker. A recipient's
state: pending (not sent yet), sent, bounced (the SMTP server refused the address when we sent), answered (its
token was used) or unsubscribed (the address asked for no more mail about this survey). Addresses live only in
these tables, apart from the answers: a response knows only its token.
"""
from __future__ import annotations

import csv
import io
import re
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale, gettext
from flask_mailman import EmailMultiAlternatives
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from survey import jobs
from survey.exceptions import ListProblem, MailListRejected, MailRefused
from survey.extensions import mail
from survey.services import audit
from survey.services.exporting import csv_cell
from survey.services.surveys import new_token
from survey.storage.db import db, write_transaction
from survey.storage.tables import (
    BOUNCED, CLOSED, INVITE, PENDING, REMIND, SENT, InvitationToken, MailJob, MailRecipient, MailUnsubscribe,
    Manager, Survey, Wave, utcnow,
)

SEND_JOB = "survey.services.mailing:send_job"
utc = timezone.utc
PAGE_SIZE = 100
ANSWERED, UNSUBSCRIBED = "answered", "unsubscribed"
STATES = (PENDING, SENT, BOUNCED, ANSWERED, UNSUBSCRIBED)
LANGUAGES = {"en": "en", "english": "en", "英文": "en", "英语": "en",
             "zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh-hans": "zh_CN", "cn": "zh_CN", "chinese": "zh_CN",
             "中文": "zh_CN", "简体中文": "zh_CN", "汉语": "zh_CN"}
HEADERS = {
    "email": {"email", "e-mail", "mail", "address", "email address", "e-mail address", "邮箱", "电子邮件", "电子邮箱",
              "邮件地址", "地址"},
    "name": {"name", "full name", "姓名", "名字", "称呼"},
    "language": {"language", "lang", "locale", "语言"},
}
EXPORT_COLUMNS = ("email", "name", "language", "wave", "state", "sent_at", "reminders", "reminded_at", "error")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ListEntry:
    """One usable line of an address list."""

    line: int
    email: str
    name: str
    language: str | None  # None: the list's default


@dataclass(frozen=True)
class Added:
    """What adding a list did: new recipients, lines merged into an earlier line of the same list, addresses
    already invited to this wave, addresses that unsubscribed from this survey (not added)."""

    added: int
    merged: int
    already: int
    unsubscribed: int


@dataclass(frozen=True)
class RecipientRow:
    """One recipient as the manager's page shows it."""

    id: int
    email: str
    name: str
    language: str
    state: str
    sent_at: datetime | None
    reminders: int
    reminded_at: datetime | None
    error: str | None
    wave: int


# ---------------------------------------------------------------------------------------------- address lists

def normalize_address(value: str) -> str | None:
    """Return the address in lower case if it is a plain, deliverable-looking e-mail address, else None.

    ASCII local part (dot-atom), a domain of at least two labels (internationalized names allowed), at most
    254 characters; display forms ("Name <a@b.c>") are unpacked by the caller.
    """
    value = (value or "").strip().lower()
    if len(value) > 254 or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return value


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "\t" in first:
        return "\t"
    if ";" in first and "," not in first:
        return ";"
    return ","


def _header(cells: list[str]) -> dict[str, int] | None:
    """Column positions if this row names the columns (no address in it, at least one known name), else None."""
    names = [cell.strip().lower() for cell in cells]
    if any("@" in name for name in names):
        return None
    found = {field: i for i, name in enumerate(names) for field, known in HEADERS.items() if name in known}
    return found if found else None


def _split(cells: list[str], header: dict[str, int] | None) -> tuple[str, str, str]:
    """(address, name, language) of one row: by the header's columns, else the cell with an @ and then name,
    language in the order the other cells come."""
    if header is not None:
        def cell(field):
            i = header.get(field)
            return cells[i].strip() if i is not None and i < len(cells) else ""
        return cell("email"), cell("name"), cell("language")
    cells = [c.strip() for c in cells]
    at = next((i for i, c in enumerate(cells) if "@" in c), 0)
    rest = [c for i, c in enumerate(cells) if i != at]
    return cells[at] if cells else "", rest[0] if rest else "", rest[1] if len(rest) > 1 else ""


def parse_list(text: str, *, limit: int) -> tuple[list[ListEntry], int]:
    """Read an address list: one address a line, optionally with a name and a language (en / zh), separated
    by commas, semicolons or tabs, optionally under a header line naming the columns. Return the entries
    (each address once: the first line wins) and how many lines were merged into an earlier one.

    :raise MailListRejected: unusable lines (each named by its number), no address at all, or more than limit.
    """
    text = (text or "").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    entries: dict[str, ListEntry] = {}
    problems: list[ListProblem] = []
    header = None
    merged = rows = 0
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        rows += 1
        if rows == 1 and (header := _header(cells)) is not None:
            if "email" not in header:
                raise MailListRejected([ListProblem(line, "no_email_column")])
            continue
        if rows > limit + 1:
            raise MailListRejected([ListProblem(line, "too_many", str(limit))])
        raw, name, language = _split(cells, header)
        if "<" in raw and raw.rstrip().endswith(">"):
            shown, raw = parseaddr(raw)
            name = name or shown
        if not raw:
            problems.append(ListProblem(line, "no_address"))
            continue
        address = normalize_address(raw)
        if address is None:
            problems.append(ListProblem(line, "bad_address", raw[:80]))
            continue
        code = None
        if language:
            code = LANGUAGES.get(language.lower().replace(" ", ""))
            if code is None:
                problems.append(ListProblem(line, "bad_language", language[:20]))
                continue
        if address in entries:
            merged += 1
            continue
        entries[address] = ListEntry(line, address, _CONTROL.sub(" ", name).strip()[:200], code)
    if problems:
        raise MailListRejected(problems)
    if len(entries) > limit:
        raise MailListRejected([ListProblem(0, "too_many", str(limit))])
    if not entries:
        raise MailListRejected([ListProblem(0, "empty")])
    return list(entries.values()), merged


def add_recipients(session: Session, survey: Survey, text: str, *, language: str, limit: int = 5_000) -> Added:
    """Add a list's addresses to the survey's current wave, each with its own invitation token (one
    transaction; all or nothing). Addresses already invited to this wave, or unsubscribed from this survey,
    are left out and counted.

    :raise MailListRejected: see parse_list; nothing is added.
    """
    entries, merged = parse_list(text, limit=limit)
    wave = survey.current_wave
    invited = set(session.scalars(sa.select(MailRecipient.email).where(MailRecipient.wave_id == wave.id)))
    unsubscribed = set(session.scalars(sa.select(MailUnsubscribe.email)
                                       .where(MailUnsubscribe.survey_id == survey.id)))
    new = [e for e in entries if e.email not in invited and e.email not in unsubscribed]
    now = utcnow()
    with write_transaction(session):
        if new:
            token_ids = session.scalars(
                sa.insert(InvitationToken).returning(InvitationToken.id, sort_by_parameter_order=True),
                [{"survey_id": survey.id, "token": new_token(), "created_at": now} for _ in new],
            ).all()
            session.execute(sa.insert(MailRecipient), [
                {"survey_id": survey.id, "wave_id": wave.id, "token_id": token_id, "email": e.email, "name": e.name,
                 "language": e.language or language, "status": PENDING, "created_at": now, "reminders": 0}
                for e, token_id in zip(new, token_ids)
            ])
    return Added(added=len(new), merged=merged, already=sum(e.email in invited for e in entries),
                 unsubscribed=sum(e.email in unsubscribed and e.email not in invited for e in entries))


# ---------------------------------------------------------------------------------------------- states

def _state():
    """The recipient's state as SQL: answered, then unsubscribed, then what sending did."""
    return sa.case((InvitationToken.used_at.is_not(None), ANSWERED),
                   (MailUnsubscribe.id.is_not(None), UNSUBSCRIBED), else_=MailRecipient.status)


def _with_state(*columns):
    return (sa.select(*columns).select_from(MailRecipient)
            .join(InvitationToken, InvitationToken.id == MailRecipient.token_id)
            .outerjoin(MailUnsubscribe, sa.and_(MailUnsubscribe.survey_id == MailRecipient.survey_id,
                                                MailUnsubscribe.email == MailRecipient.email)))


def state_counts(session: Session, wave: Wave) -> dict[str, int]:
    """Recipients of the wave per state (every state present, zero when none) and "total"."""
    counts = dict.fromkeys(STATES, 0)
    state = _state()
    for name, n in session.execute(_with_state(state, sa.func.count()).where(MailRecipient.wave_id == wave.id)
                                   .group_by(state)):
        counts[name] = n
    counts["total"] = sum(counts[s] for s in STATES)
    return counts


def list_recipients(session: Session, wave: Wave, *, page: int = 1, state: str | None = None,
                    per_page: int = PAGE_SIZE) -> tuple[list[RecipientRow], bool]:
    """One page of the wave's recipients in the order they were added (optionally of one state), and whether
    another page follows."""
    query = _with_state(MailRecipient, _state(), Wave.number).join(Wave, Wave.id == MailRecipient.wave_id) \
        .where(MailRecipient.wave_id == wave.id)
    if state in STATES:
        query = query.where(_state() == state)
    rows = session.execute(query.order_by(MailRecipient.id).offset((max(page, 1) - 1) * per_page)
                           .limit(per_page + 1)).all()
    return [_row(r, s, n) for r, s, n in rows[:per_page]], len(rows) > per_page


def _row(recipient: MailRecipient, state: str, wave: int) -> RecipientRow:
    return RecipientRow(recipient.id, recipient.email, recipient.name, recipient.language, state,
                        recipient.sent_at, recipient.reminders, recipient.reminded_at, recipient.error, wave)


def csv_export(session: Session, survey: Survey, batch: int = 1000):
    """Every recipient of the survey (all waves), as CSV text chunks; formula-looking cells neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(EXPORT_COLUMNS)
    last = 0
    while True:
        rows = session.execute(
            _with_state(MailRecipient, _state(), Wave.number).join(Wave, Wave.id == MailRecipient.wave_id)
            .where(MailRecipient.survey_id == survey.id, MailRecipient.id > last)
            .order_by(MailRecipient.id).limit(batch)).all()
        for recipient, state, wave in rows:
            writer.writerow([csv_cell(v) for v in (
                recipient.email, recipient.name, recipient.language, wave, state, recipient.sent_at,
                recipient.reminders, recipient.reminded_at, recipient.error)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        last = rows[-1][0].id


# ---------------------------------------------------------------------------------------------- jobs

def _stale() -> datetime:
    """Jobs created before this and still queued or running were lost with their worker."""
    return utcnow() - timedelta(seconds=float(current_app.config.get("MAIL_JOB_STALE_SECONDS", 3600)))


def is_under_way(job: MailJob | None) -> bool:
    """Whether the job is queued or sending now (not lost with a worker that died)."""
    return job is not None and job.active and job.created_at.replace(tzinfo=job.created_at.tzinfo or utc) > _stale()


def latest_job(session: Session, survey: Survey) -> MailJob | None:
    """The survey's newest mail job, or None."""
    return session.scalar(sa.select(MailJob).where(MailJob.survey_id == survey.id).order_by(MailJob.id.desc())
                          .limit(1))


def start_job(session: Session, survey: Survey, kind: str, *, manager, base_url: str) -> MailJob:
    """Queue a round of invitations (to the current wave's pending recipients) or reminders (to those sent
    and neither answered nor unsubscribed); the job sends them.

    :raise MailRefused: the survey is closed, another round is under way, or no one is left to write to.
    """
    if kind not in (INVITE, REMIND):
        raise ValueError(kind)
    if survey.status == CLOSED:
        raise MailRefused("closed")
    wave = survey.current_wave
    with write_transaction(session):
        # one starter at a time per survey: the row lock on PostgreSQL, the writers' turn on SQLite
        session.execute(sa.select(Survey.id).where(Survey.id == survey.id).with_for_update())
        busy = session.scalar(sa.select(MailJob.id).where(
            MailJob.survey_id == survey.id, MailJob.status.in_(("queued", "running")), MailJob.created_at > _stale()))
        if busy is not None:
            raise MailRefused("busy")
        if not _recipient_ids(session, wave.id, kind):
            raise MailRefused("nobody")
        job = MailJob(survey_id=survey.id, wave_id=wave.id, kind=kind, status="queued",
                      manager_id=getattr(manager, "id", None), base_url=base_url[:300])
        session.add(job)
    jobs.enqueue(SEND_JOB, job.id)
    return job


def _recipient_ids(session: Session, wave_id: int, kind: str) -> list[int]:
    wanted = PENDING if kind == INVITE else SENT
    return list(session.scalars(_with_state(MailRecipient.id)
                                .where(MailRecipient.wave_id == wave_id, _state() == wanted)
                                .order_by(MailRecipient.id)))


def send_job(job_id: int) -> None:
    """The job: send the round's mails one by one over one SMTP connection, committing each outcome; an SMTP
    server that cannot be reached or drops the connection fails the round (those not reached keep their state,
    so a new round goes on from there). Runs in an app context."""
    session = db.session
    job = session.get(MailJob, job_id)
    if job is None or job.status != "queued":
        return  # already handled (a retried job)
    survey = session.get(Survey, job.survey_id)
    ids = _recipient_ids(session, job.wave_id, job.kind)
    with write_transaction(session):
        job.status, job.total = "running", len(ids)
    connection = mail.get_connection(fail_silently=False)
    try:
        connection.open()
        for recipient_id in ids:
            _send_one(session, connection, job, survey, recipient_id)
    except Exception as err:
        session.rollback()
        with write_transaction(session):
            job.status, job.error, job.finished_at = "failed", f"{type(err).__name__}: {err}"[:2000], utcnow()
        if not isinstance(err, (smtplib.SMTPException, OSError)):
            raise  # a fault of ours or of the database: on the page, and in the worker's log
    else:
        with write_transaction(session):
            job.status, job.finished_at = "done", utcnow()
    finally:
        try:
            connection.close()
        except (smtplib.SMTPException, OSError):
            pass
    manager = session.get(Manager, job.manager_id) if job.manager_id else None
    audit.record(session, "mail_" + job.kind, manager=manager, target=survey.slug,
                 detail=f"job={job.id}; status={job.status}; sent={job.sent}; bounced={job.bounced}; "
                        f"deferred={job.deferred}; skipped={job.skipped}")


def _send_one(session: Session, connection, job: MailJob, survey: Survey, recipient_id: int) -> None:
    """Send one mail of the round and commit what came of it (a refusal of the address is that recipient's
    outcome; a fault of the connection propagates and ends the round)."""
    recipient, state, token = session.execute(_with_state(MailRecipient, _state(), InvitationToken.token)
                                              .where(MailRecipient.id == recipient_id)).one()
    if state != (PENDING if job.kind == INVITE else SENT):  # answered or unsubscribed since the round began
        with write_transaction(session):
            job.skipped += 1
        return
    message = build_message(survey, recipient, token, reminder=job.kind == REMIND,
                            base_url=job.base_url)
    code, reply = 250, ""
    try:
        try:
            connection.send_messages([message])
        except smtplib.SMTPServerDisconnected:  # servers close after so many mails a connection: once more
            connection.close()
            connection.open()
            connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as err:
        code, reply = next(iter(err.recipients.values()))
    except smtplib.SMTPDataError as err:
        code, reply = err.smtp_code, err.smtp_error
    reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    now = utcnow()
    with write_transaction(session):
        if code < 400:
            job.sent += 1
            recipient.error = None
            if job.kind == INVITE:
                recipient.status, recipient.sent_at = SENT, now
            else:
                recipient.reminders, recipient.reminded_at = recipient.reminders + 1, now
        elif code >= 500:  # refused for good: the address bounced
            job.bounced += 1
            recipient.status, recipient.error = BOUNCED, f"{code} {reply}"[:500]
        else:  # refused for now: stays as it was, tried again by the next round
            job.deferred += 1
            recipient.error = f"{code} {reply}"[:500]


# ---------------------------------------------------------------------------------------------- messages

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="csi-mail-unsubscribe")


def unsubscribe_token(recipient_id: int) -> str:
    """The signed value of a recipient's unsubscribe link (it never expires)."""
    return _serializer().dumps(recipient_id)


def _adapter(base_url: str):
    """A URL builder for the links in mails: the app's routes under base_url (scheme, host and any prefix)."""
    parts = urlsplit(base_url)
    return current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https")


def build_message(survey: Survey, recipient: MailRecipient, token: str, *, reminder: bool, base_url: str):
    """The invitation (or reminder) to one recipient in its language: personal link, unsubscribe link, text
    and HTML, List-Unsubscribe headers (RFC 2369 and one-click RFC 8058)."""
    language = recipient.language
    urls = _adapter(base_url)
    lang = language.split("_")[0]  # ?lang=zh / en on the links: the respondent's pages open in that language
    link = urls.build("respond.form", {"slug": survey.slug, "t": token, "lang": lang}, force_external=True)
    unsubscribe = urls.build("unsubscribe.confirm", {"token": unsubscribe_token(recipient.id), "lang": lang},
                             force_external=True)
    with force_locale(language):
        title = survey.title(language)
        context = {"title": title, "name": recipient.name, "link": link, "unsubscribe": unsubscribe,
                   "reminder": reminder, "html_lang": language.replace("_", "-")}
        subject = (gettext("Reminder: your opinion on “%(title)s”", title=title) if reminder
                   else gettext("Your opinion on “%(title)s”", title=title))
        text = render_template("mail/invitation.txt", **context)
        html = render_template("mail/invitation.html", **context)
    message = EmailMultiAlternatives(subject, text, to=[recipient.email], headers={
        "List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Content-Language": context["html_lang"], "Auto-Submitted": "auto-generated",
    })
    message.attach_alternative(html, "text/html")
    return message


# ---------------------------------------------------------------------------------------------- case alerts

def send_case_alert(address: str, case, survey: Survey) -> bool:
    """E-mail a follow-up case's owner that the case is theirs, in English and Chinese (managers have no
    language setting), with a link to the case when PUBLIC_URL is set; return whether the server took it.

    Never raises for a mail fault: the case exists either way and its page shows it; the fault is logged.
    """
    from survey.services.cases import REASON_LABELS

    base = current_app.config.get("PUBLIC_URL")
    link = (_adapter(base).build("manage.cases.detail", {"slug": survey.slug, "case_id": case.id},
                                 force_external=True) if base else None)
    parts = {}
    for language in ("en", "zh_CN"):
        with force_locale(language):
            reasons = ", ".join(str(REASON_LABELS.get(r, r)) for r in case.reasons.split(","))
            parts[language] = {
                "subject": gettext("Follow-up case %(id)s: %(title)s", id=case.id, title=survey.title(language)),
                "body": gettext("A respondent of “%(title)s” needs a follow-up (%(reasons)s). The case is yours; "
                                "it is due on %(due)s.", title=survey.title(language), reasons=reasons,
                                due=case.due_on.isoformat() if case.due_on else "–"),
            }
    text = "\n\n".join(parts[lang]["body"] + (f"\n{link}" if link else "") for lang in ("en", "zh_CN"))
    message = EmailMultiAlternatives(f"{parts['en']['subject']} / {parts['zh_CN']['subject']}", text, to=[address],
                                     headers={"Auto-Submitted": "auto-generated"})
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as err:
        current_app.logger.warning("case %s: alert to %s not sent (%s)", case.id, address, err)
        return False
    return True


# ---------------------------------------------------------------------------------------------- unsubscribing

def recipient_for_unsubscribe(session: Session, token: str) -> tuple[MailRecipient, Survey, bool] | None:
    """The recipient an unsubscribe link names, its survey and whether the address already unsubscribed; None
    for a link that was not signed by this service (or whose recipient no longer exists)."""
    try:
        recipient_id = _serializer().loads(token)
    except BadSignature:
        return None
    recipient = session.get(MailRecipient, recipient_id) if isinstance(recipient_id, int) else None
    if recipient is None:
        return None
    done = session.scalar(sa.select(MailUnsubscribe.id).where(MailUnsubscribe.survey_id == recipient.survey_id,
                                                              MailUnsubscribe.email == recipient.email))
    return recipient, session.get(Survey, recipient.survey_id), done is not None


def unsubscribe(session: Session, recipient: MailRecipient) -> bool:
    """Send no more mail about this survey to the recipient's address (recorded once, with the time); return
    whether it was new."""
    exists = sa.select(MailUnsubscribe.id).where(MailUnsubscribe.survey_id == recipient.survey_id,
                                                 MailUnsubscribe.email == recipient.email)
    try:
        with write_transaction(session):
            if session.scalar(exists) is not None:
                return False
            session.add(MailUnsubscribe(survey_id=recipient.survey_id, email=recipient.email))
    except sa.exc.IntegrityError:  # the same address, unsubscribing at the same moment from another mail
        return False
    audit.record(session, "mail_unsubscribe", email="", target=session.get(Survey, recipient.survey_id).slug,
                 detail=f"recipient={recipient.id}")
    return True

