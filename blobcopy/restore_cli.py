"""`blobcopy restore`: bring a blob back to one of its snapshots or versions.

A restore is a copy whose source is a point in time of its own destination (the service's
shared/restore.py): the command builds that request from the blob's URL and `--snapshot` or
`--version`, and then behaves as `blobcopy start` does (`--wait`, `--json`, exit codes).
"""

from __future__ import annotations

from typing import Any

import click

from blobcopy import exit_codes
from blobcopy.commands import (
    COPIES,
    CliContext,
    build_request,
    json_option,
    report_started,
    seconds_option,
)
from blobcopy.copy_request import RestoreOptions, build_restore_request


@click.command(epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("blob_url")
@click.option("--snapshot", metavar="TIME", help="The snapshot to restore (its timestamp).")
@click.option("--version", "version_id", metavar="ID", help="The version to restore (its id).")
@click.option("--id", "copy_id", metavar="ID", help="Idempotency key; also the copy's id.")
@seconds_option(
    "--timeout",
    "timeout_seconds",
    kind=click.IntRange(min=1),
    help_text="Abort the restore if it has not finished after this long.",
)
@click.option(
    "--snapshot-destination/--no-snapshot-destination",
    default=None,
    help="Keep the blob's current content as a snapshot first, so the restore can be undone "
    "(default: on).",
)
@click.option("--verify/--no-verify", default=None, help="Check length (and MD5) afterwards.")
@click.option("--notify-queue", metavar="QUEUE", help="Queue that receives the result.")
@click.option("--wait", is_flag=True, help="Wait for the restore to end; exit code by state.")
@json_option
@click.pass_obj
def restore(
    state: CliContext, /, blob_url: str, wait: bool, json_output: bool, **options: Any
) -> None:
    """Restore BLOB_URL from one of its snapshots (--snapshot) or versions (--version).

    The blob's current content is first kept as a snapshot (named in the status under
    restore.previous_snapshot) unless --no-snapshot-destination. A blob leased by someone else
    is left as it is and the restore fails (DestinationLeased).
    """
    request = build_request(
        build_restore_request, lambda: RestoreOptions(blob_url=blob_url, **options)
    )
    report_started(
        state,
        COPIES,
        state.client.start_copy,
        request,
        options.get("copy_id"),
        wait=wait,
        json_output=json_output,
    )
