"""Samples and their reports from the command line (issue "Sample reports"):

sample set FOLDER_ID --weight-g 25 [--lot L] [--crop C] [--notes N]
report FOLDER_ID [--format json|csv|html] [--out FILE]
report verify FILE          exit 0 if the file is as generated, 1 if its content changed
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from kernel.files import written_whole
from storage.reports import set_sample
from usecases.reports import FORMATS, verify

from .runtime import services_for_a_command


def add_report_commands(sub) -> None:
    sample = sub.add_parser("sample", help="what a folder's sample is").add_subparsers(
        dest="action", required=True
    )
    setting = sample.add_parser("set", help="record a folder's sample weight, lot, crop, notes")
    setting.add_argument("folder")
    setting.add_argument("--weight-g", type=float, required=True, help="the sample's weight in grams")
    for name in ("lot", "crop", "notes"):
        setting.add_argument(f"--{name}")
    report = sub.add_parser("report", help="a folder's report, or `report verify FILE`")
    report.add_argument("folder", help="a folder id, or `verify`")
    report.add_argument("file", nargs="?", help="with verify: the report file")
    report.add_argument("--format", choices=FORMATS, default="json")
    report.add_argument("--out", type=Path, help="write here (whole or not at all) instead of stdout")


async def sample(settings, args) -> int:
    if not (math.isfinite(args.weight_g) and args.weight_g > 0):
        print("error: weight_g must be a positive number", file=sys.stderr)
        return 1
    async with services_for_a_command(settings) as services:
        values = {"weight_g": args.weight_g, "lot": args.lot, "crop": args.crop, "notes": args.notes}
        await set_sample(services.pool, None, args.folder, values, "operator (command line)")
        print(f"folder {args.folder}: sample of {args.weight_g:g} g recorded")
    return 0


async def report(settings, args) -> int:
    if args.folder == "verify":
        if not args.file:
            print("error: report verify FILE", file=sys.stderr)
            return 2
        try:
            ok, why = verify(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            print(f"error: cannot read {args.file}: {error}", file=sys.stderr)
            return 2
        print(f"{args.file}: {why}", file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    async with services_for_a_command(settings) as services:
        content, _ = await services.reports.report(None, args.folder, args.format)
    if args.out is None:
        sys.stdout.write(content)
    else:
        with written_whole(args.out, "w", encoding="utf-8") as out:
            out.write(content)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
