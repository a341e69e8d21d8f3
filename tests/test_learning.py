"""The offline default pipeline learns through the API: labelled batch uploads teach it, /inf
names the seeds of new trays, and one corrected box changes the next answer."""

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from model_inference.local.classifier import Examples, SeedClassifier
from testkit.synthetic import iou, make_tray, unusual
from tests.conftest import png_url
from usecases.pipelines import BUILTIN_PIPELINE, install_builtin_pipeline_rows

SPECIES = {
    "dark_round": "Brassica napus",
    "tan_long": "Lolium temulentum",
    "black_gloss": "Solanum nigrum",
    "red_speckle": "Ambrosia artemisiifolia",
    "pale_cream": "Cirsium arvense",
    "olive_thin": "Bromus secalinus",
}
SIZE = (960, 540)


async def post(client, path, body):
    response = await client.post(path, json=body)
    return response.status_code, await response.get_json()


@pytest.fixture
async def builtin(services):
    async with services.pool.acquire() as conn:  # start from no examples, whatever ran before
        await conn.execute(
            "DELETE FROM procrastinate_jobs WHERE queue_name = 'learning'; DELETE FROM seed_example"
        )
    await install_builtin_pipeline_rows(services.pool, make_default=False)
    await services.pipelines.reload()
    return services


async def learn(services):
    """What the task worker does on notification, done now (deterministic in tests)."""
    await services.tasks.run_until_idle()
    await services.learner.refresh()


async def infer(client, user, image):
    status, body = await post(
        client,
        "/inf",
        {
            "model_name": BUILTIN_PIPELINE,
            "image": png_url(image),
            "imageDims": list(SIZE),
            "folder_name": "General",
            "container_name": str(user),
        },
    )
    assert status == 200, body
    return body


def labelled(body, truth):
    """(predicted label, true species) for each detected box that matches a seed."""
    pairs = []
    for box in body["boxes"]:
        b = box["box"]
        best = max(truth, key=lambda s: iou((b["topX"], b["topY"], b["bottomX"], b["bottomY"]), s.box))
        if iou((b["topX"], b["topY"], b["bottomX"], b["bottomY"]), best.box) >= 0.5:
            pairs.append((box["label"], SPECIES[best.kind]))
    return pairs


async def test_untrained_pipeline_answers_unknown_seed(client, user, builtin):
    builtin.learner.classifier = None  # as on a fresh install
    image, truth = make_tray(900, 5, touch_prob=0.0, size=SIZE)
    body = await infer(client, user, image)
    assert len(body["boxes"]) == 5 and {b["label"] for b in body["boxes"]} == {"Unknown seed"}


async def test_empty_tray_is_a_saved_inference(client, user, builtin):
    image, _ = make_tray(901, 0, size=SIZE)
    body = await infer(client, user, image)
    assert body["totalBoxes"] == 0 and body["inference_id"]


async def test_learns_from_labelled_uploads_and_feedback(client, user, builtin):
    uid = str(user)
    for k, (kind, species) in enumerate(SPECIES.items()):
        status, session = await post(
            client,
            "/new-batch-import",
            {"container_name": uid, "nb_pictures": 2, "folder_name": f"learn {kind}"},
        )
        for j in range(2):
            image, _ = make_tray(1000 + 10 * k + j, 5, kinds=[kind], touch_prob=0.0, size=SIZE)
            assert await post(
                client,
                "/upload-picture",
                {
                    "container_name": uid,
                    "session_id": session["session_id"],
                    "seed_name": species,
                    "image": png_url(image),
                },
            ) == (200, [True])
    await learn(builtin)
    assert len(builtin.learner.classifier.classes) >= 6 and builtin.learner.classifier.size >= 50

    pairs = []
    for i in range(3):
        image, truth = make_tray(2000 + i, 12, touch_prob=0.0, size=SIZE)
        pairs += labelled(await infer(client, user, image), truth)
    accuracy = sum(p == t for p, t in pairs) / len(pairs)
    assert len(pairs) >= 25 and accuracy >= 0.8, (accuracy, pairs)

    # one correction through /feedback-negative changes the next answer for the same seed
    image, truth = make_tray(3000, 3, kinds=["red_speckle"], touch_prob=0.0, size=SIZE)
    body = await infer(client, user, image)
    box = body["boxes"][0]
    assert box["label"] != "Carduus nutans"
    status, _ = await post(
        client,
        "/feedback-negative",
        {
            "userId": uid,
            "inferenceId": body["inference_id"],
            "boxes": [{"boxId": box["box_id"], "label": "Carduus nutans", "classId": "", "box": box["box"]}],
        },
    )
    assert status == 200
    await learn(builtin)
    again = await infer(client, user, image)
    assert again["boxes"][0]["label"] == "Carduus nutans"
    assert [b["label"] for b in again["boxes"][1:]] == [b["label"] for b in body["boxes"][1:]]


