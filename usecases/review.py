"""Reviewed learning (issue "Trusted learning"): a verifier accepts or rejects the examples users
taught, and the shared built-in classifier changes only through immutable versions.

Accepting makes a candidate: the active version's examples and the accepted ones. It becomes
active only if its cross-validated top-1 (model_inference/local/cross_validation.py) drops by at
most GATE_OVERALL against the active version's, and no class with GATE_CLASS_FROM examples drops
by more than GATE_CLASS; otherwise it stays a candidate until promoted (`force` passes the gate).
Rejected examples stop counting anywhere at once (a version without them). A rollback makes an
older version active again and sends the examples accepted since back to pending; nothing is
deleted. Every change is one transaction under one lock and a NOTIFY: every worker of every
replica refits on it. Each leaves an audit line (who, what, figures)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from kernel.errors import DatastoreError, NotFoundError
from model_inference.cpu import run_cpu
from model_inference.local.cross_validation import cross_validated
from model_inference.local.lazy import embedder_identity
from model_inference.local.learned import version_id
from storage import review as stored
from storage.review import Reviewing, reviewing

log = logging.getLogger("nachet.review")
GATE_OVERALL = 0.02  # overall top-1 may drop by this much
GATE_CLASS = 0.10  # ... and a class's by this much
GATE_CLASS_FROM = 5  # examples of a class before its own drop counts


class ConflictError(DatastoreError):
    status = 409


@dataclass(frozen=True)
class Choice:
    """Which examples a review names: ids, a user's (email), or a batch's (its folder id)."""

    ids: list[int] | None = None
    email: str | None = None
    batch: UUID | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.ids, self.email, self.batch)) != 1:
            raise DatastoreError("name the examples by ids, by user or by batch (one of them)")


def gate(before: dict | None, after: dict | None) -> tuple[bool, str]:
    """Whether `after` (a candidate's cross-validated scores) may replace `before` (the active's)."""
    if before is None:
        return True, "nothing to compare with (no scored active version)"
    if after is None:
        return True, "no score (fewer than two classes or pictures)"
    drop = before["overall"] - after["overall"]
    worse = [
        f"{name} {before['classes'][name]:.0%} -> {score:.0%}"
        for name, score in after["classes"].items()
        if name in before["classes"]
        and after["counts"].get(name, 0) >= GATE_CLASS_FROM
        and before["classes"][name] - score > GATE_CLASS
    ]
    figures = f"top-1 {before['overall']:.1%} -> {after['overall']:.1%}"
    if drop > GATE_OVERALL or worse:
        return False, f"{figures}; classes that lost: {', '.join(worse) or 'none'}"
    return True, figures


class Review:
    def __init__(self, pool: asyncpg.Pool, embedder: str | None = None):
        self.pool = pool
        self.embedder = embedder or embedder_identity()

    async def accept(self, choice: Choice, by: str, force: bool = False) -> dict:
        async with reviewing(self.pool) as review:
            found = await self._chosen(review, choice, refuse="rejected")
            newly = [r["id"] for r in found if r["state"] == "pending"]
            await review.set_state(newly, "accepted", by)
            active = await review.active()
            # the active version's examples, or before the first version every accepted one
            base = set(active["examples"]) if active else set(await review.accepted_ids())
            outcome = await self._new_version(review, sorted(base | set(newly)), active, by, force)
        log.info(
            "review: %s accepted %d examples (%d already) -> %s",
            by,
            len(newly),
            len(found) - len(newly),
            outcome,
        )
        return {"accepted": newly, **outcome}

    async def reject(self, choice: Choice, by: str) -> dict:
        async with reviewing(self.pool) as review:
            found = await self._chosen(review, choice)
            ids = [r["id"] for r in found if r["state"] != "rejected"]
            await review.set_state(ids, "rejected", by)
            active = await review.active()
            outcome: dict = {
                "version": active["id"] if active else None,
                "state": "active" if active else None,
            }
            if active and set(ids) & set(active["examples"]):  # out of every answer at once: no gate
                kept = sorted(set(active["examples"]) - set(ids))
                outcome = await self._new_version(review, kept, active, by, force=True)
            await review.announce()
        log.info("review: %s rejected %d examples -> %s", by, len(ids), outcome)
        return {"rejected": ids, **outcome}

    async def rollback(self, target: str, by: str) -> dict:
        async with reviewing(self.pool) as review:
            version = await self._version(review, target)
            again = await review.pending_not_in(list(version["examples"]), by)
            await review.activate(version["id"])
            await review.announce()
        log.info("review: %s rolled back to %s (%d examples pending again)", by, version["id"], again)
        return {"version": version["id"], "state": "active", "pending_again": again}

    async def promote(self, target: str, by: str, force: bool = False) -> dict:
        async with reviewing(self.pool) as review:
            version = await self._version(review, target)
            active = await review.active()
            passed, figures = gate(active["score"] if active else None, version["score"])
            if not (passed or force):
                raise ConflictError(
                    f"version {version['id']} stays a candidate: {figures} (--force makes it active)"
                )
            await review.activate(version["id"])
            await review.announce()
        log.info(
            "review: %s promoted %s (%s%s)", by, version["id"], figures, ", forced" if not passed else ""
        )
        return {"version": version["id"], "state": "active", "gate": figures}

    async def diff(self, a: str, b: str, features, load_picture, limit: int = 200) -> dict:
        """What changes from version `a` to `b`: classes and examples added and removed, both
        scores, and how many of the latest `limit` stored boxes each would name differently (the
        boxes cropped again from their pictures and classified by both)."""
        material = await stored.diff_material(self.pool, a, b, limit)
        if material is None:
            known = [r["id"] for r in await stored.versions(self.pool)]
            raise NotFoundError(
                f"no classifier version {a} or {b}; versions: {', '.join(known) or 'none'}", 404
            )
        first, second, rows_a, rows_b, boxes = material
        ids_a, ids_b = set(first["examples"]), set(second["examples"])
        crops = []
        for picture_id, found in _by_picture(boxes).items():
            data = await load_picture(picture_id)
            if data is not None:
                crops += await run_cpu(None, _crops, data, found)
        changed = 0
        if crops:
            embeddings, hand = await run_cpu(None, features, crops)
            named = [await run_cpu(None, _top_labels, rows, embeddings, hand) for rows in (rows_a, rows_b)]
            changed = sum(x != y for x, y in zip(*named))
        return {
            "a": a,
            "b": b,
            "classes_added": sorted(set(second["counts"]) - set(first["counts"])),
            "classes_removed": sorted(set(first["counts"]) - set(second["counts"])),
            "examples_added": len(ids_b - ids_a),
            "examples_removed": len(ids_a - ids_b),
            "score_a": first["score"],
            "score_b": second["score"],
            "boxes_replayed": len(crops),
            "boxes_named_differently": changed,
        }

    async def versions(self) -> list[dict]:
        return [dict(r) for r in await stored.versions(self.pool)]

    async def listed(
        self, state: str | None, owner: UUID | None = None, email: str | None = None
    ) -> list[dict]:
        return await stored.listed(self.pool, state, owner, email)

    # -- steps ---------------------------------------------------------------------------------------
    async def _chosen(self, review: Reviewing, choice: Choice, refuse: str | None = None) -> list:
        found = await review.chosen(choice.ids, choice.email, choice.batch)
        if choice.ids is not None:
            missing = sorted(set(choice.ids) - {r["id"] for r in found})
            if missing:
                raise NotFoundError(f"no example {', '.join(map(str, missing))}", 404)
        elif not found:
            raise NotFoundError(f"no example of {choice.email or f'batch {choice.batch}'}", 404)
        refused = [r["id"] for r in found if r["state"] == refuse]
        if refused:
            raise ConflictError(f"example {', '.join(map(str, refused))} was rejected: it cannot be accepted")
        return found

    async def _version(self, review: Reviewing, target: str) -> asyncpg.Record:
        version = await review.version(target)
        if version is None:
            known = [r["id"] for r in await review.versions()]
            raise NotFoundError(
                f"no classifier version {target}; versions: {', '.join(known) or 'none'}", 404
            )
        if version["embedder"] != self.embedder:
            raise ConflictError(
                f"version {target} was embedded by {version['embedder'][:12]}, today's embedder is "
                f"{self.embedder[:12]}: its examples cannot be compared with new crops"
            )
        return version

    async def _new_version(
        self, review: Reviewing, examples: Sequence[int], active: asyncpg.Record | None, by: str, force: bool
    ) -> dict:
        """The version of these examples: active if it passes the gate (or `force`), else a
        candidate; the same examples make the same version (no new row)."""
        vid = version_id(examples, self.embedder)
        if active is not None and vid == active["id"]:
            return {"version": vid, "state": "active", "gate": "unchanged"}
        rows = await review.rows_of(list(examples))
        score = await run_cpu(None, cross_validated, rows)
        before = active["score"] if active else None
        if active is not None and before is None and active["examples"]:
            before = await run_cpu(None, cross_validated, await review.rows_of(list(active["examples"])))
        passed, figures = gate(before, score)
        state = "active" if passed or force else "candidate"
        counts = dict(Counter(r["name"] for r in rows))
        await review.add_version(vid, by, list(examples), counts, score, self.embedder, "candidate")
        if state == "active":  # the one active version changes in one statement pair
            await review.activate(vid)
        await review.announce()
        return {"version": vid, "state": state, "gate": figures}


def _by_picture(boxes: Sequence) -> dict:
    grouped: dict = {}
    for row in boxes:
        if isinstance(row["box"], dict) and row["dims"]:
            grouped.setdefault(row["picture_id"], []).append((row["box"], row["dims"]))
    return grouped


def _crops(data: bytes, boxes: list) -> list:
    """The crops of boxes drawn in `dims` pixels on this picture, decoded once."""
    from model_inference.pixels import crop_fraction, decode_bgr

    pixels = decode_bgr(data)
    return [
        crop_fraction(
            pixels,
            {
                "topX": box["topX"] / dims[0],
                "topY": box["topY"] / dims[1],
                "bottomX": box["bottomX"] / dims[0],
                "bottomY": box["bottomY"] / dims[1],
            },
        )
        for box, dims in boxes
    ]


def _top_labels(rows, embeddings, hand) -> list[str | None]:
    from model_inference.local.learned import fit

    model = fit(list(rows), abstain_level=None)
    if model is None:
        return [None] * len(hand)
    return [answer[0]["label"] for answer in model.predict(embeddings, hand, 1)]
