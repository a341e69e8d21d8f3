"""/openapi.json describes every route, is valid OpenAPI 3.1, and Schemathesis with all its checks
finds nothing against a live server; /docs serves Swagger UI
from the installed package (no network)."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import DATA, ROOT, start_entrypoint, wait_until_ready

EXAMPLES = 15  # per operation and phase: ~1,300 requests, under a minute


@pytest.fixture(scope="module")
def live(db_url, tmp_path_factory):
    """The image's entrypoint on loopback: migrations, the built-in pipeline, hypercorn."""
    url, _, server = start_entrypoint(db_url, tmp_path_factory.mktemp("openapi"))
    wait_until_ready(url, server)
    yield url
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=60)


def fetch(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def test_the_document_is_valid_openapi_3_1(live):
    """openapi-spec-validator finds nothing wrong (it found 12 `default: null` on non-nullable
    fields before)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    spec = json.loads(fetch(f"{live}/openapi.json")[1])
    assert [error.message for error in OpenAPIV31SpecValidator(spec).iter_errors()] == []


def test_every_route_is_published(live):
    from app import create_app  # the routes the app has, against those the document lists
    from nachet.config import load_settings

    spec = json.loads(fetch(f"{live}/openapi.json")[1])
    assert spec["openapi"] == "3.1.0"
    published = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    app = create_app(load_settings({}, dotenv=False), ready=object())  # type: ignore[arg-type]
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if rule.endpoint not in ("static", "docs.openapi_json", "docs.docs_page", "docs.docs_file")
    }
    assert routes == published
    inf = spec["paths"]["/inf"]["post"]
    assert inf["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferenceBody"
    }
    assert {"200", "400", "401", "403", "413", "429", "502", "503", "504"} <= inf["responses"].keys()
    assert spec["components"]["schemas"]["Error"]["maxItems"] == 1


def test_the_docs_page_and_its_assets_are_served_offline(live):
    status, page, kind = fetch(f"{live}/docs")
    assert status == 200 and kind.startswith("text/html") and b'url: "openapi.json"' in page
    for asset in ("docs/swagger-ui-bundle.js", "docs/swagger-ui.css"):
        status, body, _ = fetch(f"{live}/{asset}")
        assert status == 200 and len(body) > 10_000
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"{live}/docs/swagger-editor.js")
    assert missing.value.code == 404


def test_schemathesis_with_every_check_finds_nothing(live):
    """`st run` with all its checks (server errors, schemas, statuses, headers, positive data
    accepted, negative data refused, Allow) and all its phases, the same cases each run; the
    exceptions are named in schemathesis.toml."""
    command = [str(Path(sys.executable).parent / "st"), "--config-file", str(ROOT / "schemathesis.toml")]
    command += ["run", f"{live}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES)]
    command += ["--generation-deterministic", "--no-color", "--request-timeout", "60"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    print(summary)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", summary)
    assert tested and int(tested.group(1)) >= 30, summary
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert cases and int(cases.group(1)) == int(cases.group(2)) >= 30 * EXAMPLES, summary


def test_real_answers_of_a_journey_keep_their_published_schema(live):
    """Random bodies mostly meet the refusals; a user's real journey meets the answers."""
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]

    def call(method: str, path: str, body=None, **path_parameters):
        given = {"body": body} if body is not None else {}
        case = schema[path][method].Case(path_parameters=path_parameters or None, **given)
        response = case.call(base_url=live, timeout=120)
        case.validate_response(response, checks=checks)
        assert response.status_code < 300, response.text
        try:
            return response.json()
        except ValueError:  # PNG, Prometheus text, "ok"
            return response.content

    user = call("POST", "/get-user-id")["user_id"]
    picture = "data:image/png;base64," + base64.b64encode((DATA / "1310_1.png").read_bytes()).decode()
    inferred = call(
        "POST",
        "/inf",
        {"image": picture, "imageDims": [638, 559], "folder_name": "General", "container_name": user},
    )
    assert inferred["boxes"] and inferred["boxes"][0]["measurements"]["unit"] == "px"
    folders = call("POST", "/get-directories", {"container_name": user})["folders"]
    picture_id = folders[0]["pictures"][-1]["picture_id"]
    call("POST", "/get-picture", {"container_name": user, "picture_id": picture_id})
    assert (
        call("POST", "/get-picture-annotated", {"container_name": user, "picture_id": picture_id})[:4]
        == b"\x89PNG"
    )
    boxes = [{"boxId": b["box_id"]} for b in inferred["boxes"]]
    call(
        "POST",
        "/feedback-positive",
        {"userId": user, "inferenceId": inferred["inference_id"], "boxes": boxes},
    )
    job = call(
        "POST", "/jobs/classify-folder", {"container_name": user, "folder": folders[0]["picture_set_id"]}
    )
    call("GET", "/jobs/{job_id}", job_id=job["job_id"])
    for path in ("/seeds", "/model-endpoints-metadata", "/ready", "/version", "/metrics", "/health"):
        call("GET", path)
