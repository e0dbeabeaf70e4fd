"""`blobcopy batch start|status|abort|list`: the batch commands, on the steps they share with
the copy commands (blobcopy/commands.py)."""

from __future__ import annotations

from typing import Any

import click

from blobcopy import exit_codes
from blobcopy.batch_request import MAX_CONCURRENCY, BatchOptions, build_batch_request
from blobcopy.commands import (
    BATCHES,
    CliContext,
    abort_and_report,
    build_request,
    json_option,
    list_and_report,
    print_report,
    reason_option,
    report_started,
    report_status,
    seconds_option,
    state_filter_option,
)
from blobcopy.copy_request import BATCH_LEASE_CHOICES, OVERWRITE_CHOICES, TIER_CHOICES, parse_pairs


@click.group(epilog=exit_codes.EXIT_CODES_HELP)
def batch() -> None:
    """Copy every blob under a prefix of one container to another (POST /api/batches)."""


@batch.command(name="start", epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("source", metavar="SRC_CONTAINER_URL")
@click.argument("destination", metavar="DST_CONTAINER_URL")
@click.option("--prefix", metavar="P", help="Copy only the blobs whose names start with P.")
@click.option("--dest-prefix", metavar="Q", help="Put them under Q instead (P is replaced by Q).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only names (after P) matching.")
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Leave out names (after P) matching."
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    metavar="N",
    help=f"Most copies pending at once (1-{MAX_CONCURRENCY}; the service's default is 32).",
)
@click.option("--dry-run", is_flag=True, help="List and decide; copy nothing.")
@click.option("--id", "batch_id", metavar="ID", help="Idempotency key; also the batch's id.")
@click.option("--overwrite", type=click.Choice(OVERWRITE_CHOICES), help="If a destination exists.")
@click.option(
    "--lease-source",
    type=click.Choice(BATCH_LEASE_CHOICES),
    help="Lease each source while its copy runs: renewed (a finite lease the batch renews) or"
    " infinite (the default is none).",
)
@click.option("--metadata", "-m", multiple=True, metavar="KEY=VALUE", help="Destination metadata.")
@click.option(
    "--tier",
    type=click.Choice(TIER_CHOICES, case_sensitive=False),
    help="Access tier of the destination blobs.",
)
@seconds_option(
    "--timeout",
    "timeout_seconds",
    kind=click.IntRange(min=1),
    help_text="Stop the batch (abort what is pending) if it has not finished after this long.",
)
@seconds_option(
    "--blob-timeout",
    "blob_timeout_seconds",
    kind=click.IntRange(min=1),
    help_text="Abort a blob's copy still pending this long (that blob fails with Timeout).",
)
@click.option(
    "--verify/--no-verify", default=None, help="Check each destination's length (and MD5)."
)
@click.option("--notify-queue", metavar="QUEUE", help="Queue that receives the final document.")
@click.option("--wait", is_flag=True, help="Wait for the batch to end; exit code by how it ended.")
@json_option
@click.pass_obj
def batch_start(
    state: CliContext,
    /,
    metadata: tuple[str, ...],
    wait: bool,
    json_output: bool,
    **options: Any,
) -> None:
    """Start copying every blob under SRC_CONTAINER_URL (and --prefix) to DST_CONTAINER_URL.

    Both are container URLs of accounts the service is configured for, with no query. The
    service answers at once; with --wait the command follows the batch to its end with progress
    bars (blobs ended of those listed, bytes) and exits with a code that tells how it ended.
    """
    request = build_request(
        build_batch_request,
        lambda: BatchOptions(metadata=parse_pairs(metadata, "--metadata"), **options),
    )
    report_started(
        state,
        BATCHES,
        state.client.start_batch,
        request,
        options.get("batch_id"),
        wait=wait,
        json_output=json_output,
    )


@batch.command(name="status", epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("batch_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait for the batch to end; exit code by how it ended.")
@json_option
@click.pass_obj
def batch_status(state: CliContext, batch_id: str, wait: bool, json_output: bool) -> None:
    """Show the status of batch ID: state, blob counts, bytes, report, error."""
    report_status(state, BATCHES, batch_id, wait=wait, json_output=json_output)


@batch.command(name="abort")
@click.argument("batch_id", metavar="ID")
@reason_option
@json_option
@click.pass_obj
def batch_abort(state: CliContext, batch_id: str, reason: str | None, json_output: bool) -> None:
    """Ask batch ID to stop: it starts no more copies and aborts the pending ones.

    Exits 7 (conflict) when the batch has already ended.
    """
    abort_and_report(state, BATCHES, batch_id, reason, json_output=json_output)


@batch.command(name="list")
@state_filter_option
@json_option
@click.pass_obj
def batch_list(state: CliContext, state_filter: str | None, json_output: bool) -> None:
    """List batches: all of them, or only those in one state (every page of the answer)."""
    list_and_report(state, BATCHES, state_filter, json_output=json_output)


REPORT_STATES = ("succeeded", "failed", "aborted", "skipped", "would_copy", "would_skip")


@batch.command(name="report")
@click.argument("batch_id", metavar="ID")
@click.option("--state", type=click.Choice(REPORT_STATES), help="Only blobs that ended so.")
@click.pass_obj
def batch_report(state: CliContext, /, batch_id: str, **options: Any) -> None:
    """Print batch ID's report: one JSON line per blob (name, destination, state, bytes,
    copy_id, error), every page of it. While the batch runs, what has ended so far."""
    print_report(state, batch_id, options.get("state"))
