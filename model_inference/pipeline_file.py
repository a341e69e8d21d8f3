"""Pipeline files (YAML or JSON, spec §9.1-§9.2) read and validated; usecases/pipelines.py writes
them to the database."""

from __future__ import annotations

import datetime as dt
import json
import os

import yaml
from pydantic import BaseModel, ValidationError, field_validator

from . import open_inference

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
    open_inference: dict | str = ""  # protocol open-inference: tensors to send and read


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


def _dates_to_text(value: object) -> object:
    """A parsed YAML or JSON document with its dates as text (YAML reads 2024-01-01 as a date)."""
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
    for model in parsed.models:
        if model.protocol == open_inference.PROTOCOL:
            try:
                open_inference.settings_of(model.open_inference, model.task)
            except ValueError as error:
                raise PipelineInsertionError(f"model {model.model_name}: {error}") from None
        elif model.open_inference:
            raise PipelineInsertionError(
                f"model {model.model_name}: open_inference is read with protocol "
                f"{open_inference.PROTOCOL} only"
            )
    names = {m.model_name for m in parsed.models}
    for pipeline in parsed.pipelines:
        missing = [m for m in pipeline.models if m not in names]
        if missing:
            raise PipelineInsertionError(
                f"pipeline {pipeline.pipeline_name} names models the file does not define: {missing}"
            )
    return parsed