def test_classifier_switches_to_the_linear_model_with_enough_examples():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 61))
    labels = [i % 3 for i in range(60)]
    hand = np.stack([centres[c] + 0.1 * rng.normal(size=61) for c in labels]).astype(np.float32)
    examples = Examples(seed_ids=labels, names={0: "a", 1: "b", 2: "c"}, embeddings=None, hand=hand)
    model = SeedClassifier(examples)
    assert model.mode == "linear"
    answers = model.predict(None, hand[:6])
    assert [a[0]["label"] for a in answers] == ["a", "b", "c", "a", "b", "c"]
    assert abs(sum(p["score"] for p in answers[0]) - 1) < 0.01 and len(answers[0]) == 3
    few = SeedClassifier(Examples(seed_ids=labels[:6], names=examples.names, embeddings=None, hand=hand[:6]))
    assert few.mode == "knn" and few.predict(None, hand[6:9])[0][0]["label"] == "a"
    assert SeedClassifier().predict(None, hand[:1]) == [[{"label": "Unknown seed", "score": 1.0}]]


@pytest.mark.parametrize("content", [None, b"corrupt"])
def test_missing_or_corrupt_embedder_is_named_and_features_still_work(tmp_path, caplog, content):
    from model_inference.local.features import HAND_DIM
    from model_inference.local.lazy import LazyFeatures, check_embedder_file

    path = tmp_path / "effnet_lite0_embed.onnx"
    if content is not None:
        path.write_bytes(content)
        (tmp_path / "effnet_lite0_embed.onnx.sha256").write_text("0" * 64 + "  effnet_lite0_embed.onnx\n")
    assert check_embedder_file(path) is False
    assert str(path) in caplog.text
    image, _ = make_tray(5, 2, touch_prob=0.0, size=(320, 240))
    embedded, hand = LazyFeatures(path)([image[10:60, 10:60]])
    assert embedded is None and hand.shape == (1, HAND_DIM)
    assert str(path) in caplog.text


def test_committed_embedder_matches_its_checksum_and_torch():
    """Parity: the ONNX embedding of a fixed picture equals the one torch computed at export."""
    from model_inference.local.features import EMBEDDER, load_embedder
    from model_inference.local.lazy import check_embedder_file
    from tests.conftest import DATA

    assert check_embedder_file(EMBEDDER)
    picture = cv2.imread(str(DATA / "1310_1.png"), cv2.IMREAD_COLOR)
    vector = load_embedder().embed([picture])[0]
    assert float(vector @ np.load(DATA / "1310_1.effnet_lite0.npy")) > 0.999


@pytest.mark.parametrize("kind", ["grey", "16-bit", "rgba", "tiny"])
async def test_unusual_pictures_through_inf(client, user, builtin, kind):
    image = unusual(make_tray(910, 3, touch_prob=0.0, size=SIZE)[0], kind)
    h, w = image.shape[:2]
    status, body = await post(
        client,
        "/inf",
        {
            "model_name": BUILTIN_PIPELINE,
            "image": png_url(image),
            "imageDims": [w, h],
            "folder_name": "General",
            "container_name": str(user),
        },
    )
    assert status == 200, body
    assert body["totalBoxes"] == (0 if kind == "tiny" else 3)


