"""A loopback stand-in for the Hub's upload endpoints: records every request and the files committed."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    """Serves create-repo, create-branch, preupload (all files 'regular') and commit on 127.0.0.1."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.files: dict[str, bytes] = {}
        self.commits: list[dict[str, Any]] = []
        self.validated_yaml: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path, dict(self.headers)))
                match = re.match(r"/api/datasets/([^/]+/[^/]+)(?:/revision/([^/?]+))?", self.path)
                if match:
                    files = [{"rfilename": p} for p in sorted(hub.files)]
                    self._reply(
                        200, {"id": match.group(1), "sha": "0" * 40, "siblings": files, "private": False}
                    )
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self._body()
                hub.requests.append(("POST", self.path, dict(self.headers)))
                if self.path.startswith("/api/repos/create"):
                    doc = json.loads(body)
                    hub.created.append(doc)
                    name = "/".join(filter(None, [doc.get("organization"), doc["name"]]))
                    self._reply(200, {"url": f"{hub.url}/datasets/{name}"})
                elif self.path.startswith("/api/validate-yaml"):
                    hub.validated_yaml.append(json.loads(body))
                    self._reply(200, {"errors": [], "warnings": []})
                elif "/branch/" in self.path:
                    self._reply(200, {})
                elif "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                elif "/commit/" in self.path:
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    for line in lines:
                        if line["key"] == "file":
                            hub.files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                    hub.commits.append(lines[0]["value"])
                    repo = self.path.split("/api/datasets/")[1].split("/commit/")[0]
                    self._reply(
                        200,
                        {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{'1' * 40}", "commitOid": "1" * 40},
                    )
                else:
                    self._reply(404, {"error": f"unexpected {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
