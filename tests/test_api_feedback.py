"""/feedback-positive and /feedback-negative (spec §4.12-§4.13, datastore-spec §4.3)."""

import uuid

import pytest

from tests.conftest import png_bytes
from tests.test_storage import detected

POS = "API Error giving a positive feedback : "
NEG = "API Error giving a negative feedback : "


@pytest.fixture
async def inference(storage, user):
    return await storage.save_inference(
        user, None, png_bytes(), detected("Brassica napus", "Bromus secalinus"), None
    )


async def post(client, path, body):
    response = await client.post(path, json=body)
    return response.status_code, await response.get_json()


async def test_positive_feedback(client, user, inference):
    boxes = [{"boxId": b["box_id"]} for b in inference["boxes"]]
    status, body = await post(
        client,
        "/feedback-positive",
        {"userId": str(user), "inferenceId": inference["inference_id"], "boxes": boxes},
    )
    assert status == 200
    assert [b["is_verified"] for b in body["boxes"]] == [True, True]
    assert body["inference_id"] == inference["inference_id"]
    status, body = await post(
        client,
        "/feedback-positive",
        {"userId": str(user), "inferenceId": inference["inference_id"], "boxes": boxes},
    )
    assert body == [
        f"Datastore Error giving a positive feedback : Can't add feedback to a verified inference, id: "
        f"{inference['inference_id']}"
    ]


@pytest.mark.parametrize(
    "body,message",
    [
        (
            {"inferenceId": "i", "boxes": []},
            "missing request arguments: either userId, inferenceId or boxes is missing",
        ),
        (
            {"userId": "u", "inferenceId": "i", "boxes": [{}]},
            "missing request arguments: boxId is missing in boxes",
        ),
        ({"userId": "u", "inferenceId": "i", "boxes": []}, "missing argument(s)"),
        ({"userId": "", "inferenceId": "i", "boxes": [{"boxId": "b"}]}, "missing argument(s)"),
        ({"userId": "u", "inferenceId": "i", "boxes": None}, "'NoneType' object is not iterable"),
    ],
)
async def test_positive_feedback_validation(client, body, message):
    assert await post(client, "/feedback-positive", body) == (400, [POS + message])


async def test_positive_feedback_non_object_body(client):
    response = await client.post(
        "/feedback-positive", data="null", headers={"Content-Type": "application/json"}
    )
    assert await response.get_json() == [POS + "argument of type 'NoneType' is not iterable"]


async def test_feedback_on_another_users_inference_changes_nothing(client, storage, inference):
    stranger = await storage.create_user(f"s-{uuid.uuid4().hex[:6]}@example.org")
    boxes = [{"boxId": b["box_id"]} for b in inference["boxes"]]
    status, body = await post(
        client,
        "/feedback-positive",
        {"userId": str(stranger), "inferenceId": inference["inference_id"], "boxes": boxes},
    )
    assert status == 400 and body[0].startswith(
        f"Datastore Error giving a positive feedback : User can't access this picture, user uuid :{stranger}, picture : "
    )


async def test_positive_feedback_unknown_box(client, user, inference):
    ghost = str(uuid.UUID(int=3))
    assert await post(
        client,
        "/feedback-positive",
        {"userId": str(user), "inferenceId": inference["inference_id"], "boxes": [{"boxId": ghost}]},
    ) == (
        400,
        [
            f"Datastore Error giving a positive feedback : Error: could not get inference object for id {ghost}"
        ],
    )


async def test_negative_feedback_relabel_edit_and_add(client, user, storage, inference):
    b0, b1 = inference["boxes"]
    solanum = next(s for s in await storage.get_all_seeds() if s["seed_name"] == "Solanum carolinense")
    moved = {"topX": 3, "topY": 4, "bottomX": 50, "bottomY": 60}
    body = {
        "userId": str(user),
        "inferenceId": inference["inference_id"],
        "boxes": [
            {
                "boxId": b0["box_id"],
                "label": "Solanum carolinense",
                "classId": str(solanum["seed_id"]),
                "box": b0["box"],
                "color": "#fff",
                "comment": "ignored",
            },
            {"boxId": b1["box_id"], "label": "Bromus secalinus", "classId": "", "box": moved},
            {
                "boxId": "",
                "label": "Cuscuta spp",
                "classId": "",
                "box": {"topX": 70, "topY": 70, "bottomX": 90, "bottomY": 95},
            },
        ],
    }
    status, result = await post(client, "/feedback-negative", body)
    assert status == 200, result
    labels = [b["label"] for b in result["boxes"]]
    assert labels == ["Solanum carolinense", "Bromus secalinus", "Cuscuta spp"]
    assert result["boxes"][1]["box"] == {"topX": 3.0, "topY": 4.0, "bottomX": 50.0, "bottomY": 60.0}
    # the edited box reads back through /get-picture too (the original lost this feedback)
    picture = (await storage.get_directories(user))[0]["pictures"][0]["picture_id"]
    status, got = await post(client, "/get-picture", {"container_name": str(user), "picture_id": picture})
    assert status == 200 and got["inference"]["boxes"][1]["box"]["topX"] == 3.0


@pytest.mark.parametrize(
    "body,message",
    [
        (
            {"userId": "u", "boxes": []},
            "missing request arguments: either userId, inferenceId or boxes is missing",
        ),
        (
            {"userId": "u", "inferenceId": "i", "boxes": [{"boxId": "", "label": "", "box": {}}]},
            "missing request arguments: either boxId, label, box or classId is missing in boxes",
        ),
        ({"userId": "u", "inferenceId": "i", "boxes": None}, "'NoneType' object is not iterable"),
    ],
)
async def test_negative_feedback_validation(client, body, message):
    assert await post(client, "/feedback-negative", body) == (400, [NEG + message])


async def test_negative_feedback_new_box_without_label(client, user, inference):
    body = {
        "userId": str(user),
        "inferenceId": inference["inference_id"],
        "boxes": [
            {
                "boxId": "",
                "label": "",
                "classId": "",
                "box": {"topX": 1, "topY": 1, "bottomX": 2, "bottomY": 2},
            }
        ],
    }
    assert await post(client, "/feedback-negative", body) == (
        400,
        ["Datastore Error giving a negative feedback : a new box needs a label or a classId"],
    )
