"""Background work on procrastinate (jobs and locks in the application's PostgreSQL): learning
from labelled pictures and whole-folder classification. Tasks are deferred by storage inside the
transactions that create their rows (datastore/queries/tasks.py) and run by a `TaskWorker` in
the web workers (embedded default) or in `python -m nachet worker` processes on any machine."""

from .engine import TaskWorker, task_app

__all__ = ["TaskWorker", "task_app"]
