"""A picture with its inference drawn on it: each box in the inference's colour, its label and
score above it. Shared by POST /get-picture-annotated and `python -m nachet classify`."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps

FALLBACK_COLOR = "#FF00FF"  # a box saved without a colour (an original's inference, say)


def annotate(picture: bytes, inference: dict[str, Any], image_dims: list[float] | None = None) -> bytes:
    """PNG bytes of `picture` with every box of `inference` drawn. Boxes are in pixels of
    `image_dims` (what /inf was told), the picture's own size when not given."""
    with Image.open(io.BytesIO(picture)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = image.size
    sx, sy = (width / image_dims[0], height / image_dims[1]) if image_dims else (1.0, 1.0)
    line = max(2, round(min(width, height) / 300))
    font = ImageFont.load_default(size=max(12, round(min(width, height) / 45)))
    draw = ImageDraw.Draw(image)
    for box in inference.get("boxes") or []:
        corners = box.get("box") or {}
        try:
            left, top = corners["topX"] * sx, corners["topY"] * sy
            right, bottom = corners["bottomX"] * sx, corners["bottomY"] * sy
        except (KeyError, TypeError):
            continue  # a box without its coordinates: nothing to draw
        color = _color(box.get("color"))
        draw.rectangle((left, top, right, bottom), outline=color, width=line)
        caption = f"{box.get('label') or '?'} {float(box.get('score') or 0):.2f}"
        x0, y0, x1, y1 = draw.textbbox((0, 0), caption, font=font)
        label_w, label_h = x1 - x0 + 2 * line, y1 - y0 + 2 * line
        label_top = top - label_h if top >= label_h else bottom  # above the box, else below it
        draw.rectangle((left, label_top, left + label_w, label_top + label_h), fill=color)
        draw.text((left + line - x0, label_top + line - y0), caption, fill=_ink(color), font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _color(value: object) -> tuple[int, int, int]:
    """The box's colour as the inference gives it: hex ("#rrggbb") or rgb ([r, g, b])."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return value[0], value[1], value[2]
    try:
        rgb = ImageColor.getrgb(value) if isinstance(value, str) else ImageColor.getrgb(FALLBACK_COLOR)
    except ValueError:
        rgb = ImageColor.getrgb(FALLBACK_COLOR)
    return rgb[0], rgb[1], rgb[2]


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on the box's colour."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
