"""The built-in classifier's examples: the crop an answer's `evidence` names (issue "Trustworthy
answers"), and their review (issue "Trusted learning": listing, accepting, rejecting)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from identity import Forbidden
from kernel.errors import NotFoundError, ServiceError
from model_inference.pixels import jpeg_of_crop
from storage import messages as say
from usecases.review import Choice

from .access import audited, current_caller, require_acting_for
from .envelope import context
from .extension import services
from .openapi import UUID_STRING, Query, documented
from .request_models import MAX_ID, ReviewBody, parse, user_id

examples = Blueprint("examples", __name__)


@examples.get("/examples/<int:example_id>/image")
@documented(
    "The crop an example was learned from (JPEG), for its owner only "
    "(?container_name=<user id> when unsecured)",
    answer={"type": "string", "contentMediaType": "image/jpeg"},
    media="image/jpeg",
    errors=(400, 403, 404),
    path={"example_id": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
    query=(Query("container_name", UUID_STRING),),
)
@context("retrieving the example", "Error retrieving the example")
async def example_image(example_id: int):
    if example_id > MAX_ID:
        raise NotFoundError(say.example_not_found(example_id), 404)
    owner, data, crop = await services().storage.example_source(example_id)
    if current_caller() is not None:
        require_acting_for(str(owner), f"example {example_id}")  # secured: 403
    elif request.args.get("container_name", "") != str(owner):
        raise NotFoundError(say.example_not_found(example_id), 404)  # unsecured: not told it exists
    return Response(await services().inference.run_cpu(jpeg_of_crop, data, crop), content_type="image/jpeg")


def _reviewer() -> str:
    """Who reviews: a verifier or an administrator in secured mode (else 403); anyone unsecured."""
    caller = current_caller()
    if caller is None:
        return "unsecured"
    if not caller.may_review:
        raise Forbidden(f"{caller.email} is not a verifier")
    return caller.email


@examples.get("/examples")
@documented(
    "The built-in classifier's examples and their review state (?state=pending|accepted|rejected): "
    "a verifier's or admin's, everyone's (?user=EMAIL: one user's); anyone else's, their own "
    "(?container_name=<user id> when unsecured)",
    answer={"type": "array", "items": {"type": "object"}},
    query=(
        Query("state", {"type": "string", "enum": ["pending", "accepted", "rejected"]}),
        Query("user", {"type": "string"}),
        Query("container_name", UUID_STRING),
    ),
)
@context("listing the examples", "Error listing the examples")
async def list_examples():
    state = request.args.get("state")
    if state not in (None, "pending", "accepted", "rejected"):
        raise ServiceError("state must be pending, accepted or rejected")
    caller = current_caller()
    named = request.args.get("container_name") if caller is None else None
    owner = user_id(named) if named is not None else None
    email = request.args.get("user")
    if caller is not None and not caller.may_review:
        owner, email = str(caller.user_id), None  # one's own examples: what was accepted, rejected
    listed = await services().review.listed(state, owner, email)
    return jsonify([_shown(row) for row in listed])


def _shown(row: dict) -> dict:
    return {
        "example_id": row["id"],
        "label": row["label"],
        "state": row["state"],
        "picture_id": str(row["picture_id"]) if row["picture_id"] else None,
        "folder_id": str(row["folder_id"]) if row["folder_id"] else None,
        "user": row["email"],
        "created_at": row["created_at"].isoformat(),
        "reviewed_by": row["reviewed_by"],
        "reviewed_at": row["reviewed_at"].isoformat() if row["reviewed_at"] else None,
    }


@examples.post("/examples/accept")
@documented(
    "Accept examples into the shared classifier (verifier or admin): a new version, active if it "
    "passes the non-regression gate, else a candidate",
    body=ReviewBody,
    answer={"type": "object"},
    errors=(400, 403, 404, 409),
)
@context("accepting the examples", "Error accepting the examples")
@audited
async def accept_examples():
    by = _reviewer()
    body = await parse(ReviewBody)
    choice = Choice(body.ids, body.user, body.batch)
    return jsonify(await services().review.accept(choice, by, body.force))


@examples.post("/examples/reject")
@documented(
    "Reject examples (verifier or admin): they stop counting in every answer at once",
    body=ReviewBody,
    answer={"type": "object"},
    errors=(400, 403, 404),
)
@context("rejecting the examples", "Error rejecting the examples")
@audited
async def reject_examples():
    by = _reviewer()
    body = await parse(ReviewBody)
    return jsonify(await services().review.reject(Choice(body.ids, body.user, body.batch), by))
