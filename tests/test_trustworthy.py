"""Answers a lab can act on (issue "Trustworthy answers"): scores calibrated in an open world, no
sure answer from a handful of examples, prediction sets, abstention on look-alikes that the size
alone cannot tell apart, and evidence a user may open."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model_inference.local.classifier import UNKNOWN, Examples, SeedClassifier
from model_inference.local.features import HAND_DIM
from testkit.synthetic import make_tray
from tests.conftest import png_url
from tests.test_learning import SIZE, SPECIES, builtin, infer, learn, post  # noqa: F401 (fixture)


def clusters(rng, centres: np.ndarray, per_class: int, spread: float = 0.08):
    """Unit embeddings around each centre, and hand features alike for every class (same size,
    same colour): only the embedding tells these seeds apart."""
    embeddings = np.vstack([c + spread * rng.standard_normal((per_class, centres.shape[1])) for c in centres])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    hand = np.tile(np.random.default_rng(0).random(HAND_DIM).astype(np.float32) * 0.01, (len(embeddings), 1))
    hand[:, -5:] = [np.log(100), np.log(50), np.log(2), 0.7, np.log(5000)]
    hand[:, -5:-3] += 0.02 * rng.standard_normal((len(embeddings), 2))
    return embeddings.astype(np.float32), hand


def world(seed: int = 1, classes: int = 5, dim: int = 64):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    return rng, centres / np.linalg.norm(centres, axis=1, keepdims=True) * 1.0


def test_an_untaught_look_alike_is_answered_unknown_and_taught_seeds_keep_their_names():
    """Four species taught (10 examples each), a fifth of the same size never taught: its seeds
    come back "Unknown seed" first with "Unknown seed" in their prediction set; the taught
    species' new seeds are named, their own label in their set, scores below 1."""
    rng, centres = world()
    e, h = clusters(rng, centres[:4], 10)
    labels = [f"s{c}" for c in range(4) for _ in range(10)]
    model = SeedClassifier(Examples(labels, {s: s.upper() for s in set(labels)}, e, h), abstain_level=0.99)
    new_e, new_h = clusters(rng, centres[:4], 5)
    taught = model.answer(new_e, new_h)
    truth = [f"S{c}" for c in range(4) for _ in range(5)]
    named = sum(a.top_n[0]["label"] == t for a, t in zip(taught, truth))
    assert named >= 19, [a.top_n[0] for a in taught]
    assert sum(t in a.prediction_set for a, t in zip(taught, truth)) >= 16  # level 0.9, 20 seeds
    assert all(0 < a.top_n[0]["score"] < 1 for a in taught)
    odd_e, odd_h = clusters(rng, centres[4:], 10)
    untaught = model.answer(odd_e, odd_h)
    assert sum(a.top_n[0]["label"] == UNKNOWN for a in untaught) >= 8, [a.top_n[:2] for a in untaught]
    assert all(UNKNOWN in a.prediction_set for a in untaught)
    # NACHET_OPEN_SET_LEVEL=off: never "Unknown seed", scores still calibrated
    off = SeedClassifier(Examples(labels, {s: s.upper() for s in set(labels)}, e, h), abstain_level=None)
    assert all(a.top_n[0]["label"] != UNKNOWN for a in off.answer(odd_e, odd_h))


def test_a_handful_of_examples_never_gives_a_sure_score():
    """One example per class: no score above 0.5 and every label in the set, "Unknown seed"
    too (nothing says how far a class's seeds spread). Three per class: never 1.00."""
    rng, centres = world(2, classes=3)
    e, h = clusters(rng, centres, 1)
    model = SeedClassifier(
        Examples(["a", "b", "c"], {"a": "A", "b": "B", "c": "C"}, e, h), abstain_level=0.99
    )
    new_e, new_h = clusters(rng, centres, 2)
    for answer in model.answer(new_e, new_h):
        assert answer.top_n[0]["score"] <= 0.5, answer.top_n
        assert set(answer.prediction_set) == {"A", "B", "C", UNKNOWN}
    e, h = clusters(rng, centres, 3)
    model = SeedClassifier(
        Examples([c for c in "abc" for _ in range(3)], {"a": "A", "b": "B", "c": "C"}, e, h)
    )
    assert all(a.top_n[0]["score"] < 1 for a in model.answer(*clusters(rng, centres, 3)))


def test_a_single_class_still_gets_a_defined_score_and_set():
    rng, centres = world(3, classes=2)
    e, h = clusters(rng, centres[:1], 6)
    model = SeedClassifier(Examples(["a"] * 6, {"a": "A"}, e, h), abstain_level=0.99)
    for answer in model.answer(*clusters(rng, centres, 2)):
        score = answer.top_n[0]["score"]
        assert 0 <= score < 1 and np.isfinite(score)
        assert answer.prediction_set[-1] == UNKNOWN and set(answer.prediction_set) <= {"A", UNKNOWN}


