"""User-supplied ONNX models as pipeline steps, on tiny graphs built here with onnx.helper."""

import json
import uuid

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from model_inference.local.onnx_models import OnnxModelError, load_onnx_model
from tests.test_inference import model, pipeline, post, register
from tests.test_learning import png_url

LABELS = ["000 Brassica napus", "012 Ambrosia artemisiifolia", "008 Lolium temulentum"]


def colour_classifier(path, with_metadata=True, output="probabilities"):
    """Mean colour of the crop -> 3 classes (red, green, blue) through a linear layer."""
    weights = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 10, "W")
    bias = numpy_helper.from_array(np.zeros(3, np.float32), "B")
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "W"], ["scaled"]),
        helper.make_node("Add", ["scaled", "B"], ["biased"]),
        helper.make_node("Softmax", ["biased"], [output], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colours",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", 3])],
        [weights, bias, axes],
    )
    graph_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if with_metadata:
        helper.set_model_props(
            graph_model, {"labels": json.dumps(LABELS), "input_mean": "[0, 0, 0]", "input_std": "[1, 1, 1]"}
        )
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, path)
    return path


def constant_detector(path, boxes, scores):
    """A detector that always answers the same boxes (fractions) and scores."""
    nodes = [
        helper.make_node(
            "Constant", [], ["boxes"], value=numpy_helper.from_array(np.array(boxes, np.float32))
        ),
        helper.make_node(
            "Constant", [], ["scores"], value=numpy_helper.from_array(np.array(scores, np.float32))
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [len(boxes), 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [len(scores)]),
        ],
    )
    graph_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    helper.set_model_props(graph_model, {"box_format": "normalized"})
    onnx.save(graph_model, path)
    return path


def tray():
    image = np.full((200, 300, 3), 235, np.uint8)
    image[20:80, 20:100] = (30, 30, 220)  # red seed (BGR)
    image[120:180, 180:280] = (220, 40, 40)  # blue seed
    return image


def test_classifier_contract(tmp_path):
    onnx_model = load_onnx_model(f"onnx://{colour_classifier(tmp_path / 'c.onnx')}")
    red, green = np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)
    red[..., 2], green[..., 1] = 255, 255
    answers = onnx_model.classify([red, green])
    assert [a[0]["label"] for a in answers] == [LABELS[0], LABELS[1]] and len(answers[0]) == 3
    assert abs(sum(p["score"] for p in answers[0]) - 1) < 1e-3


def test_labels_from_a_sidecar_and_logits(tmp_path):
    path = colour_classifier(tmp_path / "s.onnx", with_metadata=False, output="logits_out")
    (tmp_path / "s.labels.json").write_text(json.dumps({str(i): label for i, label in enumerate(LABELS)}))
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 0] = 255
    assert load_onnx_model(str(path)).classify([blue])[0][0]["label"] == LABELS[2]


def test_hugging_face_export_folder(tmp_path):
    folder = tmp_path / "swin-export"
    (folder / "onnx").mkdir(parents=True)
    colour_classifier(folder / "onnx" / "model.onnx", with_metadata=False, output="logits")
    (folder / "config.json").write_text(
        json.dumps({"id2label": {str(i): label for i, label in enumerate(LABELS)}})
    )
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0, 0, 0], "image_std": [1, 1, 1], "size": {"height": 32, "width": 32}})
    )
    green = np.zeros((8, 8, 3), np.uint8)
    green[..., 1] = 255
    assert load_onnx_model(str(folder)).classify([green])[0][0]["label"] == LABELS[1]


def test_detector_contract(tmp_path):
    detector = load_onnx_model(
        str(constant_detector(tmp_path / "d.onnx", [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.9]], [0.9, 0.1]))
    )
    (box,) = detector.detect(tray())
    assert (
        box["box"] == pytest.approx({"topX": 0.1, "topY": 0.2, "bottomX": 0.3, "bottomY": 0.4})
        and box["score"] == 0.9
    )