async def test_new_labels_reach_every_worker_by_notification(client, user, builtin, services, settings):
    """No direct calls: the upload's job is claimed by a background worker, and a second
    "worker" (another Learning on the same database) refits when it hears of the new examples."""
    import asyncio
    import time

    from model_inference.local.learned import LearnedClassifier
    from nachet.runtime import shared_features
    from usecases.learning import Learning

    model = LearnedClassifier(shared_features(), services.cpu)
    other = Learning(services.pool, model, services.storage.picture_bytes)
    await services.learner.start()
    await services.tasks.start()
    await other.start()
    try:
        status, session = await post(
            client, "/new-batch-import", {"container_name": str(user), "nb_pictures": 1}
        )
        image, _ = make_tray(950, 4, kinds=["pale_cream"], touch_prob=0.0, size=SIZE)
        started = time.monotonic()
        assert await post(
            client,
            "/upload-picture",
            {
                "container_name": str(user),
                "session_id": session["session_id"],
                "seed_name": "Iva axillaris",
                "image": png_url(image),
            },
        ) == (200, [True])
        while time.monotonic() - started < 15:
            if other.classifier is not None and "Iva axillaris" in other.classifier.names.values():
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert other.classifier is not None and "Iva axillaris" in other.classifier.names.values()
        print(f"new label known to another worker after {elapsed:.2f} s")
    finally:
        await other.stop()
        await services.tasks.stop()
        await services.learner.stop()


async def test_exif_orientation_is_applied_for_the_builtin_models(client, user, builtin):
    """A phone JPEG stored landscape with Orientation=6 is shown portrait by the browser, which
    sends the portrait size: the boxes must land on the seeds as shown."""
    import io

    from PIL import Image

    from model_inference.pixels import orient

    shown, truth = make_tray(920, 3, touch_prob=0.0, size=(540, 960))
    stored = np.ascontiguousarray(np.rot90(shown, 1))
    assert np.array_equal(orient(stored, 6), shown)
    picture = Image.fromarray(stored[..., ::-1])
    exif = picture.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=95, exif=exif)
    status, body = await post(
        client,
        "/inf",
        {
            "model_name": BUILTIN_PIPELINE,
            "image": "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(),
            "imageDims": [540, 960],
            "folder_name": "General",
            "container_name": str(user),
        },
    )
    assert status == 200, body
    found = [
        (b["box"]["topX"], b["box"]["topY"], b["box"]["bottomX"], b["box"]["bottomY"]) for b in body["boxes"]
    ]
    assert len(found) == 3 and all(max(iou(f, seed.box) for f in found) >= 0.5 for seed in truth), (
        found,
        truth,
    )


async def test_unknown_seed_is_never_a_training_label(client, user, builtin, storage):
    """ "Unknown seed" is the classifier's placeholder: an upload labelled with it, a box confirmed
    with it or corrected to it teaches nothing."""
    from tests.test_storage import detected

    uid = str(user)
    _, session = await post(client, "/new-batch-import", {"container_name": uid, "nb_pictures": 1})
    image, _ = make_tray(960, 2, touch_prob=0.0, size=SIZE)
    assert await post(
        client,
        "/upload-picture",
        {
            "container_name": uid,
            "session_id": session["session_id"],
            "seed_name": "Unknown seed",
            "image": png_url(image),
        },
    ) == (200, [True])
    confirmed = await storage.save_inference(
        user, None, cv2.imencode(".png", image)[1].tobytes(), detected("Unknown seed"), None, [960, 540]
    )
    assert (
        await post(
            client,
            "/feedback-positive",
            {
                "userId": uid,
                "inferenceId": confirmed["inference_id"],
                "boxes": [{"boxId": confirmed["boxes"][0]["box_id"]}],
            },
        )
    )[0] == 200
    corrected = await storage.save_inference(
        user, None, cv2.imencode(".png", image)[1].tobytes(), detected("Brassica napus"), None, [960, 540]
    )
    box = corrected["boxes"][0]
    assert (
        await post(
            client,
            "/feedback-negative",
            {
                "userId": uid,
                "inferenceId": corrected["inference_id"],
                "boxes": [
                    {"boxId": box["box_id"], "label": "Unknown seed", "classId": "", "box": box["box"]}
                ],
            },
        )
    )[0] == 200
    async with builtin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'") == 0
    await learn(builtin)
    assert builtin.learner.classifier is None


async def test_the_latest_correction_of_a_seed_wins(client, user, builtin):
    """Each correction of the same crop is newer than the one before: the last is the answer."""
    uid = str(user)
    image, _ = make_tray(970, 1, kinds=["olive_thin"], touch_prob=0.0, size=SIZE)
    for label in ("Carduus nutans", "Iva axillaris", "Solanum nigrum"):
        body = await infer(client, user, image)
        box = body["boxes"][0]
        assert (
            await post(
                client,
                "/feedback-negative",
                {
                    "userId": uid,
                    "inferenceId": body["inference_id"],
                    "boxes": [{"boxId": box["box_id"], "label": label, "classId": "", "box": box["box"]}],
                },
            )
        )[0] == 200
        await learn(builtin)
        answer = (await infer(client, user, image))["boxes"][0]
        assert answer["label"] == label and answer["score"] > 0.5, answer


