"""The README's sample report, made from the bundled microscope pictures (tests/data): a fresh
server on loopback (embedded default, the example regulated list), 1310_1.png taught as
"Ambrosia trifida" (a labelled upload), then both pictures through /inf into the General folder,
a 25 g sample recorded, and the report printed (JSON; --format csv|html).
Usage: python bench/report_demo.py [--format json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning import free_port  # noqa: E402


def data_url(path: Path) -> str:
    mime = "image/tiff" if path.suffix == ".tiff" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


async def main(fmt: str) -> None:
    data = Path(tempfile.mkdtemp(prefix="nachet-demo-"))
    port = free_port()
    env = {
        **os.environ,
        "NACHET_DATA_DIR": str(data),
        "NACHET_REGULATED_SPECIES": str(ROOT / "usecases" / "regulated_species.example.csv"),
    }
    log = open(data / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            user = (await client.post("/get-user-id")).json()["user_id"]
            batch = {"container_name": user, "nb_pictures": 1, "folder_name": "taught"}
            session = (await client.post("/new-batch-import", json=batch)).json()["session_id"]
            upload = {"container_name": user, "session_id": session, "seed_name": "Ambrosia trifida"}
            (
                await client.post("/upload-picture", json={**upload, "image": data_url(DATA / "1310_1.png")})
            ).raise_for_status()
            deadline = time.monotonic() + 120
            while (await client.get(f"/jobs/{session}")).json().get("status") != "done":
                if time.monotonic() > deadline:
                    raise TimeoutError("the labelled picture was not learned in time")
                await asyncio.sleep(0.2)
            folders = (await client.post("/get-directories", json={"container_name": user})).json()["folders"]
            general = next(f for f in folders if f["folder_name"] == "General")["picture_set_id"]
            pipeline = (await client.get("/model-endpoints-metadata")).json()[0]["pipeline_name"]
            for name, dims in (("1310_1.png", [638, 559]), ("2seeds_scalebar.tiff", [1920, 1080])):
                body = {
                    "model_name": pipeline,
                    "image": data_url(DATA / name),
                    "imageDims": dims,
                    "folder_name": general,
                    "container_name": user,
                }
                (await client.post("/inf", json=body)).raise_for_status()
            sample = {"container_name": user, "weight_g": 25, "lot": "demo lot 1", "crop": "canola"}
            (await client.put(f"/folders/{general}/sample", json=sample)).raise_for_status()
            report = await client.get(f"/folders/{general}/report?container_name={user}&format={fmt}")
            report.raise_for_status()
            sys.stdout.write(report.text)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", default="json", choices=("json", "csv", "html"))
    asyncio.run(main(parser.parse_args().format))
