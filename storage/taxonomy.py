"""Genus and family of the seed catalogue (spec seed-catalogue.md) for a box's roll-up: the
scores of its candidate species summed per genus and per family, so an uncertain species can
still be a confident genus ("Ambrosia", 0.97). Labels outside the catalogue's genera (a name a
lab made up, "Unknown seed") add to neither."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

FAMILY_OF_GENUS = {
    "Ambrosia": "Asteraceae",
    "Brassica": "Brassicaceae",
    "Bromus": "Poaceae",
    "Carduus": "Asteraceae",
    "Centaurea": "Asteraceae",
    "Cirsium": "Asteraceae",
    "Cuscuta": "Convolvulaceae",
    "Cyclachaena": "Asteraceae",
    "Iva": "Asteraceae",
    "Lolium": "Poaceae",
    "Solanum": "Solanaceae",
    "Tripleurospermum": "Asteraceae",
}
_PREFIX = re.compile(r"^\d{3}\s+")  # production labels: "012 Ambrosia artemisiifolia"


def genus_of(label: Any) -> str | None:
    if not isinstance(label, str):
        return None
    words = _PREFIX.sub("", label.strip()).split()
    return words[0] if words and words[0] in FAMILY_OF_GENUS else None


def roll_up(candidates: list[dict]) -> dict[str, list[dict]]:
    """{"genus": [{label, score}], "family": [{label, score}]}, best first."""
    genera: dict[str, float] = defaultdict(float)
    families: dict[str, float] = defaultdict(float)
    for candidate in candidates:
        genus = genus_of(candidate.get("label"))
        score = candidate.get("score")
        if genus is None or not isinstance(score, (int, float)):
            continue
        genera[genus] += float(score)
        families[FAMILY_OF_GENUS[genus]] += float(score)
    return {
        "genus": _ranked(genera),
        "family": _ranked(families),
    }


def _ranked(sums: dict[str, float]) -> list[dict]:
    return [
        {"label": name, "score": round(score, 6)} for name, score in sorted(sums.items(), key=lambda i: -i[1])
    ]
