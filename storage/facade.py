"""The storage facade: one async method per datastore operation the services need, grouped by
entity (users and seeds, folders, pictures, inferences and feedback).

Each method runs in one transaction (plus its blob writes, see unit.py), checks that the user
exists and owns what it touches before writing anything, and raises DatastoreError with messages
fit for the client. The database is the source of truth: no method lists or reads a whole blob
container.
"""

from __future__ import annotations

from .feedback import Feedback
from .folders import Folders
from .jobs import Jobs
from .pictures import Pictures
from .users_seeds import UsersAndSeeds


class Storage(UsersAndSeeds, Folders, Pictures, Feedback, Jobs):
    """Every storage operation, on one asyncpg pool and one blob store."""
