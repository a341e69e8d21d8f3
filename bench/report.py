"""How long a sample report takes on a large folder (issue "Sample reports"): a fresh embedded
default (a temporary data directory), one folder filled through the storage as /inf saves
inferences (--pictures pictures of --boxes boxes each, labels drawn from the seed catalogue, some
with a regulated species in their prediction set), then the report made --repeat times in each
format (JSON and CSV; HTML without thumbnails, the bench's pictures being 8x8 pixels). Prints the
median seconds per format and the server-side read alone.
Usage: python bench/report.py [--pictures 2000] [--boxes 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nachet.config import load_settings  # noqa: E402
from nachet.runtime import close_services, open_services  # noqa: E402
from storage.reports import material, set_sample  # noqa: E402
from usecases.regulated import EXAMPLE  # noqa: E402

LABELS = [
    "Brassica napus",
    "Brassica juncea",
    "Cirsium arvense",
    "Bromus secalinus",
    "Lolium temulentum",
    "Ambrosia artemisiifolia",
    "Ambrosia trifida",
    "Solanum carolinense",
    "Centaurea diffusa",
    "Unknown seed",
]


def tiny_png(n: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (n % 256, (n // 256) % 256, 90)).save(out, "PNG")
    return out.getvalue()


def result(rng: random.Random, boxes: int) -> dict:
    found = []
    for i in range(boxes):
        label, other = rng.choice(LABELS), rng.choice(LABELS)
        score = round(rng.uniform(0.3, 0.99), 3)
        found.append(
            {
                "box": {"topX": 10 * i, "topY": 5, "bottomX": 10 * i + 8, "bottomY": 20},
                "label": label,
                "score": score,
                "topN": [{"label": label, "score": score}, {"label": other, "score": round(1 - score, 3)}],
                "prediction_set": [label] if score > 0.8 else [label, other],
                "measurements": {"unit": "px", "length": 8.0, "width": 15.0, "quality": "ok"},
            }
        )
    return {
        "filename": "tray.png",
        "boxes": found,
        "totalBoxes": boxes,
        "labelOccurrence": {},
        "models": [{"name": "bench", "version": 1}],
        "classifier_version": "bench",
    }


async def main(pictures: int, boxes: int, repeat: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="nachet-report-"))
    settings = load_settings(
        {"NACHET_DATA_DIR": str(data), "NACHET_REGULATED_SPECIES": str(EXAMPLE)}, dotenv=False
    )
    services = await open_services(settings, seed_default_user=False)
    try:
        user = await services.storage.create_user("bench@example.org")
        folder = await services.storage.create_picture_set(user, 0, "sample")
        rng = random.Random(7)
        started = time.perf_counter()
        gate = asyncio.Semaphore(8)

        async def save(n: int) -> None:
            async with gate:
                await services.storage.save_inference(
                    user, str(folder), tiny_png(n), result(rng, boxes), None
                )

        await asyncio.gather(*(save(n) for n in range(pictures)))
        print(
            f"filled: {pictures} pictures, {pictures * boxes} boxes in {time.perf_counter() - started:.1f} s"
        )
        await set_sample(services.pool, None, str(folder), {"weight_g": 25.0}, "bench")
        reads = []
        for _ in range(repeat):
            begun = time.perf_counter()
            read = await material(services.pool, None, str(folder))
            reads.append(time.perf_counter() - begun)
        print(f"read in one snapshot: {statistics.median(reads):.3f} s median ({len(read.boxes)} boxes)")
        for fmt in ("json", "csv", "html"):
            times = []
            for _ in range(repeat):
                begun = time.perf_counter()
                content, _ = await services.reports.report(None, str(folder), fmt)
                times.append(time.perf_counter() - begun)
            print(
                f"report {fmt}: {statistics.median(times):.3f} s median of {repeat}, "
                f"{len(content) / 1e6:.2f} MB"
            )
    finally:
        await close_services(services)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pictures", type=int, default=2000)
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.pictures, args.boxes, args.repeat))
