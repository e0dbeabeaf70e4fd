"""The naive peer of bench/bench_replication.py: replication the way the Azure docs show it.

One queue trigger on its own queue takes each BlobCreated event Event Grid wrote there (the
host decodes the base64), and does what Microsoft's "copy a blob with asynchronous scheduling"
Python sample does: `start_copy_from_url` on the destination with a SAS for the source, then
`get_blob_properties` every second until the copy is no longer pending, all inside the
function. Nothing durable: the invocation holds a worker thread and its queue message for the
whole copy. When the copy has ended it puts a confirmation on `NAIVE_RESULTS_QUEUE` (not a
blob, so the benchmark's count of blob transactions is the copy's alone).

Settings (the benchmark sets them): NAIVE_QUEUE, NAIVE_RESULTS_QUEUE, NAIVE_SOURCE_CONNECTION,
NAIVE_DEST_CONNECTION, NAIVE_DEST_CONTAINER. The queue settings in host.json are the app's own
(batchSize 16 + newBatchThreshold 8: at most 24 events at once); the benchmark gives the worker
that many threads, so the queue, not the thread pool, bounds it.
"""

import datetime as dt
import json
import os
import time

import azure.functions as func
import requests
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from requests.adapters import HTTPAdapter

app = func.FunctionApp()
#: The sample's poll interval, and a bound so a stuck copy cannot hold a worker forever.
POLL_SECONDS = 1.0
MAX_POLLS = 600
STORAGE = "AzureWebJobsStorage"

#: Connections kept per client: one per invocation that can run at once (the SDK's default
#: of 10 would open and drop a connection for most requests at 24 at once).
POOL = 32


def client(setting: str) -> BlobServiceClient:
    """One client per account, made once and shared by every invocation, as the SDK advises."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=POOL))
    session.mount("https://", HTTPAdapter(pool_maxsize=POOL))
    return BlobServiceClient.from_connection_string(os.environ[setting], session=session)


SOURCE = client("NAIVE_SOURCE_CONNECTION")
DEST = client("NAIVE_DEST_CONNECTION")


def source_url(container: str, name: str) -> str:
    """The source blob's URL with a read SAS of an hour (the destination cannot read it
    otherwise: the accounts differ)."""
    blob = SOURCE.get_blob_client(container, name)
    sas = generate_blob_sas(
        str(SOURCE.account_name),
        container,
        name,
        account_key=SOURCE.credential.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    return f"{blob.url}?{sas}"


# The Functions decorators are untyped (pyproject.toml skips their package).
@app.queue_trigger(arg_name="msg", queue_name="%NAIVE_QUEUE%", connection=STORAGE)  # type: ignore[untyped-decorator]
@app.queue_output(arg_name="confirmed", queue_name="%NAIVE_RESULTS_QUEUE%", connection=STORAGE)  # type: ignore[untyped-decorator]
def replicate(msg: func.QueueMessage, confirmed: func.Out[str]) -> None:
    """Copy the event's blob to the same name in NAIVE_DEST_CONTAINER and wait for it."""
    started = dt.datetime.now(dt.UTC).isoformat()
    event = json.loads(msg.get_body())
    container, name = event["subject"].split("/containers/", 1)[1].split("/blobs/", 1)
    dest = DEST.get_blob_client(os.environ["NAIVE_DEST_CONTAINER"], name)
    dest.start_copy_from_url(source_url(container, name))
    polls = 0
    while True:
        status = dest.get_blob_properties().copy.status
        polls += 1
        if status != "pending" or polls >= MAX_POLLS:
            break
        time.sleep(POLL_SECONDS)
    done = {
        "event": event["id"],
        "name": name,
        "status": status,
        "polls": polls,
        "started": started,
    }
    confirmed.set(json.dumps(done | {"confirmed": dt.datetime.now(dt.UTC).isoformat()}))
