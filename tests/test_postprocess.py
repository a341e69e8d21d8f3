"""process_inference_results (spec §8): scaling, overlap, colours, counts — as the original."""

import json

import pytest

from kernel.errors import ModelError
from model_inference.palette import PALETTES, color_at, shade
from model_inference.postprocess import process_inference_results


def boxes(*specs):
    return [
        {
            "boxes": [
                {"box": dict(zip(("topX", "topY", "bottomX", "bottomY"), c)), "label": label, "score": score}
                for c, label, score in specs
            ]
        }
    ]


def test_scale_clip_and_truncate():
    (result,) = process_inference_results(boxes(((0.078, 0.068, 0.86, 0.56), "a", 1.0)), [720, 540])
    assert result["boxes"][0]["box"] == {"topX": 56, "topY": 36, "bottomX": 619, "bottomY": 302}
    assert result["boxes"][0]["color"] == "#ED1C24" and result["totalBoxes"] == 1
    (result,) = process_inference_results(boxes(((-0.5, 0, 1.2, 1), "a", 1.0)), [100, 100])
    assert result["boxes"][0]["box"] == {"topX": 5, "topY": 5, "bottomX": 95, "bottomY": 95}


def test_zero_area_boxes_overlap_and_the_lower_score_loses():
    data = boxes(((1, 2, 30, 40), "a", 20), ((10, 20, 60, 50), "b", 10))  # all clip to 95: zero area
    (result,) = process_inference_results(data, [100, 100])
    assert [b["overlapping"] for b in result["boxes"]] == [False, True]
    assert result["boxes"][0]["overlappingIndices"] == [2]


def test_equal_scores_mark_nothing():
    (result,) = process_inference_results(
        boxes(((1, 2, 30, 40), "a", 10), ((10, 20, 60, 50), "b", 10)), [100, 100]
    )
    assert [b["overlapping"] for b in result["boxes"]] == [False, False]


def test_asymmetric_overlapping_indices():
    data = boxes(((0.1, 0.1, 0.5, 0.5), "a", 0.5), ((0.12, 0.12, 0.52, 0.52), "b", 0.9))
    (result,) = process_inference_results(data, [1000, 1000])
    a, b = result["boxes"]
    assert a["overlapping"] is True and a["overlappingIndices"] == [2] and a["box"] == b["box"]
    assert b["overlapping"] is False and b["overlappingIndices"] == []


@pytest.mark.parametrize("fmt", ["hex", "rgb"])
def test_colours_are_indexed_by_position(fmt):
    data = boxes(
        *[((0.1 * i, 0, 0.1 * i + 0.05, 0.1), label, 0.5 + i / 10) for i, label in enumerate("AABCB")]
    )
    (result,) = process_inference_results(data, [1000, 1000], color_format=fmt)
    palette = PALETTES[fmt]
    assert [b["color"] for b in result["boxes"]] == [
        palette[0],
        palette[0],
        palette[2],
        palette[3],
        palette[2],
    ]
    assert result["labelOccurrence"] == {"A": 2, "B": 2, "C": 1}


def test_beyond_the_palette_colours_are_shades():
    data = boxes(*[((i / 40, 0, i / 40 + 0.01, 0.01), f"label{i}", 0.5) for i in range(37)])
    (result,) = process_inference_results(data, [4000, 4000])
    colours = [b["color"] for b in result["boxes"]]
    assert colours[:18] == PALETTES["hex"] and colours[18:36] == [shade(c) for c in PALETTES["hex"]]
    assert colours[36] == shade(shade(PALETTES["hex"][0]))
    assert shade("#ED1C24") == "#981218" and shade("#005AFF") == "#003aa4" and shade("#CACACA") == "#828282"


def test_rgb_shades_are_plain_json_ints():
    data = boxes(*[((i / 20, 0, i / 20 + 0.01, 0.01), f"l{i}", 0.5) for i in range(19)])
    (result,) = process_inference_results(data, [2000, 2000], color_format="rgb")
    assert result["boxes"][18]["color"] == (152, 18, 24)
    assert json.loads(json.dumps(result))["boxes"][18]["color"] == [152, 18, 24]
    assert color_at(1, "rgb") == (0, 90, 255)


def test_zero_boxes():
    (result,) = process_inference_results([{"boxes": []}], [100, 100])
    assert result["labelOccurrence"] == {} and result["totalBoxes"] == 0


@pytest.mark.parametrize(
    "data,dims", [([{}], [100, 100]), (boxes(((0, 0, 1, 1), "a", 1)), 100), ([{"boxes": None}], [1, 1])]
)
def test_errors_are_wrapped(data, dims):
    with pytest.raises(ModelError, match="^Error while processing inference results :\n "):
        process_inference_results(data, dims)


def test_invalid_colour_format_even_without_boxes():
    with pytest.raises(ModelError, match="object of type 'NoneType' has no len"):
        process_inference_results([{"boxes": []}], [100, 100], color_format="cmyk")


@pytest.mark.parametrize("image_b64", ["QUJDRA==", 'not "plain" \\ base64\n', ""])
def test_detector_body_is_valid_json_for_any_input(image_b64):
    from model_inference.adapters.detectors import input_data

    assert json.loads(input_data(image_b64)) == {
        "input_data": {"columns": ["image"], "index": [0], "data": [image_b64]}
    }


def test_the_rows_ids_are_distinct_random_version_4_uuids():
    """One read of the random source makes a request's ids (storage/inference_rows.random_ids)."""
    import uuid

    from storage.inference_rows import random_ids

    ids = list(random_ids(25))
    assert len(set(ids)) == 25 and all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert set(ids).isdisjoint(random_ids(25)) and list(random_ids(0)) == []
