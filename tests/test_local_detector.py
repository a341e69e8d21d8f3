"""The built-in seed detector on real microscope pictures and on generated trays (fixed seeds;
floors a little under what was measured: see bench/RESULTS.md)."""

import cv2
import numpy as np
import pytest
from PIL import Image

from model_inference.local.detector import detect_seeds
from testkit.synthetic import KINDS, iou, make_tray, match, pixel_boxes, unusual
from tests.conftest import DATA, ROOT


def load(name: str) -> np.ndarray:
    array = np.array(Image.open(DATA / name))
    order = [2, 1, 0, 3] if array.shape[2] == 4 else [2, 1, 0]
    return np.ascontiguousarray(array[..., order])


def boxes_of(image):
    found = detect_seeds(image)
    return pixel_boxes(found, image.shape[1], image.shape[0]), found


def test_single_real_seed():
    image = load("1310_1.png")
    (box,), found = boxes_of(image)
    h, w = image.shape[:2]
    assert iou(box, (0.22 * w, 0.10 * h, 0.71 * w, 0.83 * h)) >= 0.8
    assert 0 < found[0]["score"] <= 1 and found[0]["label"] == "seed"


def test_two_real_seeds_without_the_scale_bar_or_the_speck():
    boxes, _ = boxes_of(load("2seeds_scalebar.tiff"))
    assert len(boxes) == 2
    truth = [(477, 393, 770, 730), (1119, 414, 1489, 788)]
    assert sorted(max(iou(b, t) for b in boxes) for t in truth)[0] >= 0.7


def cutouts():
    """The two seeds of the real tray, cut out with their mask (for new arrangements)."""
    image = load("2seeds_scalebar.tiff")
    pieces = []
    for x0, y0, x1, y1 in [(477, 393, 770, 730), (1119, 414, 1489, 788)]:
        crop = image[y0 - 6 : y1 + 6, x0 - 6 : x1 + 6]
        lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
        mask = (np.linalg.norm(lab - lab[0, 0], axis=2) > 12).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        pieces.append((crop, mask))
    scalebar = image[1010:1070, 10:190].copy()
    return pieces, scalebar


def arrange(rng, pieces, scalebar, n, tint, with_bar):
    """A tray of rotated, scaled copies of the real seeds, vignetted, sometimes with the scale bar."""
    h, w = 1080, 1920
    tray = np.ones((h, w, 3), np.float32) * tint
    truth, taken = [], np.zeros((h, w), bool)
    for _ in range(n * 30):
        if len(truth) == n:
            break
        crop, mask = pieces[int(rng.integers(len(pieces)))]
        scale, angle = rng.uniform(0.35, 0.8), rng.uniform(0, 360)
        size = (int(crop.shape[1] * scale), int(crop.shape[0] * scale))
        c, m = cv2.resize(crop, size), cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        centre = (size[0] / 2, size[1] / 2)
        rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
        side = int(np.hypot(*size)) + 2
        rot[:, 2] += (side - size[0]) / 2, (side - size[1]) / 2
        c = cv2.warpAffine(c, rot, (side, side), borderValue=(255, 255, 255))
        m = cv2.warpAffine(m, rot, (side, side), flags=cv2.INTER_NEAREST)
        x, y = int(rng.integers(10, w - side - 10)), int(rng.integers(10, h - side - 10))
        if taken[max(0, y - 8) : y + side + 8, max(0, x - 8) : x + side + 8].any():
            continue
        region = m > 0
        tray[y : y + side, x : x + side][region] = c[region] * (tint / 250.0)
        taken[y : y + side, x : x + side] |= region
        ys, xs = np.nonzero(region)
        truth.append((x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1))
    if with_bar:
        tray[h - 70 : h - 10, 10:190] = scalebar
    yy, xx = np.mgrid[0:h, 0:w]
    light = 1 - 0.2 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
    tray = tray * light[..., None] + rng.normal(0, 2, tray.shape)
    return np.clip(tray, 0, 255).astype(np.uint8), truth


def test_real_seeds_in_new_arrangements():
    pieces, scalebar = cutouts()
    rng = np.random.default_rng(7)
    hits = found_total = truth_total = 0
    for i in range(6):
        tint = np.array([rng.uniform(215, 250), rng.uniform(215, 250), rng.uniform(215, 250)])
        image, truth = arrange(rng, pieces, scalebar, int(rng.integers(3, 9)), tint, with_bar=i % 2 == 0)
        found, _ = boxes_of(image)
        hits += match(found, truth)
        found_total += len(found)
        truth_total += len(truth)
    assert hits / found_total >= 0.9 and hits / truth_total >= 0.9, (hits, found_total, truth_total)


def evaluate(seeds, touch_prob, first, count):
    hits = found_total = truth_total = 0
    for i in range(count):
        n = seeds if seeds is not None else int(np.random.default_rng(first + i).integers(1, 41))
        image, truth = make_tray(first + i, n, touch_prob=touch_prob)
        found, _ = boxes_of(image)
        hits += match(found, [s.box for s in truth])
        found_total += len(found)
        truth_total += len(truth)
    return hits / max(1, found_total), hits / max(1, truth_total), truth_total


def test_crowded_trays():
    precision, recall, seeds = evaluate(None, 0.3, first=100, count=8)
    assert seeds > 100 and precision >= 0.93 and recall >= 0.88, (precision, recall)