def test_classifier_prefers_the_latest_of_identical_examples():
    hand, embedding = np.ones((3, 61), np.float32), np.ones((3, 16), np.float32)  # one crop, three labels
    model = SeedClassifier(
        Examples(seed_ids=[1, 2, 3], names={1: "a", 2: "b", 3: "c"}, embeddings=embedding, hand=hand)
    )
    best = model.predict(embedding[:1], hand[:1])[0][0]
    assert best["label"] == "c" and best["score"] > 0.5


async def test_refreshes_never_load_an_example_twice(builtin):
    """Examples committed out of id order, deleted and added between refreshes: the classifier
    always holds each stored example exactly once."""
    from model_inference.local.learned import LearnedClassifier
    from nachet.runtime import shared_features
    from usecases.learning import Learning

    learner = Learning(
        builtin.pool, LearnedClassifier(shared_features(), builtin.cpu), builtin.storage.picture_bytes
    )
    seed = await builtin.pool.fetchval("SELECT id FROM seed WHERE name = 'Brassica napus'")
    features = np.random.default_rng(3).random(61, dtype=np.float32).tobytes()
    insert = "INSERT INTO seed_example (seed_id, features, source) VALUES ($1, $2, 'upload') RETURNING id"

    async def stored() -> int:
        return await builtin.pool.fetchval("SELECT count(*) FROM seed_example")

    for round_ in range(3):
        async with builtin.pool.acquire() as late, late.transaction():
            await late.fetchval(insert, seed, features)  # takes an id now, commits after the others
            for _ in range(5):
                await builtin.pool.fetchval(insert, seed, features)
            await learner.refresh()
            assert learner.classifier.size == await stored()
        await learner.refresh()
        assert learner.classifier.size == await stored()
        await builtin.pool.execute(
            "DELETE FROM seed_example WHERE id IN (SELECT id FROM seed_example LIMIT 2)"
        )
        await builtin.pool.fetchval(insert, seed, features)
        await learner.refresh()
        await learner.refresh()
        assert learner.classifier.size == await stored() == len(set(learner._rows)), round_


def test_examples_from_before_the_shape_features_still_count():
    """Examples stored with 61 hand features (before size and shape were added) and new ones
    with 66 fit together; a query always has 66 and is compared on what both have."""
    from model_inference.local.features import HAND_DIM
    from model_inference.local.learned import fit as _fit

    rng = np.random.default_rng(5)
    old = [
        {
            "seed_id": "a",
            "name": "A",
            "embedding": None,
            "features": rng.random(61, dtype=np.float32).tobytes(),
        }
    ]
    new = [
        {
            "seed_id": s,
            "name": s.upper(),
            "embedding": None,
            "features": rng.random(HAND_DIM, dtype=np.float32).tobytes(),
        }
        for s in ("a", "b")
    ]
    mixed = _fit(old + new)
    assert mixed.size == 3 and len(mixed.predict(None, rng.random((2, HAND_DIM), dtype=np.float32))) == 2
    only_old = _fit(old)
    assert only_old.predict(None, rng.random((1, HAND_DIM), dtype=np.float32))[0][0]["label"] == "A"


def _sized(rng, length: float, width: float, n: int, spread: float = 0.05) -> np.ndarray:
    """Hand features whose size columns (features.shape_features) say length x width pixels
    (log-normal, `spread` the standard deviation of the logs), the other 61 alike for every
    class: only the size tells these seeds apart."""
    from model_inference.local.features import HAND_DIM

    hand = np.tile(rng.random(HAND_DIM).astype(np.float32) * 0.01, (n, 1))
    lengths = length * np.exp(spread * rng.standard_normal(n))
    widths = width * np.exp(spread * rng.standard_normal(n))
    hand[:, -5:] = np.stack(
        [
            np.log(lengths),
            np.log(widths),
            np.log(lengths / widths),
            np.full(n, 0.7),
            np.log(lengths * widths),
        ],
        1,
    )
    return hand


