"""What a pipeline is made of, as loaded from the database (spec §9.5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # model_name: the deployment header's value and the protocol key
    version: object  # as recorded in the response's "models"
    endpoint: str = field(repr=False)
    api_key: str = field(repr=False)
    content_type: str = "application/json"
    deployment_platform: str = ""  # the *name* of the routing header (azureml-model-deployment)
    protocol: str | None = None  # explicit adapter; else chosen from the name (§7.1)
    task: str = ""  # "Object Detection", "Classification", ...
    # the protocol's own settings, parsed when the pipeline loads (open_inference.OpenInference)
    options: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Pipeline:
    id: UUID
    name: str
    models: tuple[ModelSpec, ...]  # in the order the pipeline lists them
    metadata: dict  # what /model-endpoints-metadata serves
    is_default: bool = False


def reveal(value: str | None, fernet: Fernet | None) -> str:
    """A stored endpoint or key: Fernet-decrypted when a key is set and it is a token."""
    if value is None:
        return ""
    if fernet is None or not value.startswith("gAAAAA"):
        return value
    try:
        return fernet.decrypt(value.encode()).decode()
    except InvalidToken:
        log.warning("a model secret looks like a Fernet token but does not decrypt with the configured key")
        return value
