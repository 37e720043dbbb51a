"""ORM tables (called tables, not models: "model" means the SEM in this project)."""
import secrets
from datetime import date, datetime, timezone

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.ext.hybrid import hybrid_method
from flask_login import UserMixin

from survey.storage.db import db

SCALE, CHOICE, MULTI, TEXT, YESNO = "scale", "choice", "multi", "text", "yesno"
OPEN, CLOSED = "open", "closed"
# who may answer at /s/<slug>: anyone; anyone, a few times per address and once per browser; invitation links only
ACCESS_OPEN, ACCESS_LIMITED, ACCESS_INVITATION = "open", "limited", "invitation"
ACCESS_MODES = (ACCESS_OPEN, ACCESS_LIMITED, ACCESS_INVITATION)
ESTIMATOR_MLR, ESTIMATOR_PLS = "mlr", "pls"  # the report's estimator: robust ML (default) or PLS (ACSI's method)
ESTIMATORS = (ESTIMATOR_MLR, ESTIMATOR_PLS)
MAX_ID = 2**31 - 1  # ids are INTEGER (32-bit on PostgreSQL): larger numbers from URLs are refused, not sent
SUBMIT, READ = "submit", "read"  # API key kinds
KEY_KINDS = (SUBMIT, READ)
ADMIN, EDITOR, VIEWER = "admin", "editor", "viewer"  # manager roles (what each may do: services/permissions.py)
ROLES = (ADMIN, EDITOR, VIEWER)


def localized(locale, english, chinese):
    """Return the Chinese text for a zh locale (when there is one), else the English."""
    return chinese if str(locale).startswith("zh") and chinese else english


def new_revision() -> str:
    """Return a fresh questionnaire revision token."""
    return secrets.token_hex(8)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class Manager(UserMixin, db.Model):
    """A quality manager who may log in and run surveys."""

    __tablename__ = "manager"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(256))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # part of the id kept in every session cookie; raising it (logout, password change, "sign out everywhere")
    # makes every cookie issued before refer to no one
    session_epoch: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    role: so.Mapped[str] = so.mapped_column(sa.String(10), default=VIEWER, server_default=VIEWER)
    active: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())  # False: deactivated
    # the one-time set-password link of an invited manager (its SHA-256; the link is shown once) and its expiry
    setup_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    setup_expires_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

    grants: so.Mapped[list["SurveyGrant"]] = so.relationship(
        back_populates="manager", cascade="all, delete-orphan")

    __table_args__ = (
        sa.CheckConstraint("role in ('admin', 'editor', 'viewer')", name="role"),  # PostgreSQL only (0011_roles)
        sa.Index("ix_manager_setup_hash", "setup_hash", unique=True),
    )

    def get_id(self) -> str:
        """The session id Flask-Login stores: '<id>:<epoch>'."""
        return f"{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:
        """Flask-Login refuses to log in a deactivated manager."""
        return bool(self.active)

    def __repr__(self) -> str:
        return f"<Manager {self.email}>"


class Survey(db.Model):
    """One questionnaire with its waves and responses; slug is its public address /s/<slug>."""

    __tablename__ = "survey"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    title_en: so.Mapped[str] = so.mapped_column(sa.String(200))
    title_zh: so.Mapped[str] = so.mapped_column(sa.String(200))
    intro_en: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    intro_zh: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default=OPEN)
    scale_min: so.Mapped[int] = so.mapped_column(default=1)
    scale_max: so.Mapped[int] = so.mapped_column(default=10)
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    # replaced on every change of questions, waves or status; keys the per-process questionnaire snapshot
    revision: so.Mapped[str] = so.mapped_column(sa.String(32), default=new_revision, server_default="initial")
    access: so.Mapped[str] = so.mapped_column(sa.String(12), default=ACCESS_OPEN, server_default=ACCESS_OPEN)
    # the model variant its report fits (model.spec.VARIANTS): acsi, or ecsi / ccsi with image items
    model: so.Mapped[str] = so.mapped_column(sa.String(8), default="acsi", server_default="acsi")
    # hidden from the default survey list (still readable; "restore" clears it)
    archived_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    # an imported data set (survey/services/importing.py): analysed only, never answered, no public address
    imported: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    # raised by every erasure of a response: part of the report key, so no report computed before is shown again
    erasures: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    estimator: so.Mapped[str] = so.mapped_column(sa.String(8), default=ESTIMATOR_MLR, server_default=ESTIMATOR_MLR)
    # the report leaves out responses services.quality flags (reversible; the responses stay stored)
    exclude_flagged: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    questions: so.Mapped[list["Question"]] = so.relationship(
        back_populates="survey", order_by="Question.position", cascade="all, delete-orphan"
    )
    waves: so.Mapped[list["Wave"]] = so.relationship(
        back_populates="survey", order_by="Wave.number", cascade="all, delete-orphan"
    )
    grants: so.Mapped[list["SurveyGrant"]] = so.relationship(back_populates="survey", cascade="all, delete-orphan")

    __table_args__ = (
        sa.CheckConstraint("status in ('open', 'closed')", name="status"),
        sa.CheckConstraint("access in ('open', 'limited', 'invitation')", name="access"),
        sa.CheckConstraint("model in ('acsi', 'ecsi', 'ccsi')", name="model"),
        sa.CheckConstraint("estimator in ('mlr', 'pls')", name="estimator"),
    )

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def active_questions(self) -> list["Question"]:
        return [q for q in self.questions if q.active]

    @property
    def current_wave(self) -> "Wave | None":
        return self.waves[-1] if self.waves else None

    def title(self, locale: str) -> str:
        return localized(locale, self.title_en, self.title_zh)

    def intro(self, locale: str) -> str:
        return localized(locale, self.intro_en, self.intro_zh)

    def __repr__(self) -> str:
        return f"<Survey {self.slug} {self.status}>"


