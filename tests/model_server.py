"""A real HTTP model server on loopback speaking the Azure ML protocol of the original's models
(local-models §1), with switches to misbehave. It records what it received."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

KEY = "secret-model-key"


class ModelServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.boxes = [
            {
                "box": {"topX": 0.1, "topY": 0.1, "bottomX": 0.3, "bottomY": 0.4},
                "label": "seed",
                "score": 0.9,
            },
            {
                "box": {"topX": 0.5, "topY": 0.5, "bottomX": 0.9, "bottomY": 0.8},
                "label": "seed",
                "score": 0.8,
            },
        ]
        # crop width in pixels -> class label: lets tests tell crops apart
        self.labels = ["012 Ambrosia artemisiifolia", "000 Brassica napus"]
        self.ensemble_b_label = "013 Ambrosia trifida"
        self.delay_s = 0.0
        self.hold: threading.Event | None = None  # when set: every answer waits for it (30 s at most)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                status, answer = server.answer(self.path, self.headers, body)
                if status is None:  # hang up without answering
                    self.close_connection = True
                    return
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.hold is not None:
                    server.hold.wait(30)
                raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str, headers, body: bytes):
        if headers.get("Authorization") != f"Bearer {KEY}":
            return 401, {"error": "bad key"}
        kind = path.strip("/").split("/")[0]
        if kind.startswith("status"):
            return int(kind[len("status") :]), {"error": "as asked"}
        if kind == "notjson":
            return 200, b"<html>oops</html>"
        if kind in ("nan", "infinity"):
            score = b"NaN" if kind == "nan" else b"-Infinity"
            return (
                200,
                b'{"filename": "tmp", "boxes": [{"box": {"topX": 0.1, "topY": 0.1, "bottomX": 0.3, '
                b'"bottomY": 0.4}, "label": "seed", "score": ' + score + b"}]}",
            )
        if kind == "hangup":
            return None, None
        if kind == "detect":
            json.loads(body)["input_data"]["data"][0]
            return 200, {"filename": "tmp", "boxes": self.boxes}
        if kind == "outside":
            return 200, {
                "filename": "tmp",
                "boxes": [{"box": {"topX": -0.2, "topY": 0, "bottomX": 1.4, "bottomY": 1}}],
            }
        if kind in ("classify", "ensemble-b"):
            crop = Image.open(io.BytesIO(base64.b64decode(body)))
            index = 0 if crop.size[0] < 100 else 1
            label = self.ensemble_b_label if kind == "ensemble-b" else self.labels[index]
            return 200, [{"label": label, "score": 0.75}, {"label": "005 Bromus secalinus", "score": 0.2}]
        if kind == "sixseeds":
            return 200, [
                {
                    "filename": "six",
                    "boxes": [dict(b, label="Lolium temulentum", score=0.6) for b in self.boxes],
                }
            ]
        return 404, {"error": "no such deployment"}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
