"""Configuration from the environment (and `.env`), validated once at start-up by pydantic-settings.

Every problem is reported on its own line, naming its variable; secrets are `SecretStr`, never
printed or logged (a database URL is shown with its password masked).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from dotenv import load_dotenv
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from storage.database import mask_url
from storage.taxonomy import read_families

DEFAULT_EXTENSIONS = ("jpeg", "jpg", "png", "gif", "bmp", "tiff", "webp")
DEFAULT_DIMENSION = {"width": 1920, "height": 1080}
SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,62}$"
T = TypeVar("T")


class ConfigError(Exception):
    """Raised with one line per invalid setting."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def var(name: str, default: T, **constraints: Any) -> T:
    """The field read from the variable `name` (pydantic's Field: typed as its default)."""
    return Field(default, validation_alias=name, **constraints)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=False)

    env: str = var("NACHET_ENV", "")
    data_dir: Path = var("NACHET_DATA_DIR", Path(".nachet-data"))
    db_url: SecretStr | None = var("NACHET_DB_URL", None)
    db_schema: str = var("NACHET_SCHEMA", "nachet_0.0.11", pattern=SCHEMA_NAME)
    db_pool_min: int = var("NACHET_DB_POOL_MIN", 1, ge=0)
    db_pool_max: int = var("NACHET_DB_POOL_MAX", 10, ge=1)
    azure_connection_string: SecretStr | None = var("NACHET_AZURE_STORAGE_CONNECTION_STRING", None)
    azure_api_version: str | None = var("NACHET_AZURE_STORAGE_API_VERSION", None)
    max_content_length_mb: int = var("NACHET_MAX_CONTENT_LENGTH", 16, ge=1)
    valid_extensions: Annotated[tuple[str, ...], NoDecode] = var("NACHET_VALID_EXTENSION", DEFAULT_EXTENSIONS)
    valid_dimension: Annotated[dict[str, int], NoDecode] = var("NACHET_VALID_DIMENSION", DEFAULT_DIMENSION)
    frontend_public_urls: Annotated[list[str], NoDecode] = var("NACHET_FRONTEND_PUBLIC_URL", [""])
    frontend_dev_url: str | None = var("NACHET_FRONTEND_DEV_URL", None)
    nachet_data_url: str | None = var("NACHET_DATA", None)
    pipeline_decryption_key: SecretStr | None = var("NACHET_BLOB_PIPELINE_DECRYPTION_KEY", None)
    vouch_jwt_secret: SecretStr | None = var("NACHET_VOUCH_JWT_SECRET", None)
    vouch_jwt_public_key: SecretStr | None = var("NACHET_VOUCH_JWT_PUBLIC_KEY", None)
    vouch_jwks_url: str | None = var("NACHET_VOUCH_JWKS_URL", None)
    vouch_issuer: str | None = var("NACHET_VOUCH_ISSUER", None)
    vouch_audience: str | None = var("NACHET_VOUCH_AUDIENCE", None)
    oidc_issuer: str | None = var("NACHET_OIDC_ISSUER", None)
    oidc_audience: str | None = var("NACHET_OIDC_AUDIENCE", None)
    oidc_jwks_url: str | None = var("NACHET_OIDC_JWKS_URL", None)
    oidc_email_claim: str = var("NACHET_OIDC_EMAIL_CLAIM", "email", min_length=1)
    api_tokens: bool = var("NACHET_API_TOKENS", False)
    auto_register: bool = var("NACHET_AUTO_REGISTER", False)
    jwt_leeway_s: float = var("NACHET_JWT_LEEWAY", 10.0, ge=0, le=300)
    jwks_min_refresh_s: float = var("NACHET_JWKS_MIN_REFRESH", 30.0, ge=0)
    inf_rate_limit: Annotated[tuple[int, float] | None, NoDecode] = var("NACHET_RATE_LIMIT_INF", (60, 60.0))
    blob_connect_timeout_s: float = var("NACHET_BLOB_CONNECT_TIMEOUT", 3.0, gt=0)
    blob_read_timeout_s: float = var("NACHET_BLOB_READ_TIMEOUT", 4.0, gt=0)
    blob_retries: int = var("NACHET_BLOB_RETRIES", 1, ge=0)
    azure_http_log: bool = var("NACHET_AZURE_HTTP_LOG", False)
    # unset: text lines for a person at a terminal, JSON lines for a log collector
    log_format: Literal["json", "text"] | None = var("NACHET_LOG_FORMAT", None)
    access_log: bool = var("NACHET_ACCESS_LOG", True)
    # /health, /ready and /metrics are asked every few seconds by orchestrators and scrapers
    access_log_probes: bool = var("NACHET_ACCESS_LOG_PROBES", False)
    # secured mode: what a Prometheus scraper sends as a bearer token for /metrics (else: an admin)
    metrics_token: SecretStr | None = var("NACHET_METRICS_TOKEN", None)
    model_connect_timeout_s: float = var("NACHET_MODEL_CONNECT_TIMEOUT", 5.0, gt=0)
    model_read_timeout_s: float = var("NACHET_MODEL_READ_TIMEOUT", 60.0, gt=0)
    max_concurrent_inferences: int = var("NACHET_MAX_CONCURRENT_INFERENCES", 12, ge=1)
    dev_user_email: str | None = var("DEV_USER_EMAIL", None)
    result_cache: bool = var("NACHET_RESULT_CACHE", True)
    pixels_per_mm: float | None = var("NACHET_PIXELS_PER_MM", None, gt=0, allow_inf_nan=False)
    scale_bar_mm: float | None = var("NACHET_SCALE_BAR_MM", None, gt=0, allow_inf_nan=False)
    # open set: the built-in classifier answers "Unknown seed" for a seed whose size is outside
    # every learned class's at this level (0.99: 1 known seed in 100 in theory), or that is unlike
    # every class's examples (open_world.py); "off": never
    open_set_level: float | None = var("NACHET_OPEN_SET_LEVEL", 0.99, gt=0.5, lt=1)
    # who changes the shared built-in classifier: "open", every example at once; "reviewed", a
    # verifier (examples answer for their user until then); unset: reviewed when secured
    learning: Literal["open", "reviewed"] | None = var("NACHET_LEARNING", None)
    # the built-in classifier's prediction sets hold the true label with this probability
    prediction_set_level: float = var("NACHET_PREDICTION_SET_LEVEL", 0.9, ge=0.5, le=0.999)
    device_scales: Annotated[dict[str, float], NoDecode] = var("NACHET_DEVICE_PIXELS_PER_MM", {})
    genus_families: Path | None = var("NACHET_GENUS_FAMILIES", None)  # the operator's genus -> family rows
    # the operator's regulated species (species,class,limit,per_g) that sample reports judge by
    regulated_species: Path | None = var("NACHET_REGULATED_SPECIES", None)
    task_worker: bool = var("NACHET_TASK_WORKER", True)
    task_concurrency: int = var("NACHET_TASK_CONCURRENCY", 4, ge=1, le=64)
    task_heartbeat_s: float = var("NACHET_TASK_HEARTBEAT", 5.0, gt=0)
    task_stalled_after_s: float = var("NACHET_TASK_STALLED_AFTER", 30.0, gt=0)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info) -> object:
        """`NAME=` in a .env file means "not set", as the original read it."""
        if value == "" and info.field_name != "env":
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("db_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgres://", "postgresql://")):
            raise ValueError(f"expected a postgresql:// URL, got {mask_url(value.get_secret_value())!r}")
        return value

    @field_validator("valid_extensions", mode="before")
    @classmethod
    def _extensions(cls, value: object) -> tuple[str, ...]:
        parsed = _json(value)
        if not isinstance(parsed, (list, tuple)) or not all(isinstance(x, str) for x in parsed):
            raise ValueError("expected a JSON list of extensions")
        return tuple(x.lower() for x in parsed)

    @field_validator("valid_dimension", mode="before")
    @classmethod
    def _dimension(cls, value: object) -> dict[str, int]:
        parsed = _json(value)
        if not (
            isinstance(parsed, dict) and all(isinstance(parsed.get(k), int) for k in ("width", "height"))
        ):
            raise ValueError('expected a JSON object {"width": int, "height": int}')
        return {"width": parsed["width"], "height": parsed["height"]}

    @field_validator("device_scales", mode="before")
    @classmethod
    def _device_scales(cls, value: object) -> dict[str, float]:
        """{"<device>": pixels per mm, ...}: each microscope's calibration."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}  # `NAME=` in a .env file: none
        parsed = _json(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in parsed.values()
        ):
            raise ValueError('expected a JSON object {"<device>": pixels per mm (a positive number)}')
        return {str(k): float(v) for k, v in parsed.items()}

    @field_validator("frontend_public_urls", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("inf_rate_limit", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        """ "60/minute", "10/second", "1000/hour", or "off"."""
        if not isinstance(value, str):
            return value
        if not value.strip():
            return cls.model_fields["inf_rate_limit"].default
        if _says_off(value) or value.strip() == "0":
            return None
        count, _, unit = value.strip().lower().partition("/")
        periods = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
        if not count.isdigit() or int(count) < 1 or unit not in periods:
            raise ValueError('expected "<count>/<second|minute|hour|day>" or "off"')
        return int(count), periods[unit]

    @field_validator("genus_families")
    @classmethod
    def _readable_families(cls, value: Path | None) -> Path | None:
        """Read once here, so a bad row stops the start with its line number."""
        if value is not None:
            try:
                read_families(value)
            except OSError as error:
                raise ValueError(f"cannot read {value}: {error.strerror}") from None
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _long_enough(cls, value: object) -> object:
        if isinstance(value, str) and value and len(value) < 24:
            raise ValueError("a token of at least 24 characters (e.g. secrets.token_urlsafe())")
        return value

    @field_validator("regulated_species")
    @classmethod
    def _readable_regulated(cls, value: Path | None) -> Path | None:
        """Read once here, so a bad line stops the start with its number."""
        if value is not None:
            from usecases.regulated import parse

            try:
                parse(value.read_text(encoding="utf-8"), str(value))
            except OSError as error:
                raise ValueError(f"cannot read {value}: {error.strerror}") from None
        return value

    @field_validator("open_set_level", mode="before")
    @classmethod
    def _open_set_off(cls, value: object) -> object:
        return None if _says_off(value) else value

    @field_validator("vouch_jwks_url", "oidc_jwks_url", "oidc_issuer", "vouch_issuer")
    @classmethod
    def _url(cls, value: str | None, info) -> str | None:
        issuer = info.field_name.endswith("issuer")
        if value is not None and not issuer and not value.startswith(("https://", "http://")):
            raise ValueError("expected an http(s):// URL")
        return value

    @field_validator("pipeline_decryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from cryptography.fernet import Fernet

            try:
                Fernet(value.get_secret_value().encode())
            except (ValueError, TypeError):
                raise ValueError("not a valid Fernet key (32 url-safe base64 bytes)") from None
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_max < self.db_pool_min:
            raise ValueError(
                f"NACHET_DB_POOL_MAX ({self.db_pool_max}) is smaller than NACHET_DB_POOL_MIN "
                f"({self.db_pool_min})"
            )
        return self

    @model_validator(mode="after")
    def _identity(self) -> Settings:
        vouch_keys = [self.vouch_jwt_secret, self.vouch_jwt_public_key, self.vouch_jwks_url]
        if sum(key is not None for key in vouch_keys) > 1:
            raise ValueError(
                "set only one of NACHET_VOUCH_JWT_SECRET, NACHET_VOUCH_JWT_PUBLIC_KEY "
                "and NACHET_VOUCH_JWKS_URL"
            )
        if (self.oidc_issuer is None) != (self.oidc_audience is None):
            raise ValueError("NACHET_OIDC_ISSUER and NACHET_OIDC_AUDIENCE are set together")
        if self.vouch_jwt_secret is not None and len(self.vouch_jwt_secret.get_secret_value()) < 32:
            raise ValueError("NACHET_VOUCH_JWT_SECRET: an HS256 secret needs at least 32 bytes")
        return self

    @property
    def vouch_configured(self) -> bool:
        return any((self.vouch_jwt_secret, self.vouch_jwt_public_key, self.vouch_jwks_url))

    @property
    def secured(self) -> bool:
        """Secured mode: some identity source is configured, so every route needs a caller."""
        return self.vouch_configured or self.oidc_issuer is not None or self.api_tokens

    def log_format_for(self, stream) -> str:
        """NACHET_LOG_FORMAT, else text on an interactive terminal and JSON otherwise."""
        return self.log_format or ("text" if getattr(stream, "isatty", lambda: False)() else "json")

    @property
    def learning_mode(self) -> str:
        """NACHET_LEARNING, else reviewed when secured (many analysts), open when not (one bench)."""
        return self.learning or ("reviewed" if self.secured else "open")

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def embedded_db(self) -> bool:
        return self.db_url is None

    @property
    def cors_origins(self) -> list[str]:
        return [self.frontend_dev_url or ""] if self.is_local else self.frontend_public_urls


def _json(value: object) -> object:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None  # reported by the caller with what was expected


class _Mapping(EnvSettingsSource):
    """The environment read from a given mapping (os.environ, or a test's dictionary)."""

    def __init__(self, mapping: Mapping[str, str]):
        self._mapping = mapping
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._mapping.items()}


def _says_off(value: object) -> bool:
    """ "off" or "none", as a variable turning a feature off says it."""
    return isinstance(value, str) and value.strip().lower() in ("off", "none")


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
    """Read and validate the settings; raise ConfigError listing every problem."""
    if environ is None:
        if dotenv:
            load_dotenv()
        environ = dict(os.environ)
    try:
        return Settings.model_validate(_Mapping(environ)())
    except ValidationError as error:
        raise ConfigError([_problem(e) for e in error.errors()]) from None


def _problem(error: ErrorDetails) -> str:
    """One line naming the variable; a value is echoed only when it is not a secret."""
    name = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    field = next((f for f in Settings.model_fields.values() if f.validation_alias == name), None)
    secret = field is not None and "SecretStr" in str(field.annotation)
    if secret or not name or "got " in message:
        return f"{name}: {message}" if name else message
    return f"{name}: {message}, got {error['input']!r}"
