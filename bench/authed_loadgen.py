"""The shared load generator, with every request carrying the caller's credentials (secured mode):
NACHET_BENCH_COOKIE (a jxVouchCookie value) or NACHET_BENCH_TOKEN (an API token, sent as
`Authorization: Bearer`). Usage: python bench/authed_loadgen.py <loadgen arguments>"""

import os
import runpy
import sys
from pathlib import Path

import httpx

loadgen = Path(__file__).resolve().parents[2] / "shared" / "bench" / "loadgen.py"
original_init = httpx.AsyncClient.__init__


def with_credentials(self, *args, **kwargs):
    if os.environ.get("NACHET_BENCH_TOKEN"):
        kwargs["headers"] = {
            **(kwargs.get("headers") or {}),
            "Authorization": f"Bearer {os.environ['NACHET_BENCH_TOKEN']}",
        }
    if os.environ.get("NACHET_BENCH_COOKIE"):
        kwargs["cookies"] = {"jxVouchCookie": os.environ["NACHET_BENCH_COOKIE"]}
    original_init(self, *args, **kwargs)


httpx.AsyncClient.__init__ = with_credentials  # type: ignore[method-assign]
sys.argv = [str(loadgen), *sys.argv[1:]]
runpy.run_path(str(loadgen), run_name="__main__")
