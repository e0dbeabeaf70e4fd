"""The Functions app: its table of contents. Each blueprint is declared beside its logic.

    shared/api.py            the copy API
        POST /api/copies               start_copy_http      start a copy
        GET  /api/copies/{id}          get_copy_http        the copy's status document
        POST /api/copies/{id}/abort    abort_copy_http      ask a running copy to stop
        GET  /api/copies               list_copies_http     one page of copies
    shared/batchapi.py       the batch API: every blob under a prefix
        POST /api/batches              start_batch_http     start a batch
        GET  /api/batches/{id}         get_batch_http       the batch's status document
        POST /api/batches/{id}/abort   abort_batch_http     start no more, abort the pending
        GET  /api/batches/{id}/report  get_batch_report_http  its report lines, a page at a time
        GET  /api/batches              list_batches_http    one page of batches
    shared/queueapi.py       queue copy-requests   copy_requests_queue  copies, batches, aborts
    shared/replication.py    queue blob-events     blob_events_queue    Event Grid's blob events:
                             a copy per BlobCreated a replication rule takes (in write order per
                             destination), deletes mirrored where a rule asks; unreadable events
                             set aside on blob-events-rejected (BLOBCOPY_REPLICATION_QUEUE names
                             the queue, BLOBCOPY_REPLICATION_RULES the rules)
        GET  /api/replication          replication_status_http  each rule, its copies, the lag
        POST /api/replication/{rule}/backfill  backfill_http  a batch over the rule's range
    shared/orchestration.py  copy_orchestrator: one copy, from lease to result
    shared/batch_orchestration.py  batch_orchestrator: a batch, in rounds
    shared/copy_activities.py  the storage activities: snapshot, lease (acquire, renew,
                             release), start / check / abort the copy, restore, verify, publish
    shared/batchops.py       the batch activities: a round (read, report, start), abort all
    shared/control.py        the abort-record activities: read, forget

The activities' jobs and answers are typed in shared/contracts.py. Runs unmodified under the
Azure Functions host (Python v2 model) and under devhost.
"""

import os

import azure.durable_functions as df
import azure.functions as func

from shared import (
    api,
    batch_orchestration,
    batchapi,
    batchops,
    control,
    copy_activities,
    orchestration,
    queueapi,
    replication,
)
from shared.settings import get_settings, http_auth_level

# Every setting is checked at load: a wrong one stops the host with a message naming it, instead
# of every request failing later.
get_settings()

app = df.DFApp(http_auth_level=func.AuthLevel[http_auth_level(os.environ).upper()])
for blueprint in (
    api.bp,
    batchapi.bp,
    queueapi.bp,
    replication.bp,
    orchestration.bp,
    batch_orchestration.bp,
    copy_activities.bp,
    batchops.bp,
    control.bp,
):
    app.register_functions(blueprint)
