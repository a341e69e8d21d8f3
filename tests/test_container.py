"""The container's entrypoint, run as the image runs it (without a container engine here):
migrations, a usable production database (built-in pipeline on an empty one, the default and
archive users registered), then hypercorn, which stops cleanly on SIGTERM."""

import json
import signal
import urllib.request
import uuid

from tests.conftest import ROOT, free_port, run_nachet, start_process, wait_until_healthy


def test_entrypoint_prepares_an_empty_database_serves_and_stops_on_sigterm(db_url, tmp_path):
    port, schema = free_port(), f"entry_{uuid.uuid4().hex[:6]}"
    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": schema,
        "NACHET_DATA_DIR": str(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        "DEV_USER_EMAIL": "archive@example.org",
    }
    server = start_process(["sh", str(ROOT / "docker-entrypoint.sh")], env)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        listed = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/model-endpoints-metadata").read()
        )
        assert [p["pipeline_name"] for p in listed] == ["Local seed detector + feedback classifier"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/get-user-id", method="POST")
        assert json.loads(urllib.request.urlopen(request).read())["user_id"]
    finally:
        server.send_signal(signal.SIGTERM)  # what tini forwards: the exec'd hypercorn gets it
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    assert "Traceback" not in output
    assert "UNSECURED MODE" in output and "NACHET_VOUCH_JWT_SECRET" in output  # names what to set
    users = run_nachet(env, "users", "list").stdout
    assert "archive@example.org" in users and "example@gmail.com" in users
    again = run_nachet(env, "pipelines", "install-builtin", "--if-empty")
    assert "not installed (the database has pipelines)" in again.stdout