class SurveyGrant(db.Model):
    """One manager's access to one survey (admins need none: they reach every survey); the survey's creator gets
    one when it is created."""

    __tablename__ = "survey_grant"
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), primary_key=True)
    manager_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("manager.id"), primary_key=True, index=True)
    granted_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    survey: so.Mapped[Survey] = so.relationship(back_populates="grants")
    manager: so.Mapped[Manager] = so.relationship(back_populates="grants")

    def __repr__(self) -> str:
        return f"<SurveyGrant survey={self.survey_id} manager={self.manager_id}>"


class Question(db.Model):
    """One item of a questionnaire; model items have a construct and a <CODE><n> code."""

    __tablename__ = "question"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    position: so.Mapped[int]
    code: so.Mapped[str] = so.mapped_column(sa.String(40))
    construct: so.Mapped[str | None] = so.mapped_column(sa.String(4))
    section: so.Mapped[str] = so.mapped_column(sa.String(40))
    kind: so.Mapped[str] = so.mapped_column(sa.String(10))
    text_en: so.Mapped[str] = so.mapped_column(sa.Text)
    text_zh: so.Mapped[str] = so.mapped_column(sa.Text)
    low_en: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    low_zh: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    high_en: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    high_zh: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    options: so.Mapped[list | None] = so.mapped_column(sa.JSON)  # [{"value", "en", "zh"}, ...]
    required: so.Mapped[bool] = so.mapped_column(default=True)
    allow_dont_know: so.Mapped[bool] = so.mapped_column(default=False)
    only_if: so.Mapped[str | None] = so.mapped_column(sa.String(80))  # "complained=yes"
    active: so.Mapped[bool] = so.mapped_column(default=True)  # retired items stay, with their answers, and can return

    survey: so.Mapped[Survey] = so.relationship(back_populates="questions")

    __table_args__ = (
        sa.UniqueConstraint("survey_id", "code", name="uq_question_survey_code"),
        sa.CheckConstraint("kind in ('scale', 'choice', 'multi', 'text', 'yesno')", name="kind"),
    )

    def text(self, locale: str) -> str:
        return localized(locale, self.text_en, self.text_zh)

    def low(self, locale: str) -> str | None:
        return localized(locale, self.low_en, self.low_zh)

    def high(self, locale: str) -> str | None:
        return localized(locale, self.high_en, self.high_zh)

    def option_label(self, option: dict, locale: str) -> str:
        return localized(locale, option["en"], option["zh"])

    @property
    def option_values(self) -> list[str]:
        return [o["value"] for o in self.options or ()]

    @property
    def condition(self) -> tuple[str, str] | None:
        """The (code, value) another answer must have for this question to apply, or None."""
        if not self.only_if:
            return None
        code, _, value = self.only_if.partition("=")
        return code, value

    def __repr__(self) -> str:
        return f"<Question {self.code} {self.kind}>"


