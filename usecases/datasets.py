"""`python -m nachet export --format coco|yolo|labelstudio OUT`: pictures and their labelled boxes
as a training set. The directory is built beside OUT and renamed into place at the end, so OUT
is complete or absent.

  coco         OUT/images/…, OUT/annotations.json (bbox [x, y, w, h] in pixels; what Nachet's
               training reads)
  yolo         OUT/images/…, OUT/labels/<picture>.txt ("class cx cy w h", fractions), OUT/data.yaml
  labelstudio  OUT/images/…, OUT/tasks.json (rectangles in percent of the picture; verified boxes
               as annotations, the others as predictions), OUT/label_config.xml
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import yaml

from model_inference.picture_checks import check_picture, detect_mime
from storage import accounts, exports
from storage.seed_examples import teaches

FORMATS = ("coco", "yolo", "labelstudio")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif", "image/webp": "webp"}


@dataclass
class Box:
    box_id: str
    label: str
    score: float
    verified: bool
    x: float  # left, in pixels of the picture as shown (of `dims` until the picture is read)
    y: float
    w: float
    h: float
    dims: list[float] | None  # the imageDims /inf was given: the units the box was saved in


@dataclass
class Picture:
    picture_id: str
    file_name: str = ""
    width: int = 0
    height: int = 0
    boxes: list[Box] = field(default_factory=list)


async def export_dataset(
    services,
    fmt: str,
    out: Path,
    email: str | None = None,
    folder: str | None = None,
    verified_only: bool = False,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
    include_unknown: bool = False,
) -> tuple[int, int]:
    """(pictures, boxes) written. LookupError: unknown format, user or folder, or nothing to
    export; FileExistsError: OUT is there and not empty; OSError: OUT cannot be written. Boxes
    labelled "Unknown seed" are left out unless `include_unknown`: the placeholder is no class to
    train on (the learning policy, storage.seed_examples.teaches)."""
    if fmt not in FORMATS:
        raise LookupError(f"unknown export format {fmt!r} (coco, yolo or labelstudio)")
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty directory")
    rows = await _selection(services.pool, email, folder, verified_only, include_unknown)
    pictures = _pictures(rows)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (work / "images").mkdir()
        for picture in progress(pictures):
            await _write_image(services, picture, work / "images")
        labels = sorted({box.label for picture in pictures for box in picture.boxes})
        WRITERS[fmt](work, pictures, labels)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    written = [p for p in pictures if p.file_name]  # a picture deleted meanwhile is left out
    return len(written), sum(len(p.boxes) for p in written)


async def _selection(
    pool, email: str | None, folder: str | None, verified_only: bool, include_unknown: bool
) -> list:
    user_id = await accounts.user_id_by_email(pool, email) if email else None
    if email and user_id is None:
        raise LookupError(f"no user {email}")
    folder_ids: list[UUID] | None = None
    if folder is not None:
        by_id = _uuid(folder)
        folder_ids = [by_id] if by_id is not None else await exports.folders_named(pool, folder, user_id)
        if not folder_ids:
            raise LookupError(f"no folder {folder}" + (f" for {email}" if email else ""))
    rows = await exports.labelled_boxes(pool, user_id, folder_ids, verified_only)
    rows = [r for r in rows if include_unknown or teaches(r["label"] or "")]
    if not rows:
        what = "verified boxes" if verified_only else "labelled boxes"
        raise LookupError(f"nothing to export: no {what} in the selection")
    return rows


def _uuid(text: str) -> UUID | None:
    """A folder given by id (else by name)."""
    try:
        return UUID(text)
    except ValueError:
        return None


def _pictures(rows) -> list[Picture]:
    """Rows (one per box) grouped by picture; boxes kept in imageDims units until the picture's
    size is known (then `_write_image` scales them)."""
    pictures: dict[str, Picture] = {}
    for row in rows:
        picture = pictures.setdefault(str(row["picture_id"]), Picture(str(row["picture_id"])))
        corners = row["box"] if isinstance(row["box"], dict) else {}
        try:
            left, top = float(corners["topX"]), float(corners["topY"])
            right, bottom = float(corners["bottomX"]), float(corners["bottomY"])
        except (KeyError, TypeError, ValueError):
            continue
        dims = row["dims"] if isinstance(row["dims"], list) and len(row["dims"]) == 2 else None
        score, verified = float(row["score"] or 0), row["verified"]
        size = (right - left, bottom - top)
        picture.boxes.append(Box(str(row["box_id"]), row["label"], score, verified, left, top, *size, dims))
    return list(pictures.values())


async def _write_image(services, picture: Picture, images: Path) -> None:
    data = await services.storage.picture_bytes(UUID(picture.picture_id))
    if data is None:  # deleted since it was read: its boxes go with it
        picture.boxes.clear()
        return
    shown = check_picture(data)
    picture.width, picture.height = shown.width, shown.height
    picture.file_name = f"{picture.picture_id}.{EXTENSIONS.get(detect_mime(data), 'bin')}"
    (images / picture.file_name).write_bytes(data)
    for box in picture.boxes:
        sx, sy = (picture.width / box.dims[0], picture.height / box.dims[1]) if box.dims else (1.0, 1.0)
        box.x, box.w, box.y, box.h, box.dims = box.x * sx, box.w * sx, box.y * sy, box.h * sy, None


def _write_coco(work: Path, pictures: list[Picture], labels: list[str]) -> None:
    category = {label: i for i, label in enumerate(labels, start=1)}
    images: list[dict] = []
    annotations: list[dict] = []
    for image_id, picture in enumerate((p for p in pictures if p.file_name), start=1):
        images.append(
            {"id": image_id, "file_name": picture.file_name, "width": picture.width, "height": picture.height}
        )
        for box in picture.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category[box.label],
                    "bbox": [round(v, 2) for v in (box.x, box.y, box.w, box.h)],
                    "area": round(box.w * box.h, 2),
                    "iscrowd": 0,
                    "score": box.score,
                    "verified": box.verified,
                    "nachet_box_id": box.box_id,
                }
            )
    document = {
        "info": {"description": "Nachet seed boxes", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": label, "supercategory": "seed"} for label, i in category.items()],
    }
    (work / "annotations.json").write_text(json.dumps(document, ensure_ascii=False))


def _write_yolo(work: Path, pictures: list[Picture], labels: list[str]) -> None:
    index = {label: i for i, label in enumerate(labels)}
    (work / "labels").mkdir()
    for picture in pictures:
        if not picture.file_name:
            continue
        lines = [
            f"{index[b.label]} {(b.x + b.w / 2) / picture.width:.6f} {(b.y + b.h / 2) / picture.height:.6f} "
            f"{b.w / picture.width:.6f} {b.h / picture.height:.6f}"
            for b in picture.boxes
        ]
        (work / "labels" / f"{Path(picture.file_name).stem}.txt").write_text("".join(f"{x}\n" for x in lines))
    data = {"path": ".", "train": "images", "val": "images", "nc": len(labels), "names": labels}
    (work / "data.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _write_labelstudio(work: Path, pictures: list[Picture], labels: list[str]) -> None:
    tasks = []
    for picture in pictures:
        if not picture.file_name:
            continue
        verified = [_rectangle(picture, b) for b in picture.boxes if b.verified]
        guessed = [{**_rectangle(picture, b), "score": b.score} for b in picture.boxes if not b.verified]
        task: dict[str, object] = {  # a Label Studio task (JSON)
            "data": {"image": f"images/{picture.file_name}"},
            "meta": {"nachet_picture_id": picture.picture_id},
        }
        if verified:
            task["annotations"] = [{"result": verified}]
        if guessed:
            task["predictions"] = [{"model_version": "nachet", "result": guessed}]
        tasks.append(task)
    (work / "tasks.json").write_text(json.dumps(tasks, ensure_ascii=False))
    choices = "".join(f'    <Label value="{_xml(label)}"/>\n' for label in labels)
    (work / "label_config.xml").write_text(
        f'<View>\n  <Image name="image" value="$image"/>\n  <RectangleLabels name="label" toName="image">\n'
        f"{choices}  </RectangleLabels>\n</View>\n"
    )


def _rectangle(picture: Picture, box: Box) -> dict:
    """A Label Studio rectangle: position and size in percent of the picture."""
    return {
        "id": box.box_id[:10],
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": picture.width,
        "original_height": picture.height,
        "image_rotation": 0,
        "value": {
            "x": 100 * box.x / picture.width,
            "y": 100 * box.y / picture.height,
            "width": 100 * box.w / picture.width,
            "height": 100 * box.h / picture.height,
            "rotation": 0,
            "rectanglelabels": [box.label],
        },
    }


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


WRITERS = {"coco": _write_coco, "yolo": _write_yolo, "labelstudio": _write_labelstudio}
