"""Folders, pictures, batch import and deletion routes: success shapes and every error string."""

import uuid

import pytest

from storage.layout import container_name
from tests.conftest import data_url, png_bytes


async def post(client, path, body=None, **kwargs):
    response = (
        await client.post(path, json=body, **kwargs)
        if body is not None or not kwargs
        else await client.post(path, **kwargs)
    )
    return response.status_code, await response.get_json()


# -- /create-dir ------------------------------------------------------------------------------------
async def test_responses_are_compact_sorted_json_with_a_newline(client, user):
    response = await client.post("/create-dir", json={"container_name": str(user), "folder_name": "raw"})
    raw = await response.get_data()
    assert raw.startswith(b'["') and raw.endswith(b'"]\n') and b" " not in raw
    response = await client.post("/get-directories", json={"container_name": str(user)})
    raw = await response.get_data()
    assert (
        raw.startswith(b'{"folders":[{"folder_name":"')
        and response.headers["Content-Type"] == "application/json"
    )


async def test_create_dir(client, user, blob_store):
    status, body = await post(client, "/create-dir", {"container_name": str(user), "folder_name": "lab 1"})
    assert status == 200 and uuid.UUID(body[0])
    assert await blob_store.download(container_name(user), "lab 1/lab 1.json")
    assert await post(client, "/create-dir", {"container_name": str(user), "folder_name": "lab 1"}) == (
        400,
        ["Datastore Error creating directory : Folder already exists"],
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"container_name": "x"},
        {"folder_name": "x"},
        {"container_name": "x", "folder_name": ""},
        {"container_name": None, "folder_name": "f"},
    ],
)
async def test_create_dir_missing(client, body):
    assert await post(client, "/create-dir", body) == (
        400,
        ["API Error creating directory : missing container or directory name"],
    )


@pytest.mark.parametrize("raw", ["[1]", "not json", "null"])
async def test_create_dir_bad_bodies(client, raw):
    assert await post(client, "/create-dir", data=raw, headers={"Content-Type": "application/json"}) == (
        400,
        ["Unhandled API error : Error creating directory"],
    )
    assert await post(client, "/create-dir", data="x=1", headers={"Content-Type": "text/plain"}) == (
        400,
        ["Unhandled API error : Error creating directory"],
    )


@pytest.mark.parametrize(
    "name,reason",
    [
        ("a/b", "'/' and '\\' are not allowed"),
        ("..", "'.' and '..' are not allowed"),
        ("x" * 201, "longer than 200 bytes in UTF-8"),
        ("é" * 101, "longer than 200 bytes in UTF-8"),
        ("x" * 250, "longer than 200 bytes in UTF-8"),
    ],
)
async def test_create_dir_bad_names_write_nothing(client, user, storage, name, reason):
    status, body = await post(client, "/create-dir", {"container_name": str(user), "folder_name": name})
    assert status == 400 and body == [f"Datastore Error creating directory : invalid folder name: {reason}"]
    assert [f["folder_name"] for f in await storage.get_directories(user)] == ["General"]


async def test_create_dir_unicode_name(client, user, storage):
    status, _ = await post(
        client, "/create-dir", {"container_name": str(user), "folder_name": "Graines d’été 🌱"}
    )
    assert status == 200
    assert "Graines d’été 🌱" in [f["folder_name"] for f in await storage.get_directories(user)]


@pytest.mark.parametrize("who", ["not-a-uuid", str(uuid.UUID(int=7))])
async def test_unknown_users_get_datastore_errors_and_nothing_is_written(client, blob_store, who):
    status, body = await post(client, "/create-dir", {"container_name": who, "folder_name": "f"})
    assert status == 400 and body == [
        f"Datastore Error creating directory : User not found based on the given id: {who}"
    ]
    status, body = await post(client, "/new-batch-import", {"container_name": who, "nb_pictures": 2})
    assert body == [f"Datastore Error initiating batch upload : User not found based on the given id: {who}"]
    if who != "not-a-uuid":
        assert not await blob_store.container_exists(container_name(who))


