"""Every shell command of README.md works as written, in order, on a fresh clone (issue 17).

The walk reads README.md's fenced blocks whose info string is `bash`, `sh`, `shell` or
`console` (a session: its commands are the lines after a `$ ` prompt, the rest is output, which
is not compared), from the top, and runs each command against a fresh `make run`
(tests/e2e/makerun.py: the Makefile's own recipe, a fresh clone, its own `.devhost/`). Inline
code is prose, and is not run. The walk fails at the first command that fails, showing the
command as the README writes it, its exit code and output, and the end of `make run`'s log,
every credential hidden (the session's secrets scan also reads each command's output).

How a command runs:

- Commands are split as bash reads them: a line goes on past a trailing `\\`, an open quote or
  a heredoc (`<<'PY'` ... `PY`). Each runs in its own `bash -o pipefail -c`, in the clone's
  root, where the README's `.venv/bin/...` paths are. No shell state carries from one to the
  next (a README command must not rely on an earlier `export`).
- curl runs with `--fail-with-body` (a shim first on PATH): an HTTP error answer fails the walk,
  as a reader would see it fail.
- Other sessions may hold the README's ports, so the stack listens on free ones and each
  command has the README's endpoints (`127.0.0.1:10000`, `:10001`, `:10002`, `:7071`, and the
  copy engine's Files endpoint `:10004`, the blob port + 4) moved to them, and `BLOBCOPY_URL`
  set to the moved CLI default. That is all that differs from the README:
  `test_the_readme_ports_are_the_defaults_of_make_run_and_the_cli` checks that those ports are
  what `make run`, `local.settings.json.example` and the CLI use when left alone.

A block opts out with a marker on the line right before its opening fence (an HTML comment,
which GitHub does not show):

    <!-- readme-walk: skip: REASON -->     not run: needs Azure, the internet, or more time
                                           than `make test` has, or is no command (a synopsis)
    <!-- readme-walk: server: REASON -->   the block starts the local stack and serves until
                                           Ctrl-C (`make run`): the walk starts `make run`
                                           itself, in the background, where the block stands,
                                           waits until it serves, and goes on

A server block must hold `make run` and nothing else (a `# = COMMAND` comment on it must be the
recipe `make -n run` prints). A marker anywhere else, of another kind or without a reason fails
`test_the_readme_markers_are_well_formed`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blobcopy.client import DEFAULT_URL
from devhost.settings import load_local_settings
from devhost.storage.stack import StorageConfig
from devhost.testing import REPO_ROOT
from tests.e2e.makerun import (
    README_FILE_PORT,
    README_PORTS,
    MakeRun,
    fresh_clone,
    make_run,
    make_run_command,
)
from tests.e2e.secretwatch import SecretWatch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = REPO_ROOT / "README.md"
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
#: In a `console` block (a session: prompts and output), a command is what follows the prompt.
PROMPT = "$ "
MARKER = re.compile(r"^<!--\s*readme-walk:\s*(?P<kind>[\w-]+)\s*:\s*(?P<reason>.*?)\s*-->\s*$")
MARKER_KINDS = frozenset({"skip", "server"})
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
#: The longest a README command may take (a `--wait` copy of the 64 MiB example, a batch).
COMMAND_TIMEOUT_S = 180.0
OUTPUT_LINES_SHOWN = 60


@dataclass(frozen=True)
class Marker:
    """A `<!-- readme-walk: KIND: REASON -->` line."""

    line: int
    kind: str
    reason: str


@dataclass(frozen=True)
class Block:
    """One fenced block of the README: where its first content line is, its language, text."""

    line: int
    language: str
    text: str
    marker: Marker | None


@dataclass(frozen=True)
class Command:
    """One shell command as the README writes it, and the README line it starts on."""

    line: int
    text: str


# -- reading the README ------------------------------------------------------------------------


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the marker on the line before it."""
    lines = text.splitlines()
    found: list[Block] = []
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        fence, close = opening["fence"], number + 1
        while close < len(lines) and not lines[close].startswith(fence):
            close += 1
        before = MARKER.match(lines[number - 1]) if number else None
        marker = Marker(number, before["kind"], before["reason"]) if before else None
        body = "\n".join(lines[number + 1 : close])
        found.append(Block(number + 2, opening["info"].lower(), body, marker))
        number = close + 1
    return found


def markers(text: str) -> list[tuple[int, str]]:
    """Every line (1-based) that mentions the walk, with its text."""
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if "readme-walk" in line]


def shell_blocks(text: str) -> list[Block]:
    return [block for block in blocks(text) if block.language in SHELL_LANGUAGES]


