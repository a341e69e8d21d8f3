"""What identifying a caller costs per request, measured in-process on the embedded database:
wall and CPU microseconds per `Identity.identify` (Vouch HS256 cookie, API token, OIDC ES256
bearer against a JWKS served on loopback) and per rate-limit take.
Usage: python bench/identity_cost.py [--n 3000]"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from identity import Identity, RateLimit  # noqa: E402
from identity.api_tokens import create_token  # noqa: E402
from identity.vouch import make_vouch_cookie  # noqa: E402
from nachet.config import load_settings  # noqa: E402
from nachet.runtime import close_services, open_services  # noqa: E402
from testkit.identity_issuer import AUDIENCE, Issuer  # noqa: E402

SECRET = "bench-secret-of-at-least-thirty-two-bytes"


async def measure(label: str, n: int, call) -> None:
    for _ in range(50):  # warm: caches, JWKS, prepared statements
        await call()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await call()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"{label:<44} {wall / n * 1e6:8.0f} us wall {cpu / n * 1e6:8.0f} us CPU per request")


async def main(n: int) -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    with tempfile.TemporaryDirectory() as data:
        env = {
            "NACHET_DATA_DIR": data,
            "NACHET_VOUCH_JWT_SECRET": SECRET,
            "NACHET_API_TOKENS": "true",
            "NACHET_OIDC_ISSUER": issuer.url,
            "NACHET_OIDC_AUDIENCE": AUDIENCE,
        }
        settings = load_settings(env, dotenv=False)
        services = await open_services(settings)
        try:
            email = "bench-identity@example.org"
            await services.storage.ensure_user(email)
            identity = Identity.from_settings(settings, services.pool)
            cookie = make_vouch_cookie(email, SECRET, exp=time.time() + 3600)
            _, token = await create_token(services.pool, email)
            bearer = f"Bearer {issuer.token('k1', email, exp=int(time.time()) + 3600)}"
            limit = RateLimit("bench", 10**9, 1.0)
            await measure("Vouch cookie (HS256) + user lookup", n, lambda: identity.identify(cookie, None))
            await measure(
                "API token (SHA-256 + lookup)", n, lambda: identity.identify(None, f"Bearer {token}")
            )
            await measure(
                "OIDC bearer (ES256, cached JWKS) + lookup", n, lambda: identity.identify(None, bearer)
            )
            await measure("rate limit take (one UPSERT)", n, lambda: limit.take(services.pool, "bench"))
            print(f"JWKS fetches: {issuer.fetches}")
            await identity.close()
        finally:
            await close_services(services)
            issuer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    asyncio.run(main(parser.parse_args().n))
