"""Errors and warnings of the model engine, in two hierarchies so callers can catch or filter by family."""


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
