"""Nachet backend: the Quart app. Route handlers validate input as the original did (same
messages, same order; spec §4) and call the storage facade; errors become the original's
envelope in the handlers at the bottom of create_app."""
from __future__ import annotations

import asyncio
import base64
import logging
import math
import signal
import sys
import warnings

from quart import Blueprint, Quart, abort, current_app, g, jsonify, request
from quart_cors import cors
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from model_inference.insertion import install_test_pipeline_rows
from model_inference.local.lazy import check_embedder_file
from model_inference.postprocess import check_color_format
from model_inference.runner import run_pipeline
from nachet.config import ConfigError, Settings, load_settings
from nachet.http import (
    APIError,
    context,
    current_context,
    envelope,
    error_context_of,
    json_body,
    keys_present,
    list_of_boxes,
    object_body,
    require,
    split_data_url,
)
from nachet.images import check_header, check_image, check_picture, detect_mime
from nachet.memory import tune_malloc
from nachet.process import stop_hypercorn_master
from nachet.runtime import Services, close_services, open_services
from nachet.vouch import COOKIE, ForgedCookie, decode_vouch_cookie
from storage import DatastoreError
from storage.facade import sha256

log = logging.getLogger("nachet")
DEFAULT_EMAIL = "example@gmail.com"


def services() -> Services:
    return current_app.extensions["nachet"]


def settings() -> Settings:
    return current_app.config["NACHET_SETTINGS"]


routes = Blueprint("nachet", __name__)


async def checked_image(data: bytes):
    s = settings()
    return await services().run_cpu(check_image, data, s.valid_extensions, s.valid_dimension)


@routes.get("/health")
async def health():
    return "ok", 200, {"Content-Type": "text/html; charset=utf-8"}


@routes.post("/get-user-id")
@context("retrieving user id for email None", "Error retrieving user id for email None")
async def get_user_id():
    email = None
    cookie = request.cookies.get(COOKIE)
    try:
        if cookie:
            s = settings()
            secret = s.vouch_jwt_secret.get_secret_value() if s.vouch_jwt_secret else None
            public = s.vouch_jwt_public_key.get_secret_value() if s.vouch_jwt_public_key else None
            email = decode_vouch_cookie(cookie, secret, public)["CustomClaims"]["email"]
    except ForgedCookie as error:
        raise APIError(str(error), 401) from error
    except (KeyError, TypeError, ValueError) as error:  # e.g. missing claims, bad base64 padding
        raise APIError(str(error) if not isinstance(error, KeyError) else repr(error.args[0])) from error
    if settings().is_local and not email:
        email = (await object_body()).get("email")
    email = email or DEFAULT_EMAIL
    current_context().context = f"retrieving user id for email {email}"
    current_context().sentence = f"Error retrieving user id for email {email}"
    return jsonify({"user_id": await services().storage.get_user_id(email)})


@routes.post("/image-validation")
@context("validating image", "Error validating image")
async def image_validation():
    image = (await object_body()).get("image")
    require(image, message="Missing image")
    header, data = split_data_url(image)
    check_header(header, await checked_image(data))
    validator = sha256(data)
    await services().storage.record_validator(validator)
    return jsonify([validator])


@routes.get("/seeds")
@context("retrieving seeds", "Error retrieving seeds")
async def seeds():
    return jsonify({"seeds": await services().storage.get_all_seeds()})


@routes.get("/seed-data/<seed_name>")
@context("retrieving seed data", "Error retrieving seed data")
async def seed_data(seed_name: str):
    found = await services().storage.seed_data(seed_name)
    if found is None:
        return jsonify(f"No information found for {seed_name}."), 400
    return jsonify(found)