class _LineScan:
    """What one line leaves open, read the way bash reads it: a quote, a trailing backslash,
    heredocs whose bodies follow. (Enough of bash for a README: no `$(...)` across lines.)"""

    def __init__(self, quote: str | None) -> None:
        self.quote = quote
        self.continued = False
        self.heredocs: list[str] = []

    def scan(self, line: str) -> None:
        i, word_start = 0, True
        while i < len(line):
            char = line[i]
            if self.quote == "'":
                self.quote = None if char == "'" else self.quote
            elif char == "\\":
                if i == len(line) - 1:
                    self.continued = True
                i += 1
            elif self.quote == '"':
                self.quote = None if char == '"' else self.quote
            elif char in "'\"":
                self.quote = char
            elif char == "#" and word_start:
                return
            elif line.startswith("<<", i) and not line.startswith("<<<", i):
                heredoc = re.match(r"<<-?\s*(['\"]?)(\w+)\1", line[i:])
                if heredoc:
                    self.heredocs.append(heredoc[2])
                    i += heredoc.end() - 1
            word_start = char in " \t;&|()"
            i += 1


def commands(block: Block) -> list[Command]:
    """The block's commands, each with the lines it spans (continuations, quotes, heredocs)."""
    found: list[Command] = []
    pending: list[str] = []
    quote: str | None = None
    heredocs: list[str] = []
    start = 0
    for offset, line in enumerate(block.text.splitlines()):
        if not pending and block.language == "console":
            if not line.startswith(PROMPT):
                continue  # what the session printed
            line = line.removeprefix(PROMPT)
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = offset
        pending.append(line)
        if heredocs:
            if line.strip() == heredocs[0]:
                heredocs.pop(0)
            continued = bool(heredocs)
        else:
            scan = _LineScan(quote)
            scan.scan(line)
            quote, heredocs = scan.quote, scan.heredocs
            continued = scan.continued or quote is not None or bool(heredocs)
        if not continued:
            found.append(Command(block.line + start, "\n".join(pending)))
            pending = []
    assert not pending, f"README.md:{block.line + start}: a command never ends: {pending[0]!r}"
    return found


# -- running it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one command ended: its exit code (None: it ran out of time) and what it printed."""

    code: int | None
    output: str


class Walker:
    """Runs README commands in the clone of a `MakeRun`, on its ports."""

    def __init__(self, run: MakeRun, tools: Path) -> None:
        self.run = run
        self.env = {
            **os.environ,
            "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
            "BLOBCOPY_URL": run.ports.rewrite(DEFAULT_URL),
        }
        self.env.pop("BLOBCOPY_FUNCTION_KEY", None)  # the README's commands send no key

    def run_command(self, command: Command) -> Outcome:
        """Run one command (its ports moved) in its own process group, within the time limit."""
        process = subprocess.Popen(
            ["bash", "-o", "pipefail", "-c", self.run.ports.rewrite(command.text)],
            cwd=self.run.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so that a command out of time goes with its children
        )
        try:
            output, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return Outcome(None, output)
        return Outcome(process.returncode, output)

    def start_server(self, block: Block) -> None:
        """The block is `make run`: start it in the background and wait until it serves."""
        lines = [c.text for c in commands(block)]
        command, _, comment = lines[0].partition("#") if len(lines) == 1 else ("", "", "")
        assert command.strip() == "make run", (
            f"README.md:{block.line}: a server block holds `make run` alone, not {lines}"
        )
        recipe = " ".join(make_run_command(self.run.workdir))
        if comment.strip().startswith("="):
            claimed = comment.strip().removeprefix("=").strip()
            assert claimed == recipe, (
                f"README.md:{block.line}: says `make run` = {claimed!r}; it runs {recipe!r}"
            )
        self.run.start()


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A directory for the front of PATH: curl that fails on an HTTP error answer."""
    directory = tmp_path / "bin"
    directory.mkdir()
    curl = shutil.which("curl")
    if curl is not None:
        shim = directory / "curl"
        shim.write_text(f'#!/bin/sh\nexec {curl} --fail-with-body "$@"\n')
        shim.chmod(0o755)
    return directory


@pytest.fixture
def walker(tmp_path: Path, tools: Path, secret_watch: SecretWatch) -> Iterator[Walker]:
    """A walker over a fresh clone whose `make run` the walk starts (and the fixture stops)."""
    with make_run(tmp_path / "walk", secret_watch.scanner, start=False) as run:
        yield Walker(run, tools)


def _failure(command: Command, outcome: Outcome, run: MakeRun, watch: SecretWatch) -> str:
    """What a failed command says: the command, how it ended, its output, make run's log."""
    ended = "ran out of time" if outcome.code is None else f"exited {outcome.code}"
    output = "\n".join(outcome.output.splitlines()[-OUTPUT_LINES_SHOWN:])
    return watch.scanner.hide(
        f"README.md:{command.line}: this command {ended}"
        f" (run with the README's ports moved to {run.ports}):\n{command.text}\n"
        f"--- its output (end):\n{output}\n--- `make run` (end):\n{run.output_tail(3000)}"
    )


