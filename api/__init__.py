"""The HTTP API: one blueprint per area, each handler parsing its typed body (request_models.py) and
calling one service method; errors become the original's envelope in app.py."""

from .feedback import feedback
from .folders import folders
from .inference import inference
from .jobs import jobs
from .meta import meta
from .openapi import docs
from .pictures import pictures
from .users_seeds import users_seeds

BLUEPRINTS = (users_seeds, folders, pictures, feedback, inference, jobs, meta, docs)

__all__ = ["BLUEPRINTS"]
