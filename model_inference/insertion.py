"""Pipeline files (YAML or JSON, spec §9.1-§9.2) validated and written to the database in one
transaction; model endpoints and API keys Fernet-encrypted when a key is configured."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import asyncpg
import yaml
from cryptography.fernet import Fernet
from pydantic import BaseModel, ValidationError, field_validator

from datastore.queries import pipelines as queries

EXTENSIONS = {"json", "JSON", "yaml", "yml"}


class PipelineInsertionError(Exception):
    pass


class _Lenient(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def none_is_empty(cls, value):
        return "" if value is None else value


class _Described(_Lenient):
    """What models and pipelines both record about themselves."""

    created_by: str
    creation_date: str
    version: int
    description: str
    job_name: str
    dataset_description: str
    accuracy: float


class ModelEntry(_Described):
    task: str
    endpoint: str
    api_key: str
    content_type: str
    deployment_platform: str
    endpoint_name: str
    model_name: str
    protocol: str = ""  # the adapter; empty: chosen from model_name (spec §7.1)


class PipelineEntry(_Described):
    models: list[str]
    pipeline_name: str
    default: bool = False  # without one, the current default stays


class PipelineFile(BaseModel):
    version: str
    date: dt.date
    pipelines: list[PipelineEntry]
    models: list[ModelEntry]

    @field_validator("version", mode="before")
    @classmethod
    def version_text(cls, value):
        return "" if value is None else value

    @field_validator("models", mode="before")
    @classmethod
    def no_models(cls, value):
        return [] if value is None else value


def _dates_to_text(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    return value


def load_pipeline_file(path: str) -> PipelineFile:
    if not os.path.exists(path):
        raise PipelineInsertionError(
            "\n            \nthe file does not exist, please check the file path\n            \n"
            f"provided path: {path}\n            "
        )
    extension = path.rsplit(".", 1)[-1]
    if extension not in EXTENSIONS:
        raise PipelineInsertionError(
            "\nthe file must be a json, a yaml or yml file,\n            \nplease check the file extension\n"
            f"provided extension: {extension}"
        )
    with open(path, encoding="utf-8") as handle:
        try:
            content = yaml.safe_load(handle) if extension in ("yaml", "yml") else json.load(handle)
        except (yaml.YAMLError, ValueError) as error:
            raise PipelineInsertionError(f"\nthe file could not be parsed: {error}") from error
    if not isinstance(content, dict):
        raise PipelineInsertionError(
            "\nthe file must contain a dictionary with the following keys:\n            \n"
            f" version, date, pipelines, models \n instead provided a {type(content)}\n            "
        )
    try:
        parsed = PipelineFile.model_validate(_dates_to_text(content))
    except ValidationError as error:
        raise PipelineInsertionError(str(error)) from error
    names = {m.model_name for m in parsed.models}
    for pipeline in parsed.pipelines:
        missing = [m for m in pipeline.models if m not in names]
        if missing:
            raise PipelineInsertionError(
                f"pipeline {pipeline.pipeline_name} names models the file does not define: {missing}"
            )
    return parsed


def _seal(value: str, fernet: Fernet | None) -> str:
    return fernet.encrypt(value.encode()).decode() if fernet else value


async def insert_pipelines(
    conn: asyncpg.Connection, parsed: PipelineFile, fernet: Fernet | None
) -> list[str]:
    """Write the file's models and pipelines; every worker reloads once the transaction commits."""
    async with conn.transaction():
        await queries.lock_pipelines(conn)
        model_ids = {}
        for model in parsed.models:
            task = await queries.task_id(conn, model.task)
            if task is None:
                raise PipelineInsertionError(f"model {model.model_name}: unknown task {model.task!r}")
            data = {
                "endpoint": _seal(model.endpoint, fernet),
                "api_key": _seal(model.api_key, fernet),
                "content_type": model.content_type,
                "deployment_platform": model.deployment_platform,
                "created_by": model.created_by,
                "creation_date": model.creation_date,
                "description": model.description,
                "version": model.version,
                "job_name": model.job_name,
                "dataset": model.dataset_description,
                "accuracy": model.accuracy,
            }
            if model.protocol:
                data["protocol"] = model.protocol
            model_ids[model.model_name] = await queries.upsert_model(
                conn, model.model_name, model.endpoint_name, task, str(model.version), data
            )
        # the file's default, else the current one stays (a first file's first pipeline if none)
        default = next((p.pipeline_name for p in parsed.pipelines if p.default), None)
        default = default or await queries.default_name(conn) or parsed.pipelines[0].pipeline_name
        for pipeline in parsed.pipelines:
            data = {
                "models": pipeline.models,
                "created_by": pipeline.created_by,
                "creation_date": pipeline.creation_date,
                "description": pipeline.description,
                "job_name": pipeline.job_name,
                "version": pipeline.version,
                "dataset": pipeline.dataset_description,
                "accuracy": pipeline.accuracy,
            }
            await queries.upsert_pipeline(
                conn,
                pipeline.pipeline_name,
                data,
                [model_ids[m] for m in pipeline.models],
                is_default=pipeline.pipeline_name == default,
            )
        await queries.notify_reload(conn)
    return [p.pipeline_name for p in parsed.pipelines]