@pytest.mark.parametrize("content", [None, b"not an onnx model"])
def test_missing_or_corrupt_file_is_named(tmp_path, content):
    path = tmp_path / f"broken-{uuid.uuid4().hex[:4]}.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(OnnxModelError, match=str(path)):
        load_onnx_model(f"onnx://{path}")


async def test_onnx_pipeline_through_inf_and_a_broken_one_is_not_offered(
    services, tmp_path, client, user, caplog
):
    detector = constant_detector(
        tmp_path / "det.onnx",
        [[20 / 300, 20 / 200, 100 / 300, 80 / 200], [180 / 300, 120 / 200, 280 / 300, 180 / 200]],
        [0.95, 0.9],
    )
    classifier = colour_classifier(tmp_path / "cls.onnx")
    good, bad = f"onnx-{uuid.uuid4().hex[:6]}", f"broken-{uuid.uuid4().hex[:6]}"
    (tmp_path / "corrupt.onnx").write_bytes(b"garbage")

    class Files:
        url = ""

    models = [
        model("my-detector", "", Files, endpoint=f"onnx://{detector}", protocol="onnx-detector"),
        model("my-classifier", "", Files, endpoint=f"onnx://{classifier}", protocol="onnx-classifier"),
        model(
            "my-broken", "", Files, endpoint=f"onnx://{tmp_path / 'corrupt.onnx'}", protocol="onnx-classifier"
        ),
    ]
    await register(
        services,
        tmp_path,
        models,
        [
            pipeline(good, ["my-detector", "my-classifier"], default=True),
            pipeline(bad, ["my-detector", "my-broken"]),
        ],
    )
    assert str(tmp_path / "corrupt.onnx") in caplog.text
    names = [p["pipeline_name"] for p in await (await client.get("/model-endpoints-metadata")).get_json()]
    assert good in names and bad not in names
    image = tray()
    status, body = await post(
        client,
        {
            "model_name": good,
            "image": png_url(image),
            "imageDims": [300, 200],
            "folder_name": "General",
            "container_name": str(user),
        },
    )
    assert status == 200, body
    assert [b["label"] for b in body["boxes"]] == ["000 Brassica napus", "008 Lolium temulentum"]
    assert body["boxes"][0]["box"] == {"topX": 20, "topY": 20, "bottomX": 100, "bottomY": 80}


def test_rt_detr_style_export_folder(tmp_path):
    """A Hugging Face RT-DETR export answers per-query logits and (cx, cy, w, h) fractions."""
    folder = tmp_path / "rtdetr"
    (folder / "onnx").mkdir(parents=True)
    logits = np.array([[[4.0, -4.0], [-6.0, -6.0], [-4.0, 3.0]]], np.float32)  # 3 queries, 2 classes
    centres = np.array([[[0.2, 0.3, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1], [0.7, 0.6, 0.2, 0.4]]], np.float32)
    nodes = [
        helper.make_node("Constant", [], ["logits"], value=numpy_helper.from_array(logits)),
        helper.make_node("Constant", [], ["pred_boxes"], value=numpy_helper.from_array(centres)),
    ]
    graph = helper.make_graph(
        nodes,
        "rtdetr",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 64, 64])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 2]),
            helper.make_tensor_value_info("pred_boxes", TensorProto.FLOAT, [1, 3, 4]),
        ],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), folder / "onnx" / "model.onnx"
    )
    (folder / "config.json").write_text(
        json.dumps({"model_type": "rt_detr", "id2label": {"0": "seed", "1": "debris"}})
    )
    boxes = load_onnx_model(str(folder)).detect(tray())
    assert [b["label"] for b in boxes] == ["seed", "debris"]
    assert boxes[0]["box"] == pytest.approx({"topX": 0.1, "topY": 0.2, "bottomX": 0.3, "bottomY": 0.4})
