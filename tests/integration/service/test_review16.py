"""Review of the splits and fixes since 201f0b3 against the real stack (Azurite over HTTPS).

tests/unit/test_review16.py holds the unit side and says what was checked.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import pytest
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import ACCOUNTS, DEV_ACCOUNT_KEY, StorageStack
from shared.blobops import BlobOps
from shared.settings import settings_from_env

pytestmark = pytest.mark.integration

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS


# Was a break, now fixed: 4385123 break: a keyless source whose URL carries the caller's SAS
# plus any parameter the SDK does not know as a SAS one is copied fine, but source_reader's
# client takes that query for an account key: verify and the blob type check fail with
# InvalidAuthenticationInfo, though our identity may read the source (it did before 4385123) and
# the copy read through that very URL
def test_a_copy_through_a_sas_url_with_an_extra_parameter_verifies(
    storage_stack_https: StorageStack,
) -> None:
    stack = storage_stack_https
    verify = str(stack.ca_cert_path)
    keyed = BlobServiceClient.from_connection_string(
        stack.connection_string(SOURCE_ACCOUNT), connection_verify=verify
    )
    name = f"rv{uuid.uuid4().hex[:10]}"
    source = keyed.create_container(name).get_blob_client("a.bin")
    source.upload_blob(os.urandom(2000))
    sas = generate_blob_sas(
        SOURCE_ACCOUNT,
        name,
        "a.bin",
        account_key=DEV_ACCOUNT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    dest = BlobServiceClient.from_connection_string(
        stack.connection_string(DEST_ACCOUNT), connection_verify=verify
    ).create_container(name)
    env = {
        "BLOBCOPY_ACCOUNTS": "dst,src",
        "BLOBCOPY_ACCOUNT_DST_CONNECTION_STRING": stack.connection_string(DEST_ACCOUNT),
        "BLOBCOPY_ACCOUNT_SRC_URL": stack.blob_endpoint(SOURCE_ACCOUNT),
    }
    ops = BlobOps(settings_from_env(env), connection_verify=verify, retry_total=0)
    ops._token_credential = FakeAzureADCredential()  # an identity that may read the source
    url = f"{source.url}?{sas}&foo=bar"  # the service ignores a parameter it does not know
    target = f"{dest.url}/a.bin"
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    seen = ops.start_copy({"source": {"url": url}, "destination": {"url": target}}, deadline)
    while seen.status == "pending":
        time.sleep(0.05)
        seen = ops.check_copy(target, seen.copy_id)
    assert seen.status == "success"  # the copy read through the URL as given
    assert ops.verify(url, target, 2000) == ["length", "md5"]
    ops.check_source_type(
        {"source": {"url": url}, "destination": {"url": target, "blob_type": "BlockBlob"}}
    )
