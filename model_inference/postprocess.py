"""process_inference_results of the original (spec §8): scale and clip the boxes, mark overlaps,
count labels and colour boxes by position. Plain JSON numbers throughout."""

from __future__ import annotations

from kernel.errors import ModelError

from .palette import PALETTES, color_at

COORDS = ("topX", "topY", "bottomX", "bottomY")


def _clip(value: float, low: float, high: float) -> int:
    return int(min(max(value, low), high))  # numpy.clip semantics, then truncation


def _area(box: dict) -> float:
    return (box["bottomX"] - box["topX"]) * (box["bottomY"] - box["topY"])


def _common(a: dict, b: dict) -> float:
    width = max(0, min(a["bottomX"], b["bottomX"]) - max(a["topX"], b["topX"]))
    height = max(0, min(a["bottomY"], b["bottomY"]) - max(a["topY"], b["topY"]))
    return width * height


def check_color_format(color_format) -> None:
    if not isinstance(color_format, str) or color_format not in PALETTES:  # a list is unhashable
        raise ModelError(
            "Error while processing inference results :\n object of type 'NoneType' has no len()", 400
        )


def process_inference_results(
    data: list, image_dims, area_ratio: float = 0.5, color_format: str = "hex"
) -> list:
    check_color_format(color_format)
    try:
        boxes = data[0]["boxes"]
        width, height = image_dims[0], image_dims[1]
        for box in boxes:  # pass 1: every box scaled and clipped before any overlap test
            box["overlapping"] = False
            box["overlappingIndices"] = []
            coords = box["box"]
            coords["topX"] = _clip(coords["topX"] * width, 5, width - 5)
            coords["topY"] = _clip(coords["topY"] * height, 5, height - 5)
            coords["bottomX"] = _clip(coords["bottomX"] * width, 5, width - 5)
            coords["bottomY"] = _clip(coords["bottomY"] * height, 5, height - 5)
        for i in range(len(boxes)):  # pass 2: pairs in index order, on the current coordinates
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i]["box"], boxes[j]["box"]
                common = _common(a, b)
                if not (common >= _area(a) * area_ratio and common >= _area(b) * area_ratio):
                    continue
                if boxes[j]["score"] < boxes[i]["score"]:
                    boxes[j]["overlapping"] = True
                    boxes[i]["overlappingIndices"].append(j + 1)
                    boxes[j]["box"] = dict(a)
                elif boxes[i]["score"] < boxes[j]["score"]:
                    boxes[i]["overlapping"] = True
                    boxes[i]["overlappingIndices"].append(j + 1)  # the original's asymmetry, kept
                    boxes[i]["box"] = dict(b)
        occurrences: dict[str, int] = {}
        label_colors: dict = {}
        for index, box in enumerate(boxes):  # pass 3: colour by the first position of each label
            label = box["label"]
            occurrences[label] = occurrences.get(label, 0) + 1
            if label not in label_colors:
                label_colors[label] = color_at(index, color_format)
            box["color"] = label_colors[label]
        data[0]["labelOccurrence"] = occurrences
        data[0]["totalBoxes"] = len(boxes)
    except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError) as error:
        raise ModelError(f"Error while processing inference results :\n {error}", 400) from error
    return data
