"""The report on a sample (issue "Sample reports"): from a folder's boxes to counts per species
per kilogram, with exact Poisson intervals, a verdict against the regulated species' limits, the
boxes a person must still look at, and a hash that shows the file is as generated.

A box's label is the one a user confirmed or corrected (verified), else the model's. A regulated
species' verdict compares the seeds of the sample with its limit scaled to the sample's weight:
`exceeds` when the verified seeds alone are over it, `within` when even every unverified box that
names the species or holds it in its prediction set would not be, `undetermined` otherwise (a
pending box could change it) or when the sample has no weight.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime

import orjson

from storage.reports import SampleMaterial

from .regulated import Rule

FORMATS = ("json", "csv", "html")
UNKNOWN = "Unknown seed"
CORRECTION = (
    "count_corrected divides a label's count by the classifier's recall for that label, measured by "
    "cross-validation over whole pictures on the active classifier version's examples; it is null "
    "where that recall is unknown or zero."
)
ROWS_PER_PAGE = 40


def poisson_interval(count: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson mean from one count."""
    from scipy.stats import chi2

    tail = (1 - level) / 2
    low = 0.0 if count == 0 else float(chi2.ppf(tail, 2 * count)) / 2
    return low, float(chi2.ppf(1 - tail, 2 * count + 2)) / 2


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def build(material: SampleMaterial, rules: dict[str, Rule], now: datetime | None = None) -> dict:
    """The report of a folder (JSON-ready, with its hash)."""
    folder = material.folder
    weight = folder["weight_g"]
    boxes = [_box(row) for row in material.boxes]
    recall = (material.scores or {}).get("classes", {})
    tally = _Tally(boxes)
    by_rule = {rule.species: rule for rule in rules.values()}
    names = sorted(set(tally.count) | set(by_rule), key=lambda n: _order(n, tally.count, rules))
    species = [_species_row(name, tally, weight, rules.get(name.lower()), recall.get(name)) for name in names]
    review = sorted(
        (entry for b in boxes if not b["verified"] and (entry := _review_entry(b, rules))),
        key=lambda e: (e["severity"], e["picture_id"], e["box_index"]),
    )
    report = {
        "sample": {
            "folder_id": str(folder["id"]),
            "folder": folder["name"],
            "weight_g": weight,
            "lot": folder["lot"],
            "crop": folder["crop"],
            "notes": folder["notes"],
        },
        "totals": {"pictures": folder["pictures"], "seeds": len(boxes)},
        "species": species,
        "review": [{k: v for k, v in e.items() if k != "severity"} for e in review],
        "measurements": measurements_summary(boxes),
        "classifier_versions": sorted({b["classifier_version"] for b in boxes if b["classifier_version"]}),
        "correction": CORRECTION,
        "why": []
        if weight
        else ["no sample weight: per_kg and verdicts need one (PUT /folders/<id>/sample)"],
        "generated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    report["hash"] = content_hash(report)
    return report


class _Tally:
    """Per label, in one pass over the boxes: boxes labelled so, verified so, named so by the
    model, and unverified boxes that name it or hold it in their prediction set."""

    def __init__(self, boxes: list[dict]):
        self.count: Counter = Counter()
        self.verified: Counter = Counter()
        self.predicted: Counter = Counter()
        self.could: Counter = Counter()
        for b in boxes:
            self.count[b["label"]] += 1
            self.predicted[b["predicted"]] += 1
            if b["verified"]:
                self.verified[b["label"]] += 1
            else:
                for name in {b["label"], *b["prediction_set"]}:
                    self.could[name] += 1


def _box(row) -> dict:
    label = row["verified"] or row["predicted"] or UNKNOWN
    members = row["prediction_set"] if isinstance(row["prediction_set"], list) else None
    return {
        "picture_id": str(row["picture_id"]),
        "box_index": int(row["box_index"]),
        "label": label,
        "predicted": row["predicted"] or UNKNOWN,
        "verified": row["verified"] is not None,
        "score": _round(float(row["score"]) if row["score"] is not None else 0.0, 4),
        "prediction_set": [str(m) for m in members] if members else [row["predicted"] or UNKNOWN],
        "measurements": row["measurements"],
        "classifier_version": row["classifier_version"],
    }


def _order(name: str, counts: Counter, rules: dict[str, Rule]) -> tuple:
    """Regulated species first (most severe class first), then the most counted."""
    rule = rules.get(name.lower())
    return (0, rule.severity, name) if rule else (1, -counts[name], name)


def _species_row(name: str, tally: _Tally, weight: float | None, rule: Rule | None, recall) -> dict:
    count, verified = tally.count[name], tally.verified[name]
    per_kg = interval = None
    if weight:
        low, high = poisson_interval(count)
        per_kg, interval = (
            _round(count / weight * 1000),
            [_round(low / weight * 1000), _round(high / weight * 1000)],
        )
    return {
        "label": name,
        "count": count,
        "predicted": tally.predicted[name],
        "verified": verified,
        "pending": count - verified,
        "per_kg": per_kg,
        "per_kg_interval": interval,
        "count_corrected": _round(count / recall, 2) if recall else None,
        "class": rule.regulated_class if rule else None,
        "limit": rule.limit if rule else None,
        "per_g": rule.per_g if rule else None,
        "verdict": _verdict(verified, tally.could[name], weight, rule) if rule else None,
    }


def _verdict(verified: int, could: int, weight: float | None, rule: Rule) -> str:
    if not weight:
        return "undetermined"
    allowed = rule.limit * weight / rule.per_g  # seeds the sample may hold
    if verified > allowed:
        return "exceeds"
    if verified + could <= allowed:
        return "within"
    return "undetermined"


def _review_entry(box: dict, rules: dict[str, Rule]) -> dict | None:
    held = [rules[m.lower()] for m in {box["label"], *box["prediction_set"]} if m.lower() in rules]
    if not held:
        return None
    return {
        "picture_id": box["picture_id"],
        "box_index": box["box_index"],
        "label": box["label"],
        "score": box["score"],
        "prediction_set": box["prediction_set"],
        "regulated": sorted({r.species for r in held}),
        "class": min(held, key=lambda r: r.severity).regulated_class,
        "severity": min(r.severity for r in held),
    }


# -- integrity ---------------------------------------------------------------------------------------
def canonical(report: dict) -> bytes:
    """The report without its hash as compact UTF-8 JSON, keys sorted (orjson: many times json's
    speed on a 20 000-box report)."""
    return orjson.dumps({k: v for k, v in report.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def content_hash(report: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical(report)).hexdigest()


SEAL = re.compile(r'<meta name="nachet-page-seal" content="(sha256:[0-9a-f]{64})">')
UNSEALED = '<meta name="nachet-page-seal" content="sha256:' + "0" * 64 + '">'
EMBEDDED = re.compile(r'<script type="application/json" id="nachet-report">(.*?)</script>', re.S)


def verify(text: str) -> tuple[bool, str]:
    """Whether a report file (JSON or HTML) is as generated, and why not."""
    if text.lstrip().startswith("{"):
        try:
            report = json.loads(text)
        except json.JSONDecodeError as error:
            return False, f"not JSON: {error}"
        ok = isinstance(report, dict) and report.get("hash") == content_hash(report)
        return ok, "the hash matches the content" if ok else "the content does not match its hash"
    seal = SEAL.search(text)
    embedded = EMBEDDED.search(text)
    if seal is None or embedded is None:
        return False, "not a Nachet report page (no seal or no embedded report)"
    unsealed = text[: seal.start()] + UNSEALED + text[seal.end() :]
    if "sha256:" + hashlib.sha256(unsealed.encode()).hexdigest() != seal[1]:
        return False, "the page was changed after it was generated"
    report = json.loads(html.unescape(embedded[1]))
    if report.get("hash") != content_hash(report):
        return False, "the embedded report does not match its hash"
    return True, "the page and its report are as generated"


# -- formats -------------------------------------------------------------------------------------------
CSV_COLUMNS = (
    "label",
    "count",
    "predicted",
    "verified",
    "pending",
    "per_kg",
    "per_kg_low",
    "per_kg_high",
    "count_corrected",
    "class",
    "limit",
    "per_g",
    "verdict",
)


def as_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["species"]:
        low, high = row["per_kg_interval"] or (None, None)
        values = {**row, "per_kg_low": low, "per_kg_high": high}
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


def as_html(report: dict, thumbnails: dict[tuple[str, str, int], str] | None = None) -> str:
    """A printable page (one A4/Letter page per 40 species rows), verdicts first, no external
    asset: thumbnails are data URLs. Sealed: `verify` detects any changed byte."""
    e = html.escape
    sample, totals = report["sample"], report["totals"]
    regulated = [r for r in report["species"] if r["verdict"] is not None]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        UNSEALED,
        f"<title>Sample report {e(sample['folder'] or sample['folder_id'])}</title><style>",
        "body{font:11pt sans-serif;margin:12mm}table{border-collapse:collapse;width:100%;margin:4mm 0}",
        "td,th{border:1px solid #999;padding:1mm 2mm;text-align:left}th{background:#eee}",
        ".exceeds{color:#a00;font-weight:bold}.undetermined{color:#a60}.within{color:#060}",
        ".page{break-after:page}.thumbs img{height:24mm;margin:1mm;border:1px solid #999}",
        "@page{size:auto;margin:10mm}</style></head><body>",
        f"<h1>Sample report: {e(sample['folder'] or '')}</h1>",
        f"<p>Lot {e(str(sample['lot'] or '-'))} · crop {e(str(sample['crop'] or '-'))} · weight "
        f"{e(str(sample['weight_g'] or '-'))} g · {totals['pictures']} pictures · {totals['seeds']} seeds"
        f" · generated {e(report['generated_at'])}</p>",
    ]
    parts += [f"<p class=undetermined>{e(why)}</p>" for why in report["why"]]
    parts.append(
        "<h2>Verdicts</h2><table><tr><th>species</th><th>class</th><th>seeds</th>"
        "<th>verified</th><th>per kg (95 %)</th><th>limit</th><th>verdict</th></tr>"
    )
    for r in regulated:
        interval = r["per_kg_interval"]
        per_kg = f"{r['per_kg']} ({interval[0]}–{interval[1]})" if interval else "-"
        parts.append(
            f"<tr><td>{e(r['label'])}</td><td>{e(r['class'])}</td><td>{r['count']}</td><td>{r['verified']}</td>"
            f"<td>{per_kg}</td><td>{r['limit']:g} per {r['per_g']:g} g</td>"
            f"<td class={r['verdict']}>{r['verdict']}</td></tr>"
        )
    parts.append("</table>")
    if thumbnails:
        parts.append("<h2>Regulated seeds found</h2><div class=thumbs>")
        parts += [f'<img alt="{e(k[0])}, box {k[2]}" src="{src}">' for k, src in sorted(thumbnails.items())]
        parts.append("</div>")
    if report["review"]:
        parts.append(
            f"<h2>To review ({len(report['review'])} boxes)</h2><table><tr><th>picture</th><th>box</th>"
            "<th>label</th><th>score</th><th>could be</th><th>class</th></tr>"
        )
        for r in report["review"]:
            parts.append(
                f"<tr><td>{e(r['picture_id'])}</td><td>{r['box_index']}</td><td>{e(r['label'])}</td>"
                f"<td>{r['score']}</td><td>{e(', '.join(r['prediction_set']))}</td>"
                f"<td>{e(r['class'])}</td></tr>"
            )
        parts.append("</table>")
    rows = report["species"]
    for start in range(0, max(1, len(rows)), ROWS_PER_PAGE):
        parts.append(
            "<div class=page><h2>Species</h2><table><tr><th>label</th><th>seeds</th><th>verified</th>"
            "<th>pending</th><th>per kg</th><th>corrected count</th><th>class</th></tr>"
        )
        for r in rows[start : start + ROWS_PER_PAGE]:
            parts.append(
                f"<tr><td>{e(r['label'])}</td><td>{r['count']}</td><td>{r['verified']}</td><td>{r['pending']}</td>"
                f"<td>{'-' if r['per_kg'] is None else r['per_kg']}</td>"
                f"<td>{'-' if r['count_corrected'] is None else r['count_corrected']}</td>"
                f"<td>{e(r['class'] or '')}</td></tr>"
            )
        parts.append("</table></div>")
    parts.append(_measurements_html(report))
    parts.append(
        f"<p>{e(report['correction'])}</p><p>Classifier versions: "
        f"{e(', '.join(report['classifier_versions']) or 'none')}</p><p>Report hash: {e(report['hash'])}</p>"
    )
    parts.append('<script type="application/json" id="nachet-report">')
    parts.append(html.escape(json.dumps(report, sort_keys=True, ensure_ascii=False), quote=False))
    parts.append("</script></body></html>\n")
    page = "".join(parts)
    seal = "sha256:" + hashlib.sha256(page.encode()).hexdigest()
    return page.replace(UNSEALED, f'<meta name="nachet-page-seal" content="{seal}">', 1)


def _measurements_html(report: dict) -> str:
    """Mean length and width per species, of the measurements whose quality is ok."""
    summary = report.get("measurements") or []
    if not summary:
        return ""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(m['label'])}</td><td>{m['n']}</td><td>{m['length']} {e(m['unit'])}</td>"
        f"<td>{m['width']} {e(m['unit'])}</td><td>{m['doubtful']}</td></tr>"
        for m in summary
    )
    return (
        "<h2>Measurements (doubtful ones excluded)</h2><table><tr><th>label</th><th>seeds</th>"
        f"<th>mean length</th><th>mean width</th><th>doubtful, left out</th></tr>{rows}</table>"
    )


