"""The original's datastore texts for "not found" and "not the owner" (spec §4.22), route by route,
and the folder references and archive layout they come with."""

import uuid

import pytest

from storage.layout import container_name
from tests.conftest import data_url, png_bytes

GHOST = str(uuid.UUID(int=7))


async def post(client, path, body):
    response = await client.post(path, json=body)
    return response.status_code, await response.get_json()


@pytest.fixture
async def other(storage):
    return await storage.create_user(f"other-{uuid.uuid4().hex[:6]}@example.org")


@pytest.fixture
def archive_client(client_for, services, data_root, storage):
    from nachet.config import load_settings
    from tests.conftest import SCHEMA

    async def make():
        dev = f"dev-{uuid.uuid4().hex[:6]}@example.org"
        dev_id = await storage.create_user(dev)
        config = load_settings(
            {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "DEV_USER_EMAIL": dev}, dotenv=False
        )
        return client_for(services, config), dev_id

    return make


async def test_folder_messages(client, archive_client, user, other, storage):
    me, them = str(user), str(other)
    theirs = str(await storage.create_picture_set(other, 0, "theirs"))
    general = {f["folder_name"]: f for f in await storage.get_directories(user)}["General"]["picture_set_id"]
    archiving, _ = await archive_client()
    cases = [
        (
            client,
            "/delete-request",
            GHOST,
            f"Datastore Error requesting deletion of directory : Picture set not found based on the given id: {GHOST}",
        ),
        (
            client,
            "/delete-request",
            theirs,
            "Datastore Error requesting deletion of directory : User isn't owner of "
            f"this folder, user uuid :{me}, folder uuid : {theirs}",
        ),
        (
            client,
            "/delete-permanently",
            GHOST,
            f"Datastore Error deleting directory : Picture set not found based on the given id: {GHOST}",
        ),
        (
            client,
            "/delete-permanently",
            theirs,
            f"Datastore Error deleting directory : User can't delete this folder, user uuid :{me}, folder name : {theirs}",
        ),
        (
            archiving,
            "/delete-with-archive",
            GHOST,
            f"Datastore Error deleting directory : Picture set not found based on the given id: {GHOST}",
        ),
        (
            archiving,
            "/delete-with-archive",
            general,
            f"Datastore Error deleting directory : User can't delete the default picture set, user uuid :{me}",
        ),
        (
            client,
            "/delete-permanently",
            general,
            f"Datastore Error deleting directory : User can't delete the default picture set, user uuid :{me}",
        ),
    ]
    for on, path, folder, message in cases:
        assert await post(on, path, {"container_name": me, "folder_uuid": folder}) == (400, [message]), path
    assert "theirs" in [f["folder_name"] for f in await storage.get_directories(other)]
    assert them


async def test_picture_and_upload_messages(client, user, other, storage):
    me = str(user)
    theirs = await storage.create_picture_set(other, 1, "theirs")
    (picture,) = await storage.upload_pictures(other, theirs, [png_bytes()], seed_name="Brassica napus")
    assert await post(client, "/get-picture", {"container_name": me, "picture_id": GHOST}) == (
        400,
        [f"Datastore Error retrieving the picture : Picture not found based on the given id: {GHOST}"],
    )
    assert await post(client, "/get-picture", {"container_name": me, "picture_id": str(picture)}) == (
        400,
        [
            f"Datastore Error retrieving the picture : User can't access this picture, user uuid :{me}, "
            f"picture : {picture}"
        ],
    )
    assert await post(
        client,
        "/upload-picture",
        {"container_name": me, "session_id": GHOST, "seed_name": "x", "image": data_url(png_bytes())},
    ) == (400, ["Datastore Error uploading picture : An error occured during the upload of the pictures"])
    assert (await post(client, "/create-dir", {"container_name": me, "folder_name": "twice"}))[0] == 200
    assert await post(client, "/create-dir", {"container_name": me, "folder_name": "twice"}) == (
        400,
        ["Datastore Error creating directory : Folder already exists"],
    )
    assert await post(
        client, "/new-batch-import", {"container_name": me, "nb_pictures": 1, "folder_name": "twice"}
    ) == (400, ["Datastore Error initiating batch upload : Folder already exists"])


async def test_feedback_messages(client, user, storage):
    from tests.test_storage import detected

    me = str(user)
    saved = await storage.save_inference(user, None, png_bytes(), detected("Brassica napus"), None)
    inference, box = saved["inference_id"], saved["boxes"][0]
    assert await post(
        client, "/feedback-positive", {"userId": me, "inferenceId": GHOST, "boxes": [{"boxId": GHOST}]}
    ) == (
        400,
        [f"Datastore Error giving a positive feedback : Inference not found based on the given id: {GHOST}"],
    )
    assert await post(
        client, "/feedback-positive", {"userId": me, "inferenceId": inference, "boxes": [{"boxId": GHOST}]}
    ) == (
        400,
        [
            f"Datastore Error giving a positive feedback : Error: could not get inference object for id {GHOST}"
        ],
    )
    assert (
        await post(
            client,
            "/feedback-positive",
            {"userId": me, "inferenceId": inference, "boxes": [{"boxId": box["box_id"]}]},
        )
    )[0] == 200
    assert await post(
        client,
        "/feedback-positive",
        {"userId": me, "inferenceId": inference, "boxes": [{"boxId": box["box_id"]}]},
    ) == (
        400,
        [
            f"Datastore Error giving a positive feedback : Can't add feedback to a verified inference, id: {inference}"
        ],
    )
    negative = {"boxId": box["box_id"], "label": "", "classId": "", "box": box["box"]}
    assert await post(
        client, "/feedback-negative", {"userId": me, "inferenceId": inference, "boxes": [negative]}
    ) == (
        400,
        [f"Datastore Error giving a negative feedback : Error: Inference {inference} is already verified"],
    )


async def test_a_folder_id_means_that_folder_even_if_another_is_named_like_it(
    client, user, storage, blob_store
):
    target = await storage.create_picture_set(user, 0, "target")
    decoy = await storage.create_picture_set(user, 0, str(target))  # named with the other's id
    assert await post(client, "/del", {"container_name": str(user), "folder_name": str(target)}) == (
        200,
        [True],
    )
    names = [f["folder_name"] for f in await storage.get_directories(user)]
    assert "target" not in names and str(target) in names and decoy


async def test_archive_marker_follows_the_datastore_layout(archive_client, user, storage, blob_store):
    client, dev_id = await archive_client()
    session = await storage.create_picture_set(user, 1, "arch")
    (picture,) = await storage.upload_pictures(user, session, [png_bytes()], seed_name="Brassica napus")
    assert await post(
        client, "/delete-with-archive", {"container_name": str(user), "folder_uuid": str(session)}
    ) == (200, True)
    names = sorted(b.name for b in await blob_store.list(container_name(dev_id)))
    assert names == sorted(["General/General.json", f"{user}/arch/arch.json", f"{user}/arch/{picture}"])
    assert [b.name for b in await blob_store.list(container_name(user))] == ["General/General.json"]
