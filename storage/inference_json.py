"""The inference as the routes return it after saving, rebuilt from its rows (spec §11.4)."""

from __future__ import annotations

from asyncpg import Connection, Record

from datastore.queries import inferences

from .taxonomy import roll_up


def _floats(values) -> list[float]:
    return [float(v) for v in values or []]


def _box(obj: Record) -> dict:
    metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
    stored = metadata.get("box", metadata)
    guesses = obj["guesses"]
    verified = obj["verified_id"] is not None
    chosen_id = obj["verified_id"] if verified else obj["top_id"]
    chosen = next((g for g in guesses if g["object_id"] == str(chosen_id)), guesses[0] if guesses else None)
    top_n = [{"label": g["label"], "object_id": g["object_id"], "score": g["score"]} for g in guesses]
    return {
        "box": {k: float(stored.get(k, 0)) for k in ("topX", "topY", "bottomX", "bottomY")},
        "box_id": str(obj["id"]),
        "color": metadata.get("color"),
        "label": chosen["label"] if chosen else None,
        "object_type_id": obj["type_id"],
        "overlapping": bool(metadata.get("overlapping", False)),
        "overlappingIndices": _floats(metadata.get("overlappingIndices")),
        "score": 1.0 if verified else max((g["score"] for g in guesses), default=0.0),
        "topN": top_n,
        "top_id": str(chosen_id) if chosen_id else None,
        "is_verified": verified,
        "measurements": metadata.get("measurements"),
        **roll_up(top_n),
        # the built-in classifier's additions, as they were answered (older inferences lack them)
        **{key: metadata[key] for key in ("prediction_set", "evidence") if key in metadata},
    }


async def rebuild_inference(conn: Connection, row: Record) -> dict:
    summary = row["inference"] if isinstance(row["inference"], dict) else {}
    models = summary.get("models")
    if models is None:  # inferences saved by the original: its pipeline's models and version
        pipeline = await inferences.pipeline_summary(conn, row["pipeline_id"])
        data = pipeline["data"] if pipeline and isinstance(pipeline["data"], dict) else {}
        models = [{"name": name, "version": str(data.get("version", ""))} for name in data.get("models", [])]
    return {
        "boxes": [_box(obj) for obj in await inferences.objects_with_guesses(conn, row["id"])],
        "filename": summary.get("filename"),
        "inference_id": str(row["id"]),
        "labelOccurrence": summary.get("labelOccurrence", {}),
        "totalBoxes": summary.get("totalBoxes", 0),
        "models": [{"name": m.get("name"), "version": str(m.get("version"))} for m in models],
        "pipeline_id": str(row["pipeline_id"]) if row["pipeline_id"] else None,
        # which examples the built-in classifier answered with (inferences of other pipelines: none)
        **(
            {"classifier_version": summary["classifier_version"]} if summary.get("classifier_version") else {}
        ),
    }
