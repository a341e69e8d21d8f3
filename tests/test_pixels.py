"""Reading a picture's orientation without decoding it, the crops of HTTP pipelines (simplejpeg
or Pillow: the same bytes), and the ONNX sessions' threads."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from PIL.JpegImagePlugin import get_sampling

from model_inference import pixels
from model_inference.local.sessions import cpu_session
from model_inference.pixels import crop_boxes, decode, decode_bgr, exif_orientation, png_exif_chunk


def png_with_orientation(orientation: int | None) -> bytes:
    picture = Image.fromarray(np.tile(np.arange(160, dtype=np.uint8), (90, 1))[..., None].repeat(3, 2))
    exif = picture.getexif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    picture.save(out, format="PNG", exif=exif)
    return out.getvalue()


def test_a_png_orientation_is_read_from_its_exif_chunk():
    """Pillow's getexif() decodes a whole PNG to find eXIf; the chunk walk reads the same tag."""
    turned = png_with_orientation(6)
    assert png_exif_chunk(turned) is not None and exif_orientation(turned) == 6
    assert decode_bgr(turned).shape == (160, 90, 3)  # shown portrait, as a browser shows it
    plain = png_with_orientation(None)
    assert png_exif_chunk(plain) is None and exif_orientation(plain) == 1
    assert decode_bgr(plain).shape == (90, 160, 3)
    assert exif_orientation(b"\x89PNG\r\n\x1a\n" + b"\x00" * 3) == 1  # truncated: as stored


def test_the_built_in_models_decode_a_colour_jpeg_as_opencv_does():
    """decode_bgr reads colour JPEGs through simplejpeg (~2.5x sooner): the very pixels OpenCV's
    imdecode gives, for real photos (4:2:0 and others), an EXIF-turned one and a grey one (OpenCV's)."""
    import cv2

    real = sorted((Path(__file__).resolve().parents[2] / "shared" / "data").rglob("*.jp*g"))[::9]
    assert real, "the shared seed photos"
    pictures = [path.read_bytes() for path in real]
    for subsampling in (0, 1, 2):  # 4:4:4, 4:2:2, 4:2:0
        out = io.BytesIO()
        Image.effect_noise((97, 61), 40).convert("RGB").save(out, "JPEG", subsampling=subsampling)
        pictures.append(out.getvalue())
    for data in pictures:
        assert pixels._colour_jpeg_bgr(data) is not None
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decode_bgr(data), pixels.orient(expected, exif_orientation(data)))
    turned = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.effect_noise((80, 40), 40).convert("RGB").save(turned, "JPEG", exif=exif)
    assert decode_bgr(turned.getvalue()).shape == (80, 40, 3)
    grey = io.BytesIO()
    Image.effect_noise((80, 40), 40).save(grey, "JPEG")
    assert pixels._colour_jpeg_bgr(grey.getvalue()) is None and decode_bgr(grey.getvalue()).shape == (
        40,
        80,
        3,
    )
    assert pixels._colour_jpeg_bgr(pictures[0][:200]) is None  # truncated: left to OpenCV


def test_onnx_sessions_never_use_more_threads_than_cores(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = cpu_session(model.SerializeToString())
    out = session.run(None, {"x": np.array([[-1, 0, 1, 2]], np.float32)})[0]
    assert out.tolist() == [[0, 0, 1, 2]]
    options = session.get_session_options()
    assert options.intra_op_num_threads <= 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    onnx.checker.check_model(model)


REAL_SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real-seeds"


def jpegs() -> dict[str, bytes]:
    """JPEGs of every kind a client may send: subsamplings, progressive, odd sizes, an ICC
    profile and EXIF, grey and CMYK, and a real microscope photo when it is beside the clone."""
    rng = np.random.default_rng(3)
    smooth = np.linspace(0, 255, 641 * 359 * 3).reshape(359, 641, 3)
    colour = Image.fromarray((smooth * 0.7 + rng.random((359, 641, 3)) * 76).astype(np.uint8))
    kinds = {
        "4:2:0": {"subsampling": 2},
        "4:2:2": {"subsampling": 1},
        "4:4:4": {"subsampling": 0, "quality": 95},
        "progressive": {"progressive": True},
        "icc and exif": {
            "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
            "exif": colour.getexif().tobytes(),
        },
    }
    out = {}
    for name, options in kinds.items():
        buffer = io.BytesIO()
        colour.save(buffer, format="JPEG", **options)
        out[name] = buffer.getvalue()
    for mode in ("L", "CMYK"):
        buffer = io.BytesIO()
        colour.convert(mode).save(buffer, format="JPEG")
        out[mode] = buffer.getvalue()
    photo = next(REAL_SEEDS.glob("soilwater/*.jpg"), None) if REAL_SEEDS.exists() else None
    if photo is not None:
        out["microscope photo"] = photo.read_bytes()
    return out


def random_boxes(seed, count: int = 12) -> list[dict]:
    """The whole frame and `count` boxes anywhere (edges and MCU borders too)."""
    rng = random.Random(seed)
    boxes = [{"box": {"topX": 0, "topY": 0, "bottomX": 1, "bottomY": 1}}]
    for _ in range(count):
        x0, y0 = rng.random() * 0.9, rng.random() * 0.9
        boxes.append(
            {
                "box": {
                    "topX": x0,
                    "topY": y0,
                    "bottomX": min(1, x0 + 0.02 + rng.random() * 0.5),
                    "bottomY": min(1, y0 + 0.02 + rng.random() * 0.5),
                }
            }
        )
    return boxes


def pixels_of(crop_b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(crop_b64))).convert("RGB")).astype(int)


