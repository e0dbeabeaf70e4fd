"""Blob versions, emulated for chosen containers with Azurite's snapshots.

Azurite keeps no versions, so a `?versionid=` source could not be exercised. With versioning on
for a container (`StorageStack.enable_versioning`; Azure turns it on per account, the engine
per container so the other tests sharing an account are unaffected):

- every write that makes a new version in Azure (Put Blob, Put Block List, Set Blob Metadata,
  a synchronous Copy Blob) is forwarded, and once Azurite accepted it the engine takes a
  snapshot of the blob: that snapshot is the new current version, and its time is the
  `x-ms-version-id` the answer carries (version ids and snapshot times have the same form);
- a read of `?versionid=V` (Get Blob, Get Blob Properties) is Azurite's read of snapshot V;
- a same-account Copy Blob whose `x-ms-copy-source` names `?versionid=V` copies snapshot V.

Requests the engine changes (the query or the copy source) are checked against the client's
Shared Key signature and signed again with the account key; a SAS or bearer request naming a
version is refused (400). Not emulated: versions made by asynchronous (cross-account) copies,
a version as the source of a cross-account copy, listing versions, deleting a version, and a
delete keeping the previous versions (Azurite refuses to delete a blob that has snapshots).
"""

from __future__ import annotations

from email.utils import formatdate
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from devhost.storage import proxy, sharedkey
from devhost.storage.copystate import BlobKey
from devhost.storage.errors import error_response
from devhost.storage.upstream import BlobRef, UpstreamClient

#: `comp` values of the writes that make a new version (None: Put Blob or Copy Blob).
VERSION_WRITES = {None, "blocklist", "metadata"}
_UNSIGNED = (
    "The engine emulates blob versions for Shared Key requests only (it must sign the "
    "request again to read the version's snapshot)."
)


def _key(request: web.Request) -> BlobKey | None:
    parts = request.path.split("/", 3)
    if len(parts) != 4 or not all(parts[1:]):
        return None
    return (parts[1], parts[2], parts[3])


def version_as_snapshot(url: str) -> str:
    """The URL with `versionid=V` (any case) as `snapshot=V`; other query parameters dropped
    (a same-account copy source needs no SAS: the request's own credential reads it)."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() == "versionid"]
    query = urlencode([("snapshot", v) for _, v in pairs])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _names_version(url: str) -> bool:
    return any(k.lower() == "versionid" for k, _ in parse_qsl(urlsplit(url).query))


class Versions:
    """The containers with versioning on, and the requests that touch their versions."""

    def __init__(self, session: aiohttp.ClientSession, upstream: URL, key: str) -> None:
        self.session = session
        self.upstream = upstream
        self.key = key
        self.client = UpstreamClient(session, upstream, key)
        self.containers: set[tuple[str, str]] = set()

    def enable(self, account: str, container: str) -> None:
        """Keep versions of the blobs of this container from now on."""
        self.containers.add((account, container))

    async def serve(
        self, request: web.Request, rewrite: proxy.HeaderHook | None = None
    ) -> web.StreamResponse | None:
        """The engine's answer to a request on a versioned blob, or None to forward it as is.

        `rewrite` is the copy manager's hook for the answer (it drops copy records on writes).
        """
        key = _key(request)
        if key is None or key[:2] not in self.containers:
            return None
        version = next((v for k, v in request.query.items() if k.lower() == "versionid"), None)
        if version is not None:
            return await self._read_version(request, version)
        comp = request.query.get("comp")
        if request.method != "PUT" or comp not in VERSION_WRITES or "snapshot" in request.query:
            return None
        return await self._write(request, key, rewrite)

    def _verified(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        raw_path, _, raw_query = request.raw_path.partition("?")
        return auth.startswith("SharedKey ") and sharedkey.verify(
            request.method, raw_path, raw_query, request.headers.items(), auth, self.key
        )

    def _signed(self, request: web.Request, raw_query: str, **changed: str) -> CIMultiDict[str]:
        """The client's headers with `changed` applied, signed again with the account key."""
        headers = proxy.upstream_headers(request.headers)
        for name, value in changed.items():
            headers[name] = value
        headers["x-ms-date"] = formatdate(usegmt=True)
        account = request.path.split("/")[1]
        headers["Authorization"] = sharedkey.authorization(
            request.method,
            request.raw_path.partition("?")[0],
            raw_query,
            headers,
            account,
            self.key,
        )
        return headers

    async def _read_version(self, request: web.Request, version: str) -> web.StreamResponse:
        """Get Blob (Properties) of a version: the read of its snapshot, signed by us."""
        if request.method not in ("GET", "HEAD"):
            return error_response(request, 400, "UnsupportedHttpVerb", "Versions are read only.")
        if not self._verified(request):
            return error_response(request, 400, "InvalidQueryParameterValue", _UNSIGNED)
        pairs = [(k, v) for k, v in request.query.items() if k.lower() != "versionid"]
        raw_query = urlencode([*pairs, ("snapshot", version)])
        headers = self._signed(request, raw_query)
        url = URL(f"{self.upstream.origin()}{request.raw_path.partition('?')[0]}?{raw_query}")
        async with self.session.request(
            request.method, URL(str(url), encoded=True), headers=headers, auto_decompress=False
        ) as resp:
            out = proxy.response_headers(resp.headers)
            if resp.status < 300:
                out["x-ms-version-id"] = version
                out.pop("x-ms-snapshot", None)
            return await proxy.relay(request, resp.status, resp.reason, out, resp.content)

    async def _write(
        self, request: web.Request, key: BlobKey, rewrite: proxy.HeaderHook | None
    ) -> web.StreamResponse:
        """Forward a write; once Azurite took it, snapshot the blob as its new version."""
        headers = proxy.upstream_headers(request.headers)
        source = request.headers.get("x-ms-copy-source")
        if source is not None and _names_version(source):
            if not self._verified(request):
                return error_response(request, 400, "InvalidQueryParameterValue", _UNSIGNED)
            raw_query = request.raw_path.partition("?")[2]
            copy_source = version_as_snapshot(source)
            headers = self._signed(request, raw_query, **{"x-ms-copy-source": copy_source})
        body = request.content if request.can_read_body else None
        async with self.session.request(
            "PUT",
            proxy_url(self.upstream, request.raw_path),
            headers=headers,
            data=body,
            skip_auto_headers=("Content-Type",),
        ) as resp:
            content = await resp.read()
            out = proxy.response_headers(resp.headers)
            status = resp.status
        if status < 300:
            snapshot = await self.client.call("PUT", BlobRef(*key), query={"comp": "snapshot"})
            if snapshot.ok and snapshot.headers.get("x-ms-snapshot"):
                out["x-ms-version-id"] = snapshot.headers["x-ms-snapshot"]
        if rewrite is not None:
            rewrite(status, out)
        out.pop("Content-Length", None)
        return web.Response(status=status, headers=out, body=content)


def proxy_url(upstream: URL, raw_path: str) -> URL:
    """The same raw path and query on Azurite."""
    return URL(str(upstream.origin()) + raw_path, encoded=True)
