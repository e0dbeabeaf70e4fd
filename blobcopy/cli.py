"""The `blobcopy` command line: start, status, abort and list copies, restore a blob from its
snapshot or version (blobcopy/restore_cli.py), and, under `blobcopy batch`, batches, through
the HTTP API.

Entry point: `main` (`[project.scripts] blobcopy = "blobcopy.cli:main"`). Tests drive `cli` with
click's CliRunner; passing `obj=CliContext(client=..., sleep=...)` to `invoke` replaces the HTTP
client and the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from blobcopy import __version__, exit_codes
from blobcopy.batch_cli import batch
from blobcopy.client import DEFAULT_HTTP_TIMEOUT, DEFAULT_URL, BlobCopyClient, BlobCopyError
from blobcopy.commands import (
    BATCHES,
    COPIES,
    CliContext,
    abort_and_report,
    build_request,
    json_option,
    list_and_report,
    reason_option,
    report_error,
    report_started,
    report_status,
    seconds_option,
    state_filter_option,
)
from blobcopy.copy_request import (
    LEASE_CHOICES,
    OVERWRITE_CHOICES,
    TIER_CHOICES,
    CopyOptions,
    build_copy_request,
    parse_pairs,
)
from blobcopy.replication_cli import replication
from blobcopy.restore_cli import restore


class BlobCopyGroup(click.Group):
    """Turns client errors into one clear message and a documented exit code, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BlobCopyError as error:
            state = ctx.obj if isinstance(ctx.obj, CliContext) else None
            resource = BATCHES if ctx.invoked_subcommand == "batch" else COPIES
            json_output = bool(state and state.json_output)
            report_error(error, json_output=json_output, resource=resource)
            ctx.exit(error.exit_code)


@click.group(
    cls=BlobCopyGroup,
    epilog=exit_codes.EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--url",
    envvar="BLOBCOPY_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="Base URL of the Function App (with or without /api).",
)
@click.option(
    "--key",
    envvar="BLOBCOPY_FUNCTION_KEY",
    show_envvar=True,
    help="Host key of the Function App, sent as x-functions-key. Not needed locally.",
)
@seconds_option(
    "--http-timeout",
    kind=click.FloatRange(min=0.1),
    help_text="How long one HTTP request may take.",
    default=DEFAULT_HTTP_TIMEOUT,
    show_default=True,
)
@click.version_option(__version__, prog_name="blobcopy")
@click.pass_context
def cli(ctx: click.Context, url: str, key: str | None, http_timeout: float) -> None:
    """Copy Azure blobs with asynchronous scheduling through the durable blob copy API."""
    if isinstance(ctx.obj, CliContext):
        return
    try:
        client = BlobCopyClient(url, key=key, timeout=http_timeout)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--url") from None
    ctx.obj = CliContext(client=client)


@cli.command(epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("source")
@click.argument("destination")
@click.option("--id", "copy_id", metavar="ID", help="Idempotency key; also the copy's id.")
@click.option("--overwrite", type=click.Choice(OVERWRITE_CHOICES), help="If DESTINATION exists.")
@click.option(
    "--lease", "lease_source", type=click.Choice(LEASE_CHOICES), help="How to lease SOURCE."
)
@click.option("--metadata", "-m", multiple=True, metavar="KEY=VALUE", help="Destination metadata.")
@click.option("--tag", multiple=True, metavar="KEY=VALUE", help="Destination blob index tag.")
@click.option(
    "--tier",
    type=click.Choice(TIER_CHOICES, case_sensitive=False),
    help="Access tier of the destination.",
)
@seconds_option(
    "--timeout",
    "timeout_seconds",
    kind=click.IntRange(min=1),
    help_text="Abort the copy if it has not finished after this long.",
)
@seconds_option(
    "--poll-min",
    "poll_min_seconds",
    help_text="Shortest interval between two status checks of the copy.",
)
@seconds_option(
    "--poll-max",
    "poll_max_seconds",
    help_text="Longest interval between two status checks of the copy.",
)
@click.option(
    "--snapshot-destination/--no-snapshot-destination",
    default=None,
    help="Snapshot an existing destination first, so an abort can restore it.",
)
@click.option(
    "--verify/--no-verify", default=None, help="Check length (and MD5) of the destination after."
)
@click.option("--notify-queue", metavar="QUEUE", help="Queue that receives the result.")
@click.option("--wait", is_flag=True, help="Wait for the copy to finish; exit code by final state.")
@json_option
@click.pass_obj
def start(
    state: CliContext,
    /,
    source: str,
    destination: str,
    metadata: tuple[str, ...],
    tag: tuple[str, ...],
    wait: bool,
    json_output: bool,
    **options: Any,
) -> None:
    """Start copying SOURCE (a blob or any readable URL) to DESTINATION (a blob URL).

    The service answers at once; the copy goes on server-side. With --wait the command follows
    it to the end with a progress bar and exits with a code that tells how it ended.
    """
    request = build_request(
        build_copy_request,
        lambda: CopyOptions(
            source=source,
            destination=destination,
            metadata=parse_pairs(metadata, "--metadata"),
            tags=parse_pairs(tag, "--tag"),
            **options,
        ),
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


@cli.command(epilog=exit_codes.EXIT_CODES_HELP)
@click.argument("copy_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait for the copy to finish; exit code by final state.")
@json_option
@click.pass_obj
def status(state: CliContext, copy_id: str, wait: bool, json_output: bool) -> None:
    """Show the status of copy ID: state, progress, timings, error."""
    report_status(state, COPIES, copy_id, wait=wait, json_output=json_output)


@cli.command()
@click.argument("copy_id", metavar="ID")
@reason_option
@json_option
@click.pass_obj
def abort(state: CliContext, copy_id: str, reason: str | None, json_output: bool) -> None:
    """Ask copy ID to stop; the service aborts the copy and releases the source's lease.

    Exits 7 (conflict) when the copy has already finished.
    """
    abort_and_report(state, COPIES, copy_id, reason, json_output=json_output)


@cli.command(name="list")
@state_filter_option
@json_option
@click.pass_obj
def list_command(state: CliContext, state_filter: str | None, json_output: bool) -> None:
    """List copies: all of them, or only those in one state (every page of the answer)."""
    list_and_report(state, COPIES, state_filter, json_output=json_output)


cli.add_command(batch)
cli.add_command(replication)
cli.add_command(restore)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (the `blobcopy` console script)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="blobcopy")