@routes.get("/reload-seed-data")
@context("reloading seed data", "An error happend when reloading the seed data")
async def reload_seed_data():
    try:
        await services().storage.reload_seed_data(settings().nachet_data_url)
    except DatastoreError:
        raise
    except Exception as error:
        detail = error.args[0] if error.args else type(error).__name__
        log.error("seed data reload failed", exc_info=error)
        return envelope(f"Unhandled API error : An error happend when reloading the seed data: {detail}", 400)
    return jsonify(["Seed data reloaded successfully"])


class ImageWarning(UserWarning):
    """An /inf picture without a validator from /image-validation (advisory, as in the original)."""


@routes.post("/inf")
@context("during classification", "Error during classification")
async def inference():
    async with services().inference_slots:  # bounds the memory of requests in progress
        return await infer(await object_body())


async def infer(body: dict):
    user, folder, dims, image = (body.get(k) for k in ("container_name", "folder_name", "imageDims", "image"))
    require(folder, user, dims, image, message=(
        "missing request arguments: either folder_name, container_name, imageDims or image is missing"))
    s = services()
    pipeline = s.pipelines.get(body.get("model_name"))
    if pipeline is None:
        raise APIError(f"model {body.get('model_name')} not found")
    dims, area_ratio, color_format = inference_options(body)
    validator = body.get("validator")
    if not (isinstance(validator, str) and await s.storage.validator_known(validator)):
        warnings.warn("this picture was not validate", ImageWarning, stacklevel=1)
    _, data = split_data_url(image)
    del body["image"], image  # ~0.5 MB each: the decoded bytes are all that is kept
    if data:
        warn_if_other_aspect(dims, await s.run_cpu(check_picture, data))
    await s.storage.require_user(user)
    encoded = base64.b64encode(data).decode("ascii")  # what the models receive, in canonical base64
    processed = await run_pipeline(pipeline, encoded, data, s.http, dims, area_ratio, color_format, s.cpu,
                                   s.early_decodes, s.learner)
    return jsonify(await s.storage.save_inference(user, folder, data, processed, pipeline.id, dims))


def warn_if_other_aspect(dims, picture) -> None:
    """Boxes are scaled to imageDims whatever they are (spec §8): a client drawing on a resized
    canvas sends its size. A different shape, though, usually means the wrong numbers."""
    aspect, sent = picture.width / picture.height, dims[0] / dims[1]
    if abs(sent / aspect - 1) > 0.02:
        log.warning("imageDims %s differ in aspect ratio from the picture (%dx%d, as shown)", dims,
                    picture.width, picture.height)


def inference_options(body: dict):
    dims = body["imageDims"]
    if not (isinstance(dims, list) and len(dims) == 2 and all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) and d > 0 for d in dims)):
        raise APIError("imageDims must be two positive numbers: [width, height]")
    area_ratio = body.get("area_ratio", 0.5)
    if isinstance(area_ratio, bool) or not isinstance(area_ratio, (int, float)) or not 0 <= area_ratio <= 1:
        raise APIError("area_ratio must be a number between 0 and 1")
    color_format = body.get("color_format", "hex")
    check_color_format(color_format)
    return dims, area_ratio, color_format


@routes.get("/model-endpoints-metadata")
async def model_endpoints_metadata():
    return jsonify(services().pipelines.metadata or ["Error retrieving model endpoints metadata.", 400])


@routes.get("/test")
@context("installing the test pipeline", "Error installing the test pipeline")
async def install_test_pipeline():
    if settings().env not in ("local", "test"):
        abort(404)
    await install_test_pipeline_rows(services().pool)
    await services().pipelines.reload()
    return jsonify([{"models": ["test_model1"], "pipeline_name": "test_pipeline"}])


@routes.post("/create-dir")
@context("creating directory", "Error creating directory")
async def create_dir():
    body = await object_body()
    user, name = body.get("container_name"), body.get("folder_name")
    require(user, name, message="missing container or directory name")
    return jsonify([await services().storage.create_picture_set(user, 0, name)])