class Wave(db.Model):
    """A survey period; new responses go to the newest wave."""

    __tablename__ = "wave"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    number: so.Mapped[int]
    label: so.Mapped[str] = so.mapped_column(sa.String(100), default="")  # "" = just "Wave <number>"
    opened_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    survey: so.Mapped[Survey] = so.relationship(back_populates="waves")

    __table_args__ = (sa.UniqueConstraint("survey_id", "number", name="uq_wave_survey_number"),)

    def __repr__(self) -> str:
        return f"<Wave {self.number} of survey {self.survey_id}>"


class InvitationToken(db.Model):
    """A one-response invitation; kept in clear so managers can download the list again."""

    __tablename__ = "invitation_token"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    used_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<InvitationToken {self.token[:6]}… used={self.used_at is not None}>"


class Response(db.Model):
    """One submitted questionnaire; never edited once written, deleted only by an erasure on the respondent's
    request (services.erasure)."""

    __tablename__ = "response"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"))
    wave_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("wave.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    locale: so.Mapped[str] = so.mapped_column(sa.String(10), default="en")
    complete: so.Mapped[bool] = so.mapped_column(default=True)
    token_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("invitation_token.id"), unique=True)
    source: so.Mapped[str] = so.mapped_column(sa.String(10), default="web")
    # coded non-text answers for fast loading (survey/packing.py); NULL for rows written without it
    packed: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    # response quality (survey/services/quality.py), web form only, NULL when unknown: milliseconds from the
    # form's render to its submission; keyed hashes of the browser's cookie id and of address + user agent
    duration_ms: so.Mapped[int | None]
    device_hash: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    client_hash: so.Mapped[str | None] = so.mapped_column(sa.String(32))

    answers: so.Mapped[list["Answer"]] = so.relationship(back_populates="response")

    __table_args__ = (sa.Index("ix_response_survey_wave", "survey_id", "wave_id", "id"),)

    def __repr__(self) -> str:
        return f"<Response {self.id} survey={self.survey_id}>"


class Answer(db.Model):
    """One answer: value for scale items (NULL = don't know), text for choices, yes/no and comments."""

    __tablename__ = "answer"
    response_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("response.id"), primary_key=True)
    question_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("question.id"), primary_key=True)
    value: so.Mapped[int | None] = so.mapped_column(sa.SmallInteger)
    text: so.Mapped[str | None] = so.mapped_column(sa.Text)

    response: so.Mapped[Response] = so.relationship(back_populates="answers")
    question: so.Mapped[Question] = so.relationship()

    __table_args__ = (sa.Index("ix_answer_question_id", "question_id"),)

    def __repr__(self) -> str:
        return f"<Answer r={self.response_id} q={self.question_id} {self.value!r} {self.text!r}>"


class ApiKey(db.Model):
    """A survey's submit key (kiosks, CRM) or a manager's read key (all surveys, or one)."""

    __tablename__ = "api_key"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(10))
    key_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    survey_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    label: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

    survey: so.Mapped[Survey | None] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("kind in ('submit', 'read')", name="kind"),
        sa.CheckConstraint("kind = 'read' or survey_id is not null", name="submit_has_survey"),
    )

    @hybrid_method
    def allows(self, survey_id, kind: str):
        """The API key permission rule, its one home: the key is live, of this kind, and for this survey or all.

        On a key, `key.allows(survey.id, kind)` says yes or no; on the class, `ApiKey.allows(column, kind)` is
        the same rule as a SQL condition (the submission guard checks it inside its INSERT on both databases).
        """
        return (
            (self.revoked_at == None)  # noqa: E711  (IS NULL in SQL)
            & (self.kind == kind)
            & ((self.survey_id == None) | (self.survey_id == survey_id))  # noqa: E711
        )

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.kind} survey={self.survey_id}>"


