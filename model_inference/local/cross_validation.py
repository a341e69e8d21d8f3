"""How well the built-in classifier names its own examples when they are held out: the score a
classifier version is judged by (usecases/review.py's non-regression gate)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

FOLDS = 5


def cross_validated(rows: Sequence[Mapping[str, Any]], folds: int = FOLDS) -> dict | None:
    """Top-1 of each example named by a classifier fitted without its picture's examples (folds
    of whole pictures): {"overall": share right, "classes": {name: share right}, "counts": {name:
    examples}}; None with fewer than two classes or two pictures."""
    import numpy as np

    from .learned import fit

    names = Counter(r["name"] for r in rows)
    pictures = sorted({str(r.get("picture_id") or r["id"]) for r in rows})
    if len(names) < 2 or len(pictures) < 2:
        return None
    fold_of = {p: i % min(folds, len(pictures)) for i, p in enumerate(pictures)}
    right: dict[str, list[bool]] = defaultdict(list)
    for fold in sorted(set(fold_of.values())):
        held = [r for r in rows if fold_of[str(r.get("picture_id") or r["id"])] == fold]
        kept = [r for r in rows if fold_of[str(r.get("picture_id") or r["id"])] != fold]
        model = fit(kept, abstain_level=None)
        if model is None or not held:
            continue
        embeddings = (
            np.stack([np.frombuffer(r["embedding"], np.float32) for r in held])
            if all(r["embedding"] is not None for r in held)
            else None
        )
        hand = np.stack([np.frombuffer(r["features"], np.float32) for r in held])
        for row, answer in zip(held, model.predict(embeddings, hand, 1)):
            right[row["name"]].append(answer[0]["label"] == row["name"])
    every = [r for found in right.values() for r in found]
    return {
        "overall": round(sum(every) / max(1, len(every)), 4),
        "classes": {name: round(sum(found) / len(found), 4) for name, found in sorted(right.items())},
        "counts": dict(sorted(names.items())),
    }