@routes.post("/get-directories")
@context("retrieving user directories", "Error retrieving user directories")
async def get_directories():
    user = (await object_body()).get("container_name")
    require(user, message="Missing container name")
    return jsonify({"folders": await services().storage.get_directories(user)})


@routes.post("/dir")  # deprecated: /get-directories without the "folders" wrapper
@context("retrieving user directories", "Error retrieving user directories")
async def dir_():
    user = (await object_body()).get("container_name")
    require(user, message="Missing container name")
    return jsonify(await services().storage.get_directories(user))


@routes.post("/get-picture")
@context("retrieving the picture", "Error retrieving the picture")
async def get_picture():
    body = await object_body()
    user, picture_id = body.get("container_name"), body.get("picture_id")
    require(user, picture_id, message="Missing container name")
    inference, data = await services().storage.get_picture(user, picture_id)
    mime = await services().run_cpu(detect_mime, data)
    encoded = base64.b64encode(data).decode()
    return jsonify({"picture_id": picture_id, "inference": inference, "image": f"data:{mime};base64,{encoded}"})


async def user_and_folder(message: str):
    """`container_name` and `folder_uuid` of the deletion routes, both required."""
    body = await object_body()
    user, folder = body.get("container_name"), body.get("folder_uuid")
    require(user, folder, message=message)
    return user, folder


@routes.post("/delete-request")
@context("requesting deletion of directory", "Error requesting deletion of directory")
async def delete_request():
    user, folder = await user_and_folder("missing container or directory name")
    return jsonify(await services().storage.delete_directory_request(user, folder))


@routes.post("/delete-permanently")
@context("deleting directory", "Error deleting directory")
async def delete_permanently():
    user, folder = await user_and_folder("missing container name or directory id")
    return jsonify(await services().storage.delete_directory_permanently(user, folder))


@routes.post("/delete-with-archive")
@context("deleting directory", "Error deleting directory")
async def delete_with_archive():
    user, folder = await user_and_folder("missing container or directory name")
    await services().storage.delete_directory_with_archive(user, folder, settings().dev_user_email)
    return jsonify(True)


@routes.post("/del")  # deprecated, but the frontend's delete-folder popup still calls it
@context("deleting directory", "Error deleting directory")
async def delete_directory():
    body = await object_body()
    user, folder = body.get("container_name"), body.get("folder_name")
    require(user, folder, message="missing container or directory name")
    if not isinstance(folder, str):
        raise APIError("missing container or directory name")
    return jsonify([await services().storage.delete_directory_by_name(user, folder)])


@routes.post("/feedback-positive")
@context("giving a positive feedback", "Error giving a positive feedback")
async def feedback_positive():
    body = await json_body()
    keys_present(body, ("userId", "inferenceId", "boxes"),
                 "missing request arguments: either userId, inferenceId or boxes is missing")
    boxes = list_of_boxes(body["boxes"])
    if not all(isinstance(box, dict) and "boxId" in box for box in boxes):
        raise APIError("missing request arguments: boxId is missing in boxes")
    box_ids = [box["boxId"] for box in boxes]
    require(body["userId"], body["inferenceId"], box_ids, message="missing argument(s)")
    inference = await services().storage.save_perfect_feedback(body["userId"], body["inferenceId"], box_ids)
    return jsonify(inference)


@routes.post("/feedback-negative")
@context("giving a negative feedback", "Error giving a negative feedback")
async def feedback_negative():
    body = await json_body()
    keys_present(body, ("userId", "inferenceId", "boxes"),
                 "missing request arguments: either userId, inferenceId or boxes is missing")
    boxes = list_of_boxes(body["boxes"])
    if not all(isinstance(box, dict) and {"boxId", "label", "classId", "box"} <= box.keys() for box in boxes):
        raise APIError("missing request arguments: either boxId, label, box or classId is missing in boxes")
    require(body["userId"], body["inferenceId"], message="missing argument(s)")
    inference = await services().storage.save_annotated_feedback(body["userId"], body["inferenceId"], boxes)
    return jsonify(inference)


