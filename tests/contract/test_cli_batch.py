"""`blobcopy batch ...` with no server: argument checks, the request body, progress, exit codes."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from blobcopy import exit_codes
from blobcopy.batch_request import BatchOptions, build_batch_request
from blobcopy.cli import cli
from blobcopy.client import Conflict, CopyNotFound
from blobcopy.commands import CliContext
from blobcopy.progress import BatchProgress
from tests.contract.blobcopy_fakes import FakeApi, answer, batch_accepted, batch_document

SRC = "https://src.blob.core.windows.net/data"
DST = "https://dst.blob.core.windows.net/backup"
BLOBS_FAILED = {"code": "BlobsFailed", "message": "1 of 10 blobs failed (see the report)"}


def run(api: FakeApi, *args: str, sleeps: list[float] | None = None):  # type: ignore[no-untyped-def]
    """Invoke `blobcopy batch ...` in-process against `api`, recording sleeps."""
    recorded = sleeps if sleeps is not None else []
    context = CliContext(client=api, sleep=recorded.append)
    return CliRunner().invoke(cli, ["batch", *args], obj=context)


@pytest.mark.parametrize("command", [[], ["start"], ["status"], ["abort"], ["list"]])
def test_help_of_every_batch_command(command: list[str]) -> None:
    """Every batch command prints its help and exits 0."""
    result = CliRunner().invoke(cli, ["batch", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_batch_start_help_documents_its_exit_codes() -> None:
    """`batch start --help` names the code of a batch that ended with some blobs failed."""
    result = CliRunner().invoke(cli, ["batch", "start", "--help"])
    assert f"{exit_codes.BATCH_BLOBS_FAILED}  batch --wait: batch ran to its end" in result.output
    assert len(set(exit_codes.FINAL_STATE_EXIT_CODES.values()) | {14}) == 5


def test_batch_start_requires_both_containers() -> None:
    """`batch start` with one argument is a usage error naming the missing one."""
    result = run(FakeApi(), "start", SRC)
    assert result.exit_code == exit_codes.USAGE
    assert "DST_CONTAINER_URL" in result.output


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("data", "SRC_CONTAINER_URL must be an http(s) URL"),
        (SRC + "?sv=2024&sig=s3cr3t", "no query (the service signs)"),
        ("https://src.blob.core.windows.net/a/../data", "segments"),
    ],
)
def test_batch_start_rejects_bad_container_urls_without_calling_the_api(
    source: str, text: str
) -> None:
    """A container URL that is no URL, carries a query (a SAS), or has dot segments fails
    before anything is sent; a signature is never echoed."""
    api = FakeApi()
    result = run(api, "start", source, DST)
    assert result.exit_code == exit_codes.USAGE
    assert text in result.output
    assert "s3cr3t" not in result.output
    assert api.calls == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-concurrency", "0"),
        ("--max-concurrency", "501"),
        ("--overwrite", "sometimes"),
        ("--tier", "Warm"),
        ("--timeout", "0"),
        ("--blob-timeout", "0"),
        ("--lease-source", "forever"),
        ("--include", ""),
        ("--metadata", "owner"),
    ],
)
def test_batch_start_rejects_bad_option_values(option: str, value: str) -> None:
    """Bounded and enumerated options refuse what the API would refuse, naming the option."""
    api = FakeApi()
    result = run(api, "start", SRC, DST, option, value)
    assert result.exit_code == exit_codes.USAGE
    assert option in result.output
    assert api.calls == []


def test_batch_start_sends_the_options_given() -> None:
    """The request body holds both containers and exactly the options set."""
    api = FakeApi(batch_accepted())
    result = run(
        api, "start", SRC + "/", DST, "--prefix", "2026/", "--dest-prefix", "copy/",
        "--include", "*.csv", "--include", "*.json", "--exclude", "tmp/*",
        "--max-concurrency", "100", "--dry-run", "--id", "batch-1", "--overwrite", "if_newer",
        "-m", "owner=ops", "--tier", "cool", "--timeout", "3600", "--verify",
        "--notify-queue", "copy-results", "--blob-timeout", "600", "--lease-source", "renewed",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.calls == [
        (
            "batch start",
            {
                "source": {"url": SRC, "prefix": "2026/"},
                "destination": {"url": DST, "prefix": "copy/"},
                "include": ["*.csv", "*.json"],
                "exclude": ["tmp/*"],
                "max_concurrency": 100,
                "dry_run": True,
                "id": "batch-1",
                "overwrite": "if_newer",
                "lease_source": "renewed",
                "tier": "Cool",
                "timeout_seconds": 3600,
                "blob_timeout_seconds": 600,
                "verify": True,
                "metadata": {"owner": "ops"},
                "notify": {"queue": "copy-results"},
            },
        )
    ]


def test_batch_start_minimal_request_has_only_containers() -> None:
    """Without options the body carries the two container URLs, so server defaults apply."""
    api = FakeApi(batch_accepted())
    run(api, "start", SRC, DST)
    assert api.calls[0][1] == {"source": {"url": SRC}, "destination": {"url": DST}}


def test_the_request_the_cli_builds_is_one_the_service_takes() -> None:
    """Every option the CLI sets passes shared.batchrequests' own validation."""
    from shared.batchrequests import parse_batch_request

    options = BatchOptions(
        source=SRC, destination=DST, prefix="a/", dest_prefix="b/", include=("*.csv",),
        exclude=("x*",), max_concurrency=500, dry_run=True, batch_id="b-1", overwrite="never",
        metadata={"owner": "ops"}, tier="Archive", timeout_seconds=60, verify=True,
        notify_queue="copy-results", lease_source="renewed", blob_timeout_seconds=30,
    )  # fmt: skip
    request = build_batch_request(options)
    parsed = parse_batch_request(request)
    assert parsed.model_dump(mode="json", exclude_defaults=True) == request