# -- /get-directories and /dir -------------------------------------------------------------------------
async def test_get_directories_and_dir(client, user, storage):
    folder = await storage.create_picture_set(user, 0, "f")
    status, body = await post(client, "/get-directories", {"container_name": str(user)})
    assert status == 200
    by_name = {f["folder_name"]: f for f in body["folders"]}
    assert by_name["f"] == {
        "folder_name": "f",
        "nb_pictures": 0,
        "picture_set_id": str(folder),
        "pictures": [],
    }
    status, listing = await post(client, "/dir", {"container_name": str(user)})
    assert status == 200 and listing == body["folders"]


@pytest.mark.parametrize("path", ["/get-directories", "/dir"])
async def test_get_directories_errors(client, path):
    assert await post(client, path, {}) == (
        400,
        ["API Error retrieving user directories : Missing container name"],
    )
    who = str(uuid.UUID(int=9))
    assert await post(client, path, {"container_name": who}) == (
        400,
        [f"Datastore Error retrieving user directories : User not found based on the given id: {who}"],
    )
    assert await post(client, path, data="nope", headers={"Content-Type": "application/json"}) == (
        400,
        ["Unhandled API error : Error retrieving user directories"],
    )


# -- batch import --------------------------------------------------------------------------------------
async def test_new_batch_import_and_upload(client, user, storage, blob_store):
    status, body = await post(
        client, "/new-batch-import", {"container_name": str(user), "nb_pictures": 1, "folder_name": "batch"}
    )
    assert status == 200 and set(body) == {"session_id"}
    image = png_bytes(100, 80)
    upload = {
        "container_name": str(user),
        "session_id": body["session_id"],
        "seed_name": "Brassica napus",
        "zoom_level": 1.0,
        "nb_seeds": 4,
        "image": data_url(image),
    }
    assert await post(client, "/upload-picture", upload) == (200, [True])
    folder = {f["folder_name"]: f for f in await storage.get_directories(user)}["batch"]
    assert folder["nb_pictures"] == 1 and folder["pictures"][0]["is_validated"] is True
    picture_id = folder["pictures"][0]["picture_id"]
    assert await blob_store.download(container_name(user), f"batch/{picture_id}") == image


async def test_new_batch_import_without_name_uses_the_id(client, user, storage):
    status, body = await post(
        client, "/new-batch-import", {"container_name": str(user), "nb_pictures": 3, "folder_name": ""}
    )
    names = [f["folder_name"] for f in await storage.get_directories(user)]
    assert status == 200 and body["session_id"] in names


@pytest.mark.parametrize(
    "body,message",
    [
        (
            {"container_name": "x"},
            "missing request arguments: either container_name or nb_pictures is missing",
        ),
        ({"nb_pictures": 1}, "missing request arguments: either container_name or nb_pictures is missing"),
        (
            {"container_name": "", "nb_pictures": 1},
            "wrong request arguments: either container_name or nb_pictures is wrong",
        ),
        (
            {"container_name": "x", "nb_pictures": "1"},
            "wrong request arguments: either container_name or nb_pictures is wrong",
        ),
        (
            {"container_name": "x", "nb_pictures": 0},
            "wrong request arguments: either container_name or nb_pictures is wrong",
        ),
        (
            {"container_name": "x", "nb_pictures": 2.0},
            "wrong request arguments: either container_name or nb_pictures is wrong",
        ),
    ],
)
async def test_new_batch_import_errors(client, body, message):
    assert await post(client, "/new-batch-import", body) == (
        400,
        [f"API Error initiating batch upload : {message}"],
    )


async def test_new_batch_import_null_body(client):
    assert await post(
        client, "/new-batch-import", data="null", headers={"Content-Type": "application/json"}
    ) == (400, ["API Error initiating batch upload : argument of type 'NoneType' is not iterable"])


MISSING_UPLOAD = (
    "API Error uploading picture : missing request arguments: either seed_name, session_id, "
    "container_name or image is missing"
)


@pytest.mark.parametrize("drop", ["container_name", "session_id", "image", "seed_name"])
async def test_upload_picture_missing(client, drop):
    body = {"container_name": "u", "session_id": "s", "seed_name": "Brassica napus", "image": "data:,x"}
    body[drop] = ""
    assert await post(client, "/upload-picture", body) == (400, [MISSING_UPLOAD])