def test_isolated_seeds():
    precision, recall, _ = evaluate(None, 0.0, first=300, count=5)
    assert precision >= 0.95 and recall >= 0.97, (precision, recall)


def test_generator_makes_touching_seeds():
    touching = total = 0
    for i in range(4):
        _, truth = make_tray(100 + i, 30, touch_prob=0.3)
        touching += sum(s.touching for s in truth)
        total += len(truth)
    assert 0.3 <= touching / total <= 0.6 and len({s.kind for s in truth}) >= 5 and len(KINDS) >= 6


@pytest.mark.parametrize("tray", [(230, 230, 230), (200, 215, 240), (150, 150, 150)])
def test_empty_trays_have_no_seeds(tray):
    image, _ = make_tray(500, 0, tray=tray)
    assert detect_seeds(image) == []


@pytest.mark.parametrize("kind", ["blank", "tiny", "grey", "16-bit", "rgba", "huge"])
def test_unusual_pictures(kind):
    image, truth = make_tray(42, 6, touch_prob=0.0, size=(640, 480))
    if kind == "blank":
        assert detect_seeds(np.full((480, 640, 3), 255, np.uint8)) == []
        return
    image = unusual(image, kind)
    if kind == "tiny":
        assert isinstance(detect_seeds(image), list)
        return
    found = detect_seeds(image)
    h, w = image.shape[:2]
    scale = w / 640
    truth_boxes = [tuple(v * scale for v in s.box) for s in truth]
    assert match(pixel_boxes(found, w, h), truth_boxes) >= len(truth) - (2 if kind == "grey" else 0)


REAL_SEEDS = ROOT.parent / "shared" / "data" / "real-seeds"  # beside the clone, in CI too


@pytest.mark.skipif(not (REAL_SEEDS / "manifest.csv").exists(), reason="../shared/data/real-seeds not here")
def test_one_box_per_seed_on_real_single_seed_photos():
    """The development photos of ../shared/data/real-seeds (one seed each: 50 microscope photos of
    10 species at 1600x1200, 200 rice grains): exactly one box each. Large seeds are worked at
    the scale where they are ~80 px across, so their texture no longer splits them."""
    import csv

    from model_inference.pixels import decode_bgr

    split = []
    for row in csv.DictReader(open(REAL_SEEDS / "manifest.csv")):
        found = detect_seeds(decode_bgr((REAL_SEEDS / row["file"]).read_bytes()))
        if len(found) != int(row["seeds_per_image"]):
            split.append((row["file"], len(found)))
    assert not split, split


def test_the_noise_median_read_off_counts_is_numpys():
    """The foreground's noise level takes the median and MAD of a uint8 subsample from its
    histogram: the same numbers as np.median on the pixels, odd or even count."""
    from model_inference.local.detector import _median

    rng = np.random.default_rng(11)
    levels = np.arange(256, dtype=np.float64)
    for n in (1, 2, 7, 10, 1001, 4096):
        sample = rng.integers(0, rng.choice([8, 40, 256]), n).astype(np.uint8)
        counts = np.bincount(sample, minlength=256)
        median = float(np.median(sample.astype(np.float32)))
        assert _median(levels, counts) == median
        mad = float(np.median(np.abs(sample.astype(np.float32) - median)))
        assert _median(np.abs(levels - median), counts) == mad


def test_a_close_up_of_one_seed_is_one_box():
    """A seed filling the frame and running off its edges (no tray on the border for the tray
    model to start from) is found whole: the real seed of 1310_1.png cropped inside its own box,
    and a synthetic seed, each one box over most of the frame; an empty tray stays empty."""
    image = load("1310_1.png")
    h, w = image.shape[:2]
    close = np.ascontiguousarray(image[int(0.13 * h) : int(0.80 * h), int(0.25 * w) : int(0.68 * w)])
    (box,) = detect_seeds(close)
    b = box["box"]
    assert (b["bottomX"] - b["topX"]) * (b["bottomY"] - b["topY"]) >= 0.8, b
    drawn = np.full((300, 400, 3), (205, 210, 215), np.uint8)
    cv2.ellipse(drawn, (200, 150), (230, 170), 0, 0, 360, (60, 110, 160), -1)  # runs off every edge
    (box,) = detect_seeds(drawn)
    assert box["box"] == {"topX": 0.0, "topY": 0.0, "bottomX": 1.0, "bottomY": 1.0}
    assert detect_seeds(np.full((300, 400, 3), (60, 110, 160), np.uint8)) == []


@pytest.mark.skipif(not (REAL_SEEDS / "manifest.csv").exists(), reason="../shared/data/real-seeds not here")
def test_close_ups_of_the_real_single_seed_photos_are_one_box_each():
    """bench/close_ups.py's close-ups of every 10th development photo: one box over >= 80 %."""
    import csv

    from bench.close_ups import close_up
    from model_inference.pixels import decode_bgr

    missed = []
    for row in list(csv.DictReader(open(REAL_SEEDS / "manifest.csv")))[::10]:
        pixels = decode_bgr((REAL_SEEDS / row["file"]).read_bytes())
        crop = close_up(pixels, detect_seeds(pixels)[0]["box"], 0.04)
        found = detect_seeds(crop)
        covers = [
            (b["box"]["bottomX"] - b["box"]["topX"]) * (b["box"]["bottomY"] - b["box"]["topY"]) for b in found
        ]
        if len(found) != 1 or covers[0] < 0.8:
            missed.append((row["file"], covers))
    assert not missed, missed
