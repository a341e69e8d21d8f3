"""A folder as a sample and its report (issue "Sample reports"): what was examined, and the counts,
intervals and verdicts a lab signs."""

from __future__ import annotations

from uuid import UUID

from quart import Blueprint, Response, jsonify, request

from kernel.errors import ServiceError
from storage.reports import set_sample
from usecases.reports import FORMATS, ReportFormatError

from .access import audited, current_caller, require_acting_for
from .envelope import context
from .extension import services
from .openapi import USER_ID, UUID_STRING, Query, documented
from .request_models import SampleBody, parse, user_id

samples = Blueprint("samples", __name__)


def _user(named: object) -> UUID | None:
    """Whose folder it must be: the caller's (an admin: anyone's, None) when secured, else the
    user the request names (`container_name`)."""
    caller = current_caller()
    if caller is not None:
        if caller.admin:
            return None
        require_acting_for(caller.user_id)  # a verified but unregistered caller: 403
        return caller.user_id
    return user_id(named, "container_name must be the folder owner's user id")


@samples.put("/folders/<folder_id>/sample")
@documented(
    "Record what a folder's sample is: its weight in grams, lot, crop, notes",
    body=SampleBody,
    answer={"type": "object"},
    errors=(400, 403, 404),
    path={"folder_id": UUID_STRING},
)
@context("recording the sample", "Error recording the sample")
@audited
async def put_sample(folder_id: str):
    body = await parse(SampleBody)
    caller = current_caller()
    sample = {"weight_g": float(body.weight_g), "lot": body.lot, "crop": body.crop, "notes": body.notes}
    by = caller.email if caller else "unsecured"
    await set_sample(services().pool, _user(body.container_name), folder_id, sample, by)
    return jsonify({"folder_id": folder_id, **sample})


@samples.get("/folders/<folder_id>/report")
@documented(
    "The report on a folder's sample (?format=json|csv|html; ?container_name=<user id> when "
    "unsecured): counts per species per kg with 95 % intervals, verdicts, the boxes to review, a hash",
    answer={"type": "object"},
    errors=(400, 403, 404),
    path={"folder_id": UUID_STRING},
    query=(USER_ID, Query("format", {"type": "string", "enum": list(FORMATS)})),
)
@context("making the report", "Error making the report")
async def get_report(folder_id: str):
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise ServiceError(f"format must be one of {', '.join(FORMATS)}")
    try:
        content, media = await services().reports.report(
            _user(request.args.get("container_name")), folder_id, fmt
        )
    except ReportFormatError as error:
        raise ServiceError(str(error)) from None
    return Response(content, content_type=f"{media}; charset=utf-8")
