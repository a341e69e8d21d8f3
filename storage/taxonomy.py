"""Genus and family for a box's roll-up: the scores of its candidate species summed per genus and
per family, so an uncertain species can still be a confident genus ("Ambrosia", 0.97).

The genus is the first word of a binomial ("Linum usitatissimum" -> Linum, "Cuscuta spp" ->
Cuscuta); the family comes from a table of genera (genus_families.csv: the catalogue's, crops and
the weeds of Canadian seed testing, with its sources), which the operator may extend
(NACHET_GENUS_FAMILIES, read at start-up). A candidate whose genus has no known family adds to
its genus only; a roll-up that would be empty is left out of the box rather than answered `[]`;
"Unknown seed" adds to neither."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

FAMILIES_FILE = Path(__file__).with_name("genus_families.csv")
PLACEHOLDER = "unknown seed"
_PREFIX = re.compile(r"^\d{3}\s+")  # production labels: "012 Ambrosia artemisiifolia"
# a genus (capitalised, Latin letters) then an epithet in lower case, "spp"/"sp.", or a hybrid "x"
_BINOMIAL = re.compile(r"^([A-Z][a-z]+)\s+(?:[x×]\s*)?(?:[a-z][a-z-]*\.?)(?:\s|$)")


class TaxonomyFileError(ValueError):
    """A genus -> family file that cannot be used, with the line that says why."""


def read_families(path: Path) -> dict[str, str]:
    """genus -> family from a CSV with a `genus,family` header (lines starting with # are
    comments). TaxonomyFileError naming the line for a row that is not two names, or a genus
    given two families."""
    families: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [(n, line) for n, line in enumerate(handle, 1) if line.strip() and not line.startswith("#")]
    rows = csv.reader(line for _, line in lines)
    header = next(rows, None)
    if header is None or [h.strip().lower() for h in header] != ["genus", "family"]:
        raise TaxonomyFileError(f"{path}: the first row must be the header genus,family")
    for (number, _), row in zip(lines[1:], rows, strict=True):
        cells = [c.strip() for c in row]
        if len(cells) != 2 or not all(re.fullmatch(r"[A-Z][a-z]+", c) for c in cells):
            raise TaxonomyFileError(f"{path}, line {number}: expected a genus and a family, got {row}")
        genus, family = cells
        if families.get(genus, family) != family:
            raise TaxonomyFileError(f"{path}, line {number}: {genus} is given two families")
        families[genus] = family
    return families


# The process's table: the bundled file, then the operator's rows (add_families at start-up).
_families: dict[str, str] = read_families(FAMILIES_FILE)


def add_families(path: Path) -> int:
    """Add (or correct) families from the operator's file; how many rows it had."""
    extra = read_families(path)
    _families.update(extra)
    return len(extra)


def genus_of(label: object) -> str | None:
    if not isinstance(label, str):
        return None
    name = _PREFIX.sub("", label.strip())
    if name.lower() == PLACEHOLDER:
        return None
    match = _BINOMIAL.match(name)
    if match:
        return match[1]
    return name if name in _families else None  # a genus alone ("Cuscuta")


def family_of(genus: str) -> str | None:
    return _families.get(genus)


def roll_up(candidates: Sequence[Mapping[str, object]]) -> dict[str, list[dict]]:
    """{"genus": [{label, score}], "family": [{label, score}]}, best first, of these candidates
    only; a roll-up with nothing in it is left out."""
    genera: dict[str, float] = defaultdict(float)
    families: dict[str, float] = defaultdict(float)
    for candidate in candidates:
        genus = genus_of(candidate.get("label"))
        score = candidate.get("score")
        if genus is None or not isinstance(score, (int, float)):
            continue
        genera[genus] += float(score)
        family = family_of(genus)
        if family is not None:
            families[family] += float(score)
    rolled = {"genus": _ranked(genera), "family": _ranked(families)}
    return {key: ranked for key, ranked in rolled.items() if ranked}


def _ranked(sums: dict[str, float]) -> list[dict]:
    return [
        {"label": name, "score": round(score, 6)} for name, score in sorted(sums.items(), key=lambda i: -i[1])
    ]
