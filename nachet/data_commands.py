"""The data tools of the command line: `measurements export`, `export`, `import-folder` and
`classify` (README "Data tools"). Each opens the services, does its work and says in one line
what went wrong (exit 1)."""

from __future__ import annotations

import sys
from pathlib import Path

from .runtime import services_for_a_command


def add_data_commands(sub) -> None:
    measures = sub.add_parser("measurements", help="per-seed measurements").add_subparsers(
        dest="action", required=True
    )
    csv_file = measures.add_parser("export", help="write every measured seed to a CSV file")
    csv_file.add_argument("out", help="the CSV file to write")
    csv_file.add_argument("--user", help="only this user's (email)")
    csv_file.add_argument(
        "--include-doubtful", action="store_true", help="also seeds whose outline is doubtful (quality)"
    )
    dataset = sub.add_parser("export", help="pictures and labelled boxes as a training set")
    dataset.add_argument("--format", required=True, help="coco, yolo or labelstudio")
    dataset.add_argument("--user", help="only this user's pictures (email)")
    dataset.add_argument("--folder", help="only this folder (its id, or its name)")
    dataset.add_argument(
        "--verified-only", action="store_true", help="only boxes users confirmed or corrected"
    )
    dataset.add_argument(
        "--include-unknown",
        action="store_true",
        help='also boxes labelled "Unknown seed" (a class of its own)',
    )
    dataset.add_argument("out", help="the directory to create (absent or empty)")
    imports = sub.add_parser(
        "import-folder", help="a directory with one sub-folder per species -> labelled batch"
    )
    imports.add_argument("dir")
    imports.add_argument("--user", required=True, help="whose folder it becomes (email)")
    imports.add_argument("--folder", help="the folder's name (default: the directory's)")
    imports.add_argument("--strict", action="store_true", help="refuse it all if anything would be skipped")
    imports.add_argument(
        "--create-species", action="store_true", help="a sub-folder naming no catalogue species adds it"
    )
    seeds = sub.add_parser("seeds", help="the seed catalogue").add_subparsers(dest="action", required=True)
    seeds.add_parser("add", help="add a species (nothing if it is there)").add_argument("name")
    pictures = sub.add_parser("classify", help="run the default pipeline on pictures, offline")
    pictures.add_argument("images", nargs="+")
    pictures.add_argument("--out", required=True, help="where <name>.png (boxes drawn) and <name>.json go")
    pictures.add_argument("--pipeline", help="another pipeline than the default")


async def measurements(settings, args) -> int:
    from usecases.measurements import export_measurements

    written = await _writing(
        settings,
        args.out,
        lambda services: export_measurements(services.pool, Path(args.out), args.user, args.include_doubtful),
    )
    if written is None:
        return 1
    print(f"{written} measured seed(s) written to {args.out}", file=sys.stderr)
    return 0


async def _writing(settings, out: str, work):
    """`work(services)`'s result; None (said in one line) when OUT cannot be written."""
    async with services_for_a_command(settings) as services:
        try:
            return await work(services)
        except OSError as error:
            print(f"error: cannot write {out}: {error.strerror or error}", file=sys.stderr)
            return None


def _progress(what: str):
    """A progress bar on stderr (at a terminal; silent in logs and pipes)."""
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=what, disable=None, file=sys.stderr)


async def export(settings, args) -> int:
    from usecases.datasets import export_dataset

    selection = (args.user, args.folder, args.verified_only)
    written = await _writing(
        settings,
        args.out,
        lambda services: export_dataset(
            services,
            args.format,
            Path(args.out),
            *selection,
            progress=_progress("pictures"),
            include_unknown=args.include_unknown,
        ),
    )
    if written is None:
        return 1
    pictures, boxes = written
    print(f"{pictures} picture(s) and {boxes} box(es) written to {args.out} ({args.format})", file=sys.stderr)
    return 0


async def import_folder(settings, args) -> int:
    from usecases.lab_tools import import_folder as import_pictures

    async with services_for_a_command(settings) as services:
        report = await import_pictures(
            services,
            Path(args.dir),
            args.user,
            args.folder,
            args.strict,
            _progress("uploads"),
            create_species=args.create_species,
        )
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    counts = ", ".join(f"{species}: {n}" for species, n in report.imported.items())
    print(f"imported into folder {report.folder}: {counts}")
    print(
        "the classifier learns them as task workers run (a server, or: python -m nachet worker --until-idle)"
    )
    return 0


async def seeds(settings, args) -> int:
    async with services_for_a_command(settings) as services:
        seed_id, name, new = await services.storage.add_seed(args.name)
    print(f"{name}: {'added' if new else 'already in the catalogue'} ({seed_id})")
    return 0


async def classify(settings, args) -> int:
    from usecases.lab_tools import classify_pictures

    async def run(services):
        await services.pipelines.start()
        await services.learner.start()
        images = [Path(p) for p in args.images]
        return await classify_pictures(services, images, Path(args.out), args.pipeline, _progress("pictures"))

    failures = await _writing(settings, args.out, run)
    if failures is None:
        return 1
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    print(f"{len(args.images) - len(failures)} picture(s) classified into {args.out}", file=sys.stderr)
    return 1 if failures else 0
