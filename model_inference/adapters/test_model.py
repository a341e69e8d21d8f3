"""The `test` model: no HTTP, a canned result (spec §7.9)."""

from __future__ import annotations

from kernel.errors import ModelError

from ..models import ModelSpec
from .base import RunContext, Work


async def test_model(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    if work.image_b64 == "":
        raise ModelError(
            "An error occurred while processing the requests :\n"
            " The result send to the inference function is empty"
        )
    work.result = [
        {
            "filename": "test_image.jpg",
            "boxes": [
                {
                    "box": {"topX": 0.078, "topY": 0.068, "bottomX": 0.86, "bottomY": 0.56},
                    "label": "Ambrosia artemisiifolia",
                    "score": 1.0,
                    "topN": [{"label": "Ambrosia artemisiifolia", "score": 1.0}],
                }
            ],
            "models": [{"name": model.name, "version": 1}],
        }
    ]


test_model.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
