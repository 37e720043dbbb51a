"""Domain errors raised by the services; views and the API map them to pages and status codes."""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

ERROR_MESSAGES = {
    "required": _l("Please answer this question."),
    "not_a_number": _l("Please choose a number on the scale."),
    "out_of_range": _l("Please choose a value on the scale."),
    "invalid_choice": _l("Please choose one of the options."),
    "too_long": _l("Please shorten this answer."),
    "dont_know_not_allowed": _l("Please choose a value; this question has no 'don't know' option."),
    "not_applicable": _l("Your earlier answer means this question does not apply. Change that answer, or clear "
                         "this one (choose “Don't know / not applicable” or untick the boxes)."),
    "invalid": _l("This value is not valid."),
    "contact_missing": _l("To be contacted, please leave an e-mail address or a phone number."),
    "contact_bad_email": _l("Please check the e-mail address."),
    "contact_bad_phone": _l("Please check the phone number (digits, spaces, + - ( ) only)."),
}


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidResponse(ServiceError, ValueError):
    """A submission failed validation; codes maps question code -> error code, errors -> message."""

    def __init__(self, codes: dict[str, str]):
        self.codes = dict(codes)
        super().__init__("invalid answers: " + ", ".join(f"{k} ({v})" for k, v in self.codes.items()))

    @property
    def errors(self) -> dict[str, str]:
        """Return question code -> message in the current locale."""
        return {code: str(ERROR_MESSAGES.get(err, ERROR_MESSAGES["invalid"])) for code, err in self.codes.items()}


class SurveyNotFound(ServiceError, LookupError):
    """No survey has this address."""


class KeyRefused(ServiceError):
    """The API key is unknown, revoked, or not allowed to submit to this survey."""


class SurveyClosed(ServiceError):
    """The survey no longer accepts responses."""


class TokenUnknown(ServiceError):
    """The invitation token does not belong to this survey."""


class TokenRequired(ServiceError):
    """The survey is invitation-only and the submission brought no invitation token."""


class TokenUsed(ServiceError):
    """The invitation token has already been used for a response."""


class PermissionDenied(ServiceError, PermissionError):
    """The manager's role or survey access does not allow this action (services/permissions.py)."""


class InvalidInput(ServiceError, ValueError):
    """A manager action got bad input; the message is fit to show."""


class InvalidRows(ServiceError, ValueError):
    """Some rows of a bulk import failed validation; rows maps row index -> InvalidResponse."""

    def __init__(self, rows: dict[int, InvalidResponse]):
        self.rows = rows
        first = next(iter(rows.items()))
        super().__init__(f"{len(rows)} invalid row(s); first: row {first[0]}: {first[1]}")


class ApiError(Exception):
    """An error answered with an HTTP status in the API's one JSON shape (web.json_errors.json_error:
    {"error": {"status", "code", "message", "fields"}})."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.extra = status, code, message, fields, extra


class BadFilter(ServiceError, ValueError):
    """The ?wave= or ?segment= filter names nothing in this survey; message_id says which."""

    def __init__(self, message_id: str, value: str):
        self.message_id, self.value = message_id, value
        super().__init__(f"{message_id}: {value}")


class BadWhatIf(ServiceError, ValueError):
    """The report's what-if form asks for something the model cannot predict; message_id and fields word it."""

    def __init__(self, message_id: str, **fields):
        self.message_id, self.fields = message_id, fields
        super().__init__(f"{message_id}: {fields}")


@dataclass
class Problem:
    """One thing wrong with the upload: a message id of the report wording plus its fields."""

    message_id: str
    fields: dict


class ImportRejected(ServiceError, ValueError):
    """The upload failed its checks; problems lists them (at most MAX_ERRORS, total counts all)."""

    def __init__(self, problems: list[Problem], total: int):
        self.problems, self.total = problems, total
        super().__init__(f"{total} problem(s) in the upload")


@dataclass(frozen=True)
class ListProblem:
    """One line of an uploaded address list that cannot be used: its number, what is wrong (a key of
    LIST_PROBLEMS) and the value at fault."""

    line: int
    code: str
    value: str = ""


LIST_PROBLEMS = {
    "bad_address": _l("Line %(line)s: “%(value)s” is not an e-mail address."),
    "no_address": _l("Line %(line)s: no e-mail address."),
    "bad_language": _l("Line %(line)s: language “%(value)s” is not offered (write en or zh)."),
    "no_email_column": _l("The first line names the columns, but none of them is the e-mail address (email)."),
    "too_many": _l("The list has more than %(value)s addresses; send it in parts."),
    "empty": _l("The list has no addresses."),
}


class MailListRejected(ServiceError, ValueError):
    """An address list had unusable lines; nothing of it was added (problems: at most MAX_PROBLEMS of them,
    total counts all)."""

    MAX_PROBLEMS = 50

    def __init__(self, problems: list[ListProblem]):
        self.total = len(problems)
        self.problems = problems[:self.MAX_PROBLEMS]
        super().__init__(f"{self.total} problem(s) in the address list")

    @property
    def messages(self) -> list[str]:
        """The problems in the current locale."""
        return [str(LIST_PROBLEMS[p.code] % {"line": p.line, "value": p.value}) for p in self.problems]


class MailRefused(ServiceError):
    """Sending cannot start: reason is "closed" (the survey), "busy" (a round is under way) or "nobody" (no one
    to write to)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
