"""Trusted learning in secured mode (issue "Trusted learning"): what one user teaches answers for
that user at once and for the others only once a verifier accepts it; versions, rollback, the
non-regression gate, rejection, and who may review."""

from __future__ import annotations

import logging
import uuid

import pytest

from storage import accounts
from testkit.synthetic import make_tray
from tests.conftest import png_url
from tests.test_learning import SIZE, builtin  # noqa: F401 (fixture)
from tests.test_ownership import cookie, people, secured_config  # noqa: F401 (fixture)
from usecases.pipelines import BUILTIN_PIPELINE

SPECIES = {"dark_round": "Brassica napus", "tan_long": "Lolium temulentum", "pale_cream": "Cirsium arvense"}


@pytest.fixture
async def reviewed(builtin, monkeypatch):  # noqa: F811
    """Reviewed learning from no examples and no version (other tests' review left none)."""
    async with builtin.pool.acquire() as conn:
        await conn.execute("DELETE FROM classifier_version")
    monkeypatch.setattr(builtin.learner, "mode", "reviewed")
    await builtin.learner.refresh()
    return builtin


class Person:
    def __init__(self, client, email: str, user_id):
        self.client, self.email, self.id = client, email, str(user_id)

    async def call(self, method: str, path: str, body=None):
        self.client.cookie_jar.clear()
        self.client.set_cookie("localhost", "jxVouchCookie", cookie(self.email))
        response = await (self.client.get(path) if method == "GET" else self.client.post(path, json=body))
        return response.status_code, await response.get_json()

    async def teach(self, kind: str, label: str, seed: int, trays: int = 2) -> str:
        status, batch = await self.call(
            "POST",
            "/new-batch-import",
            {"container_name": self.id, "nb_pictures": trays, "folder_name": f"b{seed}"},
        )
        assert status == 200, batch
        for j in range(trays):
            image, _ = make_tray(seed + j, 5, kinds=[kind], touch_prob=0.0, size=SIZE)
            body = {"container_name": self.id, "session_id": batch["session_id"], "seed_name": label}
            assert await self.call("POST", "/upload-picture", {**body, "image": png_url(image)}) == (
                200,
                [True],
            )
        return batch["session_id"]

    async def named(self, kind: str, seed: int) -> tuple[list[str], str]:
        """The labels /inf gives the seeds of a new tray of `kind`, and the classifier version."""
        image, _ = make_tray(seed, 4, kinds=[kind], touch_prob=0.0, size=SIZE)
        body = {
            "model_name": BUILTIN_PIPELINE,
            "image": png_url(image),
            "imageDims": list(SIZE),
            "folder_name": "General",
            "container_name": self.id,
        }
        status, answer = await self.call("POST", "/inf", body)
        assert status == 200, answer
        return [b["label"] for b in answer["boxes"]], answer["classifier_version"]


def mostly(labels: list[str], label: str) -> bool:
    return sum(x == label for x in labels) > len(labels) / 2


async def settle(services) -> None:
    """The task worker stores the examples; every worker refits on the NOTIFY (here: now)."""
    await services.tasks.run_until_idle()
    await services.learner.refresh()


