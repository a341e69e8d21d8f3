"""Per-seed measurements (issue "Seed science"): length and width of synthetic seeds of known
size within 3 %, the real TIFF's scale bar, millimetres from a request's scale, storage, read
back, and the CSV export."""

from __future__ import annotations

import base64
import csv
import uuid

import cv2
import numpy as np
import pytest

from model_inference.measure import NO_SCALE_BAR, measure_encoded_crops, measure_seed, scale_bar_length
from model_inference.pixels import decode_bgr
from nachet.config import ConfigError, load_settings
from testkit.synthetic import make_tray
from tests.conftest import DATA, SCHEMA, png_url, run_nachet
from tests.test_inference import inf_body, model_server, pipelines  # noqa: F401 (fixtures)
from tests.test_learning import builtin  # noqa: F401 (fixture)
from usecases.pipelines import BUILTIN_PIPELINE as BUILTIN

TRAY, SEED = (225, 230, 235), (60, 110, 160)


def ellipse_crop(a: int, b: int, angle: float, blur: bool) -> np.ndarray:
    image = np.full((400, 400, 3), TRAY, np.uint8)
    cv2.ellipse(image, (200, 200), (a, b), angle, 0, 360, SEED, -1)
    ys, xs = np.nonzero((image != TRAY).any(2))
    crop = image[ys.min() - 2 : ys.max() + 3, xs.min() - 2 : xs.max() + 3]
    return cv2.GaussianBlur(crop, (3, 3), 0) if blur else crop


def test_length_and_width_of_seeds_of_known_size_within_3_percent():
    rng = np.random.default_rng(13)
    worst = 0.0
    for _ in range(60):
        a = int(rng.integers(20, 150))
        b = max(20, int(a * rng.uniform(0.3, 1.0)))
        m = measure_seed(ellipse_crop(max(a, b), min(a, b), rng.uniform(0, 180), blur=bool(rng.integers(2))))
        length, width = 2 * max(a, b) + 1, 2 * min(a, b) + 1
        worst = max(worst, abs(m["length"] - length) / length, abs(m["width"] - width) / width)
        assert m["unit"] == "px" and 0 < m["roundness"] <= 1
    for a, b, angle in [(400, 300, 20), (600, 150, 70), (300, 280, 45)]:  # large: measured reduced
        image = np.full((1300, 1300, 3), TRAY, np.uint8)
        cv2.ellipse(image, (650, 650), (a, b), angle, 0, 360, SEED, -1)
        ys, xs = np.nonzero((image != TRAY).any(2))
        crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        boxes: list[dict] = [{}]
        assert measure_encoded_crops([cv2.imencode(".jpg", crop)[1].tobytes()], boxes)  # as HTTP crops
        for m in (measure_seed(crop), boxes[0]["measurements"]):
            worst = max(
                worst, abs(m["length"] - 2 * a - 1) / (2 * a + 1), abs(m["width"] - 2 * b - 1) / (2 * b + 1)
            )
    print(f"\nworst relative error over 66 synthetic seeds (40-1200 px): {worst:.3f}")
    assert worst <= 0.03
    disc = measure_seed(ellipse_crop(60, 60, 0, blur=False))
    assert disc["roundness"] >= 0.9 and disc["mean_color"] == "#A06E3C"  # SEED as RGB


def aa_ellipse(a: float, b: float, angle: float, colour=SEED, noise: float = 0.0, rng=None):
    """An anti-aliased ellipse (drawn 8x larger, area-averaged down) cropped as a detector boxes
    it; (crop, true length, true width, true perimeter)."""
    big_a, big_b = round(a * 8), round(b * 8)
    size = int(2 * max(a, b) + 12)
    big = np.full((size * 8, size * 8, 3), TRAY, np.uint8)
    cv2.ellipse(big, (size * 4, size * 4), (big_a, big_b), angle, 0, 360, colour, -1)
    image = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    if noise:
        image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(cv2.resize(big[..., 0], (size, size), interpolation=cv2.INTER_AREA) != TRAY[0])
    crop = image[ys.min() - 1 : ys.max() + 2, xs.min() - 1 : xs.max() + 2]
    la, lb = (2 * big_a + 1) / 16, (2 * big_b + 1) / 16
    h = ((la - lb) / (la + lb)) ** 2
    return crop, 2 * la, 2 * lb, np.pi * (la + lb) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))


