"""The storage facade against the embedded Postgres and both blob stores."""

import json
import uuid

import pytest

from datastore.blob import BlobNotFound
from kernel import errors
from storage.layout import container_name
from tests.conftest import BOTH_BLOB_STORES, png_bytes

pytestmark = BOTH_BLOB_STORES


async def rows(pool, sql, *args):
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *args)


async def test_create_user_registers_general_folder_container_and_marker(storage, pool, blob_store):
    email = f"new-{uuid.uuid4().hex[:8]}@example.org"
    user_id = await storage.create_user(email)
    assert await storage.get_user_id(email) == user_id
    (folder,) = await rows(pool, "SELECT id, name FROM picture_set WHERE owner_id = $1", user_id)
    assert folder["name"] == "General"
    (user,) = await rows(pool, "SELECT default_set_id FROM users WHERE id = $1", user_id)
    assert user["default_set_id"] == folder["id"]
    marker = json.loads(await blob_store.download(container_name(user_id), "General/General.json"))
    assert marker["folder_name"] == "General" and marker["folder_uuid"] == str(folder["id"])
    with pytest.raises(errors.UserAlreadyExistsError):
        await storage.create_user(email)


async def test_unknown_email(storage):
    with pytest.raises(errors.UserNotFoundError, match="^User not found$"):
        await storage.get_user_id("nobody@example.org")


async def test_ensure_user_is_idempotent(storage):
    email = f"seeded-{uuid.uuid4().hex[:8]}@example.org"
    assert await storage.ensure_user(email) == await storage.ensure_user(email)


@pytest.mark.parametrize("bad", ["not-a-uuid", str(uuid.uuid4()), "", None])
async def test_unknown_or_malformed_user_writes_nothing(storage, pool, blob_store, bad):
    before = (await rows(pool, "SELECT count(*) AS n FROM picture_set"))[0]["n"]
    with pytest.raises(errors.UserNotFoundError):
        await storage.create_picture_set(bad, 0, "folder")
    assert (await rows(pool, "SELECT count(*) AS n FROM picture_set"))[0]["n"] == before
    if bad:
        with pytest.raises((ValueError, BlobNotFound)):
            assert not await blob_store.container_exists(container_name(bad))
            raise BlobNotFound("no container, as expected")


async def test_create_folder_and_list_directories(storage, user, blob_store):
    folder_id = await storage.create_picture_set(user, 0, "Échantillons 2026")
    marker = json.loads(
        await blob_store.download(container_name(user), "Échantillons 2026/Échantillons 2026.json")
    )
    assert marker["folder_uuid"] == str(folder_id)
    with pytest.raises(errors.DatastoreError, match="Folder already exists"):
        await storage.create_picture_set(user, 0, "Échantillons 2026")
    unnamed = await storage.create_picture_set(user, 3, None)
    listing = {f["folder_name"]: f for f in await storage.get_directories(user)}
    assert set(listing) == {"General", "Échantillons 2026", str(unnamed)}
    assert listing["General"]["nb_pictures"] == 0 and listing["General"]["pictures"] == []


@pytest.mark.parametrize("name", ["a/b", "..", "x" * 300, " padded", "tab\there"])
async def test_bad_folder_names_are_refused(storage, user, name):
    with pytest.raises(errors.DatastoreError, match="invalid folder name"):
        await storage.create_picture_set(user, 0, name)