@pytest.mark.parametrize(
    "image,expected",
    [
        ("data:image/png;base64," + "QUJD", "Unhandled API error : Error uploading picture"),
        ("nocomma", "Unhandled API error : Error uploading picture"),
        (data_url(png_bytes(2000, 2000)), "API Error uploading picture : invalid file size: 2000x2000"),
    ],
)
async def test_upload_picture_validates_the_image_and_writes_nothing(client, user, storage, image, expected):
    session = await storage.create_picture_set(user, 1, "v")
    body = {
        "container_name": str(user),
        "session_id": str(session),
        "seed_name": "Brassica napus",
        "image": image,
    }
    assert await post(client, "/upload-picture", body) == (400, [expected])
    assert {f["folder_name"]: f for f in await storage.get_directories(user)}["v"]["nb_pictures"] == 0


async def test_upload_picture_into_someone_elses_folder(client, user, storage):
    other = await storage.create_user(f"o-{uuid.uuid4().hex[:6]}@example.org")
    session = await storage.create_picture_set(other, 1, "theirs")
    body = {
        "container_name": str(user),
        "session_id": str(session),
        "seed_name": "Brassica napus",
        "image": data_url(png_bytes()),
    }
    assert await post(client, "/upload-picture", body) == (
        400,
        [
            f"Datastore Error uploading picture : User isn't owner of this folder, user uuid :{user}, "
            f"folder uuid : {session}"
        ],
    )


# -- /get-picture ----------------------------------------------------------------------------------------
async def test_get_picture_returns_the_real_mime_type(client, user, storage):
    session = await storage.create_picture_set(user, 1, "p")
    jpeg = png_bytes(fmt="JPEG")
    (picture_id,) = await storage.upload_pictures(user, session, [jpeg], seed_name="Brassica napus")
    status, body = await post(
        client, "/get-picture", {"container_name": str(user), "picture_id": str(picture_id)}
    )
    assert status == 200 and body["inference"] is None and body["picture_id"] == str(picture_id)
    assert body["image"] == data_url(jpeg, "image/jpeg")


async def test_get_picture_errors(client, user):
    missing = "API Error retrieving the picture : Missing container name"
    assert await post(client, "/get-picture", {"container_name": str(user)}) == (400, [missing])
    assert await post(client, "/get-picture", {"picture_id": "x"}) == (400, [missing])
    ghost = str(uuid.UUID(int=5))
    assert await post(client, "/get-picture", {"container_name": str(user), "picture_id": ghost}) == (
        400,
        [f"Datastore Error retrieving the picture : Picture not found based on the given id: {ghost}"],
    )


# -- deletion ------------------------------------------------------------------------------------------------
async def test_delete_request_and_permanently(client, user, storage, blob_store):
    session = await storage.create_picture_set(user, 1, "d")
    ident = {"container_name": str(user), "folder_uuid": str(session)}
    assert await post(client, "/delete-request", ident) == (200, False)
    await storage.upload_pictures(user, session, [png_bytes()], seed_name="Brassica napus")
    assert await post(client, "/delete-request", ident) == (200, True)
    assert await post(client, "/delete-permanently", ident) == (200, True)
    assert await blob_store.list(container_name(user), "d/") == []
    assert await post(client, "/delete-permanently", ident) == (
        400,
        [f"Datastore Error deleting directory : Picture set not found based on the given id: {session}"],
    )


@pytest.mark.parametrize(
    "path,message",
    [
        (
            "/delete-request",
            "API Error requesting deletion of directory : missing container or directory name",
        ),
        ("/delete-permanently", "API Error deleting directory : missing container name or directory id"),
        ("/delete-with-archive", "API Error deleting directory : missing container or directory name"),
        ("/del", "API Error deleting directory : missing container or directory name"),
    ],
)
async def test_delete_routes_missing_arguments(client, path, message):
    assert await post(client, path, {"container_name": "x"}) == (400, [message])


async def test_general_cannot_be_deleted(client, user, storage):
    general = {f["folder_name"]: f for f in await storage.get_directories(user)}["General"]["picture_set_id"]
    assert await post(
        client, "/delete-permanently", {"container_name": str(user), "folder_uuid": general}
    ) == (
        400,
        [
            f"Datastore Error deleting directory : User can't delete the default picture set, user uuid :{user}"
        ],
    )
    assert await post(client, "/del", {"container_name": str(user), "folder_name": "General"}) == (
        400,
        [
            f"Datastore Error deleting directory : User can't delete the default picture set, user uuid :{user}"
        ],
    )


