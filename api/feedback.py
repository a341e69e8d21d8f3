"""The user's feedback on an inference: confirm boxes, or correct them (spec §4.12, §4.13)."""

from __future__ import annotations

from quart import Blueprint, jsonify

from .access import audited
from .envelope import context
from .extension import services
from .openapi import documented
from .request_models import CorrectionBody, FeedbackBody, parse

feedback = Blueprint("feedback", __name__)


@feedback.post("/feedback-positive")
@documented("Confirm boxes of an inference", body=FeedbackBody, answer={})
@context("giving a positive feedback", "Error giving a positive feedback")
@audited
async def feedback_positive():
    body = await parse(FeedbackBody)
    return jsonify(
        await services().storage.save_perfect_feedback(body.userId, body.inferenceId, body.box_ids)
    )


@feedback.post("/feedback-negative")
@documented("Correct boxes of an inference (label, class, box)", body=CorrectionBody, answer={})
@context("giving a negative feedback", "Error giving a negative feedback")
@audited
async def feedback_negative():
    body = await parse(CorrectionBody)
    return jsonify(
        await services().storage.save_annotated_feedback(body.userId, body.inferenceId, body.boxes)
    )
