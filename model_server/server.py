"""A local model server: the built-in models (and user ONNX files) over the Azure ML protocol
the original's HTTP models speak (local-models §1.8), so a lab can host them on a LAN machine as
the original's `local-*` endpoints did.

    POST /score   Authorization: Bearer <key>   <deployment header>: <model name>
      detectors   body {"input_data": {"data": ["<base64 picture>"]}} -> {"filename", "boxes": [...]}
      classifiers body <base64 crop>  -> [{"label": "NNN Genus species", "score"}]
      six-seeds   body as detectors                                   -> [{"filename", "boxes": [... "topN"]}]
    401 bad key, 404 unknown deployment, 400 unreadable body, 500 scoring failure (JSON errors).
Content-Type is not used to route: the classifier body is labelled JSON by the original client.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets

from quart import Quart, request

from model_inference.cpu import run_cpu
from model_inference.local.detector import detect_seeds
from model_inference.local.learned import LearnedClassifier
from model_inference.local.onnx_models import load_onnx_model
from model_inference.pixels import decode_bgr

log = logging.getLogger(__name__)

# Class numbers of the 27-species model (seed-catalogue.md): classifier labels carry them.
CATALOGUE = [
    "Brassica napus",
    "Brassica juncea",
    "Cirsium arvense",
    "Cirsium vulgare",
    "Carduus nutans",
    "Bromus secalinus",
    "Bromus hordeaceus",
    "Bromus japonicus",
    "Lolium temulentum",
    "Solanum carolinense",
    "Solanum nigrum",
    "Solanum rostratum",
    "Ambrosia artemisiifolia",
    "Ambrosia trifida",
    "Ambrosia psilostachya",
    "Iva axillaris",
    "Cyclachaena xanthiifolia",
    "Tripleurospermum inodorum",
    "Cuscuta gronovii",
    "Cuscuta spp",
    "Tripleurospermum maritimum",
    "Solanum elaeagnifolium",
    "Centaurea stoebe",
    "Centaurea diffusa",
    "Centaurea melitensis",
    "Centaurea calcitrapa",
    "Centaurea solstitialis",
    "Centaurea solstitialis D",
]
DETECTORS = {"seed-detector-1", "seed-detector-rcnn-1", "local-seed-detector-rcnn", "builtin-seed-detector"}
CLASSIFIERS = {
    "swinv1-base-dataaugv2-1",
    "swinv1-base-dataaugv2-2",
    "swin-22-spp",
    "local-swin-15-spp",
    "local-swin-22-spp",
    "swin-27-spp",
    "local-swin-27-spp",
    "swin-15e-spp",
    "local-swin-15e-spp",
    "builtin-seed-classifier",
}
SIX_SEEDS = {"m-14of15seeds-6seedsmag"}


def numbered(label: str) -> str:
    """ "Ambrosia trifida" -> "013 Ambrosia trifida" (999 for names outside the catalogue)."""
    return f"{CATALOGUE.index(label) if label in CATALOGUE else 999:03d} {label}"


class BadBody(Exception):
    pass


def _picture(body: bytes):
    try:
        encoded = json.loads(body)["input_data"]["data"][0]
        return decode_bgr(base64.b64decode(encoded))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as error:
        raise BadBody(f'expected {{"input_data": {{"data": ["<base64 image>"]}}}}: {error}') from error


def _crop(body: bytes):
    try:
        return decode_bgr(base64.b64decode(body))
    except (ValueError, binascii.Error) as error:
        raise BadBody(f"expected the base64 of one image: {error}") from error


def _json(answer: object) -> tuple:
    return json.dumps(answer), 200, {"Content-Type": "application/json"}


class Deployments:
    """What each deployment name answers: the built-in models and the user's ONNX files."""

    def __init__(self, learner: LearnedClassifier, onnx: dict[str, str]):
        self.learner, self.onnx = learner, onnx

    def run(self, function, *args):
        return run_cpu(self.learner.executor, function, *args)

    async def classify(self, crops) -> list:
        answers = await self.learner.classify(crops)
        return [[{"label": numbered(p["label"]), "score": p["score"]} for p in answer] for answer in answers]

    async def detect(self, body: bytes) -> dict:
        return {"filename": "local", "boxes": await self.run(detect_seeds, await self.run(_picture, body))}

    async def six_seeds(self, body: bytes) -> tuple:
        from model_inference.pixels import crop_fraction

        pixels = await self.run(_picture, body)
        boxes = await self.run(detect_seeds, pixels)
        crops = [crop_fraction(pixels, b["box"]) for b in boxes]
        for box, answer in zip(boxes, await self.learner.classify(crops) if boxes else []):
            box.update(label=answer[0]["label"], score=answer[0]["score"], topN=answer)
        return _json([{"filename": "local", "boxes": boxes}])

    async def user_model(self, name: str, body: bytes):
        model = load_onnx_model(self.onnx[name])
        if "detector" in name:
            return {
                "filename": "local",
                "boxes": await self.run(model.detect, await self.run(_picture, body)),
            }
        return _json(await self.run(model.classify, [await self.run(_crop, body)]))

    async def answer(self, name: str, body: bytes):
        """The deployment's answer, or None when no deployment has that name."""
        if name in self.onnx:
            return await self.user_model(name, body)
        if name in DETECTORS:
            return await self.detect(body)
        if name in CLASSIFIERS:
            return _json((await self.classify([await self.run(_crop, body)]))[0])
        if name in SIX_SEEDS:
            return await self.six_seeds(body)
        return None


def create_server(
    learner: LearnedClassifier,
    key: str,
    header: str = "azureml-model-deployment",
    onnx: dict[str, str] | None = None,
) -> Quart:
    """`learner` classifies (model_inference.local.learned.LearnedClassifier); `onnx` maps extra deployment
    names to ONNX model paths (a `*detector*` name detects, others classify)."""
    app = Quart(__name__)
    deployments = Deployments(learner, dict(onnx or {}))

    @app.post("/score")
    async def score():
        if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {key}"):
            return {"error": "invalid or missing API key"}, 401
        name = request.headers.get(header, "")
        try:
            found = await deployments.answer(name, await request.get_data())
        except BadBody as error:
            return {"error": str(error)}, 400
        except Exception as error:  # the scoring failed: say so, as Azure ML's 5xx would
            log.exception("scoring failed for %s", name)
            return {"error": f"scoring failed: {type(error).__name__}"}, 500
        if found is None:
            return {"error": f"no deployment named {name!r} (header {header})"}, 404
        return found

    @app.get("/health")
    async def health():
        return "ok"

    return app
