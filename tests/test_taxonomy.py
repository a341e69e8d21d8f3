"""Taxonomy roll-up (issue "Seed science"): each box keeps the original's keys and adds `genus`
and `family` with the summed scores of its candidate species (spec seed-catalogue.md)."""

from storage.taxonomy import roll_up
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
    assert roll_up([]) == {"genus": [], "family": []}


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
