"""A processed model result as the rows that store it and the response that names them (spec
§6.1), in one pure function; `inference_json.py` rebuilds the same shape from the rows."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from kernel.errors import ModelFault
from kernel.text import loggable

from .taxonomy import roll_up

SUMMARY_KEYS = ("filename", "labelOccurrence", "totalBoxes", "models", "classifier_version")
BOX_KEYS = ("box", "color", "overlapping", "overlappingIndices", "measurements", "prediction_set", "evidence")


@dataclass
class InferenceRows:
    summary: dict  # the inference row's JSON
    objects: list[tuple[UUID, dict, UUID]]  # (object id, box metadata, id of its best guess)
    guesses: list[tuple[UUID, UUID, UUID, float]]  # (seed_obj id, seed id, object id, score)
    response: dict  # the result with box, guess and top ids (inference and pipeline ids to add)


def guesses_of(box: dict) -> list[dict]:
    """A box's candidate seeds: its top-N, else its one label."""
    return box.get("topN") or [{"label": box.get("label"), "score": box.get("score")}]


def labels_of(result: dict) -> list[object]:
    """What the boxes' guesses name: seed names, if the model answered as it should."""
    return [guess["label"] for box in result.get("boxes") or [] for guess in guesses_of(box)]


def check_labels(result: dict, seed_ids: dict[str, UUID]) -> None:
    """Every label must name a seed: a model answer that does not is refused whole, as the fault
    of the pipeline's last model (the one that labelled the boxes)."""
    labels = labels_of(result)
    unknown = next((label for label in labels if not isinstance(label, str) or label not in seed_ids), None)
    if result.get("boxes") and (unknown is not None or not labels):
        shown = f"'{loggable(unknown)}'" if isinstance(unknown, str) else loggable(unknown)
        raise ModelFault(f"{labelling_model(result)} answered a label that is not in the seed table: {shown}")


def labelling_model(result: dict) -> str:
    """The last model a result lists, as `model <name>` ("the model" when it lists none)."""
    models = result.get("models")
    last = models[-1] if isinstance(models, list) and models else None
    name = last.get("name") if isinstance(last, dict) else None
    return f"model {loggable(name)}" if name else "the model"


def inference_rows(result: dict, seed_ids: dict[str, UUID], image_dims: list[float] | None) -> InferenceRows:
    """Rows for `result`, whose labels `seed_ids` resolves. Ids are made here, so every table is
    written in one batched statement. A label that names no seed refuses the whole result."""
    response = copy.deepcopy(result)  # the models' answer stays as it was (a retried save reuses it)
    boxes = response.get("boxes") or []
    check_labels(response, seed_ids)
    summary = {k: response.get(k) for k in SUMMARY_KEYS}
    if image_dims:
        summary["imageDims"] = list(image_dims)  # the units of the boxes, for feedback crops
    objects, guesses = [], []
    fresh = random_ids(sum(1 + len(guesses_of(box)) for box in boxes))
    for box in boxes:
        object_id, entries = next(fresh), guesses_of(box)
        ids = [next(fresh) for _ in entries]
        scores = [float(entry.get("score") or 0.0) for entry in entries]
        top = ids[scores.index(max(scores))]
        for guess_id, entry, score in zip(ids, entries, scores):
            guesses.append((guess_id, seed_ids[entry["label"]], object_id, score))
            if box.get("topN"):
                entry["object_id"] = str(guess_id)
        objects.append((object_id, {k: box.get(k) for k in BOX_KEYS}, top))
        box.update(object_type_id=1, box_id=str(object_id), top_id=str(top), **roll_up(entries))
    return InferenceRows(summary, objects, guesses, response)


def random_ids(count: int) -> Iterator[UUID]:
    """`count` random (version 4) UUIDs from one read of the system's random source, as uuid4()
    makes each from one: a request's ~25 rows cost one system call, not 25."""
    randomness = os.urandom(16 * count)
    return (UUID(bytes=randomness[i : i + 16], version=4) for i in range(0, 16 * count, 16))
