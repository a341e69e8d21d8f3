"""Configuration from the environment (and `.env`), validated once at start-up.

Every problem is reported on its own line; secrets are kept in `SecretStr` so they are never
printed or logged by accident.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dotenv import load_dotenv
from pydantic import BaseModel, SecretStr

DEFAULT_EXTENSIONS = ("jpeg", "jpg", "png", "gif", "bmp", "tiff", "webp")
DEFAULT_DIMENSION = {"width": 1920, "height": 1080}


class ConfigError(Exception):
    """Raised with one line per invalid setting."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Settings(BaseModel):
    env: str = ""
    data_dir: Path = Path(".nachet-data")
    db_url: SecretStr | None = None
    db_schema: str = "nachet_0.0.11"
    db_pool_min: int = 1
    db_pool_max: int = 10
    azure_connection_string: SecretStr | None = None
    azure_api_version: str | None = None
    max_content_length_mb: int = 16
    valid_extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    valid_dimension: dict[str, int] = DEFAULT_DIMENSION
    frontend_public_urls: list[str] = [""]
    frontend_dev_url: str | None = None
    nachet_data_url: str | None = None
    pipeline_decryption_key: SecretStr | None = None
    vouch_jwt_secret: SecretStr | None = None
    vouch_jwt_public_key: SecretStr | None = None
    model_connect_timeout_s: float = 5.0
    model_read_timeout_s: float = 60.0
    max_concurrent_inferences: int = 12
    dev_user_email: str | None = None

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def embedded_db(self) -> bool:
        return self.db_url is None

    @property
    def cors_origins(self) -> list[str]:
        return [self.frontend_dev_url or ""] if self.is_local else self.frontend_public_urls


def mask_url(url: str) -> str:
    """A database URL with its password replaced by `***`, fit for an error line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _int(env: dict[str, str], name: str, default: int, problems: list[str], minimum: int = 1) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}: expected a whole number, got {raw!r}")
        return default
    if value < minimum:
        problems.append(f"{name}: must be at least {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, problems: list[str]) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}: expected a number of seconds, got {raw!r}")
        return default
    if value <= 0:
        problems.append(f"{name}: must be positive, got {raw}")
    return value


def _secret(env: dict[str, str], name: str) -> SecretStr | None:
    raw = env.get(name)
    return SecretStr(raw) if raw else None


def load_settings(environ: dict[str, str] | None = None, *, dotenv: bool = True) -> Settings:
    """Read and validate the settings; raise ConfigError listing every problem."""
    if environ is None:
        if dotenv:
            load_dotenv()
        environ = dict(os.environ)
    env = environ
    problems: list[str] = []

    schema = env.get("NACHET_SCHEMA") or "nachet_0.0.11"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,62}", schema):
        problems.append(f"NACHET_SCHEMA: not a usable schema name: {schema!r}")

    db_url = env.get("NACHET_DB_URL") or None
    if db_url and not db_url.startswith(("postgres://", "postgresql://")):
        problems.append(f"NACHET_DB_URL: expected a postgresql:// URL, got {mask_url(db_url)!r}")

    extensions = DEFAULT_EXTENSIONS
    dimension = DEFAULT_DIMENSION
    try:
        if env.get("NACHET_VALID_EXTENSION"):
            parsed = json.loads(env["NACHET_VALID_EXTENSION"])
            if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
                raise ValueError
            extensions = tuple(x.lower() for x in parsed)
        if env.get("NACHET_VALID_DIMENSION"):
            parsed = json.loads(env["NACHET_VALID_DIMENSION"])
            if not (isinstance(parsed, dict) and all(isinstance(parsed.get(k), int) for k in ("width", "height"))):
                raise ValueError
            dimension = {"width": parsed["width"], "height": parsed["height"]}
    except ValueError:
        problems.append(
            "NACHET_VALID_EXTENSION / NACHET_VALID_DIMENSION: expected a JSON list of extensions and a JSON "
            'object {"width": int, "height": int}'
        )

    key = env.get("NACHET_BLOB_PIPELINE_DECRYPTION_KEY")
    if key:
        try:
            from cryptography.fernet import Fernet

            Fernet(key.encode())
        except (ValueError, TypeError):
            problems.append("NACHET_BLOB_PIPELINE_DECRYPTION_KEY: not a valid Fernet key (32 url-safe base64 bytes)")

    pool_min = _int(env, "NACHET_DB_POOL_MIN", 1, problems, minimum=0)
    pool_max = _int(env, "NACHET_DB_POOL_MAX", 10, problems)
    if pool_max < pool_min:
        problems.append(f"NACHET_DB_POOL_MAX ({pool_max}) is smaller than NACHET_DB_POOL_MIN ({pool_min})")

    settings = Settings(
        env=env.get("NACHET_ENV", ""),
        data_dir=Path(env.get("NACHET_DATA_DIR") or ".nachet-data"),
        db_url=SecretStr(db_url) if db_url else None,
        db_schema=schema,
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        azure_connection_string=_secret(env, "NACHET_AZURE_STORAGE_CONNECTION_STRING"),
        azure_api_version=env.get("NACHET_AZURE_STORAGE_API_VERSION") or None,
        max_content_length_mb=_int(env, "NACHET_MAX_CONTENT_LENGTH", 16, problems),
        valid_extensions=extensions,
        valid_dimension=dimension,
        frontend_public_urls=env.get("NACHET_FRONTEND_PUBLIC_URL", "").split(","),
        frontend_dev_url=env.get("NACHET_FRONTEND_DEV_URL") or None,
        nachet_data_url=env.get("NACHET_DATA") or None,
        pipeline_decryption_key=_secret(env, "NACHET_BLOB_PIPELINE_DECRYPTION_KEY"),
        vouch_jwt_secret=_secret(env, "NACHET_VOUCH_JWT_SECRET"),
        vouch_jwt_public_key=_secret(env, "NACHET_VOUCH_JWT_PUBLIC_KEY"),
        model_connect_timeout_s=_float(env, "NACHET_MODEL_CONNECT_TIMEOUT", 5.0, problems),
        model_read_timeout_s=_float(env, "NACHET_MODEL_READ_TIMEOUT", 60.0, problems),
        max_concurrent_inferences=_int(env, "NACHET_MAX_CONCURRENT_INFERENCES", 12, problems),
        dev_user_email=env.get("DEV_USER_EMAIL") or None,
    )
    if problems:
        raise ConfigError(problems)
    return settings
