"""A pending copy's plan: what the engine needs to go on with it after a restart.

In Azure a pending copy goes on whatever happens to the app that started it; the copy engine
was kinder to nobody and harsher than Azure (an engine restart failed every pending copy,
"The copy engine stopped during the copy"). Now the verified source (how to read it, its length
and ETag, what it is) and the destination's writer settings are kept beside the copy's record
(copystate.py `plans`), and a restarted engine copies from the start again: the destination is
emptied, the source read anew under its original ETag, so a source changed meanwhile fails the
copy as it would have mid-copy.

The plan is plain JSON; the engine's account key is never in it (a read the engine signs is
signed at resume with the engine's key of the moment).
"""

from __future__ import annotations

from typing import Any

from yarl import URL

from devhost.storage.copyjob import DestinationWriter
from devhost.storage.source import CopySource, SourceAccess
from devhost.storage.upstream import BlobRef, UpstreamClient


def plan_of(source: CopySource, writer: DestinationWriter, upstream: URL) -> dict[str, Any]:
    """The JSON that rebuilds `source` and `writer`. A source in the engine's own accounts is
    read from Azurite (`upstream`), whose port may change between runs: it is kept as a path."""
    access = source.access
    own = access.url.origin() == upstream.origin()
    return {
        "source": {
            "url": access.url.raw_path_qs if own else str(access.url),
            "own": own,
            "headers": access.headers,
            "signing_account": access.signing_account,
            "length": source.length,
            "etag": source.etag,
            "blob_type": source.blob_type,
            "content": source.content,
            "metadata": source.metadata,
            "ranged": source.ranged,
        },
        "writer": {
            "blob_type": writer.blob_type,
            "content": writer.content,
            "metadata": writer.metadata,
            "lease_id": writer.lease_id,
            "tags": writer.tags,
            "tier": writer.tier,
        },
    }


def source_of(plan: dict[str, Any], account_key: str, upstream: URL) -> CopySource:
    """The verified source a plan describes, an own-account source read from `upstream`."""
    kept = plan["source"]
    signing = kept["signing_account"]
    url = str(upstream.origin()) + kept["url"] if kept["own"] else kept["url"]
    access = SourceAccess(
        url=URL(url, encoded=True),
        headers=dict(kept["headers"]),
        signing_account=signing,
        signing_key=account_key if signing else None,
    )
    return CopySource(
        access=access,
        length=kept["length"],
        etag=kept["etag"],
        blob_type=kept["blob_type"],
        content=dict(kept["content"]),
        metadata=dict(kept["metadata"]),
        ranged=bool(kept["ranged"]),
    )


def writer_of(plan: dict[str, Any], client: UpstreamClient, ref: BlobRef) -> DestinationWriter:
    """The destination writer a plan describes, writing `ref` through `client`."""
    kept = plan["writer"]
    return DestinationWriter(
        client=client,
        ref=ref,
        blob_type=kept["blob_type"],
        content=dict(kept["content"]),
        metadata=dict(kept["metadata"]),
        lease_id=kept["lease_id"],
        tags=kept["tags"],
        tier=kept["tier"],
    )
