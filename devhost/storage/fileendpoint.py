"""A read-only Azure Files endpoint: Get File and Get File Properties through a service SAS.

Azurite has no File service. Copy Blob reads a file source with plain GET and HEAD on the SAS
URL it was given, so this endpoint serves exactly that, the way Azure Files answers a
SAS-authorised read, and the service's own code paths (file URL recognition, the file SAS it
signs, redaction, the destination type check) run for real:

- the SAS is verified as the File service does: `sv`, `se` (and `st`), `sr` of `f` (the file)
  or `s` (its share), `sp` with `r`, and `sig` over the File service's string-to-sign, signed
  with the account key (`/file/<account>/<share>/<path>`); a user delegation SAS cannot be
  checked here (no Entra ID) and is refused;
- answers carry what Get File answers: Content-* headers, ETag, Last-Modified, `x-ms-meta-*`,
  `x-ms-type: File`, `Accept-Ranges: bytes`, `x-ms-file-*` and `x-ms-lease-*` of a file, and no
  `x-ms-blob-*` header (so the engine's copy makes a block blob, as Azure's does);
- `Range` and `x-ms-range` are honoured; conditional headers are ignored, as Get File has
  none (a file changed during its copy is not detected by the read);
- a missing file answers `404 ResourceNotFound`, a missing share `404 ShareNotFound`.

The share's files are the blobs of the container of the same name in the same account:
`/<account>/<share>/dir/f.txt` reads blob `dir/f.txt` of container `<share>` from Azurite.
Writes are not offered (405): tests put a file there by uploading that blob.
"""

from __future__ import annotations

import datetime as dt
import hmac
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from devhost.storage import proxy, sharedkey
from devhost.storage.errors import error_response, service_headers

#: Blob answer headers a file answer also has (everything else blob-specific is dropped).
KEPT_HEADERS = frozenset(
    {
        "content-length",
        "content-type",
        "content-range",
        "content-md5",
        "content-encoding",
        "content-language",
        "content-disposition",
        "cache-control",
        "etag",
        "last-modified",
        "accept-ranges",
        "x-ms-server-encrypted",
    }
)
#: What Get File adds for an SMB file with default properties and no lease.
FILE_HEADERS = {
    "x-ms-type": "File",
    "Accept-Ranges": "bytes",
    "x-ms-file-attributes": "Archive",
    "x-ms-file-permission-key": "4066528134148476695*1",
    "x-ms-file-id": "13835128424026341376",
    "x-ms-file-parent-id": "0",
    "x-ms-lease-status": "unlocked",
    "x-ms-lease-state": "available",
}
_AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is "
    "formed correctly including the signature."
)


def string_to_sign(query: dict[str, str], account: str, share: str, path: str) -> str:
    """The File service SAS string-to-sign (service SAS, version 2018-11-09 and later)."""
    resource = f"/file/{account}/{share}" + (f"/{path}" if query.get("sr") == "f" else "")
    fields = [
        query.get("sp", ""),
        query.get("st", ""),
        query.get("se", ""),
        resource,
        query.get("si", ""),
        query.get("sip", ""),
        query.get("spr", ""),
        query.get("sv", ""),
        *(query.get(name, "") for name in ("rscc", "rscd", "rsce", "rscl", "rsct")),
    ]
    return "\n".join(fields)


