"""The demo's numbers, and the app settings that point the app at the demo's own storage stack.

The rate is slow enough that a 96 MiB copy takes about six seconds (long enough to watch and to
abort) and fast enough that the whole demo stays well under a minute.
"""

from __future__ import annotations

import json
from typing import Any

from devhost.storage.stack import ACCOUNTS, StorageStack
from devhost.testing import storage_env

MIB = 1024 * 1024
COPY_RATE_BYTES_PER_S = 16 * MIB
COPY_CHUNK_BYTES = 1 * MIB
LARGE_BLOB_BYTES = 96 * MIB
EXTERNAL_FILE_BYTES = 32 * MIB

DESTINATION_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS
SOURCE_CONTAINER = "media"
DESTINATION_CONTAINER = "copies"
#: The rule `local.settings.json.example` carries (demo/replication.py plays Event Grid for it):
#: same names, from the source account into the one the app may write.
REPLICATION_RULE: dict[str, Any] = {
    "name": "replica",
    "source": {"account": SOURCE_ACCOUNT, "container": "replica-src"},
    "destination": {"account": DESTINATION_ACCOUNT, "container": "replica-dst"},
}


def app_settings(stack: StorageStack) -> dict[str, str]:
    """The settings `local.settings.json.example` gives, on this stack's ports.

    Both accounts are known to the app (so it can sign a SAS for the source); only the first may
    be written to. A short minimum poll keeps the progress bars lively on a six-second copy.
    """
    env = storage_env(stack)
    env["BLOBCOPY_ACCOUNTS"] = ",".join(ACCOUNTS)
    for account in ACCOUNTS:
        setting = f"BLOBCOPY_ACCOUNT_{account.upper()}_CONNECTION_STRING"
        env[setting] = stack.connection_string(account)
    env["BLOBCOPY_ALLOWED_DESTINATIONS"] = DESTINATION_ACCOUNT
    env["BLOBCOPY_POLL_MIN_SECONDS"] = "0.5"
    env["BLOBCOPY_REPLICATION_RULES"] = json.dumps([REPLICATION_RULE])
    return env
