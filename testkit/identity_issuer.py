"""Real parts for the identity tests: an identity provider on loopback (OpenID configuration and
JWKS, counting how often it is asked) and signing keys made here."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

AUDIENCE = "nachet-api"


class Issuer:
    """Serves /.well-known/openid-configuration and /jwks.json on 127.0.0.1."""

    def __init__(self) -> None:
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.discoveries = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/jwks.json":
                    issuer.fetches += 1
                    body = issuer.jwks()
                elif self.path == "/.well-known/openid-configuration":
                    issuer.discoveries += 1
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json"}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private[kid].public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
        return {"keys": keys}

    def token(self, kid: str, email: str | None = "alice@example.org", **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "iat": now, "exp": now + 300, **claims}
        if email is not None:
            payload.setdefault("email", email)
        return jwt.encode(payload, self.private[kid], algorithm="ES256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
