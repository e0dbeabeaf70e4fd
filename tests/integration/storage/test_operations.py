"""Operation names: Azure's REST reference names, from method, restype, comp and headers.

Pure (no stack): the header-dependent and rarer operations that test_transactions.py's SDK calls
do not all reach. What the SDK really sends is checked there.
"""

from __future__ import annotations

import pytest

from devhost.storage.operations import operation


@pytest.mark.parametrize(
    ("method", "query", "headers", "expected"),
    [
        ("PUT", {}, {"x-ms-copy-source": "u"}, "Copy Blob"),
        ("PUT", {}, {"x-ms-copy-source": "u", "x-ms-requires-sync": "true"}, "Copy Blob From URL"),
        ("PUT", {}, {"x-ms-copy-source": "u", "x-ms-blob-type": "BlockBlob"}, "Put Blob From URL"),
        ("PUT", {"comp": "block"}, {"x-ms-copy-source": "u"}, "Put Block From URL"),
        ("PUT", {"comp": "page"}, {"x-ms-copy-source": "u"}, "Put Page From URL"),
        ("PUT", {"comp": "appendblock"}, {"x-ms-copy-source": "u"}, "Append Block From URL"),
        ("PUT", {"comp": "copy", "copyid": "x"}, {"x-ms-copy-action": "abort"}, "Abort Copy Blob"),
        ("PUT", {"comp": "copy"}, {}, "Other PUT"),
        ("PUT", {"comp": "lease", "restype": "container"}, {}, "Lease Container"),
        ("HEAD", {"comp": "metadata"}, {}, "Get Blob Metadata"),
        ("HEAD", {"restype": "container", "comp": "acl"}, {}, "Get Container ACL"),
        ("GET", {"restype": "container", "comp": "list"}, {}, "List Blobs"),
        ("GET", {"comp": "list"}, {}, "List Containers"),
        ("GET", {"restype": "account", "comp": "properties"}, {}, "Get Account Information"),
        ("GET", {"restype": "service", "comp": "stats"}, {}, "Get Blob Service Stats"),
        ("PUT", {"comp": "immutabilityPolicies"}, {}, "Set Blob Immutability Policy"),
        ("OPTIONS", {}, {}, "Preflight Blob Request"),
        ("PATCH", {}, {}, "Other PATCH"),
        ("GET", {"comp": "nonsense"}, {}, "Other GET"),
    ],
)
def test_operation_names_follow_the_rest_reference(
    method: str, query: dict[str, str], headers: dict[str, str], expected: str
) -> None:
    """Each row is one request shape and the name Azure's REST reference gives it."""
    assert operation(method, query, headers) == expected
