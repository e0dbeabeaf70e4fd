"""A tiny web server on loopback, standing in for a site outside Azure that a copy can read.

Azure's Copy Blob reads any URL an anonymous HTTP GET can read; so does the copy engine. This
server answers HEAD and GET for the files it was given, with a length and a strong ETag, and
nothing else. It runs in a daemon thread so the demo's main thread stays free for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote


class _FileHandler(BaseHTTPRequestHandler):
    """Serves `server.files` by path; 404 for anything else."""

    server: _OriginHTTPServer

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        found = self.server.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        data, etag = found
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.end_headers()
        if with_body:
            # The reader may go away mid-body (an aborted copy): nothing to tell anyone.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep quiet: the demo narrates what matters."""


class _OriginHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, tuple[bytes, str]]


class OriginServer:
    """An HTTP server on a free loopback port serving `files` ({name: bytes}) under /files/."""

    def __init__(self, files: dict[str, bytes], host: str = "127.0.0.1") -> None:
        self._server = _OriginHTTPServer((host, 0), _FileHandler)
        self._server.files = {
            f"/files/{quote(name)}": (data, f'"{hashlib.md5(data).hexdigest()}"')
            for name, data in files.items()
        }
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-origin", daemon=True
        )
        host_name, port = self._server.server_address[:2]
        self.base_url = f"http://{host_name!s}:{port}"

    def url(self, name: str) -> str:
        """The public URL of one served file."""
        return f"{self.base_url}/files/{quote(name)}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