async def test_upload_pictures_and_get_picture(storage, user, pool, blob_store):
    folder = await storage.create_picture_set(user, 2, "batch")
    image = png_bytes()
    (picture_id,) = await storage.upload_pictures(
        user, folder, [image], seed_name="Brassica napus", zoom_level=1.5, nb_seeds=3
    )
    assert await blob_store.download(container_name(user), f"batch/{picture_id}") == image
    (row,) = await rows(pool, "SELECT picture, sha256 FROM picture WHERE id = $1", picture_id)
    assert row["picture"]["nb_seeds"] == 3 and row["picture"]["zoom"] == 1.5
    assert len(row["sha256"]) == 64
    listing = {f["folder_name"]: f for f in await storage.get_directories(user)}
    assert listing["batch"]["pictures"] == [
        {"picture_id": str(picture_id), "is_validated": True, "inference_exist": False}
    ]
    inference, data = await storage.get_picture(user, picture_id)
    assert inference is None and data == image
    stranger = await storage.create_user(f"s-{uuid.uuid4().hex[:8]}@example.org")
    with pytest.raises(errors.DatastoreError, match="User can't access this picture"):
        await storage.get_picture(stranger, picture_id)
    with pytest.raises(errors.DatastoreError, match="User isn't owner of this folder"):
        await storage.upload_pictures(stranger, folder, [image], seed_name="Brassica napus")


async def test_upload_with_a_new_seed_name_grows_the_catalogue(storage, user, pool):
    folder = await storage.create_picture_set(user, 1, None)
    name = f"Novus species {uuid.uuid4().hex[:6]}"
    await storage.upload_pictures(user, folder, [png_bytes()], seed_name=name)
    assert await rows(pool, "SELECT id FROM seed WHERE name = $1", name)


async def test_delete_request_and_permanent_delete(storage, user, pool, blob_store):
    folder = await storage.create_picture_set(user, 1, "to-delete")
    assert await storage.delete_directory_request(user, folder) is False
    (picture_id,) = await storage.upload_pictures(user, folder, [png_bytes()], seed_name="Lolium temulentum")
    assert await storage.delete_directory_request(user, folder) is True
    assert await storage.delete_directory_permanently(user, folder) is True
    assert not await rows(pool, "SELECT id FROM picture WHERE id = $1", picture_id)
    assert await blob_store.list(container_name(user), "to-delete/") == []


async def test_default_folder_cannot_be_deleted(storage, user, pool):
    (general,) = await rows(pool, "SELECT default_set_id FROM users WHERE id = $1", user)
    with pytest.raises(errors.DatastoreError, match="User can't delete the default picture set"):
        await storage.delete_directory_permanently(user, general["default_set_id"])
    with pytest.raises(errors.DatastoreError, match="User can't delete the default picture set"):
        await storage.delete_directory_by_name(user, "General")


async def test_delete_by_name_or_id(storage, user):
    by_name = await storage.create_picture_set(user, 0, "named")
    by_id = await storage.create_picture_set(user, 0, "other")
    assert await storage.delete_directory_by_name(user, "named")
    assert await storage.delete_directory_by_name(user, str(by_id))
    names = {f["folder_name"] for f in await storage.get_directories(user)}
    assert names == {"General"} and by_name
    with pytest.raises(errors.NotFoundError):
        await storage.delete_directory_by_name(user, "never-existed")


async def test_delete_with_archive_moves_validated_pictures(storage, user, pool, blob_store):
    dev_email = f"dev-{uuid.uuid4().hex[:8]}@example.org"
    dev = await storage.create_user(dev_email)
    folder = await storage.create_picture_set(user, 2, "keep")
    validated = await storage.upload_pictures(
        user, folder, [png_bytes(), png_bytes(color=(1, 2, 3))], seed_name="Cirsium arvense"
    )
    archive = await storage.delete_directory_with_archive(user, folder, dev_email)
    moved = await rows(pool, "SELECT id FROM picture WHERE picture_set_id = $1 ORDER BY id", archive)
    assert sorted(r["id"] for r in moved) == sorted(validated)
    for picture_id in validated:
        assert await blob_store.download(container_name(dev), f"{user}/keep/{picture_id}")
    assert await blob_store.list(container_name(user), "keep/") == []
    assert not await rows(pool, "SELECT id FROM picture_set WHERE id = $1", folder)
    with pytest.raises(errors.DatastoreError, match="DEV_USER_EMAIL"):
        await storage.delete_directory_with_archive(user, folder, None)