async def test_del_accepts_a_name_or_an_id(client, user, storage, blob_store):
    named = await storage.create_picture_set(user, 0, "by-name")
    await storage.upload_pictures(user, named, [png_bytes()], seed_name="Brassica napus")
    by_id = await storage.create_picture_set(user, 0, "by-id")
    assert await post(client, "/del", {"container_name": str(user), "folder_name": "by-name"}) == (
        200,
        [True],
    )
    assert await post(client, "/del", {"container_name": str(user), "folder_name": str(by_id)}) == (
        200,
        [True],
    )
    assert [f["folder_name"] for f in await storage.get_directories(user)] == ["General"]
    assert await blob_store.list(container_name(user), "by-name/") == []
    assert await post(client, "/del", {"container_name": str(user), "folder_name": "ghost"}) == (
        400,
        ["Datastore Error deleting directory : directory does not exist"],
    )


async def test_delete_someone_elses_folder(client, user, storage):
    other = await storage.create_user(f"o-{uuid.uuid4().hex[:6]}@example.org")
    theirs = await storage.create_picture_set(other, 0, "theirs")
    assert await post(
        client, "/delete-permanently", {"container_name": str(user), "folder_uuid": str(theirs)}
    ) == (
        400,
        [
            f"Datastore Error deleting directory : User can't delete this folder, user uuid :{user}, "
            f"folder name : {theirs}"
        ],
    )
    assert "theirs" in [f["folder_name"] for f in await storage.get_directories(other)]


async def test_delete_with_archive(client_for, services, user, storage, data_root):
    from nachet.config import load_settings
    from tests.conftest import SCHEMA

    dev = f"dev-{uuid.uuid4().hex[:6]}@example.org"
    await storage.create_user(dev)
    config = load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "DEV_USER_EMAIL": dev}, dotenv=False
    )
    session = await storage.create_picture_set(user, 1, "arch")
    await storage.upload_pictures(user, session, [png_bytes()], seed_name="Brassica napus")
    client = client_for(services, config)
    assert await post(
        client, "/delete-with-archive", {"container_name": str(user), "folder_uuid": str(session)}
    ) == (200, True)
    dev_folders = {f["folder_name"]: f for f in await storage.get_directories(await storage.get_user_id(dev))}
    assert dev_folders[f"{user}/arch"]["nb_pictures"] == 1


# -- end to end ------------------------------------------------------------------------------------------------
async def test_folder_lifecycle_end_to_end(client, user, pool, blob_store):
    uid = str(user)
    status, (folder_id,) = await post(client, "/create-dir", {"container_name": uid, "folder_name": "e2e"})
    assert status == 200
    # batch upload into a new session, then into the folder itself
    status, body = await post(
        client, "/new-batch-import", {"container_name": uid, "nb_pictures": 2, "folder_name": "e2e batch"}
    )
    session = body["session_id"]
    images = [png_bytes(color=(i * 40, 10, 10)) for i in range(2)]
    for image in images:
        assert await post(
            client,
            "/upload-picture",
            {
                "container_name": uid,
                "session_id": session,
                "seed_name": "Bromus japonicus",
                "image": data_url(image),
            },
        ) == (200, [True])
    status, body = await post(client, "/get-directories", {"container_name": uid})
    batch = {f["folder_name"]: f for f in body["folders"]}["e2e batch"]
    assert batch["nb_pictures"] == 2
    picture = batch["pictures"][0]["picture_id"]
    status, got = await post(client, "/get-picture", {"container_name": uid, "picture_id": picture})
    assert status == 200 and got["image"] in [data_url(i) for i in images]
    assert await post(client, "/delete-request", {"container_name": uid, "folder_uuid": session}) == (
        200,
        True,
    )
    assert await post(client, "/delete-permanently", {"container_name": uid, "folder_uuid": session}) == (
        200,
        True,
    )
    status, body = await post(client, "/get-directories", {"container_name": uid})
    assert sorted(f["folder_name"] for f in body["folders"]) == ["General", "e2e"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM picture_set WHERE id = $1", uuid.UUID(session)) == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM picture p JOIN picture_set s ON s.id = p.picture_set_id WHERE s.owner_id = $1",
                user,
            )
            == 0
        )
    names = [b.name for b in await blob_store.list(container_name(user))]
    assert sorted(names) == ["General/General.json", "e2e/e2e.json"]
    assert folder_id
