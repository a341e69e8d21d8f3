"""Prometheus metrics, correct with several hypercorn workers: in a server every worker writes its
samples to files in one directory per server (prometheus-client's multiprocess mode) and
`/metrics`, whichever worker answers it, sums them. Gauges of shared state (the task queue, the
classifier's examples) are read from the database when scraped.

prometheus-client picks its storage when it is first imported, so `use_directory()` runs before
that (app.py, at start-up) and this module imports it only inside functions."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import asyncpg
import psutil

from kernel.tasks import ClassifyPicture, LearnExamples
from storage import seed_examples, tasks_queue

from .process import hypercorn_master_pid

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def use_directory(data_dir: Path) -> None:
    """Multiprocess mode for this server: one directory per hypercorn master (its workers share
    it; a restart starts from zero), directories of servers no longer running removed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "hypercorn" not in sys.argv[0]:
        return  # the operator's choice, or not a server (tests import the app): its own metrics
    root = Path(data_dir) / "metrics"
    group = hypercorn_master_pid() or os.getpid()
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and int(old.name) != group and not psutil.pid_exists(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    (root / str(group)).mkdir(exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(root / str(group))


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "nachet_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "nachet_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_latency = Histogram(
            "nachet_model_call_duration_seconds",
            "Time of one pipeline step (a model's calls for one picture)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_failures = Counter(
            "nachet_model_call_failures", "Pipeline steps failed, by cause", ["model", "cause"], registry=r
        )
        self.inferences = Counter("nachet_inferences", "Inferences saved", ["pipeline"], registry=r)
        self.boxes = Counter("nachet_boxes", "Seeds found in saved inferences", ["pipeline"], registry=r)
        self.pool = Gauge(
            "nachet_db_pool_connections",
            "Database connections of the web workers' pools",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.queue_depth = Gauge(
            "nachet_task_queue_depth",
            "Background tasks due and not started",
            ["queue"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.queue_age = Gauge(
            "nachet_task_queue_oldest_seconds",
            "How long the oldest waiting background task has waited",
            ["queue"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.examples = Gauge(
            "nachet_classifier_examples",
            "Examples the built-in classifier has learned, by seed name",
            ["seed"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self._queues: set[str] = {LearnExamples.queue, ClassifyPicture.queue}
        self._seeds: set[str] = set()

    def model_step(self, model: str, seconds: float, failure: str | None) -> None:
        self.model_latency.labels(model).observe(seconds)
        if failure is not None:
            self.model_failures.labels(model, failure).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def inference(self, pipeline: str, boxes: int) -> None:
        self.inferences.labels(pipeline).inc()
        self.boxes.labels(pipeline).inc(boxes)

    def pool_usage(self, pool: asyncpg.Pool) -> None:
        size = pool.get_size()
        self.pool.labels("in_use").set(size - pool.get_idle_size())
        self.pool.labels("open").set(size)

    async def scrape(self, pool: asyncpg.Pool) -> tuple[bytes, str]:
        """The exposition text, shared gauges refreshed from the database first."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        depths = await tasks_queue.queue_depths(pool)
        counts = await seed_examples.counts_by_seed(pool)
        self.pool_usage(pool)
        # samples live in files shared by the workers: a queue or seed that is gone is set to 0
        waiting = {row["queue"]: row for row in depths}
        self._queues |= waiting.keys()
        for queue in self._queues:
            self.queue_depth.labels(queue).set(waiting[queue]["waiting"] if queue in waiting else 0)
            self.queue_age.labels(queue).set(waiting[queue]["oldest_s"] if queue in waiting else 0)
        learned = dict(counts)
        self._seeds |= learned.keys()
        for seed in self._seeds:
            self.examples.labels(seed).set(learned.get(seed, 0))
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    @staticmethod
    def process_stopped() -> None:
        """Drop this worker's live gauges (the pool) from the shared directory."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
