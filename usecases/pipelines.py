"""Adding pipelines: from a pipeline file (`python -m nachet pipelines insert`), the spec's test
pipeline (`GET /test`) and the built-in offline one. Model endpoints and API keys are stored
Fernet-encrypted when a key is configured."""

from __future__ import annotations

import asyncpg
from cryptography.fernet import Fernet

from kernel.errors import UpstreamError
from model_inference import open_inference
from model_inference.http import ModelClient
from model_inference.models import ModelSpec
from model_inference.pipeline_file import ModelEntry, PipelineFile, PipelineInsertionError
from storage.pipelines import ModelRecord, PipelineRecord, UnknownTask, save_pipelines

BUILTIN_PIPELINE = "Local seed detector + feedback classifier"


def _seal(value: str, fernet: Fernet | None) -> str:
    return fernet.encrypt(value.encode()).decode() if fernet else value


async def served_as_recorded(parsed: PipelineFile, client: ModelClient) -> list[str]:
    """What the file's open-inference models name that their servers do not have (their tensors,
    enough labels), or why a server could not say: a pipeline is refused before it is written,
    not at its first /inf."""
    problems = []
    for model in parsed.models:
        if model.protocol != open_inference.PROTOCOL:
            continue
        settings = open_inference.settings_of(model.open_inference, model.task)
        spec = ModelSpec(
            model.model_name,
            model.version,
            model.endpoint,
            model.api_key,
            protocol=model.protocol,
            task=model.task,
            options=settings,
        )
        try:
            found = await open_inference.metadata(client, spec)
        except UpstreamError as error:
            problems.append(f"{error.args[0]} (asked for its metadata at {open_inference.model_url(spec)})")
            continue
        named = open_inference.mismatches(settings, model.task, found)
        problems += [f"model {model.model_name}: {problem}" for problem in named]
    return problems


async def insert_pipelines(pool: asyncpg.Pool, parsed: PipelineFile, fernet: Fernet | None) -> list[str]:
    """Write the file's models and pipelines in one transaction (the file's default, else the
    current one stays); every worker reloads once it commits."""
    models = []
    for model in parsed.models:
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
        if model.open_inference:
            data["open_inference"] = model.open_inference
        models.append(
            ModelRecord(model.model_name, model.endpoint_name, model.task, str(model.version), data)
        )
    pipelines = [
        PipelineRecord(
            pipeline.pipeline_name,
            pipeline.models,
            {
                "models": pipeline.models,
                "created_by": pipeline.created_by,
                "creation_date": pipeline.creation_date,
                "description": pipeline.description,
                "job_name": pipeline.job_name,
                "version": pipeline.version,
                "dataset": pipeline.dataset_description,
                "accuracy": pipeline.accuracy,
            },
        )
        for pipeline in parsed.pipelines
    ]
    default = next((p.pipeline_name for p in parsed.pipelines if p.default), None)
    try:
        await save_pipelines(pool, models, pipelines, default=default)
    except UnknownTask as error:
        raise PipelineInsertionError(str(error)) from error
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
    """The spec's test pipeline (`GET /test`): test_pipeline -> test_model1, active, the default
    only when there is no other."""
    data = {
        "endpoint": TEST_MODEL.endpoint,
        "api_key": TEST_MODEL.api_key,
        "content_type": TEST_MODEL.content_type,
        "deployment_platform": TEST_MODEL.deployment_platform,
        "version": 1,
        "protocol": "test",
    }
    await save_pipelines(
        pool,
        [ModelRecord("test_model1", "test_model1", TEST_MODEL.task, "1", data)],
        [
            PipelineRecord(
                "test_pipeline",
                ["test_model1"],
                {"models": ["test_model1"], "version": "1", "description": "test pipeline"},
            )
        ],
    )


_BUILTIN_MODELS = (
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
)


async def install_builtin_pipeline_rows(pool: asyncpg.Pool, *, make_default: bool = True) -> bool:
    """The embedded default's pipeline: built-in detector -> built-in learning classifier. Added
    once (marked default unless another pipeline already is); True if it was added now."""
    models = [
        ModelRecord(
            name,
            name,
            task,
            "1",
            {
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
            },
        )
        for name, task, protocol, description in _BUILTIN_MODELS
    ]
    pipeline = PipelineRecord(
        BUILTIN_PIPELINE,
        [m.name for m in models],
        {
            "models": [m.name for m in models],
            "created_by": "nachet",
            "creation_date": "2026-11-25",
            "version": "1",
            "job_name": "",
            "description": "Finds every seed on the tray and names it from the examples users labelled "
            "(batch imports with a seed name, verified feedback). Runs offline.",
            "dataset": "this installation's labelled pictures",
        },
    )
    return await save_pipelines(
        pool, models, [pipeline], first_if_no_default=make_default, unless_exists=BUILTIN_PIPELINE
    )
