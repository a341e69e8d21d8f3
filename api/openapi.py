"""/openapi.json (OpenAPI 3.1) built from the routes themselves: each handler's @documented names
its typed body (api/request_models.py) and answer (api/response_models.py); the error envelope and statuses
every route shares are added here. /docs serves Swagger UI from a pinned package, so it works
offline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from pydantic import BaseModel
from quart import Blueprint, Quart, abort, current_app, jsonify, send_from_directory

from nachet.version import package_version

from .access import public
from .extension import settings
from .response_models import ENVELOPE_SCHEMA

docs = Blueprint("docs", __name__)

REASONS = {
    200: "Done",
    202: "Accepted: the work goes on in the background",
    400: "Refused: the original's envelope names why",
    401: "Secured mode: no verified caller (sent with WWW-Authenticate: Bearer)",
    403: "Secured mode: the caller may not act for this user or data",
    404: "Not found",
    413: "The body is larger than NACHET_MAX_CONTENT_LENGTH",
    429: "Secured mode: the caller's allowance is used up (Retry-After says when to retry)",
    502: "A model failed (named in the message)",
    503: "The database, blob store or identity provider is unavailable",
    504: "A model did not answer in time",
}
ERROR: dict[str, object] = {"$ref": "#/components/schemas/Error"}
UUID_STRING: dict[str, object] = {"type": "string", "format": "uuid"}


Answer = type[BaseModel] | dict[str, object] | None
"""What a route answers: a pydantic model, a JSON schema, or None (no body)."""


@dataclass(frozen=True)
class Query:
    """A query parameter; `required="unsecured"`: required unless the caller is known (secured)."""

    name: str
    schema: dict[str, object]
    required: bool | Literal["unsecured"] = False


USER_ID = Query("container_name", UUID_STRING, required="unsecured")


@dataclass(frozen=True)
class Doc:
    summary: str
    body: type[BaseModel] | None
    answer: Answer
    status: int
    media: str
    errors: tuple[int, ...]
    path: dict[str, dict[str, object]]
    query: tuple[Query, ...]
    refusal: dict[str, object]


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    answer: Answer = None,
    status: int = 200,
    media: str = "application/json",
    errors: tuple[int, ...] = (400,),
    path: dict[str, dict[str, object]] | None = None,
    query: tuple[Query, ...] = (),
    refusal: dict[str, object] = ERROR,
):
    """Publish the route in /openapi.json: what it reads (body, `path` parameters' schemas when
    not any string, `query` parameters), what it answers, how it fails (`refusal`: the 400 body
    when not the envelope)."""

    def decorate(handler):
        handler.openapi = Doc(summary, body, answer, status, media, errors, path or {}, query, refusal)
        return handler

    return decorate


def build_spec(app: Quart, secured: bool) -> dict:
    schemas: dict[str, object] = {"Error": ENVELOPE_SCHEMA}
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        doc: Doc | None = getattr(view, "openapi", None)
        if doc is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(rule, method, view, doc, schemas, secured)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nachet backend",
            "version": package_version(),
            "description": "The REST service behind Nachet, CFIA's seed identification tool. Every "
            "failure answers a JSON list of one message (the Error schema).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "OIDC or nachet_ API token"},
                "vouch": {"type": "apiKey", "in": "cookie", "name": "jxVouchCookie"},
            },
        },
    }


def _operation(rule, method: str, view, doc: Doc, schemas: dict, secured_mode: bool) -> dict:
    secured = not getattr(view, "public", False)
    responses: dict[str, object] = {str(doc.status): _answer(doc.status, doc.media, doc.answer, schemas)}
    operation: dict[str, object] = {
        "summary": doc.summary,
        "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
        "tags": [rule.endpoint.split(".")[0]],
        "responses": responses,
    }
    if secured:
        operation["security"] = [{}, {"bearer": []}, {"vouch": []}]  # {}: unsecured mode
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": doc.path.get(name, {"type": "string"})}
        for name in sorted(rule.arguments)
    ] + [
        {
            "name": query.name,
            "in": "query",
            "required": query.required is True or (query.required == "unsecured" and not secured_mode),
            "schema": query.schema,
        }
        for query in doc.query
    ]
    if parameters:
        operation["parameters"] = parameters
    errors = set(doc.errors)
    if doc.body is not None:
        body = _schema(doc.body, schemas, "validation")
        named = schemas[doc.body.__name__]
        for key in () if secured_mode else getattr(doc.body, "required_unsecured", ()):
            named["required"] = sorted({*named.get("required", ()), key})
            named["properties"][key] = {k: v for k, v in named["properties"][key].items() if k != "default"}
            named["properties"][key]["type"] = "string"  # no null either
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        errors |= {400, 413}
    if secured:
        errors |= {401, 403, 503}
    for status in sorted(errors):
        if str(status) not in responses:
            schema = doc.refusal if status == 400 else ERROR
            responses[str(status)] = {
                "description": REASONS.get(status, "Error"),
                "content": {"application/json": {"schema": schema}},
            }
    return operation


def _answer(status: int, media: str, answer: Answer, schemas: dict) -> dict:
    response: dict[str, object] = {"description": REASONS.get(status, "Done")}
    if answer is not None:
        response["content"] = {media: {"schema": _schema(answer, schemas, "serialization")}}
    return response


def _schema(
    model: type[BaseModel] | dict[str, object], schemas: dict, mode: Literal["validation", "serialization"]
) -> dict:
    """A reference to the model's schema in components (its nested models too), or `model` as
    given when it is already a JSON schema."""
    if isinstance(model, dict):
        return model
    name = model.__name__
    schema = model.model_json_schema(by_alias=True, mode=mode, ref_template="#/components/schemas/{model}")
    for nested, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(nested, _nullable_defaults(definition))
    schemas.setdefault(name, _nullable_defaults(schema))
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable_defaults(schema: dict) -> dict:
    """A field whose default is null accepts null: say so in its type (a `default: null` on a
    plain `type: string` is an invalid schema)."""
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict) and "default" in prop and prop["default"] is None:
            kind = prop.get("type")
            if isinstance(kind, str) and kind != "null":
                prop["type"] = [kind, "null"]
    return schema


# -- the routes ------------------------------------------------------------------------------------------
SWAGGER_FILES = {"swagger-ui.css", "swagger-ui-bundle.js"}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nachet backend API</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#ui"});</script></body></html>
"""


@docs.get("/openapi.json")
@public
async def openapi_json():
    spec = current_app.extensions.get("nachet.openapi")
    if spec is None:
        spec = current_app.extensions["nachet.openapi"] = build_spec(current_app, settings().secured)
    return jsonify(spec)


@docs.get("/docs")
@public
async def docs_page():
    return PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@docs.get("/docs/<name>")
@public
async def docs_file(name: str):
    if name not in SWAGGER_FILES:
        abort(404)
    folder = resources.files("swagger_ui") / "static"
    return await send_from_directory(str(folder), name)