# -- the tests ---------------------------------------------------------------------------------


def test_every_readme_command_runs_as_written(walker: Walker, secret_watch: SecretWatch) -> None:
    """Each shell command of README.md, in order, on a fresh clone and its own `make run`,
    exits 0 (curl: and gets no HTTP error); only blocks marked `skip` are left out."""
    ran, skipped = 0, []
    for block in shell_blocks(README.read_text(encoding="utf-8")):
        if block.marker is not None and block.marker.kind == "skip":
            skipped.append(f"README.md:{block.line} ({block.marker.reason})")
            continue
        if block.marker is not None and block.marker.kind == "server":
            walker.start_server(block)
            continue
        for command in commands(block):
            outcome = walker.run_command(command)
            secret_watch.scanner.scan(outcome.output, f"the output of README.md:{command.line}")
            if outcome.code != 0:
                pytest.fail(_failure(command, outcome, walker.run, secret_watch), pytrace=False)
            ran += 1
    assert walker.run.base_url, "no block started `make run` (a `server` marker)"
    assert ran, "the walk ran no command"
    print(f"README walk: {ran} commands ran; skipped: {'; '.join(skipped)}")


def test_the_readme_markers_are_well_formed() -> None:
    """Every `readme-walk` marker is a known kind with a reason, right before a shell block,
    and exactly one block starts the server."""
    text = README.read_text(encoding="utf-8")
    placed = {b.marker.line: b for b in shell_blocks(text) if b.marker is not None}
    for number, line in markers(text):
        match = MARKER.match(line)
        assert match, f"README.md:{number}: not a `<!-- readme-walk: KIND: REASON -->` marker"
        assert match["kind"] in MARKER_KINDS, f"README.md:{number}: unknown kind {match['kind']}"
        assert match["reason"], f"README.md:{number}: a marker says why"
        assert number in placed, f"README.md:{number}: a marker stands right before a shell fence"
    servers = [b for b in placed.values() if b.marker and b.marker.kind == "server"]
    assert len(servers) == 1, f"one block starts `make run`, not {len(servers)}"


def test_the_readme_ports_are_the_defaults_of_make_run_and_the_cli(tmp_path: Path) -> None:
    """The ports the walk moves are the ones a README reader gets: `devhost up`'s storage
    ports and HTTP port, the CLI's default URL, and the example settings' endpoints."""
    clone = fresh_clone(tmp_path / "clone")
    shown = subprocess.run(
        [sys.executable, "-m", "devhost", "up", "--help"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    usage = " ".join(shown.stdout.split())
    for service in ("blob", "queue", "table"):
        option = f"--{service}-port {service.upper()}_PORT default: {README_PORTS[service]}"
        assert option in usage, usage
    assert f"--port PORT HTTP port (default: Host.LocalHttpPort or {README_PORTS['app']};" in usage
    assert load_local_settings(clone).http_port is None  # no Host.LocalHttpPort in the example
    assert f"http://127.0.0.1:{README_PORTS['app']}" == DEFAULT_URL
    example = (clone / "local.settings.json.example").read_text(encoding="utf-8")
    named = {str(README_PORTS["blob"]), str(README_FILE_PORT)}  # blob, and Files (blob + 4)
    assert set(re.findall(r"127\.0\.0\.1:(\d+)", example)) == named
    assert StorageConfig(blob_port=README_PORTS["blob"]).file_port == README_FILE_PORT
    assert StorageConfig(blob_port=20000).file_port == 20004  # what Ports.files moves it to


def test_commands_split_as_bash_reads_them() -> None:
    """Continuations, a quote over several lines, a heredoc and comments make one command
    each, where bash would end them; in a console session only what follows a prompt runs."""
    text = "\n".join(
        [
            "make x   # a comment with a ' quote",
            "",
            "# a whole-line comment",
            "curl -i -X POST http://h/api \\",
            '  -d \'{"a": 1,',
            '       "b": 2}\'',
            ".venv/bin/python - <<'PY'",
            "print('# not a comment')",
            "PY",
            'echo "a # b" done',
        ]
    )
    found = commands(Block(10, "bash", text, None))
    assert [(c.line, c.text.splitlines()[0]) for c in found] == [
        (10, "make x   # a comment with a ' quote"),
        (13, "curl -i -X POST http://h/api \\"),
        (16, ".venv/bin/python - <<'PY'"),
        (19, 'echo "a # b" done'),
    ]
    assert found[1].text.count("\n") == 2 and found[2].text.endswith("PY")
    session = "$ blobcopy list \\\n    --state running\nID  STATE\n$ echo '$ not output'\n$ x"
    assert [c.text for c in commands(Block(1, "console", session, None))] == [
        "blobcopy list \\\n    --state running",
        "echo '$ not output'",
        "x",
    ]
