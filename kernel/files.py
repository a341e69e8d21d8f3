"""Writing a file whole: under a temporary name beside it, renamed into place once written, so a
reader sees the old file or the new one, never half of one, and a failure leaves nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def written_whole(path: Path, mode: str = "wb", *, exclusive: bool = False, **options: Any) -> Iterator[IO]:
    """The open temporary file; on leaving the block without error it becomes `path` (replacing
    it, or with `exclusive` only if `path` does not exist yet: FileExistsError otherwise, checked
    atomically). `options` go to open() (encoding, newline)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.")
    try:
        with os.fdopen(fd, mode, **options) as handle:
            yield handle
        if exclusive:
            os.link(temporary, path)  # atomic create-if-absent
        else:
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