def measurements_summary(boxes: list[dict]) -> list[dict]:
    """Per label: how many seeds were measured ok, their mean length and width, and how many
    doubtful outlines were left out."""
    kept: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    doubtful: Counter = Counter()
    for box in boxes:
        m = box["measurements"]
        if not isinstance(m, dict) or not isinstance(m.get("length"), (int, float)):
            continue
        if m.get("quality", "ok") != "ok":
            doubtful[box["label"]] += 1
            continue
        kept[(box["label"], str(m.get("unit", "px")))].append((float(m["length"]), float(m.get("width", 0))))
    return [
        {
            "label": label,
            "unit": unit,
            "n": len(found),
            "length": round(sum(x for x, _ in found) / len(found), 3),
            "width": round(sum(y for _, y in found) / len(found), 3),
            "doubtful": doubtful[label],
        }
        for (label, unit), found in sorted(kept.items())
        if found and math.isfinite(found[0][0])
    ]


# -- the use case ------------------------------------------------------------------------------------
class SampleReports:
    """Reports of samples, for a route, a command or a test: the storage, the operator's regulated
    list and a picture loader (for the page's thumbnails)."""

    def __init__(self, pool, regulated, load_picture, executor=None):
        self.pool, self.regulated, self.load_picture, self.executor = pool, regulated, load_picture, executor

    async def report(self, user_id, folder_ref, fmt: str = "json") -> tuple[str, str]:
        """(the report in `fmt`, its media type)."""
        from model_inference.cpu import run_cpu
        from storage.reports import material as read

        if fmt not in FORMATS:
            raise ReportFormatError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        material = await read(self.pool, user_id, folder_ref)
        report = await run_cpu(self.executor, build, material, self.regulated.rules())
        if fmt == "json":
            return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n", "application/json"
        if fmt == "csv":
            return as_csv(report), "text/csv"
        thumbnails = await self.thumbnails(material, report)
        return await run_cpu(self.executor, as_html, report, thumbnails), "text/html"

    async def thumbnails(self, material: SampleMaterial, report: dict, most: int = 60) -> dict:
        """Crops of the seeds labelled with a regulated species, as data URLs (at most `most`)."""
        from model_inference.cpu import run_cpu

        regulated = {r["label"] for r in report["species"] if r["class"] is not None}
        wanted: dict = defaultdict(list)
        for row in material.boxes:
            box = _box(row)
            if box["label"] in regulated and isinstance(row["box"], dict) and row["dims"]:
                wanted[row["picture_id"]].append((box["label"], box["box_index"], row["box"], row["dims"]))
        found: dict = {}
        for picture_id, boxes in list(wanted.items()):
            if len(found) >= most:
                break
            data = await self.load_picture(picture_id)
            if data is not None:
                for (label, index), url in await run_cpu(
                    self.executor, _thumbnails, data, boxes[: most - len(found)]
                ):
                    found[(label, str(picture_id), index)] = url
        return found


class ReportFormatError(ValueError):
    pass


def _thumbnails(data: bytes, boxes: list) -> list:
    import base64

    import cv2

    from model_inference.pixels import crop_fraction, decode_bgr

    pixels = decode_bgr(data)
    out = []
    for label, index, box, dims in boxes:
        crop = crop_fraction(
            pixels,
            {
                "topX": box["topX"] / dims[0],
                "topY": box["topY"] / dims[1],
                "bottomX": box["bottomX"] / dims[0],
                "bottomY": box["bottomY"] / dims[1],
            },
        )
        scale = 96 / max(1, crop.shape[0])
        small = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), 96), interpolation=cv2.INTER_AREA)
        jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        out.append(((label, index), "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()))
    return out