TEST_MODEL = ModelEntry(
    task="Classification",
    endpoint="http://localhost:8080/test_model1",
    api_key="test_api_key",
    content_type="application/json",
    deployment_platform="test_platform",
    endpoint_name="test_model1",
    model_name="test_model1",
    created_by="nachet",
    creation_date="2024-01-01",
    version=1,
    description="canned answer for tests (spec §7.9)",
    job_name="",
    dataset_description="",
    accuracy=1.0,
    protocol="test",
)


async def install_test_pipeline_rows(pool: asyncpg.Pool) -> None:
    """The spec's test pipeline (`GET /test`): test_pipeline -> test_model1, active, not default."""
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock_pipelines(conn)
        task = await queries.task_id(conn, TEST_MODEL.task)
        data = {
            "endpoint": TEST_MODEL.endpoint,
            "api_key": TEST_MODEL.api_key,
            "content_type": TEST_MODEL.content_type,
            "deployment_platform": TEST_MODEL.deployment_platform,
            "version": 1,
            "protocol": "test",
        }
        model_id = await queries.upsert_model(conn, "test_model1", "test_model1", task, "1", data)
        current_default = await conn.fetchval("SELECT name FROM pipeline WHERE is_default")
        await queries.upsert_pipeline(
            conn,
            "test_pipeline",
            {"models": ["test_model1"], "version": "1", "description": "test pipeline"},
            [model_id],
            is_default=current_default in (None, "test_pipeline"),
        )
        await queries.notify_reload(conn)


BUILTIN_PIPELINE = "Local seed detector + feedback classifier"


async def install_builtin_pipeline_rows(pool: asyncpg.Pool, *, make_default: bool = True) -> bool:
    """The embedded default's pipeline: built-in detector -> built-in learning classifier. Added
    once (marked default unless another pipeline already is); True if it was added now."""
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock_pipelines(conn)  # several workers start at once: one installs it
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pipeline WHERE name = $1)", BUILTIN_PIPELINE):
            return False
        ids = []
        for name, task, protocol, description in (
            (
                "builtin-seed-detector",
                "Object Detection",
                "builtin-detector",
                "classical computer vision seed detector, runs in the service",
            ),
            (
                "builtin-seed-classifier",
                "Classification",
                "builtin-classifier",
                "k-NN / linear classifier on EfficientNet-Lite0 embeddings, "
                "learns from labelled uploads and feedback",
            ),
        ):
            data = {
                "endpoint": f"builtin://{name}",
                "api_key": "",
                "content_type": "application/json",
                "deployment_platform": "",
                "created_by": "nachet",
                "creation_date": "2026-11-25",
                "description": description,
                "version": 1,
                "job_name": "",
                "dataset": "",
                "protocol": protocol,
            }
            ids.append(
                await queries.upsert_model(conn, name, name, await queries.task_id(conn, task), "1", data)
            )
        has_default = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pipeline WHERE is_default)")
        await queries.upsert_pipeline(
            conn,
            BUILTIN_PIPELINE,
            {
                "models": ["builtin-seed-detector", "builtin-seed-classifier"],
                "created_by": "nachet",
                "creation_date": "2026-11-25",
                "version": "1",
                "job_name": "",
                "description": "Finds every seed on the tray and names it from the examples users labelled "
                "(batch imports with a seed name, verified feedback). Runs offline.",
                "dataset": "this installation's labelled pictures",
            },
            ids,
            is_default=make_default and not has_default,
        )
        await queries.notify_reload(conn)
        return True