@routes.post("/new-batch-import")
@context("initiating batch upload", "Error initiating batch upload")
async def new_batch_import():
    body = await json_body()
    keys_present(body, ("container_name", "nb_pictures"),
                 "missing request arguments: either container_name or nb_pictures is missing")
    user, nb_pictures = body["container_name"], body["nb_pictures"]
    folder = body.get("folder_name") or None
    if not user or not isinstance(nb_pictures, int) or nb_pictures <= 0:
        raise APIError("wrong request arguments: either container_name or nb_pictures is wrong")
    session_id = await services().storage.create_picture_set(user, int(nb_pictures), folder)
    return jsonify({"session_id": session_id})


@routes.post("/upload-picture")
@context("uploading picture", "Error uploading picture")
async def upload_picture():
    body = await object_body()
    user, session, image = body.get("container_name"), body.get("session_id"), body.get("image")
    seed_name, seed_id = body.get("seed_name"), body.get("seed_id")
    require(user, seed_name or seed_id, image, session,
            message="missing request arguments: either seed_name, session_id, container_name or image is missing")
    _, data = split_data_url(image)
    await checked_image(data)
    await services().storage.upload_pictures(
        user, session, [data], seed_name, seed_id, number(body.get("zoom_level")), number(body.get("nb_seeds"))
    )
    return jsonify([True])


def number(value):
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise APIError("zoom_level and nb_seeds must be numbers")
    return value


def create_app(config: Settings | None = None, ready: Services | None = None) -> Quart:
    config = config or load_settings()
    app = Quart(__name__)
    app.config["NACHET_SETTINGS"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length_mb * 1024 * 1024
    app.extensions["nachet"] = ready

    @app.before_serving
    async def start() -> None:
        tune_malloc()
        if app.extensions["nachet"] is None:
            app.extensions["nachet"] = await open_services(config)
        registry = app.extensions["nachet"].pipelines
        await registry.start()
        await app.extensions["nachet"].learner.start()
        check_embedder_file()
        try:  # SIGUSR1 reloads this worker's pipelines (hypercorn's SIGHUP restarts all workers)
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(registry.reload()))
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        if not (config.vouch_jwt_secret or config.vouch_jwt_public_key):
            log.warning("Vouch cookies are decoded without signature verification (development only)")

    @app.after_serving
    async def stop() -> None:
        if ready is None and app.extensions["nachet"] is not None:
            await close_services(app.extensions.pop("nachet"))

    @app.before_request
    async def name_error_context() -> None:
        g.error_context = error_context_of(app.view_functions.get(request.endpoint))

    @app.before_request
    async def refuse_large_bodies() -> None:
        if request.content_length and request.content_length > app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()

    @app.errorhandler(APIError)
    async def api_error(error: APIError):
        return envelope(f"API Error {current_context().context} : {error.message}", error.status)

    @app.errorhandler(DatastoreError)
    async def datastore_error(error: DatastoreError):
        return envelope(f"Datastore Error {current_context().context} : {error.message}", error.status)

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(error: RequestEntityTooLarge):
        limit = config.max_content_length_mb
        return envelope(f"API Error {current_context().context} : request body larger than {limit} MB", 413)

    @app.errorhandler(Exception)
    async def unhandled(error: Exception):
        if isinstance(error, HTTPException):  # unknown paths and wrong methods stay Quart's pages
            return error
        log.error("unhandled error in %s %s", request.method, request.path, exc_info=error)
        return envelope(f"Unhandled API error : {current_context().sentence}", 400)

    app.register_blueprint(routes)
    return cors(
        app,
        allow_origin=config.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_credentials=True,
        max_age=86400,
    )


def _load_app() -> Quart:
    try:
        return create_app()
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        stop_hypercorn_master()
        raise SystemExit(2) from None


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every model call with its (secret) URL
app = _load_app()
