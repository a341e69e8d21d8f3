"""Folders (picture sets): create, list, and the deletion routes (spec §4.6, §4.7, §4.9-4.11,
§4.14, §4.20, §4.21)."""

from __future__ import annotations

from quart import Blueprint, jsonify

from .access import audited, touched
from .envelope import context
from .extension import services, settings
from .openapi import documented
from .request_models import (
    BatchImportBody,
    CreateDirBody,
    DelBody,
    DeletePermanentlyBody,
    DirectoriesBody,
    FolderBody,
    parse,
)
from .response_models import STRINGS, Directories, SessionId

folders = Blueprint("folders", __name__)


@folders.post("/create-dir")
@documented("Create a folder", body=CreateDirBody, answer=STRINGS)
@context("creating directory", "Error creating directory")
@audited
async def create_dir():
    body = await parse(CreateDirBody)
    folder = await services().storage.create_picture_set(body.container_name, 0, body.folder_name)
    touched(folder=folder)
    return jsonify([folder])


@folders.post("/new-batch-import")
@documented("Create a folder for a batch of labelled uploads", body=BatchImportBody, answer=SessionId)
@context("initiating batch upload", "Error initiating batch upload")
@audited
async def new_batch_import():
    body = await parse(BatchImportBody)
    folder = await services().storage.create_picture_set(
        body.container_name, body.nb_pictures, body.folder_name
    )
    touched(folder=folder)
    return jsonify({"session_id": folder})


@folders.post("/get-directories")
@documented("The user's folders with their pictures", body=DirectoriesBody, answer=Directories)
@context("retrieving user directories", "Error retrieving user directories")
async def get_directories():
    body = await parse(DirectoriesBody)
    return jsonify({"folders": await services().storage.get_directories(body.container_name)})


@folders.post("/dir")  # deprecated: /get-directories without the "folders" wrapper
@documented(
    "Deprecated: /get-directories without the wrapper", body=DirectoriesBody, answer={"type": "array"}
)
@context("retrieving user directories", "Error retrieving user directories")
async def dir_():
    body = await parse(DirectoriesBody)
    return jsonify(await services().storage.get_directories(body.container_name))


@folders.post("/delete-request")
@documented(
    "Whether a folder has verified inferences (asked before deleting)",
    body=FolderBody,
    answer={"type": "boolean"},
)
@context("requesting deletion of directory", "Error requesting deletion of directory")
@audited
async def delete_request():
    body = await parse(FolderBody)
    return jsonify(await services().storage.delete_directory_request(body.container_name, body.folder_uuid))


@folders.post("/delete-permanently")
@documented("Delete a folder, its pictures and inferences", body=DeletePermanentlyBody, answer={})
@context("deleting directory", "Error deleting directory")
@audited
async def delete_permanently():
    body = await parse(DeletePermanentlyBody)
    return jsonify(
        await services().storage.delete_directory_permanently(body.container_name, body.folder_uuid)
    )


@folders.post("/delete-with-archive")
@documented(
    "Delete a folder, keeping its verified pictures in the archive account",
    body=FolderBody,
    answer={"type": "boolean"},
)
@context("deleting directory", "Error deleting directory")
@audited
async def delete_with_archive():
    body = await parse(FolderBody)
    await services().storage.delete_directory_with_archive(
        body.container_name, body.folder_uuid, settings().dev_user_email
    )
    return jsonify(True)


@folders.post("/del")  # deprecated, but the frontend's delete-folder popup still calls it
@documented("Deprecated: delete a folder by name or id", body=DelBody, answer={"type": "array"})
@context("deleting directory", "Error deleting directory")
@audited
async def delete_directory():
    body = await parse(DelBody)
    return jsonify([await services().storage.delete_directory_by_name(body.container_name, body.folder_name)])