def detected(*labels):
    return {
        "filename": "tray.png",
        "boxes": [
            {
                "box": {"topX": 10 * i, "topY": 5, "bottomX": 10 * i + 8, "bottomY": 20},
                "label": label,
                "score": 0.9,
                "topN": [{"label": label, "score": 0.9}, {"label": "Unknown seed", "score": 0.1}],
                "color": "#ED1C24",
                "overlapping": False,
                "overlappingIndices": [],
            }
            for i, label in enumerate(labels)
        ],
        "labelOccurrence": {label: labels.count(label) for label in labels},
        "totalBoxes": len(labels),
        "models": [{"name": "test_model1", "version": 1}],
    }


async def test_boxes_come_back_in_the_models_order(storage, user):
    """The one-statement save inserts the objects in the answer's order (their seq)."""
    labels = ["Brassica napus", "Ambrosia trifida", "Brassica juncea"] * 7
    saved = await storage.save_inference(user, None, png_bytes(), detected(*labels), None)
    picture_id = (await storage.get_directories(user))[0]["pictures"][0]["picture_id"]
    inference, _ = await storage.get_picture(user, picture_id)
    assert [b["box_id"] for b in inference["boxes"]] == [b["box_id"] for b in saved["boxes"]]
    assert [b["label"] for b in inference["boxes"]] == labels
    assert [b["box"]["topX"] for b in inference["boxes"]] == [10 * i for i in range(len(labels))]


async def test_save_inference_and_read_it_back(storage, user, pool):
    saved = await storage.save_inference(user, None, png_bytes(), detected("Brassica napus"), None)
    box = saved["boxes"][0]
    assert {"box_id", "top_id", "object_type_id"} <= box.keys() and box["topN"][0]["object_id"]
    (picture,) = await rows(
        pool, "SELECT picture_id FROM inference WHERE id = $1", uuid.UUID(saved["inference_id"])
    )
    inference, _ = await storage.get_picture(user, picture["picture_id"])
    assert inference["boxes"][0]["label"] == "Brassica napus"
    assert inference["boxes"][0]["box"] == {"topX": 0.0, "topY": 5.0, "bottomX": 8.0, "bottomY": 20.0}
    assert inference["boxes"][0]["is_verified"] is False
    assert inference["models"] == [{"name": "test_model1", "version": "1"}]


async def test_save_inference_goes_to_the_named_folder(storage, user, blob_store):
    folder = await storage.create_picture_set(user, 0, "lab")
    await storage.save_inference(user, "lab", png_bytes(), detected(), None)
    await storage.save_inference(user, str(folder), png_bytes(), detected(), None)
    listing = {f["folder_name"]: f for f in await storage.get_directories(user)}
    assert listing["lab"]["nb_pictures"] == 2 and listing["General"]["nb_pictures"] == 0
    assert all(p["inference_exist"] for p in listing["lab"]["pictures"])


async def test_a_user_who_lost_the_default_folder_gets_it_made_again(storage, user, pool):
    """The original let a user's "General" folder go; /inf then saves into a new one."""
    general = await pool.fetchval("SELECT default_set_id FROM users WHERE id = $1", user)
    await pool.execute("UPDATE users SET default_set_id = NULL WHERE id = $1", user)
    await pool.execute("DELETE FROM picture_set WHERE id = $1", general)
    target = await storage.inference_target(user, "General")
    assert target.folder is None
    await storage.save_inference(
        user, "General", png_bytes(), detected("Brassica napus"), None, target=target
    )
    again = await pool.fetchval("SELECT default_set_id FROM users WHERE id = $1", user)
    assert again not in (None, general)
    listing = await storage.get_directories(user)
    assert [(f["folder_name"], f["nb_pictures"]) for f in listing] == [("General", 1)]
    assert (await storage.inference_target(user, "General")).folder["id"] == again


async def test_unknown_label_writes_nothing(storage, user, pool, blob_store):
    with pytest.raises(
        errors.ModelFault, match="model test_model1 answered a label that is not in the seed table"
    ):
        await storage.save_inference(
            user, None, png_bytes(), detected("Brassica napus", "Martian bean"), None
        )
    assert not await rows(
        pool,
        "SELECT p.id FROM picture p JOIN picture_set s ON s.id = p.picture_set_id WHERE s.owner_id = $1",
        user,
    )
    assert [b.name for b in await blob_store.list(container_name(user), "General/")] == [
        "General/General.json"
    ]