def test_sub_pixel_outlines_measure_within_1_5_percent():
    """Random anti-aliased seeds 40-1200 px long (sizes, shapes, angles and noise other than
    bench/measurements.py's, where the outline's blur was chosen): length, width and perimeter
    within 1.5 %, discs round, ellipses solid, each verdict ok."""
    rng = np.random.default_rng(2026)
    worst = 0.0
    for _ in range(24):
        length = float(np.exp(rng.uniform(np.log(40), np.log(1200))))
        ratio = rng.uniform(1.0, 2.5)
        crop, true_l, true_w, true_p = aa_ellipse(
            length / 2, length / 2 / ratio, rng.uniform(0, 180), noise=3.0, rng=rng
        )
        m = measure_seed(crop)
        errors = (m["length"] / true_l - 1, m["width"] / true_w - 1, m["perimeter"] / true_p - 1)
        worst = max(worst, *map(abs, errors))
        assert m["feret_max"] == m["length"] and m["feret_min"] == m["width"]
        assert m["solidity"] >= 0.98 and m["quality"] == "ok", m
    print(f"\nworst relative error over 24 anti-aliased seeds (40-1200 px): {worst:.4f}")
    assert worst <= 0.015
    for radius in (20, 60, 300):
        assert measure_seed(aa_ellipse(radius, radius, 0, noise=3.0, rng=rng)[0])["roundness"] >= 0.98


def test_doubtful_outlines_say_why():
    rng = np.random.default_rng(5)
    pale = measure_seed(aa_ellipse(40, 25, 20, colour=(205, 215, 222), noise=3.0, rng=rng)[0])
    assert pale["quality"] == "doubtful" and "low contrast with the tray" in pale["reasons"][0]
    crop, *_ = aa_ellipse(30, 20, 0)
    loose = np.full(
        (crop.shape[0] * 3, crop.shape[1] * 3, 3), TRAY, np.uint8
    )  # a box far larger than its seed
    loose[: crop.shape[0], : crop.shape[1]] = crop
    assert any("covers" in r for r in measure_seed(loose)["reasons"])
    two = np.full((80, 160, 3), TRAY, np.uint8)
    cv2.ellipse(two, (40, 40), (30, 20), 0, 0, 360, SEED, -1)
    cv2.ellipse(two, (120, 40), (30, 20), 0, 0, 360, SEED, -1)
    assert any("2 separate blobs" in r for r in measure_seed(two)["reasons"])
    cut = np.full((60, 60, 3), TRAY, np.uint8)
    cv2.ellipse(cut, (30, 70), (28, 50), 0, 0, 360, SEED, -1)  # a seed running out of its box
    assert any("runs along the box's edge" in r for r in measure_seed(cut)["reasons"])


def test_the_real_tiff_scale_bar():
    length = scale_bar_length(decode_bgr((DATA / "2seeds_scalebar.tiff").read_bytes()))
    print(f"\nscale bar of 2seeds_scalebar.tiff: {length} px")
    assert length is not None and 80 <= length <= 100
    assert scale_bar_length(decode_bgr((DATA / "1310_1.png").read_bytes())) is None


