"""Pictures: labelled uploads and reading one back (spec §4.8, §4.15)."""

from __future__ import annotations

import base64

from quart import Blueprint, Response, jsonify

from model_inference.annotate import annotate
from model_inference.picture_checks import check_image, detect_mime, split_data_url

from .access import audited, touched
from .envelope import context
from .extension import services, settings
from .openapi import documented
from .request_models import PictureBody, UploadBody, parse
from .response_models import STRINGS_OR_TRUE, Picture

pictures = Blueprint("pictures", __name__)


@pictures.post("/get-picture")
@documented("A picture with its latest inference", body=PictureBody, answer=Picture)
@context("retrieving the picture", "Error retrieving the picture")
async def get_picture():
    body = await parse(PictureBody)
    inference, data = await services().storage.get_picture(body.container_name, body.picture_id)
    mime = await services().inference.run_cpu(detect_mime, data)
    image = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return jsonify({"picture_id": body.picture_id, "inference": inference, "image": image})


@pictures.post("/get-picture-annotated")
@documented(
    "The picture as a PNG with its latest inference drawn (same body and rules as /get-picture)",
    body=PictureBody,
    answer={"type": "string", "contentMediaType": "image/png"},
    media="image/png",
)
@context("retrieving the picture", "Error retrieving the picture")
async def get_picture_annotated():
    body = await parse(PictureBody)
    inference, data, dims = await services().storage.annotation_source(body.container_name, body.picture_id)
    png = await services().inference.run_cpu(annotate, data, inference, dims)
    return Response(png, content_type="image/png")


@pictures.post("/upload-picture")
@documented("Upload a labelled picture to a batch folder", body=UploadBody, answer=STRINGS_OR_TRUE)
@context("uploading picture", "Error uploading picture")
@audited
async def upload_picture():
    body = await parse(UploadBody)
    _, data = split_data_url(body.image)
    s = settings()
    await services().inference.run_cpu(check_image, data, s.valid_extensions, s.valid_dimension)
    (picture,) = await services().storage.upload_pictures(
        body.container_name,
        body.session_id,
        [data],
        body.seed_name,
        body.seed_id,
        body.zoom_level,
        body.nb_seeds,
    )
    touched(picture=picture)
    return jsonify([True])
