"""The blobcopy CLI with no server: help, argument checks, errors, output, waiting."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from blobcopy import exit_codes
from blobcopy.cli import cli
from blobcopy.client import Conflict, CopyNotFound, InvalidRequest, NotAllowed
from blobcopy.commands import CliContext
from blobcopy.render import format_json
from tests.contract.blobcopy_fakes import FakeApi, Stub, accepted, answer, status_document

SRC = "https://src.blob.core.windows.net/c/a.bin?sv=2024-01-01&sr=b&sp=r&sig=s3cr3tSig%3D"
DST = "https://dst.blob.core.windows.net/c/a.bin"


def run(api: FakeApi, *args: str, sleeps: list[float] | None = None):  # type: ignore[no-untyped-def]
    """Invoke the CLI in-process against `api`, recording sleeps instead of sleeping."""
    recorded = sleeps if sleeps is not None else []
    context = CliContext(client=api, sleep=recorded.append)
    return CliRunner().invoke(cli, list(args), obj=context)


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [[], ["start"], ["status"], ["abort"], ["list"]])
def test_help_of_every_command(command: list[str]) -> None:
    """Every command prints its help and exits 0."""
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_help_documents_exit_codes_per_final_state() -> None:
    """`start --help` lists a distinct exit code for each final state."""
    result = CliRunner().invoke(cli, ["start", "--help"])
    codes = [exit_codes.COPY_FAILED, exit_codes.COPY_ABORTED, exit_codes.COPY_TIMED_OUT]
    assert len(set(codes)) == 3
    for code, word in zip(codes, ("failed", "aborted", "timed out"), strict=True):
        assert f"{code}  --wait: copy {word}" in result.output


def test_start_requires_source_and_destination() -> None:
    """`start` with one argument is a usage error."""
    result = run(FakeApi(), "start", SRC)
    assert result.exit_code == exit_codes.USAGE
    assert "DESTINATION" in result.output


def test_start_rejects_a_non_url_source_without_calling_the_api() -> None:
    """A source that is not an http(s) URL fails before any request is sent."""
    api = FakeApi()
    result = run(api, "start", "c/a.bin", DST)
    assert result.exit_code == exit_codes.USAGE
    assert "SOURCE must be an http(s) URL" in result.output
    assert api.calls == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("--overwrite", "sometimes"), ("--lease", "forever"), ("--timeout", "0"), ("--tier", "Warm")],
)
def test_start_rejects_bad_option_values(option: str, value: str) -> None:
    """Enumerated and bounded options refuse values the API would refuse."""
    result = run(FakeApi(), "start", SRC, DST, option, value)
    assert result.exit_code == exit_codes.USAGE
    assert option in result.output


def test_start_rejects_metadata_without_equals() -> None:
    """--metadata takes KEY=VALUE."""
    result = run(FakeApi(), "start", SRC, DST, "--metadata", "owner")
    assert result.exit_code == exit_codes.USAGE
    assert "--metadata takes KEY=VALUE" in result.output


def test_start_sends_only_the_options_given() -> None:
    """The request body holds the URLs and exactly the options set on the command line."""
    api = FakeApi(accepted())
    result = run(
        api, "start", SRC, DST, "--id", "copy-1", "--overwrite", "never", "--lease", "none",
        "-m", "owner=ops", "--tag", "team=blue", "--tier", "cool", "--timeout", "600",
        "--poll-min", "1", "--poll-max", "30", "--verify", "--no-snapshot-destination",
        "--notify-queue", "copy-results",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.calls == [
        (
            "start",
            {
                "source": {"url": SRC},
                "destination": {"url": DST},
                "id": "copy-1",
                "overwrite": "never",
                "lease_source": "none",
                "tier": "Cool",
                "timeout_seconds": 600,
                "snapshot_destination": False,
                "verify": True,
                "metadata": {"owner": "ops"},
                "tags": {"team": "blue"},
                "poll": {"min_seconds": 1.0, "max_seconds": 30.0},
                "notify": {"queue": "copy-results"},
            },
        )
    ]


def test_start_minimal_request_has_only_urls() -> None:
    """Without options the body carries source and destination only, so server defaults apply."""
    api = FakeApi(accepted())
    run(api, "start", SRC, DST)
    assert api.calls[0][1] == {"source": {"url": SRC}, "destination": {"url": DST}}


def test_start_json_prints_the_answer_only() -> None:
    """`start --json` prints the 202's body as JSON on stdout and nothing else."""
    result = run(FakeApi(accepted()), "start", SRC, DST, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == accepted().body


def test_start_says_accepted_and_how_to_follow() -> None:
    """Without --json, `start` names the accepted copy and the command that follows it."""
    result = run(FakeApi(accepted("nightly-7")), "start", SRC, DST)
    assert result.exit_code == 0
    assert "Copy nightly-7 accepted." in result.stdout
    assert "blobcopy status nightly-7 --wait" in result.stderr


def test_function_keys_in_status_urls_are_redacted() -> None:
    """A `code=` function key in a status URL never reaches the output."""
    response = accepted()
    body = {**response.body, "status_url": response.body["status_url"] + "?code=k3y"}
    api = FakeApi(answer(202, body))
    result = run(api, "start", SRC, DST, "--json")
    assert json.loads(result.stdout)["status_url"].endswith("?code=REDACTED")
    assert "k3y" not in result.output


def test_connection_refused_is_one_clear_line() -> None:
    """A closed port gives exit 3 and a message naming the URL, with no traceback."""
    url = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(cli, ["--url", url, "status", "copy-1"])
    assert result.exit_code == exit_codes.UNREACHABLE
    assert f"cannot reach the blobcopy API at {url}/api: connection refused" in result.stderr
    assert "Traceback" not in result.output


def test_bad_url_option_is_a_usage_error() -> None:
    """--url must be an http(s) URL."""
    result = CliRunner().invoke(cli, ["--url", "localhost:7071", "list"])
    assert result.exit_code == exit_codes.USAGE
    assert "--url" in result.output


def test_invalid_request_names_every_field() -> None:
    """A 400 prints the API's message and one line per wrong field, exit 4."""
    error = InvalidRequest(
        400, "invalid copy request", problems=["source.url: must be an absolute http(s) URL"]
    )
    result = run(FakeApi(error), "start", SRC, DST)
    assert result.exit_code == exit_codes.INVALID_REQUEST
    assert "error: invalid copy request" in result.stderr
    assert "  - source.url: must be an absolute http(s) URL" in result.stderr


@pytest.mark.parametrize(
    ("error", "code", "text"),
    [
        (NotAllowed(403, "destination not allowed"), exit_codes.NOT_ALLOWED, "not allowed"),
        (NotAllowed(401, "unauthorized"), exit_codes.NOT_ALLOWED, "BLOBCOPY_FUNCTION_KEY"),
        (CopyNotFound(404, "no copy copy-9"), exit_codes.NOT_FOUND, "blobcopy list"),
        (Conflict(409, "copy-1 already finished"), exit_codes.CONFLICT, "already finished"),
    ],
)
def test_api_errors_map_to_messages_and_exit_codes(error: Exception, code: int, text: str) -> None:
    """403, 401, 404 and 409 each end with their own exit code and a message that helps."""
    result = run(FakeApi(error), "abort", "copy-1")  # type: ignore[arg-type]
    assert result.exit_code == code
    assert text in result.stderr
    assert "Traceback" not in result.output


def test_errors_with_json_print_an_error_object() -> None:
    """With --json an API error is also a JSON object on stdout."""
    result = run(FakeApi(CopyNotFound(404, "no copy copy-9")), "status", "copy-9", "--json")
    assert result.exit_code == exit_codes.NOT_FOUND
    assert json.loads(result.stdout)["error"]["status"] == 404


def test_status_prints_a_table_without_signatures() -> None:
    """`status` shows id, state and progress, and never a SAS signature."""
    document = status_document(source=SRC)
    result = run(FakeApi(answer(202, document)), "status", "copy-1")
    assert result.exit_code == 0
    assert "copy-1" in result.stdout and "running" in result.stdout
    assert "1.0 KiB / 4.0 KiB (25%" in result.stdout
    assert "s3cr3tSig" not in result.output


def test_status_and_list_say_when_a_copy_was_skipped() -> None:
    """A copy that overwrite=if_newer left alone reads "succeeded (skipped: ...)", in the table
    and the list, so it is not taken for a copy made; a copy made says nothing more."""
    skipped = status_document("succeeded", skipped=True, copy_id=None, progress=None)
    result = run(FakeApi(answer(200, skipped)), "status", "copy-1")
    assert "succeeded (skipped: destination newer)" in result.stdout
    listing = {"copies": [skipped, status_document("succeeded", id="copy-2")], "continuation": None}
    lines = run(FakeApi(answer(200, listing)), "list").stdout.splitlines()
    assert [("skipped" in line) for line in lines if "copy-" in line] == [True, False]


def test_format_json_redacts_and_keeps_shape() -> None:
    """The JSON formatter keeps every field and replaces only the signature."""
    document = status_document(source=SRC)
    printed = json.loads(format_json(document))
    assert printed["source"].endswith("sig=REDACTED")
    assert {**printed, "source": SRC} == document


def test_wait_follows_retry_after_until_success() -> None:
    """--wait polls at the Retry-After interval and exits 0 when the copy succeeds."""
    done = status_document("succeeded", progress={"bytes_copied": 4096, "total_bytes": 4096})
    api = FakeApi(
        accepted(),
        answer(202, status_document(), retry_after="7"),
        answer(200, done),
    )
    sleeps: list[float] = []
    result = run(api, "start", SRC, DST, "--wait", "--json", sleeps=sleeps)
    assert result.exit_code == 0, result.output
    assert sleeps == [2.0, 7.0]
    assert api.calls[1:] == [("status", "copy-1"), ("status", "copy-1")]
    assert json.loads(result.stdout)["state"] == "succeeded"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("failed", exit_codes.COPY_FAILED),
        ("aborted", exit_codes.COPY_ABORTED),
        ("timed_out", exit_codes.COPY_TIMED_OUT),
        ("vanished", exit_codes.COPY_UNKNOWN_STATE),
    ],
)
def test_wait_exit_code_tells_the_final_state(state: str, code: int) -> None:
    """`status --wait` ends with the exit code of the copy's final state."""
    api = FakeApi(answer(200, status_document(state, error={"code": "X", "message": "y"})))
    result = run(api, "status", "copy-1", "--wait")
    assert result.exit_code == code
    assert state in result.stdout


