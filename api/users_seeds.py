"""Who the caller is, the seed catalogue, image validation and the health check (spec §4.1,
§4.3, §4.5, §4.16-4.18)."""

from __future__ import annotations

import logging
import zlib

import jwt
from quart import Blueprint, jsonify, request

from identity.vouch import COOKIE, unverified_cookie_claims
from kernel.errors import DatastoreError, ServiceError, Unhandled, UserNotFoundError
from model_inference.picture_checks import check_header, check_image, split_data_url
from storage.base import sha256

from .access import admin_only, audited, current_caller, public, touched
from .envelope import context, current_context, envelope
from .extension import services, settings
from .json_body import is_text
from .openapi import documented
from .request_models import ImageBody, UserIdBody, parse
from .response_models import STRINGS, Seeds, UserId

log = logging.getLogger("nachet")
DEFAULT_EMAIL = "example@gmail.com"
users_seeds = Blueprint("users_seeds", __name__)


@users_seeds.get("/health")
@documented(
    "Liveness: answers ok while the process runs",
    answer={"type": "string", "const": "ok"},
    media="text/html",
    errors=(),
)
@public
async def health():
    return "ok", 200, {"Content-Type": "text/html; charset=utf-8"}


@users_seeds.post("/get-user-id")
@documented(
    "The caller's user id (unsecured mode: the session cookie's or default account). The body is "
    'not read (as the original), but with NACHET_ENV=local: {"email": ...} names the account',
    answer=UserId,
)
@context("retrieving user id for email None", "Error retrieving user id for email None")
async def get_user_id():
    caller = current_caller()
    if caller is not None:  # secured mode: the verified caller's own id, nobody else's
        name_email(caller.email)
        if caller.user_id is not None:
            return jsonify({"user_id": caller.user_id})
        if not settings().auto_register:
            raise UserNotFoundError("User not found")
        user_id = await services().storage.ensure_user(caller.email)
        touched(registered=caller.email, user=user_id)
        log.info("registered %s on first sign-in (%s)", caller.email, caller.source)
        return jsonify({"user_id": user_id})
    email = unverified_cookie_email(request.cookies.get(COOKIE))
    if settings().is_local and not email:
        email = (await parse(UserIdBody)).email
    email = email or DEFAULT_EMAIL
    name_email(email)
    if email == DEFAULT_EMAIL:  # the default account always answers: made now if start-up could
        # not (its blob store away then: 503 while it still is, never "User not found")
        return jsonify({"user_id": await services().storage.ensure_user(DEFAULT_EMAIL)})
    return jsonify({"user_id": await services().storage.get_user_id(checked_email(email))})


def name_email(email: str) -> None:
    current_context().context = f"retrieving user id for email {email}"
    current_context().sentence = f"Error retrieving user id for email {email}"


def unverified_cookie_email(cookie: str | None) -> str | None:
    """Unsecured mode: the Vouch cookie's email read as the original did, unchecked (spec §10)."""
    if not cookie:
        return None
    try:
        return unverified_cookie_claims(cookie)["CustomClaims"]["email"]
    except KeyError as error:  # missing claims: the original printed the key
        raise ServiceError(repr(error.args[0])) from error
    except (TypeError, ValueError) as error:  # e.g. bad base64 padding, a gzip bomb (too large)
        raise ServiceError(str(error)) from error
    except (OSError, EOFError, zlib.error, jwt.PyJWTError) as error:  # not gzip, not a JWT
        raise Unhandled(f"the session cookie could not be read: {type(error).__name__}: {error}") from error


def checked_email(email: object) -> str:
    """An email to look up: one that is not text (a list, a number, a NUL) names nobody, and is
    answered so without reaching the database (where it failed with a traceback)."""
    if not isinstance(email, str) or not is_text(email):
        raise UserNotFoundError("User not found")
    return email


@users_seeds.post("/image-validation")
@documented(
    "Check a picture; its validator (sha256) marks it validated for /inf", body=ImageBody, answer=STRINGS
)
@context("validating image", "Error validating image")
async def image_validation():
    header, data = split_data_url((await parse(ImageBody)).image)
    s = settings()
    check_header(
        header, await services().inference.run_cpu(check_image, data, s.valid_extensions, s.valid_dimension)
    )
    validator = sha256(data)
    await services().storage.record_validator(validator)
    return jsonify([validator])


@users_seeds.get("/seeds")
@documented("The seed catalogue", answer=Seeds)
@context("retrieving seeds", "Error retrieving seeds")
async def seeds():
    return jsonify({"seeds": await services().storage.get_all_seeds()})


@users_seeds.get("/seed-data/<seed_name>")
@documented(
    "One seed's catalogue entry (400 with a plain string when unknown, as the original)",
    answer={"type": "object"},
    refusal={"type": "string"},
)
@context("retrieving seed data", "Error retrieving seed data")
async def seed_data(seed_name: str):
    found = await services().storage.seed_data(seed_name)
    if found is None:
        return jsonify(f"No information found for {seed_name}."), 400
    return jsonify(found)


@users_seeds.get("/reload-seed-data")
@documented("Reload the seed catalogue (admins in secured mode)", answer=STRINGS)
@context("reloading seed data", "An error happend when reloading the seed data")
@admin_only
@audited
async def reload_seed_data():
    try:
        await services().storage.reload_seed_data(settings().nachet_data_url)
    except DatastoreError:
        raise
    except Exception as error:  # the original's own wording, with the cause
        detail = error.args[0] if error.args else type(error).__name__
        log.error("seed data reload failed", exc_info=error)
        return envelope(f"Unhandled API error : An error happend when reloading the seed data: {detail}", 400)
    return jsonify(["Seed data reloaded successfully"])
