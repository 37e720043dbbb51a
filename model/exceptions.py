"""Errors and warnings of the model engine, in two hierarchies so callers can catch or filter by family.

Every engine warning goes through :func:`warn`, so a caller that already reads ``result.warnings`` (the
report, the CLI) can run a fit under :func:`silenced` instead of changing the process-wide warnings filters,
which ``warnings.catch_warnings()`` does and which is not safe while other threads run fits.
"""
import contextlib
import contextvars
import warnings

_SILENT = contextvars.ContextVar("model_warnings_silenced", default=False)


def warn(message: str, category: type, stacklevel: int = 2) -> None:
    """Issue a model warning, unless this thread (context) runs under :func:`silenced`."""
    if not _SILENT.get():
        warnings.warn(message, category, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def silenced():
    """Fit without issuing warnings, in this thread only (the result still lists them)."""
    token = _SILENT.set(True)
    try:
        yield
    finally:
        _SILENT.reset(token)


class ModelError(Exception):
    """Base class of every error the model engine raises on purpose."""


class DataError(ModelError, ValueError):
    """The data cannot be analysed as given; the message names the columns or rows and the fix."""


class SpecificationError(ModelError, ValueError):
    """The construct-to-item specification is incomplete or contradictory."""


class ModelWarning(UserWarning):
    """Base class of model warnings, to simplify end-user filtering."""


class ConvergenceWarning(ModelWarning):
    """The optimiser stopped before reaching a minimum; estimates may be unreliable."""


class HeywoodCaseWarning(ModelWarning):
    """An estimated variance is negative (Heywood case); the solution is improper."""


class FitIndexWarning(ModelWarning):
    """A fit index is undefined for this model and data and is reported as missing."""


class InvarianceWarning(ModelWarning):
    """A multi-group (invariance) model did not reach a verified optimum."""
