"""Names in the blob store, kept as the original datastore laid them out (datastore-spec §3)."""
from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from uuid import UUID

from .errors import InvalidFolderNameError

DEFAULT_FOLDER = "General"
MAX_FOLDER_NAME = 255


def container_name(user_id: UUID) -> str:
    return f"user-{user_id}"


def folder_name(name: str, is_default: bool) -> str:
    return DEFAULT_FOLDER if is_default else name


def picture_blob(folder: str, picture_id: UUID) -> str:
    return f"{folder}/{picture_id}"


def marker_blob(folder: str) -> str:
    return f"{folder}/{folder}.json"


def marker_content(folder: str, folder_id: UUID) -> bytes:
    return json.dumps(
        {"folder_name": folder, "date_created": datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "folder_uuid": str(folder_id)}
    ).encode()


def picture_tags(picture_id: UUID, folder_id: UUID) -> dict[str, str]:
    return {"picture_uuid": str(picture_id), "picture_set_uuid": str(folder_id)}


def check_folder_name(name: str) -> str:
    """A folder name is a blob prefix: refuse what would nest, escape or be unreadable."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidFolderNameError("invalid folder name: the name is empty")
    if len(name) > MAX_FOLDER_NAME:
        raise InvalidFolderNameError(f"invalid folder name: longer than {MAX_FOLDER_NAME} characters")
    if "/" in name or "\\" in name:
        raise InvalidFolderNameError("invalid folder name: '/' and '\\' are not allowed")
    if name in (".", ".."):
        raise InvalidFolderNameError("invalid folder name: '.' and '..' are not allowed")
    if name != name.strip():
        raise InvalidFolderNameError("invalid folder name: leading or trailing spaces are not allowed")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in name):
        raise InvalidFolderNameError("invalid folder name: control characters are not allowed")
    return unicodedata.normalize("NFC", name)
