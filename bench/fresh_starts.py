"""Fresh two-worker starts on the embedded default: how many leave a blob container no user owns.

Both workers of `hypercorn -w 2` register the default user at start, about a millisecond apart.
Each start here uses a new data directory; once both workers serve, the server is stopped and the
user containers of the file blob store are counted (one user is registered: one container).

    python bench/fresh_starts.py [--starts 9] [--root DIR]

Run it from a checkout; `--root` runs another checkout (a worktree of an older commit) with this
interpreter. Loopback only; each start is bounded (120 s).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(root: Path, data_dir: Path) -> int:
    """The number of user containers after one fresh start."""
    port = free_port()
    env = {**os.environ, "NACHET_DATA_DIR": str(data_dir)}
    with open(data_dir.parent / f"{data_dir.name}.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "2", "app:app"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                text = (data_dir.parent / f"{data_dir.name}.log").read_text()
                if text.count("Running on") >= 2:  # both workers are past their start-up
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"the server did not start in 120 s (log: {log.name})")
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(90)
    blob = data_dir / "blob"
    return sum(1 for p in blob.iterdir() if p.name.startswith("user-")) if blob.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=9)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    orphans = 0
    with tempfile.TemporaryDirectory(prefix="fresh-starts-") as tmp:
        for i in range(args.starts):
            containers = one_start(args.root, Path(tmp) / f"start{i}")
            orphans += containers > 1
            print(f"start {i + 1}: {containers} user container(s) for 1 user", flush=True)
    print(f"{orphans} of {args.starts} fresh two-worker starts left an orphan container")


if __name__ == "__main__":
    main()
