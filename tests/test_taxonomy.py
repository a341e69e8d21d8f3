"""Taxonomy roll-up (issue "Seed science"): each box keeps the original's keys and adds `genus`
and `family` with the summed scores of its candidate species (spec seed-catalogue.md)."""

import pytest

from storage import taxonomy
from storage.taxonomy import TaxonomyFileError, read_families, roll_up
from tests.test_inference import inf_body, model_server, pipelines  # noqa: F401 (fixtures)


def test_an_uncertain_species_can_be_a_confident_genus():
    rolled = roll_up(
        [
            {"label": "012 Ambrosia artemisiifolia", "score": 0.5},
            {"label": "Ambrosia trifida", "score": 0.47},
            {"label": "Bromus secalinus", "score": 0.02},
            {"label": "Unknown seed", "score": 0.01},
            {"label": "buffalobur", "score": 0.0},
        ]
    )
    assert rolled["genus"] == [{"label": "Ambrosia", "score": 0.97}, {"label": "Bromus", "score": 0.02}]
    assert rolled["family"] == [{"label": "Asteraceae", "score": 0.97}, {"label": "Poaceae", "score": 0.02}]
    assert roll_up([]) == {}  # nothing to roll up: left out, not []


def test_every_binomial_has_its_genus_and_a_known_family():
    rolled = roll_up(
        [{"label": "Linum usitatissimum", "score": 0.9}, {"label": "Helianthus annuus", "score": 0.1}]
    )
    assert rolled["genus"] == [{"label": "Linum", "score": 0.9}, {"label": "Helianthus", "score": 0.1}]
    assert rolled["family"] == [{"label": "Linaceae", "score": 0.9}, {"label": "Asteraceae", "score": 0.1}]
    made_up = roll_up([{"label": "Zorblax minor", "score": 0.8}, {"label": "Unknown seed", "score": 0.2}])
    assert made_up == {"genus": [{"label": "Zorblax", "score": 0.8}]}  # no family known: left out
    only = roll_up([{"label": "Chenopodium album", "score": 0.7}, {"label": "Cuscuta spp", "score": 0.3}])
    assert [g["label"] for g in only["genus"]] == ["Chenopodium", "Cuscuta"]  # its candidates only
    assert [f["label"] for f in only["family"]] == ["Amaranthaceae", "Convolvulaceae"]


def test_the_bundled_table_covers_the_catalogue():
    catalogue = ["Ambrosia", "Brassica", "Bromus", "Carduus", "Centaurea", "Cirsium", "Cuscuta"]
    catalogue += ["Cyclachaena", "Iva", "Lolium", "Solanum", "Tripleurospermum"]
    assert all(taxonomy.family_of(genus) for genus in catalogue)


def test_an_operators_file_adds_families_and_a_bad_one_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(taxonomy, "_families", dict(taxonomy._families))  # this test's own table
    extra = tmp_path / "families.csv"
    extra.write_text("# the lab's own\ngenus,family\nZorblax,Zorblaceae\n")
    assert taxonomy.add_families(extra) == 1
    assert roll_up([{"label": "Zorblax minor", "score": 1.0}])["family"] == [
        {"label": "Zorblaceae", "score": 1.0}
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("genus,family\nLinum,Linaceae\nLinum,Poaceae\n")
    with pytest.raises(TaxonomyFileError, match="line 3: Linum is given two families"):
        read_families(bad)
    bad.write_text("genus,family\nLinum\n")
    with pytest.raises(TaxonomyFileError, match="line 2"):
        read_families(bad)


async def test_boxes_carry_the_roll_up_when_inferred_and_read_back(client, user, pipelines):
    response = await client.post("/inf", json=inf_body(pipelines["swin"], user))
    inferred = await response.get_json()
    assert response.status_code == 200
    box = inferred["boxes"][0]
    assert {"topN", "label", "score", "box"} <= box.keys()  # the original's keys stay
    assert box["genus"] == [{"label": "Ambrosia", "score": 0.75}, {"label": "Bromus", "score": 0.2}]
    assert box["family"] == [{"label": "Asteraceae", "score": 0.75}, {"label": "Poaceae", "score": 0.2}]
    folders = await (await client.post("/get-directories", json={"container_name": str(user)})).get_json()
    picture = folders["folders"][0]["pictures"][-1]["picture_id"]
    stored = await (
        await client.post("/get-picture", json={"container_name": str(user), "picture_id": picture})
    ).get_json()
    assert stored["inference"]["boxes"][0]["genus"] == box["genus"]
    assert stored["inference"]["boxes"][0]["family"] == box["family"]


def test_a_bad_operators_file_stops_the_start_with_its_line(tmp_path):
    from nachet.config import ConfigError, load_settings

    bad = tmp_path / "families.csv"
    bad.write_text("genus,family\nLinum,linaceae\n")
    with pytest.raises(ConfigError) as error:
        load_settings({"NACHET_GENUS_FAMILIES": str(bad)}, dotenv=False)
    assert "NACHET_GENUS_FAMILIES" in str(error.value) and "line 2" in str(error.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"NACHET_GENUS_FAMILIES": str(tmp_path / "missing.csv")}, dotenv=False)
