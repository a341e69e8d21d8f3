"""What is running: the package version and, when known, the git commit it was built from."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from . import __version__

CHECKOUT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """NACHET_GIT_COMMIT (set by an image build), else the checkout's HEAD read from .git."""
    given = os.environ.get("NACHET_GIT_COMMIT")
    if given:
        return given
    try:
        git = CHECKOUT / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        common = git / (git / "commondir").read_text().strip() if (git / "commondir").is_file() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (common / ref).is_file():
            return (common / ref).read_text().strip()
        match = re.search(rf"^([0-9a-f]{{40}}) {re.escape(ref)}$", (common / "packed-refs").read_text(), re.M)
        return match[1] if match else None
    except (OSError, IndexError):  # an installed package: unknown
        return None


def package_version() -> str:
    return __version__
