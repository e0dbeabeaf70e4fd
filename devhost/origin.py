"""A web server outside Azure, on loopback: what a Copy Blob from an external URL reads.

Azure's Copy Blob reads any URL that an anonymous HTTP GET can read; so does the copy engine.
This server answers HEAD and GET for the files it serves, with a length, a strong ETag (so a
change mid-copy is detected), `If-Match`, and byte ranges, as a typical web server does. The demo
and the tests share it; it runs in a daemon thread so the caller's main thread stays free.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from devhost.lifetime import Service

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


class _FileHandler(BaseHTTPRequestHandler):
    """Serves `server.origin`'s files by path; 404 for anything else."""

    server: _OriginHTTPServer

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        data = self.server.origin.get(self.path.split("?", 1)[0])
        if data is None:
            self.send_error(404)
            return
        etag = _etag(data)
        if self.headers.get("If-Match", etag) != etag:
            self.send_error(412)
            return
        status, body, content_range = 200, data, None
        match = _RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            status, body = 206, data[start : end + 1]
            content_range = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        if content_range:
            self.send_header("Content-Range", content_range)
        self.end_headers()
        if send_body:
            # The reader may go away mid-body (an aborted copy): nothing to tell anyone.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep quiet: callers narrate what matters."""


class _OriginHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    origin: OriginServer


class OriginServer(Service):
    """An HTTP server on a free loopback port; `serve()` publishes bytes under /files/."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = _OriginHTTPServer((host, 0), _FileHandler)
        self._server.origin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="origin-server", daemon=True
        )
        host_name, port = self._server.server_address[:2]
        self.base_url = f"http://{host_name!s}:{port}"

    def get(self, path: str) -> bytes | None:
        """The bytes served at `path`, if any."""
        with self._lock:
            return self._files.get(path)

    def serve(self, data: bytes, name: str = "file.bin", *, unique: bool = True) -> str:
        """Serve `data` as `name` (under a unique folder unless told otherwise); its URL."""
        folder = f"/files/{uuid.uuid4().hex}" if unique else "/files"
        path = f"{folder}/{quote(name)}"
        with self._lock:
            self._files[path] = data
        return self.base_url + path

    def replace(self, url: str, data: bytes) -> None:
        """Change the content (and so the ETag) of a file already served."""
        path = url.removeprefix(self.base_url)
        with self._lock:
            if path not in self._files:
                raise KeyError(f"not served here: {url}")
            self._files[path] = data

    def clear(self) -> None:
        """Stop serving every file."""
        with self._lock:
            self._files.clear()

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
