"""The container's entrypoint, run as the image runs it (without a container engine here):
migrations, a usable production database (built-in pipeline on an empty one, the default and
archive users registered), then hypercorn, which stops cleanly on SIGTERM."""

import json
import signal
import urllib.request

from tests.conftest import run_nachet, start_entrypoint


def test_entrypoint_prepares_an_empty_database_serves_and_stops_on_sigterm(db_url, tmp_path):
    url, env, server = start_entrypoint(db_url, tmp_path, DEV_USER_EMAIL="archive@example.org")
    try:
        listed = json.loads(urllib.request.urlopen(f"{url}/model-endpoints-metadata").read())
        assert [p["pipeline_name"] for p in listed] == ["Local seed detector + feedback classifier"]
        request = urllib.request.Request(f"{url}/get-user-id", method="POST")
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
