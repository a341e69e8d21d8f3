"""How much a real server logs under a timed Schemathesis fuzz (issue "Lab deployment": at most one
record per request, no traceback).

Starts hypercorn (one worker, JSON logs, a fresh embedded default in a temporary directory) from
a checkout on loopback, runs `st run --checks all` against it for a fixed time, then stops it and
counts what it wrote on stderr: records, bytes, records per request, by logger and level, and
tracebacks. Requests are counted by the server itself (`nachet_requests_total` on /metrics).
For a before/after pair give both the same `--schema` (a saved /openapi.json) and seed, so the
two servers meet the same requests.

Usage: python bench/log_fuzz_live.py [--server-root DIR] [--seconds 300] [--schema FILE] [--seed N]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded: the server answers or the run stops
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server was not ready in time")


def stop(process: subprocess.Popen, sig: signal.Signals, seconds: float) -> None:
    """Ask the process to stop with `sig`; killed if it has not within `seconds`."""
    process.send_signal(sig)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def requests_served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("nachet_http_requests_total{")
        )
    )


def main(root: Path, seconds: float, schema: str | None, seed: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="nachet-live-fuzz-") as data:
        log_path = Path(data) / "server.log"
        env = {**os.environ, "NACHET_DATA_DIR": f"{data}/store", "NACHET_LOG_FORMAT": "json"}
        env.pop("NACHET_ACCESS_LOG_PROBES", None)
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "app:app"],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_ready(url, server)
                started_at = log_path.stat().st_size  # start-up lines are not the fuzz's
                before = requests_served(url)
                st = [str(Path(sys.executable).parent / "st"), "run", schema or f"{url}/openapi.json"]
                st += ["--url", url, "--checks", "all", "--max-examples", "100000", "--seed", str(seed)]
                st += ["--no-color", "--request-timeout", "60"]
                fuzz = subprocess.Popen(
                    st, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent
                )
                try:
                    fuzz.wait(timeout=seconds)
                except subprocess.TimeoutExpired:
                    stop(fuzz, signal.SIGINT, 30)
                served = requests_served(url) - before - 1  # less this scrape's own request
            finally:
                stop(server, signal.SIGTERM, 60)
        raw = log_path.read_bytes()[started_at:]
    lines = [line for line in raw.decode(errors="replace").splitlines() if line.strip()]
    records, kinds, tracebacks = 0, collections.Counter(), 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            kinds["(not JSON)", "?"] += 1
            tracebacks += line.startswith("Traceback")
            continue
        records += 1
        kinds[record.get("logger", "?"), record.get("level", "?")] += 1
        tracebacks += bool(record.get("exc_info") or record.get("traceback") or "Traceback" in line)
    print(f"server from     {root}")
    print(f"fuzz            {seconds:.0f} s of `st run --checks all` (seed {seed})")
    print(f"requests        {served}")
    print(f"log             {len(raw):,} bytes in {len(lines)} lines ({records} JSON records)")
    print(f"per request     {len(lines) / max(served, 1):.2f} lines, {len(raw) / max(served, 1):,.0f} bytes")
    print(f"tracebacks      {tracebacks}")
    for (logger, level), count in kinds.most_common():
        print(f"  {count:6d}  {logger} {level}")
    if re.search(rb"Traceback", raw):
        print("  (a traceback's text is in the log)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-root", type=Path, default=HERE.parent, help="the checkout whose app runs")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--schema", help="an OpenAPI file or URL (default: the server's own)")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    main(args.server_root.resolve(), args.seconds, args.schema, args.seed)