class ReportSnapshot(db.Model):
    """The last finished report of one survey view, shared by every worker and app server, and its refresh claim.

    ``payload`` is the pickled ReportEntry (written and read only by this app); ``data_count`` is the survey's
    response count it was computed from. ``claim_until`` is the refresh lock: a worker that sets it (atomically,
    where it is empty or expired) computes the view; an expired claim (a killed worker) is taken over.
    """

    __tablename__ = "report_snapshot"
    __table_args__ = (sa.UniqueConstraint("survey_id", "view_key"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    view_key: so.Mapped[str] = so.mapped_column(sa.String(64))
    data_count: so.Mapped[int | None]
    computed_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    payload: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    claim_until: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    claimed_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # the second pass (bootstrap intervals, second opinion, group comparisons) of the stored report: the data
    # count it is for, its claim (as claim_until), draws done of total, and its failure
    interval_count: so.Mapped[int | None]
    interval_claim_until: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    interval_done: so.Mapped[int | None]
    interval_total: so.Mapped[int | None]
    interval_error: so.Mapped[str | None] = so.mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"<ReportSnapshot survey={self.survey_id} {self.view_key} n={self.data_count}>"


class ResponseMoments(db.Model):
    """Sufficient statistics of one cell of a survey's responses: (wave, segment, answered-item pattern).

    ``data`` is a float64 vector (survey.report.moments.Layout): count, sums and raw cross-products of the scale
    answers of the pattern, their minima and maxima, and count and sum of each derived per-response figure
    (satisfaction level, complaint, ...). Responses are append-only, so a cell only ever grows: adding the
    cells of new responses gives exactly the cells of all of them. ``basis`` names the questionnaire layout the
    vectors follow; a questionnaire edit or an erasure makes a new basis and the cells are rebuilt.
    ``segment`` is "" (every response) or "<question code>=<option>".
    """

    __tablename__ = "response_moments"
    __table_args__ = (sa.UniqueConstraint("survey_id", "basis", "wave_id", "segment", "pattern"),)
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    basis: so.Mapped[str] = so.mapped_column(sa.String(40))
    wave_id: so.Mapped[int]
    segment: so.Mapped[str] = so.mapped_column(sa.String(400), default="")
    pattern: so.Mapped[str] = so.mapped_column(sa.Text)
    n: so.Mapped[int]
    data: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)


class MomentsState(db.Model):
    """How far a survey's ResponseMoments have read: every response with id <= ``last_id`` is counted, except
    the ids in ``gaps`` (JSON {id: first seen, epoch seconds}): ids below last_id that were not visible when it
    was read (a transaction still in flight on PostgreSQL), looked at again by the next update."""

    __tablename__ = "moments_state"
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), primary_key=True)
    basis: so.Mapped[str] = so.mapped_column(sa.String(40))
    last_id: so.Mapped[int] = so.mapped_column(default=0)
    gaps: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    updated_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))


class Upload(db.Model):
    """A file a manager brought to import, kept in the database so a job on any worker can read it.

    Deleted once imported, and after ``uploads.KEEP`` when never finished; status: mapping (waiting for the
    column mapping, possibly with ``problems`` from the last try), queued, importing, done (``survey_slug``),
    failed (``error``).
    """

    __tablename__ = "upload"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    scale_min: so.Mapped[int]
    scale_max: so.Mapped[int]
    filename: so.Mapped[str] = so.mapped_column(sa.String(255))
    content: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary, deferred=True)  # up to UPLOAD_MAX_BYTES
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default="mapping")
    mapping: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    problems: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    done_rows: so.Mapped[int] = so.mapped_column(default=0)
    total_rows: so.Mapped[int | None]
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    survey_slug: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"<Upload {self.token} {self.status}>"


class AuditEvent(db.Model):
    """One manager action (who, what, when, from where); append-only: the ORM refuses to change or delete one."""

    __tablename__ = "audit_event"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    email: so.Mapped[str] = so.mapped_column(sa.String(254), default="")  # as typed, for failed logins
    action: so.Mapped[str] = so.mapped_column(sa.String(40))
    target: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    detail: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    address: so.Mapped[str] = so.mapped_column(sa.String(64), default="")

    __table_args__ = (sa.Index("ix_audit_event_at", "at"),)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.email}>"


@sa.event.listens_for(AuditEvent, "before_update")
@sa.event.listens_for(AuditEvent, "before_delete")
def _append_only(mapper, connection, target):
    raise ValueError("audit events are append-only")


CASE_NEW, CASE_CONTACTED, CASE_RESOLVED = "new", "contacted", "resolved"
CASE_STATUSES = (CASE_NEW, CASE_CONTACTED, CASE_RESOLVED)


class RespondentContact(db.Model):
    """Contact details a respondent chose to leave; kept apart from the answers (never in exports or reports)."""

    __tablename__ = "respondent_contact"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    response_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("response.id"), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    email: so.Mapped[str] = so.mapped_column(sa.String(254), default="")
    phone: so.Mapped[str] = so.mapped_column(sa.String(40), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)


