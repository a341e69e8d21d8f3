"""What operators and orchestrators ask: readiness, version, metrics (liveness is /health, as the
original's)."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, jsonify

from model_inference import open_inference
from nachet.version import git_commit, package_version
from storage.database import schema_version

from .access import admin_only, public, scraped
from .extension import services
from .openapi import documented
from .response_models import Ready, Version

meta = Blueprint("meta", __name__)
CHECK_TIMEOUT_S = 3.0


@meta.get("/ready")
@documented("Readiness: database, blob store, default pipeline and its models", answer=Ready, errors=(503,))
@public
async def ready():
    """200 when this worker can serve: the database and blob store answer, the default pipeline
    is loaded and so are the built-in models it may use; else 503 naming each failing part."""
    running = services()
    checks = {
        "database": _database(),
        "blob_store": _blob_store(),
        "default_pipeline": _pipeline(),
        "models": _models(),
        "remote_models": _remote_models(),
    }
    results = await asyncio.gather(*(_bounded(check) for check in checks.values()))
    failing = {name: problem for name, problem in zip(checks, results) if problem is not None}
    body = {"ready": not failing, "failing": failing}
    if running.pipelines.default is not None:
        body["default_pipeline"] = running.pipelines.default.name
    return jsonify(body), 503 if failing else 200


@meta.get("/version")
@documented(
    "Package version, git commit, schema version, loaded pipelines and the classifier's version",
    answer=Version,
    errors=(),
)
@public
async def version():
    running = services()
    schema = await schema_version(running.pool)
    pipelines = [
        {
            "name": p.name,
            "version": p.metadata.get("version"),
            "default": p.is_default,
            "models": [{"name": m.name, "version": m.version} for m in p.models],
        }
        for p in running.pipelines.loaded
    ]
    return jsonify(
        {
            "version": package_version(),
            "commit": git_commit(),
            "schema": schema,
            "pipelines": pipelines,
            # the shared built-in classifier's version (its examples, embedder and code) and how
            # it learns: "open" or "reviewed"
            "classifier_version": running.learner.model.version,
            "learning": running.learner.mode,
        }
    )


@meta.get("/metrics")
@documented(
    "Prometheus metrics of every worker of this server (secured mode: an admin caller, or "
    "'Authorization: Bearer <NACHET_METRICS_TOKEN>')",
    answer={"type": "string"},
    media="text/plain",
    errors=(401, 403),
)
@scraped
@admin_only
async def metrics():
    running = services()
    text, content_type = await running.metrics.scrape(running.pool)
    return Response(text, content_type=content_type)


async def _bounded(check) -> str | None:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no answer in {CHECK_TIMEOUT_S:g} s"
    except Exception as error:  # any failure is the answer: not ready, and why
        return f"{type(error).__name__}: {error}"[:300]


async def _database() -> str | None:
    async with services().pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return None


async def _blob_store() -> str | None:
    await services().blobs.containers(prefix="nachet-ready-")
    return None


async def _models() -> str | None:
    return None if services().models_warm.is_set() else "the built-in models are still loading"


async def _remote_models() -> str | None:
    """The default pipeline's models on an Open Inference server: each one ready there (v2)."""
    running = services()
    default = running.pipelines.default
    remote = [m for m in default.models if m.protocol == open_inference.PROTOCOL] if default else []
    answers = await asyncio.gather(*(open_inference.readiness(running.http, model) for model in remote))
    problems = [answer for answer in answers if answer is not None]
    return "; ".join(problems) if problems else None


async def _pipeline() -> str | None:
    return None if services().pipelines.default is not None else "no default pipeline is loaded"
