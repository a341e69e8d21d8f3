"""Commands a lab runs on a directory of pictures:

import-folder DIR --user EMAIL   one sub-folder per species name -> a labelled batch import (one
                                 Nachet folder), which the built-in classifier learns from;
classify IMAGE… --out DIR        the default pipeline on each picture, offline: DIR/<name>.png
                                 (boxes drawn, model_inference/annotate.py) and DIR/<name>.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kernel.errors import ServiceError, Unhandled
from kernel.files import written_whole
from model_inference.annotate import annotate
from model_inference.picture_checks import check_image, check_picture
from storage import accounts
from usecases.inference import with_scale

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
UPLOAD_BATCH = 16  # pictures per upload (each is held in memory until stored)


@dataclass
class ImportReport:
    folder: str = ""
    imported: dict[str, int] = field(default_factory=dict)  # species -> pictures
    skipped: list[str] = field(default_factory=list)  # one line per sub-folder or file left out


def _species_folders(
    root: Path, catalogue: dict[str, str], create: bool = False
) -> tuple[dict[str, list[Path]], list[str]]:
    """{species name: its pictures} and what is left out, and why; with `create`, a sub-folder
    whose name is no species of the catalogue names a new one ("linum_usitatissimum" ->
    "Linum usitatissimum"), as /upload-picture's seed_name does."""
    found: dict[str, list[Path]] = {}
    skipped = []
    if not root.is_dir():
        raise LookupError(f"{root} is not a directory")
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        written = " ".join(sub.name.replace("_", " ").split())
        species = catalogue.get(written.lower())
        if species is None and create and written:
            species = written[0].upper() + written[1:]
        if species is None:
            skipped.append(
                f"{sub}: no species named {sub.name!r} in the seed catalogue (--create-species adds it)"
            )
            continue
        pictures = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        skipped += [f"{p}: not a picture" for p in sorted(sub.iterdir()) if p.is_file() and p not in pictures]
        if pictures:
            found[species] = pictures
        else:
            skipped.append(f"{sub}: no pictures")
    return found, skipped


async def import_folder(
    services,
    root: Path,
    email: str,
    folder_name: str | None = None,
    strict: bool = False,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
    create_species: bool = False,
) -> ImportReport:
    """Import every readable picture of every species sub-folder. LookupError: unknown user, no
    species sub-folder, or (strict) anything that would be skipped; nothing is imported then."""
    storage = services.storage
    user_id = await accounts.user_id_by_email(services.pool, email)
    if user_id is None:
        raise LookupError(f"no user {email}")
    catalogue = {seed["seed_name"].lower(): seed["seed_name"] for seed in await storage.get_all_seeds()}
    found, skipped = _species_folders(root, catalogue, create_species)
    settings = services.settings
    checked: dict[str, list[Path]] = {}
    for species, paths in found.items():
        for path in paths:
            try:
                await services.inference.run_cpu(
                    check_image, path.read_bytes(), settings.valid_extensions, settings.valid_dimension
                )
            except (ServiceError, Unhandled, OSError) as error:
                skipped.append(f"{path}: {_reason(error)}")
                continue
            checked.setdefault(species, []).append(path)
    if strict and skipped:
        raise LookupError("refused (--strict), nothing imported:\n  " + "\n  ".join(skipped))
    if not checked:
        raise LookupError(f"nothing to import from {root}" + "".join(f"\n  {line}" for line in skipped))
    total = sum(len(paths) for paths in checked.values())
    folder = await storage.create_picture_set(user_id, total, folder_name or root.name)
    report = ImportReport(folder=str(folder), skipped=skipped)
    batches = [
        (species, paths[i : i + UPLOAD_BATCH])
        for species, paths in checked.items()
        for i in range(0, len(paths), UPLOAD_BATCH)
    ]
    for species, batch in progress(batches):
        await storage.upload_pictures(user_id, folder, [p.read_bytes() for p in batch], species)
        report.imported[species] = report.imported.get(species, 0) + len(batch)
    return report


async def classify_pictures(
    services,
    images: list[Path],
    out: Path,
    pipeline_name: str | None = None,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> list[str]:
    """Run the pipeline on each picture (nothing is saved in the database); the failures, one
    line each. LookupError: no such pipeline; OSError: OUT cannot be written."""
    pipelines = services.pipelines
    pipeline = pipelines.get(pipeline_name) if pipeline_name else pipelines.default
    if pipeline is None:
        raise LookupError(f"no pipeline {pipeline_name}" if pipeline_name else "no default pipeline")
    out.mkdir(parents=True, exist_ok=True)
    failures = []
    for path in progress(images):
        try:
            data = path.read_bytes()
            shown = await services.inference.run_cpu(check_picture, data)
            dims = [float(shown.width), float(shown.height)]
            inference = services.inference
            scale = inference.scale_for(None, None)
            result = await inference.results(pipeline, data, inference.processing(dims, scale))
            with_scale(result, scale)
            png = await services.inference.run_cpu(annotate, data, result, dims)
        except (ServiceError, Unhandled, OSError) as error:
            failures.append(f"{path}: {_reason(error)}")
            continue
        answer = {"picture": str(path), "pipeline": pipeline.name, "imageDims": dims, **result}
        _write_whole(out / f"{path.stem}.json", json.dumps(answer, indent=2, ensure_ascii=False).encode())
        _write_whole(out / f"{path.stem}.png", png)
    return failures


def _reason(error: Exception) -> str:
    """Why a picture was left out, in one line (not-an-image errors carry PIL's words)."""
    if isinstance(error, ServiceError):
        return error.message
    if isinstance(error, Unhandled):
        return "not a picture this service can read"
    return getattr(error, "strerror", None) or str(error)


def _write_whole(path: Path, data: bytes) -> None:
    with written_whole(path) as file:
        file.write(data)
