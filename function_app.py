"""The Functions app: its table of contents. Each blueprint is declared beside its logic.

    shared/api.py            HTTP API and the `copy-requests` queue
        POST /api/copies               start_copy_http      start a copy
        GET  /api/copies/{id}          get_copy_http        the copy's status document
        POST /api/copies/{id}/abort    abort_copy_http      ask a running copy to stop
        GET  /api/copies               list_copies_http     one page of copies
        queue copy-requests            copy_requests_queue  start or abort, from a message
    shared/orchestration.py  copy_orchestrator: one copy, from lease to result
    shared/blobops.py        the storage activities: snapshot, lease (acquire, renew, release),
                             start / check / abort the copy, restore, verify, publish
    shared/control.py        the abort-record activities: read, forget

The activities' jobs and answers are typed in shared/contracts.py. Runs unmodified under the
Azure Functions host (Python v2 model) and under devhost.
"""

import os

import azure.durable_functions as df
import azure.functions as func

from shared import api, blobops, control, orchestration
from shared.settings import http_auth_level

app = df.DFApp(http_auth_level=func.AuthLevel[http_auth_level(os.environ).upper()])
app.register_functions(api.bp)
app.register_functions(orchestration.bp)
app.register_functions(blobops.bp)
app.register_functions(control.bp)
