"""How much the app logs under a fuzz of every route (issue "Unbounded logs").

Runs tests/fuzz_bodies.py's requests (every field of every body with hostile values, whole odd
bodies, odd cookies and paths) in-process through the app's Quart test client, on a fresh
embedded default (PostgreSQL, filesystem blobs) in a temporary directory, and measures every
log record the app writes, formatted as production writes it (JSON lines). Prints the requests,
their statuses, the log bytes in all and per request (mean, max), and the tracebacks.
Usage: python bench/log_fuzz.py [--server-root DIR] [--per-field N]
(DIR: another checkout, e.g. a `git worktree add /tmp/before HEAD`, for before/after)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_fuzz():
    """tests/fuzz_bodies.py of this checkout, whatever checkout the app comes from."""
    spec = importlib.util.spec_from_file_location("nachet_fuzz", HERE.parent / "tests" / "fuzz_bodies.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nachet_fuzz"] = module
    spec.loader.exec_module(module)
    return module


async def main(root: Path, per_field: int | None) -> None:
    fuzz = load_fuzz()
    with tempfile.TemporaryDirectory(prefix="nachet-log-fuzz-") as data:
        os.environ["NACHET_DATA_DIR"] = data
        sys.path.insert(0, str(root))
        import app as app_module  # the app of `root` (its import configures stderr logging)
        from nachet.config import load_settings
        from nachet.logs import JsonLines, RequestContext
        from nachet.runtime import close_services, open_services

        print(f"app from {Path(app_module.__file__).resolve().parent}", flush=True)
        root_logger = logging.getLogger()
        for handler in [h for h in root_logger.handlers if h.get_name() == "nachet"]:
            root_logger.removeHandler(handler)  # measured, not printed
        settings = load_settings(
            {"NACHET_DATA_DIR": data, "NACHET_ENV": "local"}, dotenv=False
        )  # /get-user-id reads its body
        services = await open_services(settings)
        try:
            client = app_module.create_app(settings, ready=services).test_client()
            known = await fuzz.prepare(services)
            cases = fuzz.requests(known, random.Random(20261203), per_field)
            meter = fuzz.LogMeter(JsonLines(), RequestContext())
            statuses: collections.Counter[str] = collections.Counter()
            largest = (0, "")
            started = time.perf_counter()
            with meter.installed():
                for case in cases:
                    outcome = await fuzz.send(client, case, meter)
                    statuses[f"{outcome.status // 100}xx"] += 1
                    if outcome.log_bytes > largest[0]:
                        largest = (outcome.log_bytes, case.label)
            elapsed = time.perf_counter() - started
        finally:
            await close_services(services)
    print(f"requests        {len(cases)} in {elapsed:.1f} s ({dict(sorted(statuses.items()))})")
    print(f"log             {meter.bytes:,} bytes in {meter.lines} lines")
    print(f"per request     {meter.bytes / len(cases):,.0f} bytes mean, {largest[0]:,} max ({largest[1]})")
    print(f"tracebacks      {len(meter.tracebacks)}")
    first_lines = collections.Counter(_cause(t) for t in meter.tracebacks)
    for cause, count in first_lines.most_common():
        print(f"  {count:5d}  {cause}")


def _cause(line: str) -> str:
    """The exception a traceback ends with (its last 'Error: ...' line), shortened."""
    text = line.replace("\\n", "\n")
    lines = [part for part in text.splitlines() if part and not part.startswith(" ")]
    return (lines[-1] if lines else text)[:120]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-root", type=Path, default=HERE.parent, help="the checkout whose app runs")
    parser.add_argument("--per-field", type=int, default=None, help="values tried per field (default all)")
    args = parser.parse_args()
    asyncio.run(main(args.server_root.resolve(), args.per_field))
