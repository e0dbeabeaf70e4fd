"""Names vulture cannot see used (`make lint` runs it): called by a framework, not by our code.

Each line references the real object, so a rename breaks this file instead of hiding dead code.
Dead code is deleted, not listed here.
"""

from blobcopy import client, progress
from devhost import testing
from devhost.durable import protocol
from devhost.functions import bindings, logs
from devhost.storage import proxy
from shared import batchrequests, requests
from tests.apps.queue_basics import prepare as queue_basics_prepare

# Azure Functions indexes every decorated trigger of function_app.py (`@app.*`, ignored in
# pyproject.toml) and of the test apps.
# azure-functions reads these properties of the context and retry objects devhost passes in.
bindings._TraceContext.trace_state
bindings._TraceContext.trace_parent
bindings._RetryContext.retry_count
bindings._RetryContext.max_retry_count
bindings.InvocationContext.thread_local_storage
bindings.InvocationContext.trace_context
bindings.InvocationContext.retry_context
# logging, urllib and rich call these overrides.
logs.RedactingFormatter.formatTime
client._NoRedirects.redirect_request
progress.ServerEtaColumn.render
# pydantic runs the validators its decorators register.
requests.BlobRef._http_url
requests.CopyRequest._metadata_names
requests.CopyRequest._tag_rules
requests.DestinationRef._omit_unset_type
batchrequests.ContainerRef._container_url
batchrequests.ContainerRef._safe_prefix
# The SDK's history event numbering, complete even where devhost never writes the event.
protocol.EventType.EXECUTION_FAILED
protocol.EventType.EVENT_SENT
# aiohttp sends the header from the attribute.
proxy.web.StreamResponse.content_length
# devhost.testing's public helper for apps' own tests (its module docstring shows it).
testing.run_app
# `devhost up --prepare MODULE:FUNCTION` calls this by name.
queue_basics_prepare.make_work_queue