def _instant(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def sas_refusal(
    query: dict[str, str], account: str, share: str, path: str, key: str
) -> tuple[int, str, str] | None:
    """Why the File service would refuse this SAS read (status, code, message), or None."""
    if "sig" not in query:
        return 401, "NoAuthenticationInformation", "A SAS is required to read this file."
    if "skoid" in query:
        return 403, "AuthenticationFailed", "This endpoint verifies key-signed SAS only."
    if query.get("sr") not in ("f", "s") or not query.get("sv"):
        return 403, "AuthenticationFailed", _AUTH_FAILED
    expected = sharedkey.signature(key, string_to_sign(query, account, share, path))
    if not hmac.compare_digest(expected, query["sig"]):
        return 403, "AuthenticationFailed", _AUTH_FAILED
    now = dt.datetime.now(dt.UTC)
    start, expiry = _instant(query.get("st", "")), _instant(query.get("se", ""))
    if expiry is None or expiry < now or (start is not None and start > now):
        return 403, "AuthenticationFailed", "Signed expiry time or start time is not valid."
    if "r" not in query.get("sp", ""):
        return 403, "AuthorizationPermissionMismatch", "The SAS does not grant read."
    return None


class FileEndpoint:
    """Serves GET and HEAD of files from their backing blobs in Azurite (signed with the key).

    `reads` counts the requests it answered, so tests can show a request never reached it.
    """

    def __init__(
        self, session: aiohttp.ClientSession, upstream: str, accounts: tuple[str, ...], key: str
    ) -> None:
        self.session = session
        self.upstream = upstream.rstrip("/")
        self.accounts = accounts
        self.key = key
        self.reads = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Get File / Get File Properties of `/<account>/<share>/<path>`."""
        self.reads += 1
        parts = request.raw_path.split("?", 1)[0].split("/", 3)
        if request.method not in ("GET", "HEAD"):
            return error_response(request, 405, "UnsupportedHttpVerb", "Only reads are served.")
        if len(parts) != 4 or parts[1] not in self.accounts or not parts[2] or not parts[3]:
            return error_response(request, 400, "InvalidUri", "Not a file URL of this endpoint.")
        account, share, path = parts[1], unquote(parts[2]), unquote(parts[3])
        query = {k: v for k, v in request.query.items()}
        refused = sas_refusal(query, account, share, path, self.key)
        if refused is not None:
            return error_response(request, *refused)
        return await self._read(request, account, parts[2], parts[3])

    async def _read(
        self, request: web.Request, account: str, raw_share: str, raw_path: str
    ) -> web.StreamResponse:
        raw = f"/{account}/{raw_share}/{raw_path}"
        headers = {"x-ms-version": "2021-12-02", "x-ms-date": formatdate(usegmt=True)}
        for name in ("Range", "x-ms-range"):
            if name in request.headers:
                headers[name] = request.headers[name]
        headers["Authorization"] = sharedkey.authorization(
            request.method, raw, "", headers, account, self.key
        )
        # encoded=True: the path goes as signed (a str URL would be requoted, %26 -> &)
        url = URL(self.upstream + raw, encoded=True)
        async with self.session.request(
            request.method, url, headers=headers, auto_decompress=False
        ) as resp:
            if resp.status >= 300:
                return self._missing(request, resp)
            out = CIMultiDict(service_headers(request))
            for name, value in resp.headers.items():
                if name.lower() in KEPT_HEADERS or name.lower().startswith("x-ms-meta-"):
                    out[name] = value
            out.update(self._file_times(resp.headers.get("Last-Modified")))
            out.update(FILE_HEADERS)
            return await proxy.relay(request, resp.status, resp.reason, out, resp.content)

    @staticmethod
    def _file_times(last_modified: str | None) -> dict[str, str]:
        """The SMB times Get File reports, from the backing blob's last write."""
        when = dt.datetime.now(dt.UTC)
        if last_modified:
            when = parsedate_to_datetime(last_modified)
        text = when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        return {
            "x-ms-file-creation-time": text,
            "x-ms-file-last-write-time": text,
            "x-ms-file-change-time": text,
        }

    @staticmethod
    def _missing(request: web.Request, resp: aiohttp.ClientResponse) -> web.Response:
        """Files' words for what is not there (the blob answers name blobs and containers)."""
        code = resp.headers.get("x-ms-error-code", "")
        if code == "ContainerNotFound":
            return error_response(
                request, 404, "ShareNotFound", "The specified share does not exist."
            )
        if code == "BlobNotFound":
            return error_response(
                request, 404, "ResourceNotFound", "The specified resource does not exist."
            )
        if resp.status == 416:
            return error_response(request, 416, "InvalidRange", "The range specified is invalid.")
        return error_response(request, resp.status, code or "InternalError", "The read failed.")
