"""Names in the blob store, kept as the original datastore laid them out (datastore-spec §3)."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from uuid import UUID

from kernel.errors import DatastoreError

DEFAULT_FOLDER = "General"
# In UTF-8 bytes: a name is one path segment of the file store, which also holds
# "<name>.json.tags.json" (255 bytes at most on common filesystems), and Azure blob names
# (1 024 characters) hold "<user id>/<name>/<name>.json" of an archived folder.
MAX_FOLDER_NAME_BYTES = 200


def container_name(user_id: UUID) -> str:
    return f"user-{user_id}"


def owner_of(container: str) -> UUID | None:
    """The user a container belongs to (None: not a user container)."""
    try:
        return UUID(container.removeprefix("user-")) if container.startswith("user-") else None
    except ValueError:
        return None


def folder_name(name: str, is_default: bool) -> str:
    return DEFAULT_FOLDER if is_default else name


def picture_blob(folder: str, picture_id: UUID) -> str:
    return f"{folder}/{picture_id}"


def marker_blob(folder: str) -> str:
    """`<folder>/<folder>.json`; an archived folder `<user id>/<name>` has `<user id>/<name>/<name>.json`."""
    return f"{folder}/{folder.rsplit('/', 1)[-1]}.json"


def is_marker(name: str) -> bool:
    """`<folder>/<folder>.json` (or `<user id>/<folder>/<folder>.json` for an archived folder)."""
    folder, _, file = name.rpartition("/")
    return bool(folder) and file == f"{folder.rsplit('/', 1)[-1]}.json"


def marker_content(folder: str, folder_id: UUID) -> bytes:
    return json.dumps(
        {
            "folder_name": folder,
            "date_created": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "folder_uuid": str(folder_id),
        }
    ).encode()


def picture_tags(picture_id: UUID, folder_id: UUID) -> dict[str, str]:
    return {"picture_uuid": str(picture_id), "picture_set_uuid": str(folder_id)}


def check_folder_name(name: str) -> str:
    """A folder name is a blob prefix: refuse what would nest, escape or be unreadable."""
    if not isinstance(name, str) or not name.strip():
        raise DatastoreError("invalid folder name: the name is empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FOLDER_NAME_BYTES:
        raise DatastoreError(f"invalid folder name: longer than {MAX_FOLDER_NAME_BYTES} bytes in UTF-8")
    if "/" in name or "\\" in name:
        raise DatastoreError("invalid folder name: '/' and '\\' are not allowed")
    if name in (".", ".."):
        raise DatastoreError("invalid folder name: '.' and '..' are not allowed")
    if name != name.strip():
        raise DatastoreError("invalid folder name: leading or trailing spaces are not allowed")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in name):
        raise DatastoreError("invalid folder name: control characters are not allowed")
    name = unicodedata.normalize("NFC", name)
    if len(name.encode("utf-8")) > MAX_FOLDER_NAME_BYTES:  # NFC can lengthen some scripts
        raise DatastoreError(f"invalid folder name: longer than {MAX_FOLDER_NAME_BYTES} bytes in UTF-8")
    return name
