"""List Blobs with `include=copy`: the engine's copy properties merged into Azurite's listing.

Listings are small XML documents, so this one answer is buffered and rewritten; every other
response is streamed untouched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp import web

from devhost.storage import proxy
from devhost.storage.copystate import CopyRecord, CopyStore
from devhost.storage.upstream import Upstream


def wants_copy_properties(request: web.Request) -> bool:
    """Whether this is List Blobs on a container asking for copy properties."""
    query = request.query
    parts = request.path.strip("/").split("/")
    return (
        request.method == "GET"
        and len(parts) == 2
        and query.get("restype") == "container"
        and query.get("comp") == "list"
        and "copy" in query.get("include", "").lower().split(",")
    )


def merge_copy_properties(body: bytes, records: dict[str, CopyRecord]) -> bytes:
    """The listing with each recorded base blob's Copy* properties replaced by the record's."""
    root = ET.fromstring(body)
    for blob in root.iter("Blob"):
        name = blob.findtext("Name")
        record = records.get(name or "")
        if record is None or blob.find("Snapshot") is not None:
            continue
        if blob.findtext("IsCurrentVersion", "true") == "false":
            continue
        props = blob.find("Properties")
        if props is None:
            continue
        for child in [c for c in props if c.tag.startswith("Copy")]:
            props.remove(child)
        for tag, value in record.list_properties().items():
            ET.SubElement(props, tag).text = value
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


async def list_with_copy(
    request: web.Request, upstream: Upstream, store: CopyStore
) -> web.StreamResponse:
    """Forward List Blobs; rewrite its body only if the container has copy records."""
    account, container = request.path.strip("/").split("/")
    records = store.in_container(account, container)
    if not records:
        return await proxy.forward(request, upstream.session, upstream.base)
    async with upstream.session.get(
        upstream.url(request.raw_path),
        headers=proxy.upstream_headers(request.headers),
        skip_auto_headers=("Accept-Encoding", "User-Agent"),
        auto_decompress=False,
    ) as resp:
        body = await resp.read()
        headers = proxy.response_headers(resp.headers)
        status = resp.status
    if status == 200 and "Content-Encoding" not in headers:
        body = merge_copy_properties(body, records)
    headers.popall("Content-Length", None)
    return web.Response(status=status, headers=headers, body=body)
