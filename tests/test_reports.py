"""Sample reports (issue "Sample reports"): the exact Poisson interval, each verdict, the review
list, the hash round trip, JSON/CSV/HTML agreement, the regulated list's checks and the routes'
answers to bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime

import pytest

from storage.reports import SampleMaterial
from tests.conftest import png_bytes
from tests.test_storage import detected
from usecases.regulated import RegulatedListError, parse
from usecases.reports import as_csv, as_html, build, poisson_interval, verify

RULES = parse(
    """species,class,limit,per_g
Solanum elaeagnifolium,prohibited noxious,0,25
Ambrosia trifida,primary noxious,1,25
Cirsium arvense,secondary noxious,5,25
"""
)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def box(label, *, verified=None, members=None, score=0.9, picture="p1", index=0, measured=None):
    return {
        "picture_id": picture,
        "classifier_version": "abc123",
        "dims": [100, 100],
        "box_index": index,
        "prediction_set": members or [label],
        "box": {"topX": 10, "topY": 10, "bottomX": 40, "bottomY": 40},
        "measurements": measured,
        "predicted": label,
        "score": score,
        "verified": verified,
    }


def material(boxes, weight=25.0, pictures=3, scores=None):
    folder = {
        "id": uuid.UUID(int=7),
        "name": "lot 42",
        "owner_id": uuid.UUID(int=1),
        "weight_g": weight,
        "lot": "L-42",
        "crop": "canola",
        "notes": None,
        "pictures": pictures,
    }
    return SampleMaterial(folder, boxes, scores)


def row(report, label):
    return next(r for r in report["species"] if r["label"] == label)


def test_the_interval_is_the_exact_poisson_one():
    """Garwood's exact 95 % limits, as tabulated (e.g. Ulm 1990): 0 -> (0, 3.689), 1 -> (0.0253,
    5.572), 5 -> (1.624, 11.668), 10 -> (4.795, 18.390)."""
    table = {0: (0.0, 3.689), 1: (0.0253, 5.572), 5: (1.6235, 11.668), 10: (4.7954, 18.390)}
    for count, (low, high) in table.items():
        got = poisson_interval(count)
        assert got == pytest.approx((low, high), abs=2e-3), count
    report = build(
        material([box("Brassica napus", picture=f"p{i}") for i in range(5)], weight=50.0), RULES, NOW
    )
    napus = row(report, "Brassica napus")
    assert napus["per_kg"] == 100.0 and napus["per_kg_interval"] == pytest.approx([32.47, 233.36], abs=0.01)


def test_each_verdict():
    """Per 25 g: prohibited 0, primary 1, secondary 5. Verified seeds over the limit exceed it,
    seeds that could be there decide nothing until verified, and under the limit in every case
    is within."""
    boxes = [
        box("Solanum elaeagnifolium", verified="Solanum elaeagnifolium", index=0),  # exceeds (limit 0)
        box("Brassica napus", members=["Brassica napus", "Ambrosia trifida"], index=1),  # could be trifida
        box("Ambrosia trifida", index=2),  # pending trifida: with the one above, 2 > 1 -> undetermined
        box("Cirsium arvense", verified="Cirsium arvense", index=3),  # 1 of 5: within
    ]
    report = build(material(boxes), RULES, NOW)
    assert row(report, "Solanum elaeagnifolium")["verdict"] == "exceeds"
    assert row(report, "Ambrosia trifida")["verdict"] == "undetermined"
    assert row(report, "Cirsium arvense")["verdict"] == "within"
    assert row(report, "Brassica napus")["verdict"] is None and row(report, "Brassica napus")["class"] is None
    assert [r["label"] for r in report["species"]][:3] == [
        "Solanum elaeagnifolium",
        "Ambrosia trifida",
        "Cirsium arvense",
    ]  # regulated first, most severe class first
    # the same boxes verified as not trifida: within
    boxes[1]["verified"], boxes[2]["verified"] = "Brassica napus", "Brassica napus"
    assert row(build(material(boxes), RULES, NOW), "Ambrosia trifida")["verdict"] == "within"
    # a double weight allows two trifida per 50 g
    two = [box("Ambrosia trifida", verified="Ambrosia trifida", index=i) for i in range(2)]
    assert row(build(material(two, weight=50.0), RULES, NOW), "Ambrosia trifida")["verdict"] == "within"
    assert row(build(material(two, weight=25.0), RULES, NOW), "Ambrosia trifida")["verdict"] == "exceeds"


def test_the_review_list_holds_unverified_boxes_that_may_be_regulated_most_severe_first():
    boxes = [
        box("Cirsium arvense", index=0, score=0.7),
        box("Brassica napus", members=["Brassica napus", "Solanum elaeagnifolium"], index=1),
        box("Brassica napus", index=2),  # nothing regulated in its set
        box("Ambrosia trifida", verified="Ambrosia trifida", index=3),  # verified: nothing to review
    ]
    review = build(material(boxes), RULES, NOW)["review"]
    assert [(r["box_index"], r["class"]) for r in review] == [
        (1, "prohibited noxious"),
        (0, "secondary noxious"),
    ]
    assert (
        review[0]["prediction_set"] == ["Brassica napus", "Solanum elaeagnifolium"]
        and review[1]["score"] == 0.7
    )


def test_no_weight_and_an_empty_folder_still_report():
    report = build(material([box("Ambrosia trifida")], weight=None), RULES, NOW)
    trifida = row(report, "Ambrosia trifida")
    assert (
        trifida["per_kg"] is None
        and trifida["per_kg_interval"] is None
        and trifida["verdict"] == "undetermined"
    )
    assert report["why"] and "no sample weight" in report["why"][0]
    empty = build(material([], pictures=0), RULES, NOW)
    assert empty["totals"] == {"pictures": 0, "seeds": 0} and empty["review"] == []
    assert {r["verdict"] for r in empty["species"]} == {"within"} and all(
        r["count"] == 0 for r in empty["species"]
    )


def test_counts_corrected_for_recall_beside_the_raw_ones():
    boxes = [box("Brassica napus", index=i) for i in range(8)]
    scores = {"overall": 0.9, "classes": {"Brassica napus": 0.8}}
    napus = row(build(material(boxes, scores=scores), RULES, NOW), "Brassica napus")
    assert napus["count"] == 8 and napus["count_corrected"] == 10.0


def test_the_hash_round_trip_and_the_three_formats_agree():
    boxes = [
        box(
            "Ambrosia trifida",
            verified="Ambrosia trifida",
            index=0,
            measured={"length": 3.0, "width": 2.0, "unit": "mm", "quality": "ok"},
        ),
        box(
            "Cirsium arvense",
            index=1,
            measured={"length": 9.0, "width": 1.0, "unit": "mm", "quality": "doubtful"},
        ),
    ]
    report = build(material(boxes), RULES, NOW)
    text = json.dumps(report, indent=1)
    assert verify(text) == (True, "the hash matches the content")
    changed = text.replace('"count": 1', '"count": 2', 1)
    assert verify(changed)[0] is False
    page = as_html(report, {("Ambrosia trifida", "p1", 0): "data:image/jpeg;base64,AAAA"})
    assert verify(page) == (True, "the page and its report are as generated")
    assert verify(page.replace("exceeds", "within", 1))[0] is False
    assert verify(page.replace("lot 42", "lot 43", 1))[0] is False
    assert report["hash"] in page and "http" not in page.replace("http-equiv", "")  # no external asset
    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    assert [r["label"] for r in rows] == [r["label"] for r in report["species"]]
    for line, species in zip(rows, report["species"]):
        assert int(line["count"]) == species["count"] and (line["verdict"] or None) == species["verdict"]
        if species["verdict"]:
            assert f">{species['verdict']}<" in page
    assert report["measurements"] == [
        {"label": "Ambrosia trifida", "unit": "mm", "n": 1, "length": 3.0, "width": 2.0, "doubtful": 0}
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("species,class,limit,per_g,colour\nA b,x,0,25\n", "line 1: unknown column colour"),
        ("species,class,limit,per_g\nA b,x,-1,25\n", "line 2: limit must be a number >= 0"),
        ("# a note\nspecies,class,limit,per_g\nA b,x,0,25\nA B,y,1,25\n", "line 4: A B is listed twice"),
        ("species,class,limit,per_g\nA b,x,0,0\n", "line 2: per_g must be a positive number"),
        ("species,class,limit,per_g\nA b,x,none,25\n", "line 2: limit and per_g must be numbers"),
    ],
)
def test_a_bad_regulated_list_is_refused_with_its_line(text, says):
    with pytest.raises(RegulatedListError) as error:
        parse(text)
    assert says in str(error.value)


def test_the_bundled_example_is_a_valid_list_of_catalogue_species():
    from usecases.regulated import EXAMPLE

    rules = parse(EXAMPLE.read_text())
    assert len(rules) >= 8 and "illustration" in EXAMPLE.read_text().lower()
    classes = sorted({(r.severity, r.regulated_class) for r in rules.values()})
    assert classes[0] == (0, "prohibited noxious")


async def test_routes_answer_reports_and_refuse_bad_input(client, storage, user):
    folder = await storage.create_picture_set(user, 0, f"sample-{uuid.uuid4().hex[:6]}")
    for labels in (("Ambrosia trifida", "Brassica napus"), ("Brassica napus",)):
        await storage.save_inference(user, str(folder), png_bytes(), detected(*labels), None)
    path = f"/folders/{folder}/sample"
    for bad in (0, -3, "25", None, True, float("inf")):
        response = await client.put(path, json={"container_name": str(user), "weight_g": bad})
        answer = await response.get_json()
        assert response.status_code == 400 and answer[0].endswith("weight_g must be a positive number"), (
            bad,
            answer,
        )
    other = await storage.create_user(f"other-{uuid.uuid4().hex[:6]}@example.org")
    response = await client.put(path, json={"container_name": str(other), "weight_g": 25})
    assert response.status_code == 400 and "User isn't owner of this folder" in (await response.get_json())[0]
    response = await client.put(path, json={"container_name": str(user), "weight_g": 25, "lot": "L-1"})
    assert response.status_code == 200
    report = await client.get(f"/folders/{folder}/report?container_name={user}")
    body = await report.get_json()
    assert report.status_code == 200 and body["sample"]["weight_g"] == 25 and body["totals"]["seeds"] == 3
    assert {r["label"]: r["count"] for r in body["species"]}["Brassica napus"] == 2
    assert verify(await report.get_data(as_text=True))[0]
    response = await client.get(f"/folders/{folder}/report?container_name={user}&format=pdf")
    assert response.status_code == 400 and "json, csv, html" in (await response.get_json())[0]
    response = await client.get(f"/folders/{folder}/report?container_name={other}")
    assert response.status_code == 400
    response = await client.get(f"/folders/{uuid.uuid4()}/report?container_name={user}")
    assert response.status_code == 404
    page = await client.get(f"/folders/{folder}/report?container_name={user}&format=html")
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    assert verify(await page.get_data(as_text=True))[0]
    sheet = await client.get(f"/folders/{folder}/report?container_name={user}&format=csv")
    assert (await sheet.get_data(as_text=True)).startswith("label,count,")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_the_page_prints_in_a_real_browser(tmp_path):
    """Headless Chromium prints the page to PDF, offline; its text holds the verdicts, the hash
    and every species row; 45 species rows take two pages."""
    boxes = [box(f"Genus{i} species", index=i) for i in range(42)] + [
        box("Ambrosia trifida", verified="Ambrosia trifida", index=50 + i) for i in range(2)
    ]
    report = build(material(boxes), RULES, NOW)
    page = tmp_path / "report.html"
    page.write_text(as_html(report), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Verdicts" in text and "exceeds" in text and report["hash"][:20] in text.replace("\n", "")
    assert "Genus41 species" in text and len(reader.pages) >= 3


def test_a_bad_regulated_file_stops_the_start_with_its_line(tmp_path):
    from nachet.config import ConfigError, load_settings

    bad = tmp_path / "regulated.csv"
    bad.write_text("species,class,limit,per_g\nAmbrosia trifida,primary noxious,-2,25\n")
    with pytest.raises(ConfigError) as error:
        load_settings({"NACHET_REGULATED_SPECIES": str(bad)}, dotenv=False)
    assert "line 2: limit must be a number >= 0" in " ".join(error.value.problems)
    missing = tmp_path / "none.csv"
    with pytest.raises(ConfigError) as error:
        load_settings({"NACHET_REGULATED_SPECIES": str(missing)}, dotenv=False)
    assert "cannot read" in " ".join(error.value.problems)


def test_the_report_commands(db_url, tmp_path):
    """sample set refuses a bad weight; report writes each format; report verify exits 0 for the
    file as written and 1 once a byte of its content changed."""
    from tests.conftest import run_nachet

    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": f"report_{uuid.uuid4().hex[:6]}",
        "NACHET_DATA_DIR": str(tmp_path),
        "NACHET_REGULATED_SPECIES": "usecases/regulated_species.example.csv",
    }
    assert run_nachet(env, "users", "add", "lab@example.org").returncode == 0
    listed = run_nachet(env, "users", "list").stdout
    assert "lab@example.org" in listed
    bad = run_nachet(env, "sample", "set", str(uuid.uuid4()), "--weight-g", "-1")
    assert bad.returncode == 1 and "weight_g must be a positive number" in bad.stderr
    missing = run_nachet(env, "report", str(uuid.uuid4()))
    assert missing.returncode == 1 and "Picture set not found" in missing.stderr
    user_id = listed.split()[0]
    import asyncio

    import asyncpg

    async def general() -> str:
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(f'SET search_path TO "{env["NACHET_SCHEMA"]}"')
            return str(await conn.fetchval("SELECT default_set_id FROM users WHERE id = $1::uuid", user_id))
        finally:
            await conn.close()

    folder = asyncio.run(general())
    assert run_nachet(env, "sample", "set", folder, "--weight-g", "25", "--lot", "L-7").returncode == 0
    for fmt in ("json", "html", "csv"):
        out = tmp_path / f"report.{fmt}"
        assert run_nachet(env, "report", folder, "--format", fmt, "--out", str(out)).returncode == 0
    assert json.loads((tmp_path / "report.json").read_text())["sample"]["lot"] == "L-7"
    for fmt in ("json", "html"):
        path = tmp_path / f"report.{fmt}"
        assert run_nachet(env, "report", "verify", str(path)).returncode == 0
        path.write_text(path.read_text().replace("L-7", "L-8", 1))
        changed = run_nachet(env, "report", "verify", str(path))
        assert changed.returncode == 1 and "report" in changed.stderr