def test_a_seed_unlike_every_learned_size_is_answered_unknown():
    """NACHET_OPEN_SET_LEVEL: a seed outside every class's size region comes back "Unknown seed"
    first (its unlikeness as score), the learned classes after it; known seeds keep their names;
    one example per class is too few for a region (no abstention, no crash)."""
    rng = np.random.default_rng(7)
    sizes = {"a": (100, 50), "b": (160, 60), "c": (120, 90)}
    hand = np.vstack([_sized(rng, *sizes[c], 5) for c in sizes])
    labels = [c for c in sizes for _ in range(5)]
    examples = Examples(seed_ids=labels, names={c: c.upper() for c in sizes}, embeddings=None, hand=hand)
    odd = _sized(rng, 260, 40, 3)  # a long thin seed, unlike a, b and c
    known = np.vstack([_sized(rng, *sizes[c], 1) for c in sizes])

    abstaining = SeedClassifier(examples, abstain_level=0.99)
    for answer in abstaining.predict(None, odd, 3):
        assert answer[0]["label"] == "Unknown seed" and answer[0]["score"] > 0.99, answer
        assert len(answer) == 3 and {a["label"] for a in answer[1:]} <= {"A", "B", "C"}
    assert [a[0]["label"] for a in abstaining.predict(None, known)] == ["A", "B", "C"]

    assert all(a[0]["label"] != "Unknown seed" for a in SeedClassifier(examples).predict(None, odd))
    one_each = Examples(seed_ids=list(sizes), names=examples.names, embeddings=None, hand=hand[::5])
    assert all(
        a[0]["label"] != "Unknown seed"
        for a in SeedClassifier(one_each, abstain_level=0.99).predict(None, np.vstack([odd, known]))
    )


def test_with_five_examples_each_a_class_own_spread_bounds_its_size_region(monkeypatch):
    """A class of uniform grains beside a varied one: a grain a fifth smaller than the uniform
    class is unlike it by that class's own spread (unknown at 0.99), though well inside the
    pooled spread, which the varied class widens (named without own regions)."""
    from model_inference.local import classifier

    rng = np.random.default_rng(0)
    hand = np.vstack([_sized(rng, 100, 50, 20, spread=0.02), _sized(rng, 200, 100, 20, spread=0.15)])
    examples = Examples(
        seed_ids=["a"] * 20 + ["b"] * 20, names={"a": "A", "b": "B"}, embeddings=None, hand=hand
    )
    smaller = _sized(rng, 82, 41, 1, spread=0.0)
    answer = SeedClassifier(examples, abstain_level=0.99).predict(None, smaller, 2)[0]
    assert answer[0]["label"] == "Unknown seed" and answer[1]["label"] == "A", answer
    monkeypatch.setattr(classifier, "OWN_REGIONS_FROM", 10**6)  # the pooled region alone
    assert SeedClassifier(examples, abstain_level=0.99).predict(None, smaller, 2)[0][0]["label"] == "A"


def test_a_class_with_five_examples_has_its_own_size_region_beside_a_class_with_fewer(monkeypatch):
    """Labels come unevenly: the uniform class (20 examples) is bounded by its own spread while
    the varied class has 4 examples only (pooled region): a grain a fifth smaller than the
    uniform class is unknown, where the pooled regions alone name it."""
    from model_inference.local import classifier

    rng = np.random.default_rng(5)
    hand = np.vstack([_sized(rng, 100, 50, 20, spread=0.02), _sized(rng, 200, 100, 4, spread=0.5)])
    examples = Examples(
        seed_ids=["a"] * 20 + ["b"] * 4, names={"a": "A", "b": "B"}, embeddings=None, hand=hand
    )
    smaller = _sized(np.random.default_rng(99), 80, 40, 1, spread=0.0)
    assert (
        SeedClassifier(examples, abstain_level=0.99).predict(None, smaller)[0][0]["label"] == "Unknown seed"
    )
    monkeypatch.setattr(classifier, "OWN_REGIONS_FROM", 10**6)
    assert SeedClassifier(examples, abstain_level=0.99).predict(None, smaller)[0][0]["label"] == "A"


