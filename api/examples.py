"""The built-in classifier's examples as a user sees them: the crop an answer's `evidence` names
(issue "Trustworthy answers")."""

from __future__ import annotations

from quart import Blueprint, Response, request

from kernel.errors import NotFoundError
from model_inference.pixels import jpeg_of_crop
from storage import messages as say

from .access import current_caller, require_acting_for
from .envelope import context
from .extension import services
from .openapi import documented

examples = Blueprint("examples", __name__)


@examples.get("/examples/<int:example_id>/image")
@documented(
    "The crop an example was learned from (JPEG), for its owner only "
    "(?container_name=<user id> when unsecured)",
    answer={"type": "string", "contentMediaType": "image/jpeg"},
    media="image/jpeg",
    errors=(400, 403, 404),
)
@context("retrieving the example", "Error retrieving the example")
async def example_image(example_id: int):
    owner, data, crop = await services().storage.example_source(example_id)
    if current_caller() is not None:
        require_acting_for(str(owner), f"example {example_id}")  # secured: 403
    elif request.args.get("container_name", "") != str(owner):
        raise NotFoundError(say.example_not_found(example_id), 404)  # unsecured: not told it exists
    return Response(await services().inference.run_cpu(jpeg_of_crop, data, crop), content_type="image/jpeg")
