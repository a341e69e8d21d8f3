"""Background work on procrastinate (jobs and locks in the application's PostgreSQL): learning
from labelled pictures and whole-folder classification. Tasks are deferred by storage inside the
transactions that create their rows (kernel/tasks.py types them, storage/tasks_queue.py defers
them) and run by a `TaskWorker` in the web workers (embedded default) or in `python -m nachet
worker` processes on any machine; each task calls its use case (`TaskHandlers`)."""

from .definitions import TaskHandlers
from .engine import TaskWorker, task_app

__all__ = ["TaskHandlers", "TaskWorker", "task_app"]
