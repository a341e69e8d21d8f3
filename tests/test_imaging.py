"""Reading a picture's orientation without decoding it, and the ONNX sessions' threads."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from model_inference.imaging import decode_bgr, exif_orientation, png_exif_chunk
from model_inference.local.sessions import cpu_session


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