async def test_a_users_teaching_reaches_others_only_through_review(
    client_for,
    reviewed,
    storage,
    data_root,
    people,
    caplog,  # noqa: F811
):
    emails, ids = people
    services = reviewed
    client = client_for(services, secured_config(data_root, NACHET_ENV="test", NACHET_RATE_LIMIT_INF="off"))
    services.models_warm.set()
    await accounts.set_verifier(services.pool, emails["archive"], True)
    alice, bob = Person(client, emails["alice"], ids["alice"]), Person(client, emails["bob"], ids["bob"])
    vera = Person(client, emails["archive"], ids["archive"])
    caplog.set_level(logging.INFO, logger="nachet.review")

    # Alice teaches: her next answer names it (her private layer), Bob's does not
    napus = SPECIES["dark_round"]
    await alice.teach("dark_round", napus, 6000)
    await settle(services)
    hers, her_version = await alice.named("dark_round", 6100)
    his, shared = await bob.named("dark_round", 6100)
    assert mostly(hers, napus) and her_version.endswith("+private"), (hers, her_version)
    assert napus not in his and not shared.endswith("+private"), his

    # nobody but a verifier (or an admin) reviews, and a refusal changes nothing
    status, refused = await alice.call("POST", "/examples/accept", {"user": alice.email})
    assert status == 403 and "is not a verifier" in refused[0], refused
    status, mine = await alice.call("GET", "/examples?state=pending")
    assert (
        status == 200
        and mine
        and {e["state"] for e in mine} == {"pending"}
        and {e["user"] for e in mine} == {alice.email}
    )
    status, none_of_theirs = await bob.call("GET", "/examples")
    assert status == 200 and none_of_theirs == []

    # a verifier accepts: Bob's answers change, and so does the version
    status, accepted = await vera.call("POST", "/examples/accept", {"user": alice.email})
    assert status == 200 and accepted["state"] == "active" and len(accepted["accepted"]) == len(mine), (
        accepted
    )
    await settle(services)
    his, first = await bob.named("dark_round", 6101)
    assert mostly(his, napus) and first == accepted["version"] != shared, (his, first)
    status, version = await bob.call("GET", "/version")
    assert version["classifier_version"] == first and version["learning"] == "reviewed"

    # a second species, accepted: a second version
    lolium = SPECIES["tan_long"]
    batch = await alice.teach("tan_long", lolium, 6200)
    await settle(services)
    status, second = await vera.call("POST", "/examples/accept", {"batch": batch})
    assert status == 200 and second["state"] == "active", second
    await settle(services)
    his, version_two = await bob.named("tan_long", 6300)
    assert mostly(his, lolium) and version_two == second["version"]
    from usecases.review import Review

    review = Review(services.pool, services.learner.embedder)
    diff = await review.diff(first, version_two, services.learner.model.features, storage.picture_bytes, 50)
    assert diff["classes_added"] == [lolium] and diff["examples_removed"] == 0, diff
    assert diff["examples_added"] == len(second["accepted"]) and diff["boxes_replayed"] >= 8
    assert diff["boxes_named_differently"] >= 3, diff  # Bob's Lolium seeds, which the first named otherwise

    # a deliberately mislabelled batch (Brassica seeds named Lolium): the gate holds the candidate
    wrong = await alice.teach("dark_round", lolium, 6400, trays=3)
    await settle(services)
    status, held = await vera.call("POST", "/examples/accept", {"batch": wrong})
    assert status == 200 and held["state"] == "candidate", held
    await settle(services)
    his, still = await bob.named("dark_round", 6500)
    assert mostly(his, napus) and still == version_two, (his, still)

    # rollback to the first version: Bob's Lolium no longer named, the second batch pending again
    status, rolled = await vera.call("POST", "/examples/reject", {"batch": wrong})  # out of everything
    assert status == 200
    outcome = await review.rollback(first, vera.email)
    assert outcome["pending_again"] == len(second["accepted"])
    await settle(services)
    his, back = await bob.named("tan_long", 6301)
    assert lolium not in his and back == first, (his, back)
    status, again = await alice.call("GET", "/examples?state=rejected")
    assert len(again) >= 10 and {e["reviewed_by"] for e in again} == {vera.email}

    # accepting what was rejected, or what does not exist: 409 and 404 with the ids
    rejected_id = again[0]["example_id"]
    status, conflict = await vera.call("POST", "/examples/accept", {"ids": [rejected_id]})
    assert status == 409 and str(rejected_id) in conflict[0], conflict
    status, missing = await vera.call("POST", "/examples/accept", {"ids": [987654321]})
    assert status == 404 and "987654321" in missing[0]
    status, bad = await vera.call("POST", "/examples/accept", {"ids": [1], "user": alice.email})
    assert status == 400 and "one of them" in bad[0]
    status, bad = await vera.call("POST", "/examples/accept", {"batch": "not-a-batch"})
    assert status == 400
    audit = [r.getMessage() for r in caplog.records if r.name == "nachet.review"]
    assert any("accepted" in line and vera.email in line for line in audit), audit
    assert uuid.UUID(alice.id)


