"""How well the built-in pipeline names real seeds from few examples (issue "Seed science").

For each set of ../shared/data/real-seeds (soilwater: 10 species, 5 photos each, 1600x1200;
rice: 5 varieties, 40 grains each, 250x250) and each k: a fresh server on the embedded default,
k labelled uploads per class through the API (/new-batch-import + /upload-picture, then
GET /jobs/<session> until the batch is learned), then /inf on every other photo of those classes;
a photo is right when its best-scoring box is named as its class. Prints, per k: top-1, the
expected calibration error of that box's score (10 bins), how many answers scored >= 0.9 and how
many of them were right, the share of photos whose box's `prediction_set` holds the truth and the
sets' mean size (a server without sets: its one label). With --untaught, those classes are
asked but never taught, and only "Unknown seed" is right for them: the columns then also give
the share of their photos answered "Unknown seed".
Usage: python bench/seeds_accuracy.py [--sets soilwater,rice] [--ks 1,3,5,10] [--server-root DIR]
       [--untaught flax,lentils,proso_millet]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning import data_url, free_port  # noqa: E402
from learning import refitted as refitted_at  # noqa: E402

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "real-seeds"


UNKNOWN = "Unknown seed"


def split(
    rows: list[dict], k: int, untaught: set[str] = frozenset()
) -> tuple[dict[str, list[dict]], list[dict]]:
    """The first k photos of each class (by file name) teach; the rest are asked about, and every
    photo of an untaught class."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["file"]):
        by_class[row["cls"]].append(row)
    return {c: found[:k] for c, found in by_class.items() if c not in untaught}, [
        r for c, found in by_class.items() for r in (found if c in untaught else found[k:])
    ]


def figures(answers: list[tuple[str, dict | None]]) -> str:
    """The table's cells from (truth, best box) pairs."""
    import numpy as np

    truth = [t for t, _ in answers]
    label = [b["label"] if b else None for _, b in answers]
    score = np.array([b["score"] if b else 0.0 for _, b in answers])
    sets = [(b.get("prediction_set") or [b["label"]]) if b else [] for _, b in answers]
    right = np.array([lab == t for lab, t in zip(label, truth)], dtype=float)
    taught = np.array([t != UNKNOWN for t in truth])
    bins = np.minimum((score * 10).astype(int), 9)
    ece = sum((bins == b).mean() * abs(score[bins == b].mean() - right[bins == b].mean()) for b in set(bins))
    sure = score >= 0.9
    cells = [
        f"{100 * right[taught].mean():.0f} % ({int(right[taught].sum())}/{int(taught.sum())})",
        f"{ece:.3f}",
        f"{int(sure.sum())} at {100 * right[sure].mean():.0f} %" if sure.any() else "0",
        f"{100 * np.mean([t in m for t, m in zip(truth, sets)]):.0f} %, {np.mean([len(m) for m in sets]):.2f}",  # noqa: E501
    ]
    if not taught.all():
        cells.append(
            f"{100 * right[~taught].mean():.0f} % ({int(right[~taught].sum())}/{int((~taught).sum())})"
        )
    return " | ".join(cells)


async def wait_until(condition, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not get there in time")
        await asyncio.sleep(0.2)


async def measure(root: Path, rows: list[dict], k: int, untaught: set[str]) -> list[tuple[str, dict | None]]:
    teach, ask = split(rows, k, untaught)
    data = Path(tempfile.mkdtemp(prefix="nachet-acc-"))
    port = free_port()
    log = open(data / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "1", "app:app"],
        cwd=root,
        env={**os.environ, "NACHET_DATA_DIR": str(data)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(healthy)
            user = (await client.post("/get-user-id")).json()["user_id"]
            pipeline = (await client.get("/model-endpoints-metadata")).json()[0]["pipeline_name"]
            count = sum(len(v) for v in teach.values())
            batch = {"container_name": user, "nb_pictures": count}
            session = (await client.post("/new-batch-import", json=batch)).json()["session_id"]
            for cls, examples in teach.items():
                for row in examples:
                    body = {
                        "container_name": user,
                        "session_id": session,
                        "seed_name": cls,
                        "image": data_url(REAL / row["file"]),
                    }
                    (await client.post("/upload-picture", json=body)).raise_for_status()

            pg = await asyncpg.connect(f"postgresql://postgres@/nachet?host={data}/pg")
            await pg.execute('SET search_path TO "nachet_0.0.11"')

            async def learned() -> bool:  # every upload has its examples (any version's server)
                stored = await pg.fetchval(
                    """SELECT count(DISTINCT e.picture_id) FROM seed_example e
                         JOIN picture p ON p.id = e.picture_id WHERE p.picture_set_id = $1::uuid""",
                    session,
                )
                return stored >= count

            await wait_until(learned)
            total = await pg.fetchval("SELECT count(*) FROM seed_example")
            await pg.close()

            async def refitted() -> bool:  # the worker answering /inf has fitted all of them
                return refitted_at(data / "server.log", 0.0, total)[0] is not None

            await wait_until(refitted)
            answers = []
            for row in ask:
                boxes = await infer(client, user, pipeline, row)
                best = max(boxes, key=lambda b: b["score"], default=None)
                answers.append((UNKNOWN if row["cls"] in untaught else row["cls"], best))
            return answers
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


async def infer(client: httpx.AsyncClient, user: str, pipeline: str, row: dict) -> list[dict]:
    body = {
        "model_name": pipeline,
        "image": data_url(REAL / row["file"]),
        "imageDims": [int(row["width"]), int(row["height"])],
        "folder_name": "General",
        "container_name": user,
    }
    response = await client.post("/inf", json=body)
    response.raise_for_status()
    return response.json()["boxes"]


async def main(root: Path, sets: list[str], ks: list[int], untaught: set[str]) -> None:
    rows = list(csv.DictReader(open(REAL / "manifest.csv")))
    print(f"server: {root}; untaught: {', '.join(sorted(untaught)) or 'none'}")
    extra = " | untaught answered Unknown seed" if untaught else ""
    print(f"| set | k | top-1 (taught) | ECE | answers >= 0.9, right | set coverage, size{extra} |")
    print("|---" * (6 + bool(untaught)) + "|")
    for name in sets:
        chosen = [r for r in rows if r["dataset"] == name]
        per_class = min(sum(1 for r in chosen if r["cls"] == c) for c in {r["cls"] for r in chosen})
        for k in ks:
            if k < per_class:
                answers = await measure(root, chosen, k, untaught)
                print(f"| {name} | {k} | {figures(answers)} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="soilwater,rice")
    parser.add_argument("--ks", default="1,3,5,10")
    parser.add_argument("--server-root", type=Path, default=HERE.parent)
    parser.add_argument("--untaught", default="", help="classes asked but never taught (comma-separated)")
    args = parser.parse_args()
    untaught = {c for c in args.untaught.split(",") if c}
    ks = [int(k) for k in args.ks.split(",")]
    asyncio.run(main(args.server_root.resolve(), args.sets.split(","), ks, untaught))
