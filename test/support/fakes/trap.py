"""A listener on another origin that records every request it gets: where a leaked token would arrive.

Tests point a `next` link, a Location header or a redirect of the local Bitbucket at it and then
assert it saw nothing. Its URL says `localhost` (the local Bitbucket says 127.0.0.1) on its own port,
so it is another origin in both host and port.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Trap:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        trap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _record(self) -> None:
                trap.requests.append((self.command, self.path, dict(self.headers.items())))
                payload = b'{"values": [], "id": 1}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _record

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self._server.server_address[1]}"

    def __enter__(self) -> Trap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