class FollowUpCase(db.Model):
    """A respondent the team should follow up: complained, rated satisfaction or complaint handling low, or
    asked to be contacted. One per response; reasons is a comma-separated list of survey.services.cases.REASONS."""

    __tablename__ = "follow_up_case"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"))
    response_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("response.id"), unique=True)
    reasons: so.Mapped[str] = so.mapped_column(sa.String(100))
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default=CASE_NEW, server_default=CASE_NEW)
    owner_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    due_on: so.Mapped[date | None] = so.mapped_column(sa.Date)
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    contacted_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    recovered: so.Mapped[bool | None] = so.mapped_column()  # on resolving: was the customer won back?

    owner: so.Mapped["Manager | None"] = so.relationship()
    notes: so.Mapped[list["CaseNote"]] = so.relationship(order_by="CaseNote.id", cascade="all, delete-orphan")

    __table_args__ = (
        sa.CheckConstraint("status in ('new', 'contacted', 'resolved')", name="status"),
        sa.Index("ix_follow_up_case_survey_status", "survey_id", "status"),
    )


class CaseNote(db.Model):
    """A note on a follow-up case (what was said or done), with its author."""

    __tablename__ = "case_note"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    case_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("follow_up_case.id"), index=True)
    author_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    text: so.Mapped[str] = so.mapped_column(sa.Text)

    author: so.Mapped["Manager | None"] = so.relationship()


class CaseSweep(db.Model):
    """How far cases were made for a survey: the last response id looked at (so a sweep reads only new rows)."""

    __tablename__ = "case_sweep"
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), primary_key=True)
    last_response_id: so.Mapped[int] = so.mapped_column(default=0)


PENDING, SENT, BOUNCED = "pending", "sent", "bounced"  # what sending did to a mail recipient
MAIL_STATUSES = (PENDING, SENT, BOUNCED)
INVITE, REMIND = "invite", "remind"  # the kinds of mail job


class MailRecipient(db.Model):
    """One address invited by e-mail to a survey wave, with its own invitation token.

    Kept apart from the answers: a response knows only its token, and nothing here is in any export of the
    responses. ``status`` is what sending did (pending, sent, or bounced: the SMTP server refused it);
    answered (the token was used) and unsubscribed are read from the token and from ``mail_unsubscribe``.
    """

    __tablename__ = "mail_recipient"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    wave_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("wave.id"))
    token_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("invitation_token.id"), unique=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    language: so.Mapped[str] = so.mapped_column(sa.String(10), default="en")  # en / zh_CN
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default=PENDING)
    error: so.Mapped[str | None] = so.mapped_column(sa.String(500))  # the SMTP server's refusal or deferral
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    reminders: so.Mapped[int] = so.mapped_column(default=0)
    reminded_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("wave_id", "email", name="uq_mail_recipient_wave_email"),
        sa.CheckConstraint("status in ('pending', 'sent', 'bounced')", name="status"),
    )

    def __repr__(self) -> str:
        return f"<MailRecipient {self.id} survey={self.survey_id} {self.status}>"


class MailUnsubscribe(db.Model):
    """An address that asked for no more mail about one survey (through the link in every mail)."""

    __tablename__ = "mail_unsubscribe"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"))
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("survey_id", "email", name="uq_mail_unsubscribe_survey_email"),)

    def __repr__(self) -> str:
        return f"<MailUnsubscribe survey={self.survey_id}>"


class MailJob(db.Model):
    """One round of invitations or reminders to a wave's recipients, sent by a background job.

    status: queued, running, done, failed (``error``: the SMTP server could not be reached or dropped the
    connection; recipients not reached keep their state, so sending again goes on where it stopped).
    """

    __tablename__ = "mail_job"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id"), index=True)
    wave_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("wave.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(10))
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="queued")
    manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("manager.id"))
    base_url: so.Mapped[str] = so.mapped_column(sa.String(300))  # where the links in the mails point
    total: so.Mapped[int | None]
    sent: so.Mapped[int] = so.mapped_column(default=0)
    bounced: so.Mapped[int] = so.mapped_column(default=0)
    deferred: so.Mapped[int] = so.mapped_column(default=0)  # temporary refusals (4xx): still pending
    skipped: so.Mapped[int] = so.mapped_column(default=0)  # answered or unsubscribed since the job began
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.CheckConstraint("kind in ('invite', 'remind')", name="kind"),
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
    )

    @property
    def done(self) -> int:
        return self.sent + self.bounced + self.deferred + self.skipped

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def __repr__(self) -> str:
        return f"<MailJob {self.id} {self.kind} {self.status}>"