def test_list_prints_rows_and_filters_by_state() -> None:
    """`list --state` passes the filter and prints one row per copy."""
    copies = [status_document(), status_document("failed", id="copy-2")]
    api = FakeApi(answer(200, {"copies": copies}))
    result = run(api, "list", "--state", "running")
    assert result.exit_code == 0
    assert api.calls == [("list", "running", None)]
    assert "copy-1" in result.stdout and "copy-2" in result.stdout


def test_list_rejects_unknown_state() -> None:
    """`list --state` accepts only the documented states."""
    result = run(FakeApi(), "list", "--state", "done")
    assert result.exit_code == exit_codes.USAGE


def test_abort_json_prints_the_answer() -> None:
    """`abort --json` prints what the API answered."""
    result = run(FakeApi(accepted()), "abort", "copy-1", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == "copy-1"


def test_abort_sends_the_reason() -> None:
    """`abort --reason` passes the reason to the API."""
    api = FakeApi(accepted())
    result = run(api, "abort", "copy-1", "--reason", "wrong source")
    assert result.exit_code == 0
    assert api.calls == [("abort", "copy-1", "wrong source")]
    assert "Abort requested for copy copy-1." in result.stdout


def test_wait_draws_no_progress_bar_outside_a_terminal() -> None:
    """Under CliRunner (no TTY) --wait prints the final table only; stderr stays empty."""
    api = FakeApi(accepted(), answer(200, status_document("succeeded")))
    result = run(api, "start", SRC, DST, "--wait")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "succeeded" in result.stdout


def test_python_dash_m_runs_the_cli() -> None:
    """`python -m blobcopy --version` works, as the console script would."""
    done = subprocess.run(
        [sys.executable, "-m", "blobcopy", "--version"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("blobcopy, version ")


def test_url_and_key_come_from_the_environment(stub: tuple[Stub, str]) -> None:
    """BLOBCOPY_URL and BLOBCOPY_FUNCTION_KEY configure the client; the key is never printed."""
    state, url = stub
    state.status, state.body = 401, b""
    env = {"BLOBCOPY_URL": url, "BLOBCOPY_FUNCTION_KEY": "k3y-secret"}
    result = CliRunner().invoke(cli, ["list"], env=env)
    assert state.requests[0]["headers"]["x-functions-key"] == "k3y-secret"
    assert result.exit_code == exit_codes.NOT_ALLOWED
    assert "BLOBCOPY_FUNCTION_KEY" in result.stderr
    assert "k3y-secret" not in result.output


def test_ctrl_c_while_waiting_leaves_the_copy_running() -> None:
    """Ctrl-C during --wait exits 130 and says how to check or abort the copy that goes on."""

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    api = FakeApi(answer(202, status_document(), retry_after="5"))
    context = CliContext(client=api, sleep=interrupted)
    result = CliRunner().invoke(cli, ["status", "copy-1", "--wait"], obj=context)
    assert result.exit_code == exit_codes.INTERRUPTED
    assert "blobcopy abort copy-1" in result.stderr


@pytest.mark.parametrize("path", ["c/../other/a.bin", "c/%2e%2e/other/a.bin", "c//a.bin"])
def test_start_rejects_dot_segments_without_calling_the_api(path: str) -> None:
    """A URL whose path has `.`, `..` or empty segments (also percent-encoded) fails before any
    request is sent: HTTP clients resolve such segments, so it would name another blob."""
    api = FakeApi()
    result = run(api, "start", SRC, f"http://127.0.0.1:10000/devstoreaccount1/{path}")
    assert result.exit_code == exit_codes.USAGE
    assert "DESTINATION" in result.output and "segment" in result.output
    assert api.calls == []


def test_list_follows_every_page() -> None:
    """`list` asks for the next page with each answer's continuation until it is null, and
    prints the copies of every page (GET /api/copies answers one page at a time)."""
    api = FakeApi(
        answer(200, {"copies": [status_document(id="copy-1")], "continuation": "p2"}),
        answer(200, {"copies": [], "continuation": "p3"}),
        answer(200, {"copies": [status_document(id="copy-3")], "continuation": None}),
    )
    result = run(api, "list", "--state", "running")
    assert result.exit_code == 0
    assert api.calls == [
        ("list", "running", None),
        ("list", "running", "p2"),
        ("list", "running", "p3"),
    ]
    assert "copy-1" in result.stdout and "copy-3" in result.stdout


def test_list_json_prints_every_page_as_one_list() -> None:
    """`list --json` prints {"copies": [all of them], "continuation": null}."""
    api = FakeApi(
        answer(200, {"copies": [status_document(id="copy-1")], "continuation": "p2"}),
        answer(200, {"copies": [status_document(id="copy-2")], "continuation": None}),
    )
    result = run(api, "list", "--json")
    listed = json.loads(result.stdout)
    assert [c["id"] for c in listed["copies"]] == ["copy-1", "copy-2"]
    assert listed["continuation"] is None


REPLICATION = {
    "queue": "blob-events",
    "rules": [
        {
            "name": "logs",
            "source": {"account": "prodsrc", "container": "data", "prefix": "logs/"},
            "destination": {"account": "backup", "container": "data", "prefix": "copy/"},
            "deletes": False,
            "copies": {"seen": 7, "running": 2, "succeeded": 3, "skipped": 1, "failed": 1}
            | {"aborted": 0, "timed_out": 0},
            "oldest_running": {"id": "repl-logs-0", "since": "2026-12-01T10:00:00Z"}
            | {"lag_seconds": 95.0},
            "complete": True,
        }
    ],
}


def test_replication_shows_each_rule_its_counts_and_lag() -> None:
    api = FakeApi(answer(200, REPLICATION))
    result = run(api, "replication")
    assert result.exit_code == 0, result.output
    assert api.calls == [("replication",)]
    row = next(line for line in result.output.splitlines() if line.startswith("logs"))
    cells = ["logs", "prodsrc/data/logs", "backup/data/copy", "7", "2", "3", "1", "1"]
    assert row.split()[:8] == cells
    assert row.endswith("1 min 35 s")


def test_replication_json_is_the_document_and_no_rules_say_so() -> None:
    result = run(FakeApi(answer(200, REPLICATION)), "replication", "--json")
    assert json.loads(result.output) == REPLICATION
    empty = run(FakeApi(answer(200, {"queue": "blob-events", "rules": []})), "replication")
    assert empty.output.strip() == "No replication rules (queue blob-events)."


def test_replication_backfill_sends_the_rules_options_and_reports_the_batch() -> None:
    batch = {"id": "backfill-logs-1", "state": "running", "counts": {"listed": 0}}
    api = FakeApi(answer(202, batch))
    result = run(api, "replication", "backfill", "logs", "--dry-run", "--max-concurrency", "4")
    assert result.exit_code == 0, result.output
    assert api.calls == [("backfill", "logs", {"dry_run": True, "max_concurrency": 4})]
    assert "backfill-logs-1" in result.output


def test_replication_backfill_of_an_unknown_rule_exits_with_not_found() -> None:
    refused = CopyNotFound(404, "no such replication rule")
    result = run(FakeApi(refused), "replication", "backfill", "nowhere")
    assert result.exit_code == exit_codes.NOT_FOUND, result.output