async def test_inf_measures_each_box_in_mm_with_a_scale(client, user, pipelines, services, data_root, db_url):  # noqa: F811
    """An HTTP pipeline measures when a scale is given (it then decodes the crops); the built-in
    one always does (its pixels are at hand), in pixels without a scale."""
    body = inf_body(pipelines["swin"], user)
    plain = await (await client.post("/inf", json=body)).get_json()
    assert "measurements" not in plain["boxes"][0]  # no scale, no pixels decoded: not measured
    response = await client.post("/inf", json={**body, "pixels_per_mm": 20})
    scaled = await response.get_json()
    assert response.status_code == 200
    mm = scaled["boxes"][0]["measurements"]
    assert mm["unit"] == "mm" and mm["scale"] == {"pixels_per_mm": 20.0, "source": "request"}
    assert 0 < mm["width"] <= mm["length"] and mm["area"] > 0
    for bad in (0, -2, "12", True):
        response = await client.post("/inf", json={**body, "pixels_per_mm": bad})
        assert response.status_code == 400 and await response.get_json() == [
            "API Error during classification : pixels_per_mm must be a positive number"
        ], bad


async def test_measurements_are_stored_and_exported_as_csv(
    client, user, storage, pipelines, data_root, db_url, tmp_path
):  # noqa: F811
    email = f"measured-{uuid.uuid4().hex[:8]}@example.org"
    owner = await storage.create_user(email)
    inferred = await (
        await client.post("/inf", json={**inf_body(pipelines["swin"], owner), "pixels_per_mm": 10})
    ).get_json()
    folders = await (await client.post("/get-directories", json={"container_name": str(owner)})).get_json()
    picture = folders["folders"][0]["pictures"][-1]["picture_id"]
    stored = await (
        await client.post("/get-picture", json={"container_name": str(owner), "picture_id": picture})
    ).get_json()
    assert stored["inference"]["boxes"][0]["measurements"] == inferred["boxes"][0]["measurements"]
    env = {"NACHET_DB_URL": db_url, "NACHET_SCHEMA": SCHEMA, "NACHET_DATA_DIR": str(data_root)}
    out = tmp_path / "seeds.csv"
    # this picture is one flat colour: every outline is doubtful, and left out unless asked for
    assert {b["measurements"]["quality"] for b in inferred["boxes"]} == {"doubtful"}
    left_out = run_nachet(env, "measurements", "export", str(out), "--user", email)
    assert left_out.returncode == 1 and "doubtful left out: --include-doubtful" in left_out.stderr
    assert not out.exists()
    done = run_nachet(env, "measurements", "export", str(out), "--user", email, "--include-doubtful")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out)))
    assert rows[0]["quality"] == "doubtful" and rows[0]["reasons"]
    assert (
        len(rows) == len(inferred["boxes"]) and rows[0]["unit"] == "mm" and rows[0]["pixels_per_mm"] == "10.0"
    )
    assert {r["label"] for r in rows} <= {"Ambrosia artemisiifolia", "Brassica napus"}
    assert float(rows[0]["length"]) == inferred["boxes"][0]["measurements"]["length"]
    nobody = run_nachet(
        env, "measurements", "export", str(tmp_path / "x.csv"), "--user", "nobody@example.org"
    )
    assert nobody.returncode == 1 and "no user nobody@example.org" in nobody.stderr
    blocked = run_nachet(
        env,
        "measurements",
        "export",
        str(tmp_path / "missing" / "x.csv"),
        "--user",
        email,
        "--include-doubtful",
    )
    assert blocked.returncode == 1 and "cannot write" in blocked.stderr
    assert not (tmp_path / "x.csv").exists() and not list(tmp_path.glob(".*"))


async def test_the_built_in_pipeline_measures_every_seed(client, user, builtin):
    """Its detector decoded the picture: every box is measured, in pixels without a scale."""
    image, truth = make_tray(77, 4, touch_prob=0.0, size=(640, 360))
    body = {
        "model_name": BUILTIN,
        "image": png_url(image),
        "imageDims": [640, 360],
        "folder_name": "General",
        "container_name": str(user),
    }
    answer = await (await client.post("/inf", json=body)).get_json()
    assert len(answer["boxes"]) == len(truth)
    for box in answer["boxes"]:
        m = box["measurements"]
        assert m["unit"] == "px" and "scale" not in m and 0 < m["width"] <= m["length"] and m["area"] > 0


