"""Local storage stack: Azurite plus an asynchronous copy engine in front of its blob service.

Azurite copies blobs synchronously and only inside itself; Azure copies between accounts and from
external URLs asynchronously. The copy engine fills that gap so the product's real code paths
(pending copies, progress, abort, failures) run on a laptop against the real SDK.
"""

from devhost.storage.stack import ACCOUNTS, DEV_ACCOUNT_KEY, StorageConfig, StorageStack

__all__ = ["ACCOUNTS", "DEV_ACCOUNT_KEY", "StorageConfig", "StorageStack"]
