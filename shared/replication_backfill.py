"""Back-fill: copy what a replication rule's range already holds, as a batch.

Events only tell of writes from the moment Event Grid is subscribed; what the source held
before is copied by one batch (shared/batchapi.py) over the rule's range, with the rule's
options. `overwrite: if_newer` (the rules' default) makes a back-fill cheap to run again: a
destination newer than its source is skipped. `POST /api/replication/{rule}/backfill` starts
it; the answer is the batch's (202 + Location of `/api/batches/{id}`).

Back-filled copies carry no replica stamp (shared/replicaops.py): a later event for the same
blob compares the source's ETag and copies again if needed, and a mirrored delete keeps a
back-filled destination (it was not written by replication).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from shared.accounts import BlobLocation
from shared.errors import RequestRejected
from shared.replication_rules import ReplicationRule
from shared.settings import Settings

#: What a back-fill request may set; everything else is the rule's.
OPTIONS = ("id", "dry_run", "max_concurrency", "notify")
#: A batch leases each blob until its copy ends (`infinite`) or not at all.
BATCH_LEASE = {"none": "none", "infinite": "infinite", "renewed": "infinite"}


def glob_escape(text: str) -> str:
    """`text` as an fnmatch pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def rule_named(settings: Settings, name: str) -> ReplicationRule:
    """The rule called `name`, or a 404."""
    for rule in settings.replication_rules:
        if rule.name == name:
            return rule
    raise RequestRejected(404, "no such replication rule", {"rule": "unknown"})


def include_globs(rule: ReplicationRule) -> list[str]:
    """The rule's name filter as a batch's `include` (names after the prefix)."""
    suffix, include = rule.source.suffix, list(rule.source.include)
    if suffix and include:
        raise RequestRejected(
            400,
            "this rule cannot be back-filled as one batch",
            {"rule": "has both suffix and include, which a batch's globs cannot say at once"},
        )
    return [f"*{glob_escape(suffix)}"] if suffix else include


def container_url(settings: Settings, account: str, container: str) -> str:
    """The container's URL on the account's configured endpoint."""
    accounts = {a.name: a for a in settings.registry.accounts}
    return BlobLocation(accounts[account], container, "").base_url.rstrip("/")


def backfill_request(rule: ReplicationRule, settings: Settings, asked: Any) -> dict[str, Any]:
    """The batch request that back-fills the rule, with the caller's few options."""
    if not isinstance(asked, dict):
        raise RequestRejected(400, "invalid back-fill request", {"body": "must be a JSON object"})
    unknown = sorted(set(asked) - set(OPTIONS))
    if unknown:
        fields = {name: f"not a back-fill option ({', '.join(OPTIONS)})" for name in unknown}
        raise RequestRejected(400, "invalid back-fill request", fields)
    options = rule.copy_options()
    request: dict[str, Any] = {
        "id": f"backfill-{rule.name}-{uuid.uuid4().hex[:12]}",
        "source": {
            "url": container_url(settings, rule.source.account, rule.source.container),
            "prefix": rule.source.prefix,
        },
        "destination": {
            "url": container_url(settings, rule.destination.account, rule.destination.container),
            "prefix": rule.destination.prefix,
        },
        "include": include_globs(rule),
        "overwrite": options["overwrite"],
        "lease_source": BATCH_LEASE[options["lease_source"]],
        "metadata": options.get("metadata") or {},
        "verify": options["verify"],
    }
    if options.get("tier"):
        request["tier"] = options["tier"]
    return request | asked