def test_neighbours_are_the_nearest_examples_by_id():
    rng, centres = world(4, classes=2)
    e, h = clusters(rng, centres, 4)
    model = SeedClassifier(
        Examples(["a"] * 4 + ["b"] * 4, {"a": "A", "b": "B"}, e, h, ids=list(range(100, 108)))
    )
    (answer,) = model.answer(e[:1], h[:1])
    assert answer.neighbours[0] == (100, pytest.approx(1.0, abs=1e-3))
    similarities = [s for _, s in answer.neighbours]
    assert similarities == sorted(similarities, reverse=True) and len(answer.neighbours) == 8


def test_the_prediction_set_level_is_checked_at_start():
    from nachet.config import ConfigError, load_settings

    assert load_settings({}, dotenv=False).prediction_set_level == 0.9
    assert load_settings({"NACHET_PREDICTION_SET_LEVEL": "0.95"}, dotenv=False).prediction_set_level == 0.95
    assert load_settings({"NACHET_PREDICTION_SET_LEVEL": ""}, dotenv=False).prediction_set_level == 0.9
    for bad in ("0.3", "1", "0.9999", "often", "off"):
        with pytest.raises(ConfigError) as error:
            load_settings({"NACHET_PREDICTION_SET_LEVEL": bad}, dotenv=False)
        assert "NACHET_PREDICTION_SET_LEVEL" in " ".join(error.value.problems), bad


async def teach(client, user, builtin):  # noqa: F811
    """Two labelled trays of each of three species, learned."""
    uid = str(user)
    for k, (kind, species) in enumerate(list(SPECIES.items())[:3]):
        status, session = await post(
            client, "/new-batch-import", {"container_name": uid, "nb_pictures": 2, "folder_name": f"t {kind}"}
        )
        for j in range(2):
            image, _ = make_tray(4000 + 10 * k + j, 5, kinds=[kind], touch_prob=0.0, size=SIZE)
            body = {"container_name": uid, "session_id": session["session_id"], "seed_name": species}
            assert await post(client, "/upload-picture", {**body, "image": png_url(image)}) == (200, [True])
    await learn(builtin)


async def test_inf_answers_prediction_sets_and_evidence_the_caller_may_open(client, user, builtin, storage):  # noqa: F811
    await teach(client, user, builtin)
    image, _ = make_tray(4100, 4, kinds=["dark_round"], touch_prob=0.0, size=SIZE)
    body = await infer(client, user, image)
    seeds = {s for s in SPECIES.values()} | {UNKNOWN}
    assert body["boxes"]
    for box in body["boxes"]:
        assert box["prediction_set"] and set(box["prediction_set"]) <= seeds, box
        assert 1 <= len(box["evidence"]) <= 3 and "_neighbours" not in box
        similarities = [e["similarity"] for e in box["evidence"]]
        assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
        assert all(e["label"] in seeds for e in box["evidence"])
    evidence = body["boxes"][0]["evidence"][0]

    # the crop, to its owner: a JPEG of the seed's box in the labelled picture
    response = await client.get(f"/examples/{evidence['example_id']}/image?container_name={user}")
    assert response.status_code == 200 and response.content_type == "image/jpeg"
    crop = cv2.imdecode(np.frombuffer(await response.get_data(), np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and 10 < crop.shape[0] < SIZE[1] and 10 < crop.shape[1] < SIZE[0]

    # another user: neither the crop nor the examples in their own answers
    other = await storage.create_user("someone-else@example.org")
    response = await client.get(f"/examples/{evidence['example_id']}/image?container_name={other}")
    assert response.status_code == 404
    assert (await response.get_json())[0].startswith("Datastore Error")
    assert (await client.get(f"/examples/{evidence['example_id']}/image")).status_code == 404
    assert (await client.get(f"/examples/987654321/image?container_name={user}")).status_code == 404
    theirs = await infer(client, other, image)
    assert all(box["evidence"] == [] for box in theirs["boxes"])

    # the saved inference gives them back as answered
    async with storage.pool.acquire() as conn:
        picture = await conn.fetchval(
            "SELECT picture_id FROM inference WHERE id = $1::uuid", body["inference_id"]
        )
    status, again = await post(
        client, "/get-picture", {"container_name": str(user), "picture_id": str(picture)}
    )
    assert status == 200, again
    saved = again["inference"]["boxes"]
    assert [b["prediction_set"] for b in saved] == [b["prediction_set"] for b in body["boxes"]]
    assert [b["evidence"] for b in saved] == [b["evidence"] for b in body["boxes"]]
