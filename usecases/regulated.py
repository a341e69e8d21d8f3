"""Regulated species as operator data (issue "Sample reports"): NACHET_REGULATED_SPECIES names a
CSV `species,class,limit,per_g` (e.g. a class "prohibited noxious" with limit 0 per 25 g). Lines
starting with `#` are comments; classes are ranked most severe first in the order they first
appear. A bad file is refused whole, naming the line. The file is read again when it changes
(its modification time), so an operator's correction needs no restart."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("species", "class", "limit", "per_g")
EXAMPLE = Path(__file__).with_name("regulated_species.example.csv")


class RegulatedListError(ValueError):
    """The file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    species: str
    regulated_class: str
    limit: float  # seeds allowed per `per_g` grams
    per_g: float
    severity: int  # 0: the most severe class


def parse(text: str, source: str = "NACHET_REGULATED_SPECIES") -> dict[str, Rule]:
    """The rules of a CSV text, by species (case as written; matched without case)."""
    lines = [
        (n, line)
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise RegulatedListError(f"{source}: no header line ({','.join(COLUMNS)})")
    header_line, header = lines[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    if columns != list(COLUMNS):
        unknown = [c for c in columns if c not in COLUMNS]
        why = f"unknown column {', '.join(unknown)}" if unknown else f"columns must be {','.join(COLUMNS)}"
        raise RegulatedListError(f"{source} line {header_line}: {why}")
    rules: dict[str, Rule] = {}
    classes: dict[str, int] = {}
    for number, line in lines[1:]:
        cells = [c.strip() for c in next(csv.reader(io.StringIO(line)))]
        if len(cells) != len(COLUMNS):
            raise RegulatedListError(f"{source} line {number}: {len(cells)} cells, expected {len(COLUMNS)}")
        species, regulated_class, limit_text, per_text = cells
        if not species or not regulated_class:
            raise RegulatedListError(f"{source} line {number}: species and class must not be empty")
        try:
            limit, per_g = float(limit_text), float(per_text)
        except ValueError:
            raise RegulatedListError(f"{source} line {number}: limit and per_g must be numbers") from None
        if not (math.isfinite(limit) and limit >= 0):
            raise RegulatedListError(f"{source} line {number}: limit must be a number >= 0, not {limit_text}")
        if not (math.isfinite(per_g) and per_g > 0):
            raise RegulatedListError(
                f"{source} line {number}: per_g must be a positive number, not {per_text}"
            )
        if species.lower() in rules:
            raise RegulatedListError(f"{source} line {number}: {species} is listed twice")
        severity = classes.setdefault(regulated_class, len(classes))
        rules[species.lower()] = Rule(species, regulated_class, limit, per_g, severity)
    return rules


class RegulatedList:
    """The operator's list, read at start and again whenever the file changes."""

    def __init__(self, path: Path | None):
        self.path = path
        self._seen: float | None = None
        self._rules: dict[str, Rule] = {}
        self.rules()  # a bad file stops the start

    def rules(self) -> dict[str, Rule]:
        if self.path is None:
            return {}
        try:
            changed = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise RegulatedListError(f"NACHET_REGULATED_SPECIES: {self.path} does not exist") from None
        if changed != self._seen:
            self._rules = parse(
                self.path.read_text(encoding="utf-8"), f"NACHET_REGULATED_SPECIES {self.path}"
            )
            self._seen = changed
        return self._rules