async def test_seeds_named_by_labels_are_remembered_and_unknown_labels_asked_again(storage, user, pool):
    """/inf's save looks a label up once (storage/seed_names.py); a label that named no seed is
    looked up again, so a seed added since (by an upload) is found."""
    name = f"Novus seedus {uuid.uuid4().hex[:6]}"
    with pytest.raises(
        errors.ModelFault, match="model test_model1 answered a label that is not in the seed table"
    ):
        await storage.save_inference(user, None, png_bytes(), detected(name), None)
    seed_id = await pool.fetchval("INSERT INTO seed (name) VALUES ($1) RETURNING id", name)
    saved = await storage.save_inference(user, None, png_bytes(), detected(name), None)
    assert saved["boxes"][0]["label"] == name
    remembered = await storage.seed_names.resolve(None, [name])  # no pool: from memory or it fails
    assert remembered[name]["id"] == seed_id


async def test_a_remembered_seed_removed_by_hand_is_looked_up_again(storage, user, pool):
    name = f"Novus seedus {uuid.uuid4().hex[:6]}"
    first = await pool.fetchval("INSERT INTO seed (name) VALUES ($1) RETURNING id", name)
    await storage.save_inference(user, None, png_bytes(), detected(name), None)
    # an operator removes the seed and what names it, then adds it again: a new id
    await pool.execute(
        "UPDATE object SET top_id = NULL WHERE top_id IN (SELECT id FROM seed_obj WHERE seed_id = $1)", first
    )
    await pool.execute("DELETE FROM seed_obj WHERE seed_id = $1", first)
    await pool.execute("DELETE FROM seed WHERE id = $1", first)
    second = await pool.fetchval("INSERT INTO seed (name) VALUES ($1) RETURNING id", name)
    saved = await storage.save_inference(user, None, png_bytes(), detected(name), None)
    guess = uuid.UUID(saved["boxes"][0]["topN"][0]["object_id"])
    assert await pool.fetchval("SELECT seed_id FROM seed_obj WHERE id = $1", guess) == second


async def test_positive_feedback_verifies_and_validates(storage, user, pool):
    saved = await storage.save_inference(
        user, None, png_bytes(), detected("Brassica napus", "Bromus secalinus"), None
    )
    ids = [b["box_id"] for b in saved["boxes"]]
    partial = await storage.save_perfect_feedback(user, saved["inference_id"], ids[:1])
    assert [b["is_verified"] for b in partial["boxes"]] == [True, False]
    done = await storage.save_perfect_feedback(user, saved["inference_id"], ids[1:])
    assert all(b["is_verified"] and b["score"] == 1.0 for b in done["boxes"])
    listing = await storage.get_directories(user)
    assert listing[0]["pictures"][0]["is_validated"] is True
    with pytest.raises(errors.DatastoreError, match="verified inference"):
        await storage.save_perfect_feedback(user, saved["inference_id"], ids)


async def test_feedback_checks_owner_and_box(storage, user):
    saved = await storage.save_inference(user, None, png_bytes(), detected("Brassica napus"), None)
    other = await storage.save_inference(user, None, png_bytes(), detected("Brassica napus"), None)
    stranger = await storage.create_user(f"s-{uuid.uuid4().hex[:8]}@example.org")
    with pytest.raises(errors.DatastoreError, match="User can't access this picture"):
        await storage.save_perfect_feedback(stranger, saved["inference_id"], [saved["boxes"][0]["box_id"]])
    with pytest.raises(errors.DatastoreError, match="could not get inference object for id"):
        await storage.save_perfect_feedback(user, saved["inference_id"], [other["boxes"][0]["box_id"]])