@pytest.mark.parametrize("kind", list(jpegs()))
def test_jpeg_crops_through_simplejpeg_are_as_faithful_as_pillows(kind, monkeypatch):
    """HTTP pipelines crop each box from the picture: a colour JPEG is decoded by simplejpeg
    (when installed) straight into an array and each crop encoded by it, anything else by Pillow.
    Both write baseline JPEGs with the same settings (quality 75, its tables, 4:2:0), but the two
    libjpeg-turbo builds round colour conversion and downsampling differently, so the bytes differ.
    The bound: each crop has the same size, mode, quantization tables and sampling, lies as close
    to the picture's pixels as Pillow's crop does (RMS error at most 0.25 levels more), and differs
    from it by less than Pillow's crop differs from the picture (RMS). Grey and CMYK pictures go
    through Pillow: the same bytes."""
    data = jpegs()[kind]
    boxes = random_boxes(kind)
    fast = decode(data)
    with monkeypatch.context() as without:
        without.setattr(pixels, "_simplejpeg", lambda: None)  # as when the wheel is missing
        pillow = decode(data)
    assert isinstance(pillow, Image.Image)
    assert isinstance(fast, np.ndarray) == (kind not in ("L", "CMYK"))  # the fast path was taken
    ours, theirs = crop_boxes(fast, boxes), crop_boxes(pillow, boxes)
    if not isinstance(fast, np.ndarray):
        assert ours == theirs
        return
    source = np.asarray(pillow.convert("RGB")).astype(int)
    for entry, mine, reference in zip(boxes, ours, theirs):
        mine_image = Image.open(io.BytesIO(base64.b64decode(mine)))
        reference_image = Image.open(io.BytesIO(base64.b64decode(reference)))
        assert (mine_image.format, mine_image.mode, mine_image.size) == ("JPEG", "RGB", reference_image.size)
        assert mine_image.quantization == reference_image.quantization
        assert get_sampling(mine_image) == get_sampling(reference_image) == 2  # 4:2:0
        box, (w, h) = entry["box"], pillow.size
        original = source[
            int(box["topY"] * h) : int(box["bottomY"] * h), int(box["topX"] * w) : int(box["bottomX"] * w)
        ]
        a, b = pixels_of(mine), pixels_of(reference)
        assert rms(a - b) <= rms(b - original), kind
        assert rms(a - original) <= rms(b - original) + 0.25, kind


def rms(difference: np.ndarray) -> float:
    return float(np.sqrt(np.mean(difference.astype(float) ** 2)))


def test_without_simplejpeg_pillow_decodes_every_picture(monkeypatch):
    data = jpegs()["4:2:0"]
    monkeypatch.setattr(pixels, "_simplejpeg", lambda: None)  # as when the wheel is missing
    assert isinstance(decode(data), Image.Image)
    box = [{"box": {"topX": 0.1, "topY": 0.2, "bottomX": 0.6, "bottomY": 0.7}}]
    assert crop_boxes(decode(data), box) == crop_boxes(Image.open(io.BytesIO(data)), box)


@pytest.mark.parametrize("count", [1, 2, 5, 13])
async def test_crops_encoded_in_parallel_runs_come_back_in_box_order(count):
    """A picture decoded while its detector worked has its crops encoded in several runs on the
    pool at once: the classifier gets the same crops, in the detector's box order."""
    from concurrent.futures import ThreadPoolExecutor

    from model_inference.adapters.base import RunContext

    data = jpegs()["4:2:0"]
    rng = random.Random(count)
    boxes = []
    for _ in range(count):
        x0, y0 = rng.random() * 0.8, rng.random() * 0.8
        boxes.append({"box": {"topX": x0, "topY": y0, "bottomX": x0 + 0.1, "bottomY": y0 + 0.15}})
    with ThreadPoolExecutor(2) as pool:
        ctx = RunContext(client=None, pipeline="test", executor=pool)  # type: ignore[arg-type]
        crops = await ctx.crop_decoded(decode(data), boxes)
    assert crops == crop_boxes(decode(data), boxes)
    assert len(set(crops)) == count  # each box its own crop
