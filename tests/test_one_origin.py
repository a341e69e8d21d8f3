"""One origin in secured mode (issue "Lab deployment"): a real nginx with deploy/nginx.conf in
front of the backend (secured, Vouch) and of a frontend's static server, all on loopback. The
browser's cookie for that one origin reaches every API call, so the frontend's whole call
sequence answers 200; without the cookie, 401."""

from __future__ import annotations

import functools
import http.server
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from identity.vouch import make_vouch_cookie
from tests.conftest import ROOT, free_port, start_entrypoint
from tests.test_secured_journey import picture

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
SECRET = "the-one-origin-secret-of-32-bytes-or-more"


@pytest.fixture
def frontend(tmp_path):
    """A static server standing in for the frontend's image (its built page)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>Nachet</title><div id=root></div>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_the_frontend_journey_through_one_origin_in_secured_mode(db_url, tmp_path, frontend):
    backend_url, _, backend = start_entrypoint(
        db_url, tmp_path / "backend", NACHET_VOUCH_JWT_SECRET=SECRET, NACHET_AUTO_REGISTER="true"
    )
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("http://backend:8080/", backend_url.rstrip("/") + "/")
    conf = conf.replace("http://frontend:80", f"http://{frontend}")
    (tmp_path / "nginx.conf").write_text(conf)
    (tmp_path / "logs").mkdir()
    log = open(tmp_path / "logs" / "nginx.out", "w")  # a file: a pipe nobody reads could fill
    proxy = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"daemon off; pid {tmp_path}/nginx.pid;",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until nginx answers (bounded)
            try:
                if httpx.get(origin + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proxy.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        email = f"alice-{uuid.uuid4().hex[:8]}@example.org"
        cookie = make_vouch_cookie(email, SECRET, exp=time.time() + 600)
        # the browser keeps the cookie for the one origin and sends it with every request there
        with (
            httpx.Client(base_url=origin, cookies={"jxVouchCookie": cookie}, timeout=120) as web,
            httpx.Client(base_url=origin, timeout=60) as anonymous,
        ):
            page = web.get("/")
            assert page.status_code == 200 and "Nachet" in page.text
            assert anonymous.post("/api/get-user-id").status_code == 401
            user = web.post("/api/get-user-id").json()["user_id"]
            folders = web.post("/api/get-directories", json={"container_name": user})
            assert folders.status_code == 200
            general = folders.json()["folders"][0]["picture_set_id"]
            assert web.get("/api/seeds").status_code == 200
            pipeline = web.get("/api/model-endpoints-metadata").json()[0]["pipeline_name"]
            image, dims = picture()
            asked = {
                "model_name": pipeline,
                "image": image,
                "imageDims": dims,
                "folder_name": general,
                "container_name": user,
            }
            inference = web.post("/api/inf", json=asked)
            assert inference.status_code == 200, inference.text
            result = inference.json()
            boxes = [{"boxId": box["box_id"]} for box in result["boxes"]]
            feedback = {"userId": user, "inferenceId": result["inference_id"], "boxes": boxes}
            assert web.post("/api/feedback-positive", json=feedback).status_code == 200
            created = web.post("/api/create-dir", json={"container_name": user, "folder_name": "one origin"})
            assert created.status_code == 200, created.text
            assert web.get("/api/version").status_code == 200
    finally:
        proxy.send_signal(signal.SIGQUIT)
        proxy.wait(timeout=30)
        log.close()
        backend.send_signal(signal.SIGTERM)
        backend.communicate(timeout=60)
