"""A local model server: the built-in models (and user ONNX files) over the Azure ML protocol
the original's HTTP models speak (local-models §1.8), so a lab can host them on a LAN machine as
the original's `local-*` endpoints did.

    POST /score   Authorization: Bearer <key>   <deployment header>: <model name>
      detectors   body {"input_data": {"data": ["<base64 picture>"]}} -> {"filename", "boxes": [...]}
      classifiers body <base64 crop>                                  -> [{"label": "NNN Genus species", "score"}]
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

from .cpu import run_cpu
from .imaging import decode_bgr
from .local.detector import detect_seeds
from .local.onnx_models import load_onnx_model

log = logging.getLogger(__name__)

# Class numbers of the 27-species model (seed-catalogue.md): classifier labels carry them.
CATALOGUE = [
    "Brassica napus", "Brassica juncea", "Cirsium arvense", "Cirsium vulgare", "Carduus nutans",
    "Bromus secalinus", "Bromus hordeaceus", "Bromus japonicus", "Lolium temulentum", "Solanum carolinense",
    "Solanum nigrum", "Solanum rostratum", "Ambrosia artemisiifolia", "Ambrosia trifida", "Ambrosia psilostachya",
    "Iva axillaris", "Cyclachaena xanthiifolia", "Tripleurospermum inodorum", "Cuscuta gronovii", "Cuscuta spp",
    "Tripleurospermum maritimum", "Solanum elaeagnifolium", "Centaurea stoebe", "Centaurea diffusa",
    "Centaurea melitensis", "Centaurea calcitrapa", "Centaurea solstitialis", "Centaurea solstitialis D",
]
DETECTORS = {"seed-detector-1", "seed-detector-rcnn-1", "local-seed-detector-rcnn", "builtin-seed-detector"}
CLASSIFIERS = {"swinv1-base-dataaugv2-1", "swinv1-base-dataaugv2-2", "swin-22-spp", "local-swin-15-spp",
               "local-swin-22-spp", "swin-27-spp", "local-swin-27-spp", "swin-15e-spp", "local-swin-15e-spp",
               "builtin-seed-classifier"}
SIX_SEEDS = {"m-14of15seeds-6seedsmag"}


def numbered(label: str) -> str:
    """"Ambrosia trifida" -> "013 Ambrosia trifida" (999 for names outside the catalogue)."""
    return f"{CATALOGUE.index(label) if label in CATALOGUE else 999:03d} {label}"


class BadBody(Exception):
    pass


def _picture(body: bytes):
    try:
        encoded = json.loads(body)["input_data"]["data"][0]
        return decode_bgr(base64.b64decode(encoded))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as error:
        raise BadBody(f"expected {{\"input_data\": {{\"data\": [\"<base64 image>\"]}}}}: {error}") from error


def _crop(body: bytes):
    try:
        return decode_bgr(base64.b64decode(body))
    except (ValueError, binascii.Error) as error:
        raise BadBody(f"expected the base64 of one image: {error}") from error


def create_server(learner, key: str, header: str = "azureml-model-deployment",
                  onnx: dict[str, str] | None = None) -> Quart:
    """`learner` classifies (model_inference.local.learning.Learner); `onnx` maps extra deployment
    names to ONNX model paths (a `*detector*` name detects, others classify)."""
    app = Quart(__name__)
    onnx = dict(onnx or {})

    def run(function, *args):
        return run_cpu(learner.executor, function, *args)

    async def classify(crops):
        return [[{"label": numbered(p["label"]), "score": p["score"]} for p in answer]
                for answer in await learner.classify(crops)]

    @app.post("/score")
    async def score():
        if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {key}"):
            return {"error": "invalid or missing API key"}, 401
        name = request.headers.get(header, "")
        body = await request.get_data()
        try:
            if name in onnx:
                model = load_onnx_model(onnx[name])
                if "detector" in name:
                    return {"filename": "local", "boxes": await run(model.detect, await run(_picture, body))}
                return json.dumps(await run(model.classify, [await run(_crop, body)])), 200, {"Content-Type": "application/json"}
            if name in DETECTORS:
                return {"filename": "local", "boxes": await run(detect_seeds, await run(_picture, body))}
            if name in CLASSIFIERS:
                (answer,) = await classify([await run(_crop, body)])
                return json.dumps(answer), 200, {"Content-Type": "application/json"}
            if name in SIX_SEEDS:
                from .imaging import crop_fraction

                pixels = await run(_picture, body)
                boxes = await run(detect_seeds, pixels)
                answers = await learner.classify([crop_fraction(pixels, b["box"]) for b in boxes]) if boxes else []
                for box, answer in zip(boxes, answers):
                    box.update(label=answer[0]["label"], score=answer[0]["score"], topN=answer)
                return json.dumps([{"filename": "local", "boxes": boxes}]), 200, {"Content-Type": "application/json"}
        except BadBody as error:
            return {"error": str(error)}, 400
        except Exception as error:  # the scoring failed: say so, as Azure ML's 5xx would
            log.exception("scoring failed for %s", name)
            return {"error": f"scoring failed: {type(error).__name__}"}, 500
        return {"error": f"no deployment named {name!r} (header {header})"}, 404

    @app.get("/health")
    async def health():
        return "ok"

    return app
