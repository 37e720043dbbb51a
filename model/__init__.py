"""Pure analysis for the customer satisfaction index model (ACSI, ECSI, CCSI) (no Flask, no database).

>>> from model import CSISpec, fit, read_table   # doctest: +SKIP
>>> result = fit(read_table("answers.csv"))       # doctest: +SKIP
>>> result.csi, result.to_dict()["fit"]["cfi"]   # doctest: +SKIP
"""
from .checks import min_responses
from .exceptions import (ConvergenceWarning, DataError, FitIndexWarning, HeywoodCaseWarning,
                         InvarianceWarning, ModelError, ModelWarning, SpecificationError, silenced)
from .fit import fit, fit_stats
from .io import read_table, read_table_chunks
from .moments import SufficientStats
from .results import CSIResult
from .scores import descriptive_scores, item_means, respondent_scores, subset_indices
from .spec import CONSTRUCTS, DEFAULT_MODEL, PATHS, VARIANTS, CSISpec

__all__ = [
    "CSISpec", "CONSTRUCTS", "DEFAULT_MODEL", "PATHS", "VARIANTS", "fit", "fit_stats", "SufficientStats", "CSIResult",
    "read_table", "read_table_chunks", "min_responses", "respondent_scores", "descriptive_scores", "subset_indices",
    "item_means",
    "ModelError", "DataError", "SpecificationError",
    "ModelWarning", "ConvergenceWarning", "HeywoodCaseWarning", "FitIndexWarning", "InvarianceWarning",
    "silenced",
]
