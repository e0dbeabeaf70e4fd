"""`blobcopy replication`: the rules and their copies, and back-filling a rule's range."""

from __future__ import annotations

from typing import Any

import click

from blobcopy import exit_codes
from blobcopy.batch_request import MAX_CONCURRENCY
from blobcopy.commands import BATCHES, CliContext, json_option, report_started, show_replication


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def replication(ctx: click.Context, json_output: bool) -> None:
    """Show each replication rule: its copies by state, and the oldest running (the lag).

    With a subcommand, do that instead.
    """
    if ctx.invoked_subcommand is None:
        show_replication(ctx.obj, json_output=json_output)


@replication.command(name="status")
@json_option
@click.pass_obj
def replication_status(state: CliContext, json_output: bool) -> None:
    """Show each replication rule (the same as `blobcopy replication`)."""
    show_replication(state, json_output=json_output)


@replication.command(name="backfill", epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("rule", metavar="RULE")
@click.option("--dry-run", is_flag=True, help="List and decide; copy nothing.")
@click.option(
    "--max-concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    help=f"Most copies pending at once (1-{MAX_CONCURRENCY}; the service's default: 32).",
)
@click.option("--id", "batch_id", metavar="ID", help="Idempotency key; also the batch's id.")
@click.option("--wait", is_flag=True, help="Wait for the batch to end; exit code by how it ended.")
@json_option
@click.pass_obj
def replication_backfill(
    state: CliContext,
    rule: str,
    dry_run: bool,
    max_concurrency: int | None,
    batch_id: str | None,
    wait: bool,
    json_output: bool,
) -> None:
    """Copy what RULE's source range already holds, as one batch with the rule's options.

    Events only tell of writes made after Event Grid was subscribed: run this once when a rule
    starts. With the rules' default `overwrite: if_newer`, running it again copies only what
    changed. The answer (and --wait) is the batch's: see `blobcopy batch status`.
    """
    request: dict[str, Any] = {"dry_run": True} if dry_run else {}
    if max_concurrency is not None:
        request["max_concurrency"] = max_concurrency
    if batch_id:
        request["id"] = batch_id

    def start(body: dict[str, Any]) -> Any:
        return state.client.start_backfill(rule, body)

    report_started(state, BATCHES, start, request, batch_id, wait=wait, json_output=json_output)