def test_the_open_set_is_on_unless_turned_off():
    from nachet.config import ConfigError, load_settings

    assert load_settings({}, dotenv=False).open_set_level == 0.99
    assert load_settings({"NACHET_OPEN_SET_LEVEL": ""}, dotenv=False).open_set_level == 0.99  # .env.template
    assert load_settings({"NACHET_OPEN_SET_LEVEL": "0.995"}, dotenv=False).open_set_level == 0.995
    for off in ("off", "OFF", "none"):
        assert load_settings({"NACHET_OPEN_SET_LEVEL": off}, dotenv=False).open_set_level is None
    for bad in ("0.3", "1", "often"):
        with pytest.raises(ConfigError) as error:
            load_settings({"NACHET_OPEN_SET_LEVEL": bad}, dotenv=False)
        assert "NACHET_OPEN_SET_LEVEL" in " ".join(error.value.problems), bad


def test_a_class_of_few_examples_abstains_only_at_a_stricter_level():
    """Four examples a class: pooled regions, which turn a seed away only beyond
    1 - (1 - level) / POOLED_STRICTNESS; a seed just beyond the 0.99 region of every class is
    still named, one far beyond every region is unknown."""
    rng = np.random.default_rng(3)
    sizes = {"a": (100, 50), "b": (160, 80)}
    hand = np.vstack([_sized(rng, *sizes[c], 4) for c in sizes])
    examples = Examples(
        seed_ids=["a"] * 4 + ["b"] * 4, names={"a": "A", "b": "B"}, embeddings=None, hand=hand
    )
    classifier = SeedClassifier(examples, abstain_level=0.99)
    sizes_model = classifier._sizes
    assert sizes_model is not None and all(own is None for own in sizes_model.own)
    candidates = np.vstack([_sized(rng, 100 * f, 50 * f, 1, spread=0.0) for f in np.linspace(0.5, 1, 200)])
    unlike = sizes_model.unlikeness(candidates, sizes_model.t2(candidates)).min(1)
    between = candidates[(unlike > 0.99) & (unlike < 0.999)]
    beyond = candidates[unlike > 0.9995]
    assert len(between) and len(beyond)
    assert all(a[0]["label"] == "A" for a in classifier.predict(None, between))
    assert all(a[0]["label"] == "Unknown seed" for a in classifier.predict(None, beyond))


RICE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real-seeds"


@pytest.mark.skipif(not (RICE / "manifest.csv").exists(), reason="../shared/data/real-seeds not here")
async def test_an_untaught_rice_variety_is_answered_unknown_through_the_api(client, user, builtin):
    """Open set on real grains, as bench/open_set.py measures it, with the default settings: 5
    labelled uploads of each of 4 rice varieties, then /inf on grains of the 5th (jasmine) and on
    other grains of the 4."""
    import csv

    assert builtin.learner.abstain_level == 0.99  # NACHET_OPEN_SET_LEVEL unset
    rows = sorted(
        (r for r in csv.DictReader(open(RICE / "manifest.csv")) if r["dataset"] == "rice"),
        key=lambda r: r["file"],
    )
    by_variety: dict[str, list] = {}
    for r in rows:
        by_variety.setdefault(r["cls"], []).append(RICE / r["file"])
    taught = [v for v in sorted(by_variety) if v != "jasmine"]
    uid = str(user)
    for variety in taught:
        status, session = await post(
            client,
            "/new-batch-import",
            {"container_name": uid, "nb_pictures": 5, "folder_name": f"rice {variety}"},
        )
        for path in by_variety[variety][:5]:
            picture = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
            body = {
                "container_name": uid,
                "session_id": session["session_id"],
                "seed_name": variety,
                "image": picture,
            }
            assert await post(client, "/upload-picture", body) == (200, [True])
    await learn(builtin)

    async def first_answer(path):
        picture = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
        status, body = await post(
            client,
            "/inf",
            {
                "model_name": BUILTIN_PIPELINE,
                "image": picture,
                "imageDims": [250, 250],
                "folder_name": "General",
                "container_name": uid,
            },
        )
        assert status == 200 and body["boxes"], body
        return max(body["boxes"], key=lambda b: b["score"])["topN"][0]

    unknown = [await first_answer(p) for p in by_variety["jasmine"][:6]]
    assert sum(a["label"] == "Unknown seed" and a["score"] > 0.99 for a in unknown) >= 5, unknown
    known = [(v, await first_answer(by_variety[v][10])) for v in taught]
    assert sum(a["label"].lower() == v for v, a in known) >= 3, known
