"""Which survey items measure which construct, and the fixed ACSI-style structural model."""
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

_CODES = "|".join(CONSTRUCTS)
_ITEM_NAME = re.compile(rf"^({_CODES})(\d+)$")
_LOOSE_ITEM_NAME = re.compile(rf"^\s*({_CODES})\s*_?\s*(\d+)\s*$", re.IGNORECASE)


def parse_item_code(name, *, loose: bool = False) -> tuple[str, int] | None:
    """Split an item name of the ``<CODE><n>`` convention into (construct code, number), or None.

    ``CE1`` -> ("CE", 1); with ``loose`` (reading a stranger's column headers) case, spaces and one underscore
    are forgiven too: ``pq_2`` -> ("PQ", 2).

    >>> parse_item_code("CL12"), parse_item_code("CEO"), parse_item_code(" ce_3 ", loose=True)
    (('CL', 12), None, ('CE', 3))
    """
    match = (_LOOSE_ITEM_NAME if loose else _ITEM_NAME).match(str(name))
    return (match.group(1).upper(), int(match.group(2))) if match else None


@dataclass(frozen=True)
class CSISpec:
    """Assignment of item columns to the six constructs.

    Parameters
    ----------
    items : mapping of str to tuple of str
        Construct code (``CE`` … ``CL``) to the names of its item columns, at least one each.

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

    def __post_init__(self):
        unknown = sorted(set(self.items) - set(CONSTRUCTS))
        if unknown:
            raise SpecificationError(
                f"unknown construct code(s) {unknown}; use only {list(CONSTRUCTS)}")
        empty = [code for code in CONSTRUCTS if not self.items.get(code)]
        if empty:
            raise SpecificationError(
                f"construct(s) {empty} have no items; every construct needs at least one item "
                f"column (named like {empty[0]}1, or listed in the mapping)")
        seen: dict[str, str] = {}
        for code in CONSTRUCTS:
            for item in self.items[code]:
                if not isinstance(item, str) or not item:
                    raise SpecificationError(f"construct {code} lists an invalid item name {item!r}")
                if item in seen:
                    raise SpecificationError(
                        f"item {item!r} is assigned to both {seen[item]} and {code}; "
                        "assign each item to one construct")
                seen[item] = code
        frozen = {code: tuple(self.items[code]) for code in CONSTRUCTS}
        object.__setattr__(self, "items", MappingProxyType(frozen))

    @classmethod
    def from_columns(cls, columns: Iterable[str]) -> "CSISpec":
        """Build the spec from column names that follow the ``<CODE><n>`` convention.

        Columns that do not match (e.g. ``age``, ``comment``) are ignored; items are ordered by number.
        """
        found: dict[str, list[tuple[int, str]]] = {code: [] for code in CONSTRUCTS}
        columns = [str(col) for col in columns]
        twice = sorted({col for col in columns if columns.count(col) > 1 and parse_item_code(col.strip())})
        if twice:
            raise SpecificationError(f"column(s) {twice} appear more than once; column names must be unique")
        for col in columns:
            parsed = parse_item_code(col.strip())
            if parsed:
                found[parsed[0]].append((parsed[1], col))
        missing = [code for code, cols in found.items() if not cols]
        if missing:
            raise SpecificationError(
                f"no item columns for construct(s) {missing}; name columns like "
                f"{missing[0]}1, {missing[0]}2 or pass an explicit mapping (--map MAP.json)")
        return cls({code: tuple(name for _, name in sorted(cols)) for code, cols in found.items()})

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[str]]) -> "CSISpec":
        """Build the spec from an explicit ``{"CE": ["q1", "q2"], ...}`` mapping."""
        if not isinstance(mapping, Mapping):
            raise SpecificationError(
                'the mapping must be an object like {"CE": ["q1", "q2"], "PQ": [...], ...}')
        items = {}
        for code, cols in mapping.items():
            if isinstance(cols, str):
                cols = [cols]
            items[str(code).strip().upper()] = tuple(str(c) for c in cols)
        return cls(items)

    @property
    def observed(self) -> tuple[str, ...]:
        """All item columns in construct order."""
        return tuple(item for code in CONSTRUCTS for item in self.items[code])

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
        loadings = p - len(CONSTRUCTS)
        residuals = p - single
        latent_variances = len(CONSTRUCTS)  # CE variance + five disturbances
        return loadings + residuals + latent_variances + len(PATHS)

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
        for effect in CONSTRUCTS:
            causes = [a for a, b in PATHS if b == effect]
            if causes:
                lines.append(f"{effect} ~ " + " + ".join(causes))
        for cols in self.items.values():
            if len(cols) == 1:
                item = names[cols[0]] if names else cols[0]
                lines.append(f"{item} ~~ 0*{item}")
        return "\n".join(lines) + "\n"
