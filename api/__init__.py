"""The HTTP API: one blueprint per area, each handler parsing its typed body (request_models.py),
calling storage or a use case (the services, through extension.py) and answering; errors become
the original's envelope (envelope.py) in app.py's one handler."""

from .examples import examples
from .feedback import feedback
from .folders import folders
from .inference import inference
from .jobs import jobs
from .meta import meta
from .openapi import docs
from .pictures import pictures
from .samples import samples
from .users_seeds import users_seeds

BLUEPRINTS = (users_seeds, folders, pictures, examples, samples, feedback, inference, jobs, meta, docs)

__all__ = ["BLUEPRINTS"]
