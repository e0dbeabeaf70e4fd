"""Exit codes: one per way a command can end, so scripts can tell them apart.

A batch's `--wait` reuses the copy's codes for its final state, and adds one: a batch that ran
to its end with some blobs failed (BATCH_BLOBS_FAILED) is told apart from one that could not go
on at all (COPY_FAILED), since only the first leaves a report of what to retry.

`EXIT_CODES_HELP` is shown by `blobcopy --help`; keep it in step with the constants.
"""

from __future__ import annotations

from typing import Any

OK = 0
"""The command did what it was asked; with --wait, the copy succeeded."""
USAGE = 2
"""Wrong command line (click's own code)."""
UNREACHABLE = 3
"""No HTTP answer: connection refused, unknown host, timeout, TLS failure."""
INVALID_REQUEST = 4
"""400: the API rejected the request; the message names each wrong field."""
NOT_ALLOWED = 5
"""401/403: missing or wrong function key, or a destination or source outside the allowlists."""
NOT_FOUND = 6
"""404: no copy (or batch) with that id."""
CONFLICT = 7
"""409: the id is in use by a different request, or the copy (batch) has already finished."""
SERVER_ERROR = 8
"""5xx, or an answer the CLI cannot read."""
COPY_FAILED = 10
"""--wait: the copy ended in state failed; or the batch failed outright."""
COPY_ABORTED = 11
"""--wait: the copy (or batch) ended in state aborted."""
COPY_TIMED_OUT = 12
"""--wait: the copy (or batch) ended in state timed_out."""
COPY_UNKNOWN_STATE = 13
"""--wait: the copy (or batch) finished in a state this CLI does not know."""
BATCH_BLOBS_FAILED = 14
"""batch --wait: the batch ran to its end, but some blobs failed (error code BlobsFailed)."""
INTERRUPTED = 130
"""Ctrl-C while waiting; the copy itself goes on."""

FINAL_STATE_EXIT_CODES: dict[str, int] = {
    "succeeded": OK,
    "failed": COPY_FAILED,
    "aborted": COPY_ABORTED,
    "timed_out": COPY_TIMED_OUT,
}


def exit_code_for_state(state: str | None) -> int:
    """The exit code `--wait` ends with when a copy finishes in `state`."""
    return FINAL_STATE_EXIT_CODES.get(state or "", COPY_UNKNOWN_STATE)


def exit_code_for_batch(document: dict[str, Any]) -> int:
    """The exit code `batch --wait` ends with for a batch's final status document."""
    error = document.get("error")
    blobs_failed = isinstance(error, dict) and error.get("code") == "BlobsFailed"
    if document.get("state") == "failed" and blobs_failed:
        return BATCH_BLOBS_FAILED
    return exit_code_for_state(document.get("state"))


EXIT_CODES_HELP = f"""\b
Exit codes:
  {OK:>3}  done (with --wait: the copy or batch succeeded)
  {USAGE:>3}  wrong command line
  {UNREACHABLE:>3}  API unreachable (connection refused, timeout, unknown host)
  {INVALID_REQUEST:>3}  request rejected as invalid (400)
  {NOT_ALLOWED:>3}  not allowed: function key, destination or source (401/403)
  {NOT_FOUND:>3}  no such copy or batch (404)
  {CONFLICT:>3}  conflict: id reused for another request, or copy/batch already over (409)
  {SERVER_ERROR:>3}  server error or unreadable answer
  {COPY_FAILED:>3}  --wait: copy failed (batch: failed outright)
  {COPY_ABORTED:>3}  --wait: copy aborted (batch: aborted)
  {COPY_TIMED_OUT:>3}  --wait: copy timed out (batch: timed out)
  {COPY_UNKNOWN_STATE:>3}  --wait: copy finished in an unknown state
  {BATCH_BLOBS_FAILED:>3}  batch --wait: batch ran to its end, some blobs failed (see its report)
  {INTERRUPTED:>3}  interrupted while waiting (the copy or batch goes on)"""