async def test_the_pictures_own_scale_bar_gives_millimetres(client, user, builtin, monkeypatch):
    """NACHET_SCALE_BAR_MM: with no other scale, the bar drawn on the picture sets it; a picture
    without one stays in pixels and says so."""
    monkeypatch.setattr(builtin.inference, "scale_bar_mm", 1.0)  # what the setting gives the service
    tiff = (DATA / "2seeds_scalebar.tiff").read_bytes()
    body = {
        "model_name": BUILTIN,
        "image": "data:image/tiff;base64," + base64.b64encode(tiff).decode(),
        "imageDims": [1600, 1200],
        "folder_name": "General",
        "container_name": str(user),
    }
    answer = await (await client.post("/inf", json=body)).get_json()
    assert len(answer["boxes"]) == 2
    for box in answer["boxes"]:
        m = box["measurements"]
        assert m["unit"] == "mm" and m["scale"]["source"] == "scale_bar" and 80 <= m["scale"]["bar_px"] <= 100
        assert 2 < m["length"] < 6  # these seeds are 3-5 mm long
    requested = await (await client.post("/inf", json={**body, "pixels_per_mm": 50})).get_json()
    assert requested["boxes"][0]["measurements"]["scale"] == {"pixels_per_mm": 50.0, "source": "request"}
    image, _ = make_tray(78, 3, touch_prob=0.0, size=(640, 360))
    plain = await (
        await client.post("/inf", json={**body, "image": png_url(image), "imageDims": [640, 360]})
    ).get_json()
    assert plain["boxes"] and all(
        b["measurements"]["unit"] == "px" and b["measurements"]["note"] == NO_SCALE_BAR
        for b in plain["boxes"]
    )


async def test_each_microscope_has_its_own_calibration(client, user, pipelines, services, monkeypatch):  # noqa: F811
    """NACHET_DEVICE_PIXELS_PER_MM: /inf's `device` names the microscope whose calibration gives
    the millimetres; the request's own pixels_per_mm still comes first."""
    monkeypatch.setattr(services.inference, "device_scales", {"scope-a": 25.0})  # what the setting gives
    body = inf_body(pipelines["swin"], user)
    scaled = await (await client.post("/inf", json={**body, "device": "scope-a"})).get_json()
    m = scaled["boxes"][0]["measurements"]
    assert m["unit"] == "mm" and m["scale"] == {"pixels_per_mm": 25.0, "source": "device scope-a"}
    asked = await (
        await client.post("/inf", json={**body, "device": "scope-a", "pixels_per_mm": 10})
    ).get_json()
    assert asked["boxes"][0]["measurements"]["scale"] == {"pixels_per_mm": 10.0, "source": "request"}
    for device, message in (
        ("scope-b", "device scope-b has no calibration (NACHET_DEVICE_PIXELS_PER_MM)"),
        (7, "device must be the name of a calibrated microscope"),
        ("", "device must be the name of a calibrated microscope"),
    ):
        response = await client.post("/inf", json={**body, "device": device})
        assert response.status_code == 400 and await response.get_json() == [
            f"API Error during classification : {message}"
        ], device


def test_device_calibrations_are_read_from_the_environment():
    settings = load_settings(
        {"NACHET_DEVICE_PIXELS_PER_MM": '{"scope-a": 25, "scope-b": 92.5}'}, dotenv=False
    )
    assert settings.device_scales == {"scope-a": 25.0, "scope-b": 92.5}
    assert (
        load_settings({"NACHET_DEVICE_PIXELS_PER_MM": ""}, dotenv=False).device_scales == {}
    )  # .env.template
    for bad in ('{"scope-a": 0}', '{"scope-a": "x"}', "[25]", "not json"):
        with pytest.raises(ConfigError) as error:
            load_settings({"NACHET_DEVICE_PIXELS_PER_MM": bad}, dotenv=False)
        assert "NACHET_DEVICE_PIXELS_PER_MM" in " ".join(error.value.problems), bad