def test_the_review_commands(db_url, tmp_path):
    """The operator's side: grant-verifier, pending, accept and reject by ids, versions, and a
    rollback to an unknown version (exit 1, the versions listed)."""
    from tests.conftest import run_nachet

    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": f"review_{uuid.uuid4().hex[:6]}",
        "NACHET_DATA_DIR": str(tmp_path),
    }
    assert run_nachet(env, "users", "add", "vera@example.org").returncode == 0
    granted = run_nachet(env, "users", "grant-verifier", "vera@example.org")
    assert granted.returncode == 0 and "is now a verifier" in granted.stdout
    missing = run_nachet(env, "users", "grant-verifier", "nobody@example.org")
    assert missing.returncode == 1 and "no user nobody@example.org" in missing.stderr
    pending = run_nachet(env, "examples", "pending")
    assert pending.returncode == 0 and "0 pending: none" in pending.stdout
    unknown = run_nachet(env, "examples", "accept", "424242")
    assert unknown.returncode == 1 and "no example 424242" in unknown.stderr
    assert run_nachet(env, "classifier", "versions").returncode == 0
    rollback = run_nachet(env, "classifier", "rollback", "feedfacefeedface")
    assert (
        rollback.returncode == 1
        and "no classifier version feedfacefeedface; versions: none" in rollback.stderr
    )
    neither = run_nachet(env, "examples", "reject")
    assert neither.returncode == 1 and "one of them" in neither.stderr


async def test_examples_deleted_with_their_picture_tell_every_worker(builtin, storage, user):  # noqa: F811
    """Removal that works: a picture deleted (its examples go by cascade) notifies every worker
    to refit at commit, as new examples do, instead of waiting for the periodic refresh."""
    import asyncio

    from storage.seed_examples import listen_for_examples
    from tests.conftest import png_bytes

    folder = await storage.create_picture_set(user, 0, f"f-{uuid.uuid4().hex[:8]}")
    (picture,) = await storage.upload_pictures(user, folder, [png_bytes()], seed_name="Brassica napus")
    async with builtin.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO seed_example (seed_id, features, source, picture_id)
               SELECT id, '\\\\x00000000'::bytea, 'upload', $1 FROM seed WHERE name = 'Brassica napus'""",
            picture,
        )
    told = asyncio.Event()
    listening = await listen_for_examples(builtin.pool, told.set)
    try:
        async with builtin.pool.acquire() as conn:
            await conn.execute("DELETE FROM picture WHERE id = $1", picture)
            assert (
                await conn.fetchval("SELECT count(*) FROM seed_example WHERE picture_id = $1", picture) == 0
            )
        await asyncio.wait_for(told.wait(), 60)
    finally:
        await listening.stop()


async def test_two_verifiers_accepting_at_once_make_one_version_after_the_other(reviewed, storage):
    """Two users' examples accepted by two verifiers at the same moment: both accepted, two
    versions made one after the other, the active one holds both (none lost)."""
    import asyncio

    import cv2

    from usecases.review import Choice, Review

    services = reviewed
    taught = {}
    for n, (kind, species) in enumerate(list(SPECIES.items())[:2]):
        email = f"teacher{n}-{uuid.uuid4().hex[:6]}@example.org"
        user_id = await storage.create_user(email)
        folder = await storage.create_picture_set(user_id, 2, f"batch-{n}")
        trays = [
            cv2.imencode(".png", make_tray(7000 + 10 * n + j, 5, kinds=[kind], size=SIZE)[0])[1].tobytes()
            for j in range(2)
        ]
        await storage.upload_pictures(user_id, folder, trays, seed_name=species)
        taught[email] = species
    await settle(services)
    review = Review(services.pool, services.learner.embedder)
    first, second = await asyncio.gather(
        *(review.accept(Choice(email=email), f"verifier-{i}") for i, email in enumerate(taught))
    )
    assert first["accepted"] and second["accepted"] and {first["state"], second["state"]} == {"active"}
    assert first["version"] != second["version"]
    versions = await review.versions()
    active = next(v for v in versions if v["state"] == "active")
    assert set(first["accepted"]) | set(second["accepted"]) <= set(active["examples"])
    assert set(active["counts"]) == set(taught.values())


async def test_two_users_private_layers_never_share_a_cached_answer(reviewed):
    """Two users' private layers over the same shared version, each of one pending example: the
    same picture must not answer one user from the other's cached result."""
    from model_inference.local.learned import LearnedClassifier

    services = reviewed
    pipeline = services.pipelines.get(BUILTIN_PIPELINE)
    processing = services.inference.processing([100, 100])
    row = {"seed_id": None, "name": "A", "embedding": None, "features": b"\0\0\0\0", "picture_id": None}
    keys = set()
    for example_id in (101, 202):
        private = LearnedClassifier(None)
        await private.refit([{**row, "id": example_id}], "shared+private")  # same wire version
        keys.add(services.inference.cache_key(pipeline, processing, private))
    assert len(keys) == 2
