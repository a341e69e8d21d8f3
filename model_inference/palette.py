"""The 18-colour palette of the original (spec §8.5) and its shade rule."""

from __future__ import annotations

PRIMARY_HEX = [
    "#ED1C24",
    "#005AFF",
    "#57F287",
    "#664E88",
    "#EA871E",
    "#FFEB00",
    "#87633A",
    "#FF1493",
    "#676765",
]
LIGHT_HEX = [
    "#A6DAF4",
    "#FF7F7F",
    "#006F46",
    "#BD86D2",
    "#FCBF8D",
    "#DDD59D",
    "#BF8654",
    "#EAD0D6",
    "#CACACA",
]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    digits = color.lstrip("#")
    step = len(digits) // 3
    return tuple(int(digits[i : i + step], 16) for i in range(0, len(digits), step))  # type: ignore[return-value]


PALETTES: dict[str, list] = {
    "hex": PRIMARY_HEX + LIGHT_HEX,
    "rgb": [hex_to_rgb(c) for c in PRIMARY_HEX + LIGHT_HEX],
}


def shade(color):
    """The darkest of the original's five shades: each channel minus floor(ch * 0.4 * 0.9),
    computed in the same float order; plain ints (the original leaked numpy.int64)."""
    rgb = hex_to_rgb(color) if isinstance(color, str) else color
    shaded = tuple(int(ch - int(ch * (1 - 0.15 * 4) * (1 - 0.1 * 1))) for ch in rgb)
    return "#{:02x}{:02x}{:02x}".format(*shaded) if isinstance(color, str) else shaded


def color_at(index: int, color_format: str):
    """Colour of box position `index`: the palette, then shades of the colour 18 places back."""
    palette = PALETTES[color_format]
    if index < len(palette):
        return palette[index]
    return shade(color_at(index - len(palette), color_format))