def test_batch_start_says_accepted_and_how_to_follow() -> None:
    """Without --json, `batch start` names the batch and the command that follows it."""
    result = run(FakeApi(batch_accepted("nightly-7")), "start", SRC, DST)
    assert result.exit_code == 0
    assert "Batch nightly-7 accepted." in result.stdout
    assert "blobcopy batch status nightly-7 --wait" in result.stderr


def test_batch_start_json_prints_the_answer_only() -> None:
    """`batch start --json` prints the 202's body as JSON and nothing else on stdout."""
    result = run(FakeApi(batch_accepted()), "start", SRC, DST, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == batch_accepted().body


def test_batch_wait_follows_retry_after_until_the_end() -> None:
    """--wait polls GET /api/batches/{id} at the Retry-After interval; exit 0 on success."""
    done = batch_document("succeeded", counts={"listed": 10, "succeeded": 10})
    api = FakeApi(
        batch_accepted(), answer(202, batch_document(), retry_after="7"), answer(200, done)
    )
    sleeps: list[float] = []
    result = run(api, "start", SRC, DST, "--wait", "--json", sleeps=sleeps)
    assert result.exit_code == 0, result.output
    assert sleeps == [2.0, 7.0]
    assert api.calls[1:] == [("batch status", "batch-1")] * 2
    assert json.loads(result.stdout)["state"] == "succeeded"


@pytest.mark.parametrize(
    ("state", "error", "code"),
    [
        ("succeeded", None, exit_codes.OK),
        ("failed", BLOBS_FAILED, exit_codes.BATCH_BLOBS_FAILED),
        ("failed", {"code": "ContainerNotFound", "message": "gone"}, exit_codes.COPY_FAILED),
        ("aborted", {"code": "Aborted", "message": "asked"}, exit_codes.COPY_ABORTED),
        ("timed_out", {"code": "Timeout", "message": "late"}, exit_codes.COPY_TIMED_OUT),
        ("vanished", None, exit_codes.COPY_UNKNOWN_STATE),
    ],
)
def test_batch_wait_exit_code_tells_how_it_ended(
    state: str, error: dict[str, str] | None, code: int
) -> None:
    """`batch status --wait` ends with the code of the batch's end: its state, and apart from
    a batch that failed outright, one that ran through with some blobs failed."""
    api = FakeApi(answer(200, batch_document(state, error=error)))
    result = run(api, "status", "batch-1", "--wait")
    assert result.exit_code == code
    assert state in result.stdout


def test_batch_status_prints_counts_bytes_and_report() -> None:
    """`batch status` shows blobs ended of listed (+ while listing), counts, bytes, report."""
    result = run(FakeApi(answer(202, batch_document())), "status", "batch-1")
    assert result.exit_code == 0
    out = result.stdout
    assert "3 / 10+ blobs ended" in out
    assert "pending 3, running 4, succeeded 2, failed 1" in out
    assert "3.0 KiB / 4.0 KiB (75%" in out
    assert "blobcopy-reports/batch-1.jsonl" in out
    assert "prefix '2026/'" in out


def test_batch_status_of_a_dry_run_says_so() -> None:
    """A dry run's status says nothing was copied."""
    result = run(FakeApi(answer(200, batch_document("succeeded", dry_run=True))), "status", "b")
    assert "dry run: nothing copied" in result.stdout


def test_unknown_batch_hints_at_batch_list() -> None:
    """A 404 on a batch route exits 6 and points to `blobcopy batch list`."""
    result = run(FakeApi(CopyNotFound(404, "no such batch")), "status", "nope")
    assert result.exit_code == exit_codes.NOT_FOUND
    assert "blobcopy batch list" in result.stderr


def test_batch_abort_sends_the_reason() -> None:
    """`batch abort --reason` passes it on and says how to follow the batch."""
    api = FakeApi(batch_accepted())
    result = run(api, "abort", "batch-1", "--reason", "wrong prefix")
    assert result.exit_code == 0
    assert api.calls == [("batch abort", "batch-1", "wrong prefix")]
    assert "Abort requested for batch batch-1." in result.stdout
    assert "blobcopy batch status batch-1 --wait" in result.stderr


def test_batch_abort_of_an_ended_batch_is_a_conflict() -> None:
    """A 409 (the batch is over) exits 7; with --json the error is printed as JSON."""
    result = run(FakeApi(Conflict(409, "batch already over")), "abort", "batch-1", "--json")
    assert result.exit_code == exit_codes.CONFLICT
    assert json.loads(result.stdout)["error"]["status"] == 409


def test_batch_list_follows_every_page() -> None:
    """`batch list` reads "batches" from each page and follows the continuation to null."""
    api = FakeApi(
        answer(200, {"batches": [batch_document(id="b-1")], "continuation": "p2"}),
        answer(200, {"batches": [batch_document("failed", id="b-2")], "continuation": None}),
    )
    result = run(api, "list", "--state", "running")
    assert result.exit_code == 0
    assert api.calls == [("batch list", "running", None), ("batch list", "running", "p2")]
    assert "b-1" in result.stdout and "b-2" in result.stdout
    assert "3 / 10+ blobs ended" in result.stdout


def test_batch_list_json_and_empty() -> None:
    """`batch list --json` prints every page as one list; no batches says so."""
    api = FakeApi(answer(200, {"batches": [batch_document()], "continuation": None}))
    listed = json.loads(run(api, "list", "--json").stdout)
    assert [b["id"] for b in listed["batches"]] == ["batch-1"]
    assert listed["continuation"] is None
    empty = run(FakeApi(answer(200, {"batches": [], "continuation": None})), "list")
    assert "No batches." in empty.stdout
    assert run(FakeApi(), "list", "--state", "done").exit_code == exit_codes.USAGE


def test_ctrl_c_while_waiting_leaves_the_batch_running() -> None:
    """Ctrl-C during `batch status --wait` exits 130 and says how to check or abort it."""

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    api = FakeApi(answer(202, batch_document(), retry_after="5"))
    context = CliContext(client=api, sleep=interrupted)
    result = CliRunner().invoke(cli, ["batch", "status", "batch-1", "--wait"], obj=context)
    assert result.exit_code == exit_codes.INTERRUPTED
    assert "blobcopy batch abort batch-1" in result.stderr


def test_batch_progress_draws_blobs_and_bytes_on_a_terminal() -> None:
    """On a terminal, --wait draws two bars: blobs ended of listed (+ while the source is
    still listed) and bytes copied of bytes known; a first answer with no counts draws too."""
    screen = io.StringIO()
    console = Console(file=screen, width=120, force_terminal=True, color_system=None)
    with BatchProgress(console, enabled=True) as bars:
        bars.update(batch_accepted().body)
        bars.update(batch_document())
    drawn = screen.getvalue()
    assert "3/10+ blobs" in drawn
    assert "3.0/4.0 KiB" in drawn
    screen.truncate(0)
    with BatchProgress(console, enabled=True) as bars:
        bars.update(batch_document("succeeded", counts={"listed": 10, "succeeded": 10}))
    assert "10/10 blobs" in screen.getvalue()


def test_batch_progress_draws_nothing_when_disabled() -> None:
    """Outside a terminal (or with --json) the bars draw nothing."""
    screen = io.StringIO()
    console = Console(file=screen, width=120, force_terminal=True)
    with BatchProgress(console, enabled=False) as bars:
        bars.update(batch_document())
    assert screen.getvalue() == ""


def test_batch_report_prints_every_page_as_json_lines() -> None:
    one = {"name": "in/a", "destination": "out/a", "state": "succeeded", "bytes": 1}
    two = {"name": "in/b", "destination": "out/b", "state": "failed", "bytes": 0}
    api = FakeApi(
        answer(200, {"id": "b1", "state": "succeeded", "lines": [one], "continuation": "t1"}),
        answer(200, {"id": "b1", "state": "succeeded", "lines": [two], "continuation": None}),
    )
    result = run(api, "report", "b1")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [one, two]
    assert api.calls == [("batch report", "b1", None, None), ("batch report", "b1", None, "t1")]


def test_batch_report_of_a_running_batch_stops_at_what_has_ended() -> None:
    api = FakeApi(
        answer(200, {"id": "b1", "state": "running", "lines": [], "continuation": "end"}),
    )
    result = run(api, "report", "b1", "--state", "failed")
    assert result.exit_code == 0 and result.output == ""
    assert api.calls == [("batch report", "b1", "failed", None)]
