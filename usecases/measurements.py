"""`python -m nachet measurements export OUT.csv [--user EMAIL] [--include-doubtful]`: every
measured seed, one row each, written whole or not at all (a temporary file renamed at the end).
Seeds whose outline is `doubtful` (model_inference.measure) are left out unless asked for, so a
lab's statistics rest on outlines that can be cited."""

from __future__ import annotations

import csv
from pathlib import Path

import asyncpg

from kernel.files import written_whole
from storage import accounts, exports

COLUMNS = (
    "email",
    "folder",
    "picture_id",
    "inference_id",
    "box_id",
    "label",
    "score",
    "verified",
    "unit",
    "area",
    "length",
    "width",
    "perimeter",
    "roundness",
    "mean_color",
    "pixels_per_mm",
    "solidity",
    "feret_max",
    "feret_min",
    "quality",
    "reasons",
)


async def export_measurements(
    pool: asyncpg.Pool, out: Path, email: str | None, include_doubtful: bool = False
) -> int:
    """The number of rows written; LookupError for an unknown user or nothing to export,
    OSError when `out` cannot be written. Measurements from before `quality` existed count as
    ok (the outline was not judged)."""
    user_id = await accounts.user_id_by_email(pool, email) if email else None
    if email and user_id is None:
        raise LookupError(f"no user {email}")
    measured = await exports.measurements(pool, user_id)
    rows = [r for r in measured if include_doubtful or r["measurements"].get("quality") != "doubtful"]
    if not rows:
        left_out = len(measured) - len(rows)
        why = f" ({left_out} doubtful left out: --include-doubtful adds them)" if left_out else ""
        raise LookupError("no measured seed to export" + (f" for {email}" if email else "") + why)
    out = out.resolve()
    with written_whole(out, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for row in rows:
            m = row["measurements"]
            scale = (m.get("scale") or {}).get("pixels_per_mm")
            writer.writerow(
                [
                    row["email"],
                    row["folder"],
                    row["picture_id"],
                    row["inference_id"],
                    row["box_id"],
                    row["label"],
                    row["score"],
                    row["verified"],
                    *(m.get(key) for key in COLUMNS[8:15]),
                    scale,
                    *(m.get(key) for key in COLUMNS[16:20]),
                    "; ".join(m.get("reasons") or []),
                ]
            )
    return len(rows)
