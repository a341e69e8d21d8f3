"""The built-in classifier as this process last fitted it: a cache of the examples stored in the
database (safe to lose; usecases/learning.py refits it on start, on every worker's NOTIFY and every
minute), and how a labelled picture or box is cut into the crops that become examples."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from ..cpu import run_cpu
from ..pixels import crop_fraction, decode_bgr

log = logging.getLogger(__name__)
MAX_SEEDS_PER_UPLOAD = 50
# what the classifier's code answers with a given set of examples: changed with it, so a version
# id names what produced an answer
CLASSIFIER_CODE = "seed-classifier 2 (open world: calibrated scores, prediction sets)"


def version_id(example_ids: Iterable[Any], embedder: str) -> str:
    """A classifier version's id: a content hash of its examples, its embedder and this code."""
    content = json.dumps([sorted(int(i) for i in example_ids), embedder, CLASSIFIER_CODE])
    return hashlib.sha256(content.encode()).hexdigest()[:16]


class LearnedClassifier:
    def __init__(
        self,
        features,
        executor: Executor | None = None,
        abstain_level: float | None = None,
        set_level: float = 0.9,
    ):
        self.features, self.executor = features, executor
        self.abstain_level = abstain_level  # open set: see classifier.SizeModel
        self.set_level = set_level  # the prediction sets' coverage (NACHET_PREDICTION_SET_LEVEL)
        self.fitted: Any = None  # a SeedClassifier; none without examples (numpy loads with the first)
        self.version: str = ""  # the classifier version it answers as (version_id, "+private")
        self.fingerprint: str = ""  # its examples' ids, hashed (what the result cache keys on)
        # example id -> (picture id, owner's user id, label): whose examples evidence may show
        self.examples: dict[Any, tuple[Any, Any, str]] = {}

    async def classify(self, crops: list, top_n: int = 5) -> list[list[dict]]:
        """Top-N {label, score} per BGR crop; "Unknown seed" while there are no examples."""
        return [answer.top_n for answer in await self.answer(crops, top_n)]

    async def answer(self, crops: list, top_n: int = 5) -> list:
        """classifier.Answer per BGR crop: top-N, prediction set, nearest examples."""
        from .classifier import UNKNOWN, Answer

        fitted = self.fitted
        if fitted is None or not fitted.size:
            return [Answer([{"label": UNKNOWN, "score": 1.0}], [UNKNOWN]) for _ in crops]
        embeddings, hand = await run_cpu(self.executor, self.features, crops)
        return await run_cpu(self.executor, fitted.answer, embeddings, hand, top_n)

    def like(self) -> LearnedClassifier:
        """An unfitted classifier with the same features and settings (a user's private layer)."""
        return LearnedClassifier(self.features, self.executor, self.abstain_level, self.set_level)

    async def refit(self, rows: Sequence[Mapping[str, Any]], version: str) -> None:
        """Fit on these example rows (id, seed_id, name, embedding, features, picture_id), off
        the event loop."""
        self.fitted = await run_cpu(self.executor, fit, list(rows), self.abstain_level, self.set_level)
        self.examples = {r["id"]: (r.get("picture_id"), r.get("owner_id"), r["name"]) for r in rows}
        self.version = version
        # the exact examples fitted: "+private" names no user's pending set, the result cache must
        self.fingerprint = hashlib.sha256(json.dumps(sorted(int(r["id"]) for r in rows)).encode()).hexdigest()
        if self.fitted is not None:
            log.info(
                "built-in classifier: %d examples of %d seeds (%s)",
                self.fitted.size,
                len(self.fitted.classes),
                self.fitted.mode,
            )


def evidence(
    neighbours: list, examples: Mapping[Any, tuple[Any, Any, str]], owner: Any, most: int = 3
) -> list[dict]:
    """The nearest examples `owner` may see, as a box's `evidence`: at most `most`, nearest first."""
    shown = []
    for example_id, similarity in neighbours:
        picture, example_owner, label = examples.get(example_id, (None, None, ""))
        if picture is None or example_owner is None or str(example_owner) != str(owner):
            continue
        shown.append(
            {"example_id": example_id, "picture_id": str(picture), "label": label, "similarity": similarity}
        )
        if len(shown) == most:
            break
    return shown


def crops_for(data: bytes, box) -> list[tuple[Any, dict]]:
    """The seeds of a labelled picture, each with where it was cropped (fractions of the
    picture): the verified box, or every seed the detector finds (the whole picture when it
    finds none: one seed per picture)."""
    from .detector import detect_seeds

    pixels = decode_bgr(data)
    if box:
        # pixels of the inference's imageDims (the size the client drew on), else of the picture
        w, h = box.get("imageDims") or (pixels.shape[1], pixels.shape[0])
        fraction = {
            "topX": box["topX"] / w,
            "topY": box["topY"] / h,
            "bottomX": box["bottomX"] / w,
            "bottomY": box["bottomY"] / h,
        }
        return [(crop_fraction(pixels, fraction), fraction)]
    found = detect_seeds(pixels)[:MAX_SEEDS_PER_UPLOAD]
    whole = {"topX": 0.0, "topY": 0.0, "bottomX": 1.0, "bottomY": 1.0}
    return [(crop_fraction(pixels, b["box"]), dict(b["box"])) for b in found] or [(pixels, whole)]


def _padded(vectors: list):
    """Rows of one length: older examples (fewer features) padded with NaN."""
    import numpy as np

    width = max(len(v) for v in vectors)
    return np.stack([np.pad(v, (0, width - len(v)), constant_values=np.nan) for v in vectors])


def fit(rows: Sequence[Mapping[str, Any]], abstain_level: float | None = None, set_level: float = 0.9):
    """The classifier of these example rows (None without rows: nothing is loaded for it)."""
    if not rows:
        return None
    import numpy as np

    from .classifier import Examples, SeedClassifier

    with_embedding = all(r["embedding"] is not None for r in rows)
    return SeedClassifier(
        Examples(
            seed_ids=[r["seed_id"] for r in rows],
            names={r["seed_id"]: r["name"] for r in rows},
            embeddings=np.stack([np.frombuffer(r["embedding"], np.float32) for r in rows])
            if with_embedding
            else None,
            hand=_padded([np.frombuffer(r["features"], np.float32) for r in rows]),
            ids=[r.get("id") for r in rows],
            pictures=[r.get("picture_id") or f"example {i}" for i, r in enumerate(rows)],
        ),
        abstain_level,
        set_level,
    )
