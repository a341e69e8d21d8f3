"""/image-validation (spec §5): the same checks, order and messages, with Pillow."""

import base64
import hashlib
import io

import pytest
from PIL import Image

from tests.conftest import DATA, data_url, png_bytes, png_header

CTX = "API Error validating image : "


async def validate(client, image):
    response = await client.post("/image-validation", json={"image": image})
    return response.status_code, await response.get_json()


async def test_valid_png_returns_its_sha256_and_records_it(client, pool):
    data = png_bytes(150, 150)
    status, body = await validate(client, "data:image/PNG;base64," + base64.b64encode(data).decode())
    assert status == 200 and body == [hashlib.sha256(data).hexdigest()]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM image_validator WHERE sha256 = $1", body[0]) == 1


async def test_real_microscope_images(client):
    png = (DATA / "1310_1.png").read_bytes()
    assert (await validate(client, data_url(png)))[0] == 200
    tiff = (DATA / "2seeds_scalebar.tiff").read_bytes()
    assert (await validate(client, data_url(tiff, "image/tiff")))[0] == 200


@pytest.mark.parametrize("body", [{}, {"image": ""}, {"image": None}])
async def test_missing_image(client, body):
    response = await client.post("/image-validation", json=body)
    assert response.status_code == 400 and await response.get_json() == [CTX + "Missing image"]


@pytest.mark.parametrize(
    "image",
    [
        "no comma here",
        "data:image/png;base64,abc",
        "data:image/png;base64," + base64.b64encode(b"plain text, not an image").decode(),
    ],
)
async def test_unreadable_images_are_unhandled(client, image):
    assert await validate(client, image) == (400, ["Unhandled API error : Error validating image"])


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
async def test_non_object_bodies(client, body):
    response = await client.post("/image-validation", data=body, headers={"Content-Type": "application/json"})
    assert await response.get_json() == ["Unhandled API error : Error validating image"]


async def test_size_check_uses_and(client):
    assert (await validate(client, data_url(png_bytes(4000, 500))))[0] == 200
    assert await validate(client, data_url(png_bytes(1921, 1081))) == (
        400,
        [CTX + "invalid file size: 1921x1081"],
    )


async def test_decompression_bomb_is_refused_before_decoding(client):
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")  # 400 M pixels, a few kB
    status, body = await validate(client, data_url(buffer.getvalue()))
    assert status == 400 and body[0].startswith(CTX + "invalid file size")


async def test_truncated_image_is_not_resizable(client):
    data = png_bytes(300, 300, color=(10, 200, 30), fmt="JPEG")
    assert await validate(client, data_url(data[: len(data) // 2], "image/jpeg")) == (
        400,
        [CTX + "invalid file not resizable"],
    )


async def test_extension_outside_the_valid_list(client):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="PPM")
    assert await validate(client, data_url(buffer.getvalue(), "image/ppm")) == (
        400,
        [CTX + "invalid file extension: ppm"],
    )


async def test_header_must_name_the_real_format(client):
    jpeg = png_bytes(fmt="JPEG")
    assert (await validate(client, data_url(jpeg, "image/jpeg")))[0] == 200
    assert await validate(client, data_url(jpeg, "image/jpg")) == (
        400,
        [CTX + "invalid file header: data:image/jpg;base64"],
    )
    assert await validate(client, "data:image/," + base64.b64encode(png_bytes()).decode()) == (
        400,
        [CTX + "invalid file header: data:image/"],
    )


async def test_a_100_001_by_1_000_png_is_refused_before_decoding_on_every_image_route(client, user, storage):
    """One pixel over 100 M: refused from the header (the test PNG has no pixel data at all)."""
    bomb = data_url(png_header(100_001, 1_000))
    assert await validate(client, bomb) == (400, [CTX + "invalid file size: 100001x1000"])
    session = await storage.create_picture_set(user, 1, "bombs")
    response = await client.post(
        "/upload-picture",
        json={
            "container_name": str(user),
            "session_id": str(session),
            "seed_name": "Brassica napus",
            "image": bomb,
        },
    )
    assert (response.status_code, await response.get_json()) == (
        400,
        ["API Error uploading picture : invalid file size: 100001x1000"],
    )
    # /inf: tests/test_inference.py::test_bad_input_writes_nothing
