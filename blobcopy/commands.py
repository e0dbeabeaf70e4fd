"""What the copy commands and the batch commands of `blobcopy` share: the CLI's state, the two
kinds of job they drive (Resource), their common options, and the request / status / abort /
list / wait steps each command is made of. blobcopy/cli.py holds the copy commands and the
entry point, blobcopy/batch_cli.py the batch commands.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from click.decorators import FC
from rich.console import Console
from rich.table import Table

from blobcopy import exit_codes
from blobcopy.client import (
    ApiError,
    ApiResponse,
    BlobCopyError,
    CopyApi,
    CopyNotFound,
    NotAllowed,
    UnexpectedAnswer,
)
from blobcopy.copy_request import (
    STATE_CHOICES,
    RequestOptionError,
)
from blobcopy.progress import BatchProgress, CopyProgress
from blobcopy.render import (
    batch_list_table,
    batch_table,
    copies_of,
    format_json,
    list_table,
    replication_table,
    status_table,
)
from blobcopy.waiting import wait_for_batch, wait_for_copy
from shared.redaction import redact_text

PIPE_WIDTH = 240
POSITIVE_SECONDS = click.FloatRange(min=0, min_open=True)
#: Pages of a report read at most (a million blobs is 200 pages of the API's 5,000).
MAX_REPORT_PAGES = 100_000
Options = TypeVar("Options")


@dataclass
class CliContext:
    """What every command needs: the API, where to print, and the clock used while waiting."""

    client: CopyApi
    sleep: Callable[[float], None] = time.sleep
    json_output: bool = False

    @property
    def stdout(self) -> Console:
        """Console for results; built on use so it writes to whatever stdout is now."""
        console = Console(markup=False, highlight=False)
        if not is_tty(sys.stdout):
            # In a pipe, keep one line per row for grep rather than folding at 80 columns.
            console.width = PIPE_WIDTH
        return console

    @property
    def stderr(self) -> Console:
        """Console for the progress bar; draws only when stderr is a terminal."""
        return Console(stderr=True, markup=False, highlight=False)


@dataclass(frozen=True, kw_only=True)
class Resource:
    """What the commands of copies and of batches (start, status, abort, list) differ in; the
    commands themselves are written once, for either."""

    noun: str
    plural: str
    command: str
    """How the CLI is called for it: "blobcopy" or "blobcopy batch"."""
    get: Callable[[CopyApi, str], ApiResponse]
    abort: Callable[[CopyApi, str, str | None], ApiResponse]
    list_page: Callable[[CopyApi], Callable[..., ApiResponse]]
    table: Callable[[dict[str, Any]], Table]
    list_table: Callable[[list[dict[str, Any]]], Table]
    progress: Callable[..., CopyProgress | BatchProgress]
    wait: Callable[..., dict[str, Any]]
    """wait_for_copy or wait_for_batch."""
    exit_code: Callable[[dict[str, Any]], int]
    table_when_accepted: bool = False
    """Whether `start` prints the accepted answer as a table when it has a state."""


COPIES = Resource(
    noun="copy",
    plural="copies",
    command="blobcopy",
    get=lambda api, copy_id: api.get_status(copy_id),
    abort=lambda api, copy_id, reason: api.abort(copy_id, reason),
    list_page=lambda api: api.list_copies,
    table=status_table,
    list_table=list_table,
    progress=CopyProgress,
    wait=wait_for_copy,
    exit_code=lambda final: exit_codes.exit_code_for_state(final.get("state")),
    table_when_accepted=True,
)
BATCHES = Resource(
    noun="batch",
    plural="batches",
    command="blobcopy batch",
    get=lambda api, batch_id: api.get_batch(batch_id),
    abort=lambda api, batch_id, reason: api.abort_batch(batch_id, reason),
    list_page=lambda api: api.list_batches,
    table=batch_table,
    list_table=batch_list_table,
    progress=BatchProgress,
    wait=wait_for_batch,
    exit_code=exit_codes.exit_code_for_batch,
)


def report_error(error: BlobCopyError, *, json_output: bool, resource: Resource = COPIES) -> None:
    """Print `error`: a message on stderr; with --json also an error object on stdout."""
    if json_output:
        document = error.as_json() if isinstance(error, ApiError) else _error_json(error)
        click.echo(format_json(document))
    click.echo(f"error: {redact_text(str(error))}", err=True)
    if isinstance(error, ApiError) and not isinstance(error, CopyNotFound):
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
    if isinstance(error, NotAllowed) and error.status == 401:
        click.echo("  hint: pass the function key with --key or BLOBCOPY_FUNCTION_KEY", err=True)
    elif isinstance(error, CopyNotFound):
        hint = f"  hint: `{resource.command} list` shows the {resource.plural} the API knows"
        click.echo(hint, err=True)


def _error_json(error: BlobCopyError) -> dict[str, Any]:
    return {"error": {"status": None, "code": type(error).__name__, "message": str(error)}}


def seconds_option(
    *names: str,
    help_text: str,
    kind: click.ParamType[float, Any] = POSITIVE_SECONDS,
    **attrs: Any,
) -> Callable[[FC], FC]:
    """An option that takes a duration: every one is in seconds, a positive number unless
    `kind` says otherwise, and shows SECONDS in --help the same way."""
    return click.option(*names, type=kind, metavar="SECONDS", help=help_text, **attrs)


json_option = click.option(
    "--json", "json_output", is_flag=True, help="Print JSON only (for scripts); no progress bar."
)
# abort's and list's options, the same for copies and batches.
reason_option = click.option("--reason", metavar="TEXT", help="Why, for the record.")
state_filter_option = click.option(
    "--state", "state_filter", type=click.Choice(STATE_CHOICES), help="Only this state."
)


def build_request(
    build: Callable[[Options], dict[str, Any]], options: Callable[[], Options]
) -> dict[str, Any]:
    """The request body `build` makes of the options; a wrong value is a usage error (exit 2)."""
    try:
        return build(options())
    except RequestOptionError as error:
        raise click.UsageError(str(error)) from None


def report_started(
    state: CliContext,
    resource: Resource,
    start: Callable[[dict[str, Any]], ApiResponse],
    request: dict[str, Any],
    given_id: str | None,
    *,
    wait: bool,
    json_output: bool,
) -> None:
    """Send the start request; print what was accepted, or with `wait` follow it to its end."""
    state.json_output = json_output
    response = start(request)
    document = _document(response)
    item_id = _item_id(document, response, given_id, resource.noun)
    if wait:
        _wait_and_report(state, resource, item_id, first=response)
        return
    if json_output:
        click.echo(format_json(document))
        return
    if resource.table_when_accepted and "state" in document:
        state.stdout.print(resource.table(document))
    else:
        click.echo(f"{resource.noun.capitalize()} {item_id} accepted.")
    click.echo(_follow_hint(resource, item_id), err=True)


def report_status(
    state: CliContext, resource: Resource, item_id: str, *, wait: bool, json_output: bool
) -> None:
    state.json_output = json_output
    response = resource.get(state.client, item_id)
    if wait:
        _wait_and_report(state, resource, item_id, first=response)
        return
    _print_document(state, resource, _document(response))


def abort_and_report(
    state: CliContext, resource: Resource, item_id: str, reason: str | None, *, json_output: bool
) -> None:
    state.json_output = json_output
    response = resource.abort(state.client, item_id, reason)
    if json_output:
        click.echo(format_json(response.body if response.body is not None else {"id": item_id}))
        return
    click.echo(f"Abort requested for {resource.noun} {item_id}.")
    click.echo(_follow_hint(resource, item_id), err=True)


def list_and_report(
    state: CliContext, resource: Resource, state_filter: str | None, *, json_output: bool
) -> None:
    state.json_output = json_output
    plural = resource.plural
    items = _every_page(resource.list_page(state.client), state_filter, plural)
    if json_output:
        click.echo(format_json({plural: items, "continuation": None}))
        return
    if not items:
        click.echo(f"No {plural}." if state_filter is None else f"No {state_filter} {plural}.")
        return
    state.stdout.print(resource.list_table(items))


def print_report(state: CliContext, batch_id: str, line_state: str | None) -> None:
    """Every page of the batch's report, one JSON line per blob, until the API says there is
    no more (or, for a running batch, until a page brings nothing new)."""
    token: str | None = None
    for _ in range(MAX_REPORT_PAGES):
        page = _document(state.client.get_batch_report(batch_id, line_state, token))
        for line in page.get("lines") or []:
            click.echo(json.dumps(line, separators=(",", ":")))
        token = page.get("continuation")
        if token is None or not page.get("lines"):
            return
    raise UnexpectedAnswer(f"the report did not end after {MAX_REPORT_PAGES} pages")


def show_replication(state: CliContext, *, json_output: bool) -> None:
    """GET /api/replication, as a table of rules or as JSON."""
    state.json_output = json_output
    document = _document(state.client.get_replication())
    if json_output:
        click.echo(format_json(document))
        return
    if not document.get("rules"):
        click.echo(f"No replication rules (queue {document.get('queue', '?')}).")
        return
    state.stdout.print(replication_table(document))


def _follow_hint(resource: Resource, item_id: str) -> str:
    return f"Follow it with: {resource.command} status {item_id} --wait"


def _every_page(
    list_page: Callable[..., ApiResponse], state_filter: str | None, key: str
) -> list[dict[str, Any]]:
    """The documents of every page: the API answers one page and a continuation for the next."""
    copies: list[dict[str, Any]] = []
    token: str | None = None
    asked: set[str] = set()
    while True:
        response = list_page(state_filter, continuation=token)
        copies += copies_of(response.body, key)
        following = response.body.get("continuation") if isinstance(response.body, dict) else None
        if not isinstance(following, str) or not following or following in asked:
            return copies  # null ends it; a token seen before would go round forever
        asked.add(following)
        token = following


def _document(response: ApiResponse) -> dict[str, Any]:
    """The status document of an answer; an UnexpectedAnswer if there is none."""
    if not isinstance(response.body, dict):
        raise UnexpectedAnswer(f"the API answered {response.status} without a status document")
    return response.body


def _item_id(document: dict[str, Any], response: ApiResponse, given: str | None, noun: str) -> str:
    """The copy's (or batch's) id: from the document, else the id we sent, else the Location's
    last segment."""
    if document.get("id"):
        return str(document["id"])
    if given:
        return given
    if response.location:
        path = urllib.parse.urlsplit(response.location).path.rstrip("/")
        return urllib.parse.unquote(path.rsplit("/", 1)[-1])
    raise UnexpectedAnswer(f"the API accepted the {noun} but did not say its id")


def _print_document(state: CliContext, resource: Resource, document: dict[str, Any]) -> None:
    if state.json_output:
        click.echo(format_json(document))
    else:
        state.stdout.print(resource.table(document))


def _wait_and_report(
    state: CliContext, resource: Resource, item_id: str, *, first: ApiResponse
) -> None:
    """Follow the copy or batch to its end, print its final document, exit with how it ended."""
    stderr = state.stderr
    try:
        # A real TTY, not rich's guess: FORCE_COLOR in CI must not draw bars into captured output.
        draw = is_tty(sys.stderr) and not state.json_output
        with resource.progress(stderr, enabled=draw) as bars:
            final = resource.wait(
                state.client, item_id, first=first, on_update=bars.update, sleep=state.sleep
            )
    except KeyboardInterrupt:
        command = resource.command
        click.echo(
            f"\nStopped waiting; {resource.noun} {item_id} goes on. Check it: {command} status "
            f"{item_id}; stop it: {command} abort {item_id}",
            err=True,
        )
        raise click.exceptions.Exit(exit_codes.INTERRUPTED) from None
    _print_document(state, resource, final)
    code = resource.exit_code(final)
    if code != exit_codes.OK:
        raise click.exceptions.Exit(code)


# --- batches: blobcopy batch start|status|abort|list ----------------------------------------


def is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # closed stream
        return False
