"""The data tools (issue "Operability"): dataset export read back by pycocotools and supervision,
a labelled import from a directory of species folders, offline classification with annotated
pictures, and POST /get-picture-annotated."""

from __future__ import annotations

import base64
import io
import json
import uuid

import numpy as np
import pytest
import supervision as sv
from PIL import Image
from pycocotools.coco import COCO

from kernel.errors import DatastoreError
from tests.conftest import DATA, SCHEMA, png_bytes, run_nachet
from tests.test_inference import inf_body, model_server, pipelines  # noqa: F401 (fixtures)
from usecases.datasets import export_dataset
from usecases.lab_tools import import_folder
from usecases.pipelines import BUILTIN_PIPELINE

SPECIES = ["Ambrosia artemisiifolia", "Brassica napus"]  # what the loopback models name


@pytest.fixture
async def labelled(client, storage, pipelines):  # noqa: F811
    """A user with three inferred pictures (two boxes each), the first one's boxes confirmed."""
    email = f"export-{uuid.uuid4().hex[:8]}@example.org"
    owner = await storage.create_user(email)
    inferred = []
    for width, height in ((400, 300), (800, 600), (400, 300)):
        body = inf_body(pipelines["swin"], owner, image=png_bytes(width, height), dims=(400, 300))
        inferred.append(await (await client.post("/inf", json=body)).get_json())
    first = inferred[0]
    confirm = {
        "userId": str(owner),
        "inferenceId": first["inference_id"],
        "boxes": [{"boxId": b["box_id"]} for b in first["boxes"]],
    }
    assert (await client.post("/feedback-positive", json=confirm)).status_code == 200
    return email, owner, inferred


async def test_coco_export_reads_back_with_pycocotools_and_supervision(services, labelled, tmp_path):
    email, _, inferred = labelled
    out = tmp_path / "coco"
    assert await export_dataset(services, "coco", out, email) == (3, 6)
    coco = COCO(str(out / "annotations.json"))
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == SPECIES
    images = coco.loadImgs(coco.getImgIds())
    assert [(i["width"], i["height"]) for i in images] == [(400, 300), (800, 600), (400, 300)]
    big = images[1]
    (first, _) = coco.loadAnns(coco.getAnnIds(imgIds=[big["id"]]))
    # saved in imageDims (400x300) units, exported in the picture's own pixels (800x600)
    assert first["bbox"] == [80.0, 60.0, 160.0, 180.0] and first["area"] == 160.0 * 180.0
    assert coco.loadCats(first["category_id"])[0]["name"] == inferred[1]["boxes"][0]["label"]
    dataset = sv.DetectionDataset.from_coco(str(out / "images"), str(out / "annotations.json"))
    assert len(dataset) == 3 and sum(len(d) for _, _, d in dataset) == 6


async def test_yolo_export_reads_back_with_supervision(services, labelled, tmp_path):
    email, _, _ = labelled
    out = tmp_path / "yolo"
    assert await export_dataset(services, "yolo", out, email, verified_only=True) == (1, 2)
    dataset = sv.DetectionDataset.from_yolo(str(out / "images"), str(out / "labels"), str(out / "data.yaml"))
    assert dataset.classes == SPECIES and len(dataset) == 1
    (_, _, detections) = next(iter(dataset))
    assert np.allclose(detections.xyxy[0], [40, 30, 120, 120], atol=0.01)  # the 400x300 picture


async def test_label_studio_export_uses_percent_and_separates_verified(services, labelled, tmp_path):
    email, _, _ = labelled
    out = tmp_path / "ls"
    await export_dataset(services, "labelstudio", out, email)
    tasks = json.loads((out / "tasks.json").read_text())
    assert len(tasks) == 3 and "annotations" in tasks[0] and "predictions" in tasks[1]
    value = tasks[0]["annotations"][0]["result"][0]["value"]
    assert value["x"] == pytest.approx(10.0) and value["width"] == pytest.approx(20.0)
    assert value["rectanglelabels"][0] in SPECIES and (out / tasks[0]["data"]["image"]).is_file()
    assert all(label in (out / "label_config.xml").read_text() for label in SPECIES)


