"""Inference: run a pipeline on a picture, list the pipelines, the test hook (spec §4.2, §4.4,
§4.19)."""

from __future__ import annotations

from quart import Blueprint, abort, jsonify

from usecases.inference import InferenceOrder
from usecases.pipelines import install_test_pipeline_rows

from .access import admin_only, audited, rate_limited, touched
from .envelope import context
from .extension import services, settings
from .openapi import documented
from .request_models import InferenceBody, parse
from .response_models import Inference

inference = Blueprint("inference", __name__)


@inference.post("/inf")
@documented(
    "Find and name the seeds of a picture; the result is saved",
    body=InferenceBody,
    answer=Inference,
    errors=(400, 429, 502, 504),
)
@context("during classification", "Error during classification")
@audited
@rate_limited(lambda running: running.inf_limit)
async def infer():
    service = services().inference
    async with service.slot():  # bodies (~0.5 MB) are read only when a slot is free
        body = await parse(InferenceBody, pipelines=service.pipelines)
        order = InferenceOrder(  # by name: several of these are numbers or ids a swap would hide
            user=body.container_name,
            folder=body.folder_name,
            image=body.image,
            image_dims=body.image_dims,
            model_name=body.model_name,
            validator=body.validator,
            area_ratio=body.area_ratio,
            color_format=body.color_format,
            pixels_per_mm=body.pixels_per_mm,
            device=body.device,
            filename=body.filename,
        )
        result = await service.infer(order)
    touched(inference=result.get("inference_id"))
    services().metrics.inference(body.model_name, len(result.get("boxes") or []))
    return jsonify(result)


@inference.get("/model-endpoints-metadata")
@documented("The pipelines /inf can run (no secrets)", answer={"type": "array"}, errors=())
async def model_endpoints_metadata():
    return jsonify(services().pipelines.metadata or ["Error retrieving model endpoints metadata.", 400])


@inference.get("/test")
@documented(
    "Install the spec's test pipeline (NACHET_ENV local or test; else 404)",
    answer={"type": "array"},
    errors=(404,),
)
@context("installing the test pipeline", "Error installing the test pipeline")
@admin_only
@audited
async def install_test_pipeline():
    if settings().env not in ("local", "test"):
        abort(404)
    await install_test_pipeline_rows(services().pool)
    await services().pipelines.reload()
    return jsonify([{"models": ["test_model1"], "pipeline_name": "test_pipeline"}])