async def test_negative_feedback_relabel_move_delete_and_add(storage, user, pool):
    saved = await storage.save_inference(
        user, None, png_bytes(), detected("Brassica napus", "Bromus secalinus", "Lolium temulentum"), None
    )
    b0, b1, b2 = saved["boxes"]
    moved = {"topX": 1, "topY": 2, "bottomX": 30, "bottomY": 40}
    result = await storage.save_annotated_feedback(
        user,
        saved["inference_id"],
        [
            {"boxId": b0["box_id"], "label": "Solanum nigrum", "classId": "", "box": b0["box"]},
            {"boxId": b1["box_id"], "label": "Bromus secalinus", "classId": "", "box": moved},
            {"boxId": b2["box_id"], "label": "", "classId": "", "box": b2["box"]},
            {
                "boxId": "",
                "label": "Carduus nutans",
                "classId": "",
                "box": {"topX": 50, "topY": 50, "bottomX": 60, "bottomY": 70},
            },
        ],
    )
    boxes = {b["box_id"]: b for b in result["boxes"]}
    assert boxes[b0["box_id"]]["label"] == "Solanum nigrum" and boxes[b0["box_id"]]["is_verified"]
    assert boxes[b1["box_id"]]["box"] == {k: float(v) for k, v in moved.items()}
    added = [b for b in result["boxes"] if b["box_id"] not in (b0["box_id"], b1["box_id"], b2["box_id"])]
    assert added[0]["label"] == "Carduus nutans" and added[0]["is_verified"]
    # the deleted box counts as resolved: the whole inference is verified
    (row,) = await rows(
        pool, "SELECT verified FROM inference WHERE id = $1", uuid.UUID(saved["inference_id"])
    )
    assert row["verified"] is True


async def test_remove_user_deletes_everything(storage, pool, blob_store):
    user = await storage.create_user(f"gone-{uuid.uuid4().hex[:8]}@example.org")
    folder = await storage.create_picture_set(user, 1, "f")
    await storage.upload_pictures(user, folder, [png_bytes()], seed_name="Brassica napus")
    await storage.save_inference(user, None, png_bytes(), detected("Brassica napus"), None)
    await storage.remove_user(str(user))
    assert not await rows(pool, "SELECT id FROM picture_set WHERE owner_id = $1", user)
    assert not await blob_store.container_exists(container_name(user))


async def test_seed_data(storage):
    assert (await storage.seed_data("Brassica napus"))["seed_name"] == "Brassica napus"
    assert isinstance(await storage.seed_data("seeds"), list)
    assert await storage.seed_data("Martian bean") is None


async def test_labels_match_whole_names_not_suffixes_or_wildcards(storage, user):
    for label in ("napus", "%napus", "Brassica _apus"):
        with pytest.raises(
            errors.ModelFault, match="model test_model1 answered a label that is not in the seed table"
        ):
            await storage.save_inference(user, None, png_bytes(), detected(label), None)
    saved = await storage.save_inference(
        user, None, png_bytes(), detected("012 ambrosia ARTEMISIIFOLIA"), None
    )
    assert saved["boxes"][0]["box_id"]


async def test_archive_moves_a_picture_with_several_seeds_once(storage, user, pool, blob_store):
    dev_email = f"dev-{uuid.uuid4().hex[:8]}@example.org"
    await storage.create_user(dev_email)
    folder = await storage.create_picture_set(user, 1, "many")
    (picture_id,) = await storage.upload_pictures(user, folder, [png_bytes()], seed_name="Cirsium arvense")
    async with pool.acquire() as conn:  # a verified inference later added two more species
        await conn.execute(
            """INSERT INTO picture_seed (picture_id, seed_id)
                              SELECT $1, id FROM seed WHERE name IN ('Brassica napus', 'Lolium temulentum')""",
            picture_id,
        )
    assert await storage.delete_directory_request(user, folder) is True
    archive = await storage.delete_directory_with_archive(user, folder, dev_email)
    moved = await rows(pool, "SELECT id FROM picture WHERE picture_set_id = $1", archive)
    assert [r["id"] for r in moved] == [picture_id]
