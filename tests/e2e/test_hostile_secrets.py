"""The session's secrets scan catches a planted secret in each place it watches (a scan that
cannot fail is a defect). The secrets are fake, made for this test."""

from __future__ import annotations

import base64
import contextlib
import logging
import subprocess
import sys

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient
from click.testing import CliRunner

from blobcopy.cli import cli
from devhost.storage.stack import StorageStack
from devhost.testing import AppHost, http
from tests.e2e.e2e_helpers import ExternalFiles
from tests.e2e.secretwatch import SecretWatch

pytestmark = pytest.mark.e2e

FAKE_SIG = "cGxhbnRlZC1mb3ItdGhlLXNjYW4%3D"
PLANTED = f"https://a.blob.core.windows.net/c/b.bin?sv=2024-01-01&sig={FAKE_SIG}"


def _caught(watch: SecretWatch, where: str) -> None:
    """The sweep found the planted secret at `where`, and nothing else; then it is forgotten,
    so this test does not fail for what it planted."""
    findings = watch.sweep()
    assert findings and all(where in f for f in findings), findings
    assert all(FAKE_SIG not in f for f in findings)


def test_a_secret_in_a_python_log_record_is_caught(secret_watch: SecretWatch) -> None:
    """A log record of the test process (any logger, INFO and up)."""
    logging.getLogger("tests.planted").info("copying from %s", PLANTED)
    _caught(secret_watch, "Python log (tests.planted)")


def test_a_secret_in_an_http_answer_is_caught(
    secret_watch: SecretWatch, external_files: ExternalFiles
) -> None:
    """An answer read through urllib, as every e2e client reads them."""
    url = external_files.serve(f'{{"source": "{PLANTED}"}}'.encode(), "doc.json")
    assert http("GET", url).status == 200
    _caught(secret_watch, "the answer of")


def test_a_secret_in_a_host_log_is_caught(secret_watch: SecretWatch, copy_service: AppHost) -> None:
    """A line devhost's host wrote (planted in its log file, since devhost redacts its own)."""
    with (copy_service._workdir / "host.log").open("a", encoding="utf-8") as log:
        log.write(f"planted {PLANTED}\n")
    _caught(secret_watch, "host log")


def test_a_secret_on_a_queue_is_caught(secret_watch: SecretWatch, e2e_stack: StorageStack) -> None:
    """A message left on any queue of the stack (base64, as the Functions host writes them)."""
    queue = QueueClient.from_connection_string(e2e_stack.connection_string(), "planted-secrets")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message(base64.b64encode(PLANTED.encode()).decode())
    try:
        _caught(secret_watch, "queue planted-secrets")
    finally:
        queue.delete_queue()


def test_a_secret_in_cli_output_is_caught(secret_watch: SecretWatch) -> None:
    """The CLI's output in process, and a console script's."""
    CliRunner().invoke(cli, ["--url", PLANTED, "list"])
    subprocess.run([sys.executable, "-c", f"print({PLANTED!r})"], capture_output=True, check=True)
    findings = secret_watch.sweep()
    assert any("the output of" in f for f in findings), findings