def test_export_refuses_bad_input_in_one_line_and_leaves_nothing(db_url, data_root, tmp_path):
    env = {"NACHET_DB_URL": db_url, "NACHET_SCHEMA": SCHEMA, "NACHET_DATA_DIR": str(data_root)}
    cases = {
        (
            "--format",
            "pascal",
            str(tmp_path / "a"),
        ): "error: unknown export format 'pascal' (coco, yolo or labelstudio)",
        (
            "--format",
            "coco",
            "--user",
            "nobody@example.org",
            str(tmp_path / "b"),
        ): "error: no user nobody@example.org",
        (
            "--format",
            "coco",
            "--folder",
            str(uuid.uuid4()),
            str(tmp_path / "c"),
        ): "error: nothing to export: no labelled boxes in the selection",
        ("--format", "coco", str(tmp_path / "missing" / "d")): "error: cannot write",
    }
    for args, message in cases.items():
        done = run_nachet(env, "export", *args)
        assert done.returncode == 1 and done.stderr.strip().startswith(message), (args, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial directory


async def test_import_folder_labels_each_species_and_lists_what_it_skips(services, storage, tmp_path):
    email = f"import-{uuid.uuid4().hex[:8]}@example.org"
    await storage.create_user(email)
    root = tmp_path / "reference"
    for name, count in (("Ambrosia_artemisiifolia", 2), ("brassica napus", 1), ("Not a seed", 1)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(png_bytes(120, 90))
    (root / "brassica napus" / "notes.txt").write_text("seen on 2026-11-02")
    (root / "brassica napus" / "broken.png").write_bytes(b"not a png")

    with pytest.raises(LookupError, match="refused"):  # --strict: nothing at all
        await import_folder(services, root, email, strict=True)
    report = await import_folder(services, root, email)
    assert report.imported == {"Ambrosia artemisiifolia": 2, "Brassica napus": 1}
    assert [line.split(": ", 1)[1] for line in report.skipped] == [
        "no species named 'Not a seed' in the seed catalogue (--create-species adds it)",
        "not a picture",
        "not a picture this service can read",
    ]
    async with services.pool.acquire() as conn:
        labels = await conn.fetch(
            """SELECT s.name, count(*) AS n FROM picture p JOIN picture_seed x ON x.picture_id = p.id
                 JOIN seed s ON s.id = x.seed_id WHERE p.picture_set_id = $1::uuid GROUP BY s.name ORDER BY s.name""",
            report.folder,
        )
        queued = await conn.fetchval(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'learn_examples' AND args->>'folder' = $1",
            report.folder,
        )
        folders = await conn.fetchval("SELECT count(*) FROM picture_set WHERE id = $1::uuid", report.folder)
    assert [(r["name"], r["n"]) for r in labels] == [("Ambrosia artemisiifolia", 2), ("Brassica napus", 1)]
    assert queued >= 1 and folders == 1


async def test_import_folder_can_create_the_species_it_does_not_know(services, storage, tmp_path):
    """A real reference set names species the catalogue lacks: --create-species adds them (as
    /upload-picture does), and `seeds add` adds one by hand (once)."""
    email = f"create-{uuid.uuid4().hex[:8]}@example.org"
    await storage.create_user(email)
    species = f"linum_usitatissimum_{uuid.uuid4().hex[:4]}"
    root = tmp_path / "set"
    (root / species).mkdir(parents=True)
    (root / species / "0.png").write_bytes(png_bytes(120, 90))
    report = await import_folder(services, root, email, create_species=True)
    name = "L" + species.replace("_", " ")[1:]
    assert report.imported == {name: 1} and report.skipped == []
    assert name in {seed["seed_name"] for seed in await storage.get_all_seeds()}
    added = await storage.add_seed("Carthamus tinctorius test")
    again = await storage.add_seed("carthamus TINCTORIUS test")
    assert added[2] is True and again[:2] == added[:2] and again[2] is False
    for bad in ("", "   ", "x" * 1000):
        with pytest.raises(DatastoreError):
            await storage.add_seed(bad)


def test_classify_writes_an_annotated_png_and_json_per_picture(db_url, tmp_path):
    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": f"classify_{uuid.uuid4().hex[:6]}",
        "NACHET_DATA_DIR": str(tmp_path),
    }
    assert run_nachet(env, "pipelines", "install-builtin").returncode == 0
    (tmp_path / "notes.png").write_text("not a picture")
    out = tmp_path / "out"
    done = run_nachet(
        env, "classify", str(DATA / "1310_1.png"), str(tmp_path / "notes.png"), "--out", str(out)
    )
    assert done.returncode == 1 and f"error: {tmp_path / 'notes.png'}: " in done.stderr
    answer = json.loads((out / "1310_1.json").read_text())
    assert answer["pipeline"] == BUILTIN_PIPELINE and len(answer["boxes"]) == 1
    with Image.open(out / "1310_1.png") as drawn, Image.open(DATA / "1310_1.png") as original:
        assert drawn.size == original.size and drawn.format == "PNG"
        box = answer["boxes"][0]["box"]
        edge = drawn.convert("RGB").getpixel((int(box["topX"]) + 1, int((box["topY"] + box["bottomY"]) / 2)))
    assert "#{:02X}{:02X}{:02X}".format(*edge) == answer["boxes"][0]["color"].upper()
    assert sorted(p.name for p in out.iterdir()) == ["1310_1.json", "1310_1.png"]


async def test_annotated_picture_route(client, user, pipelines, storage):  # noqa: F811
    inferred = await (
        await client.post(
            "/inf", json=inf_body(pipelines["swin"], user, image=png_bytes(800, 600), dims=(400, 300))
        )
    ).get_json()
    folders = await (await client.post("/get-directories", json={"container_name": str(user)})).get_json()
    (picture,) = [p["picture_id"] for f in folders["folders"] for p in f["pictures"]]  # a new user's one
    body = {"container_name": str(user), "picture_id": picture}
    response = await client.post("/get-picture-annotated", json=body)
    assert response.status_code == 200 and response.content_type == "image/png"
    with Image.open(io.BytesIO(await response.get_data())) as drawn:
        assert drawn.size == (800, 600)
        # the first box, 40..120 x 30..120 in imageDims 400x300: its left edge at x=80 on the picture
        edge = drawn.convert("RGB").getpixel((81, 150))
        assert "#{:02X}{:02X}{:02X}".format(*edge) == inferred["boxes"][0]["color"].upper()
    other = await storage.create_user(f"other-{uuid.uuid4().hex[:8]}@example.org")
    refused = await client.post("/get-picture-annotated", json={**body, "container_name": str(other)})
    assert refused.status_code == 400 and await refused.get_json() == [
        f"Datastore Error retrieving the picture : User can't access this picture, user uuid :{other}, picture : {picture}"
    ]
    session = await (
        await client.post("/new-batch-import", json={"container_name": str(user), "nb_pictures": 1})
    ).get_json()
    image = "data:image/png;base64," + base64.b64encode(png_bytes(100, 80)).decode()
    upload = {
        "container_name": str(user),
        "session_id": session["session_id"],
        "seed_name": SPECIES[0],
        "image": image,
    }
    assert (await client.post("/upload-picture", json=upload)).status_code == 200
    folders = await (await client.post("/get-directories", json={"container_name": str(user)})).get_json()
    bare = next(
        p["picture_id"]
        for f in folders["folders"]
        if f["picture_set_id"] == session["session_id"]
        for p in f["pictures"]
    )
    missing = await client.post("/get-picture-annotated", json={**body, "picture_id": bare})
    assert missing.status_code == 400 and await missing.get_json() == [
        f"Datastore Error retrieving the picture : Inference not found for the picture with the given id: {bare}"
    ]


async def test_unknown_seed_boxes_stay_out_of_exports_unless_asked(client, services, labelled, tmp_path):
    """ "Unknown seed" is the classifier's placeholder, no class to train on (--include-unknown)."""
    email, owner, inferred = labelled
    last = inferred[2]
    box = last["boxes"][0]
    corrected = {
        "userId": str(owner),
        "inferenceId": last["inference_id"],
        "boxes": [{"boxId": box["box_id"], "label": "Unknown seed", "classId": "", "box": box["box"]}],
    }
    assert (await client.post("/feedback-negative", json=corrected)).status_code == 200
    assert await export_dataset(services, "coco", tmp_path / "without", email) == (3, 5)
    assert await export_dataset(services, "coco", tmp_path / "with", email, include_unknown=True) == (3, 6)
    names = {
        c["name"]
        for c in COCO(str(tmp_path / "with" / "annotations.json")).loadCats(
            COCO(str(tmp_path / "with" / "annotations.json")).getCatIds()
        )
    }
    assert "Unknown seed" in names
