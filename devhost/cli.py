"""`python -m devhost`: run a Functions app locally, with or without the storage stack.

    python -m devhost run [APP_DIR]      serve the app (like `func start`), storage already running
    python -m devhost up [APP_DIR]       start the storage stack, then serve the app against it
    python -m devhost storage [...]      the storage stack's own command line

APP_DIR defaults to the current directory, as with `func start`. Like `func start`, devhost
requires no function key unless `--require-keys` is given (see devhost/functions/http_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from devhost.functions.host import HostOptions, serve
from devhost.functions.indexer import IndexingError
from devhost.functions.logs import configure_console
from devhost.functions.queue_clients import ConnectionSettingError
from devhost.lifetime import die_with_parent
from devhost.settings import DEFAULT_STORAGE_SETTING, SettingsError, ca_trust_environment

if TYPE_CHECKING:
    from devhost.storage import StorageStack

log = logging.getLogger("devhost.cli")

STORAGE_DIR = Path(".devhost") / "azurite"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the directory holding devhost/
#: The key `--require-keys` uses when set; otherwise one is made at start. An environment
#: variable, not an option, so the key shows in no process list.
FUNCTION_KEY_ENV = "DEVHOST_FUNCTION_KEY"


def _add_host_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app_dir", nargs="?", default=".", type=Path, help="the app (default: .)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port (default: Host.LocalHttpPort or 7071; 0 = any free)",
    )
    parser.add_argument(
        "--durable-db",
        type=Path,
        default=None,
        help="durable history (default: APP_DIR/.devhost/durable.sqlite)",
    )
    parser.add_argument(
        "--ready-file", type=Path, default=None, help="write the base URL here once serving"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--require-keys",
        action="store_true",
        help=(
            "answer 401 to HTTP functions of authLevel function/admin called without the key, "
            f"as Azure does (key: ${FUNCTION_KEY_ENV}, else a new one, printed at start)"
        ),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve a Functions app (storage must be running)")
    _add_host_arguments(run)
    up = commands.add_parser("up", help="start the storage stack and serve the app against it")
    _add_host_arguments(up)
    up.add_argument(
        "--storage-dir",
        type=Path,
        default=None,
        help="Azurite data (default: APP_DIR/.devhost/azurite)",
    )
    up.add_argument(
        "--https",
        action="store_true",
        help="serve storage over HTTPS with OAuth (user delegation SAS)",
    )
    up.add_argument(
        "--prepare",
        metavar="MODULE:FUNCTION",
        default=None,
        help="call FUNCTION(stack) from the app's MODULE once the storage stack is up, before"
        " the app starts (create the containers and queues the app expects, seed examples)",
    )
    for service, port in (("blob", 10000), ("queue", 10001), ("table", 10002)):
        up.add_argument(f"--{service}-port", type=int, default=port, help=f"default: {port}")
    commands.add_parser("storage", help="the storage stack's command line", add_help=False)
    return parser


def function_key(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """The key the host requires: None unless `--require-keys`; then the environment's, else a
    new random one (as long as the host keys Azure makes)."""
    if not args.require_keys:
        return None
    return env.get(FUNCTION_KEY_ENV) or secrets.token_urlsafe(40)


def _host_options(args: argparse.Namespace) -> HostOptions:
    return HostOptions(
        app_dir=args.app_dir.resolve(),
        host=args.host,
        port=args.port,
        durable_db=args.durable_db.resolve() if args.durable_db else None,
        ready_file=args.ready_file.resolve() if args.ready_file else None,
        function_key=function_key(args, os.environ),
    )


def _serve(options: HostOptions) -> int:
    try:
        asyncio.run(serve(options))
    except (IndexingError, SettingsError, ConnectionSettingError) as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot serve on %s:%s: %s", options.host, options.port, exc)
        return 1
    return 0


def _storage_main() -> Callable[[list[str] | None], int]:
    """The storage stack's CLI entry (`main(argv) -> int`), wherever its module puts it."""
    for module in ("devhost.storage.cli", "devhost.storage.__main__"):
        try:
            main = getattr(importlib.import_module(module), "main", None)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        if callable(main):
            return main  # type: ignore[no-any-return]
    raise SystemExit("devhost storage: the storage stack has no command line yet (devhost/storage)")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_argv(args: argparse.Namespace) -> list[str]:
    """The `run` command line equivalent to these `up` arguments."""
    argv = ["run", str(args.app_dir.resolve()), "--host", args.host, "--log-level", args.log_level]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.durable_db is not None:
        argv += ["--durable-db", str(args.durable_db.resolve())]
    if args.ready_file is not None:
        argv += ["--ready-file", str(args.ready_file.resolve())]
    if args.require_keys:
        argv.append("--require-keys")  # the child makes (or reads) the key and prints it
    return argv


def _run_host_process(argv: list[str], env: dict[str, str]) -> int:
    """Serve the app in a child `devhost run` until it exits; signals to `up` stop it first.

    A child, not this process: the app and its SDK clients must start with the stack's settings
    (TLS trust is read when aiohttp is imported). It gets its own session so that Ctrl+C reaches
    it once, forwarded from here, and the stack stops only after the host has.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "devhost", *argv],
        env=env,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # a SIGKILLed `up` must not leave it serving its port
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return child.wait()


def _prepare(target: str, app_dir: Path, stack: StorageStack) -> None:
    """Call the app's `MODULE:FUNCTION` with the running stack: what a deployment's
    infrastructure would have made (queues, containers) made here, once, before the app."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise SystemExit(f"devhost up --prepare: give MODULE:FUNCTION, not {target!r}")
    sys.path.insert(0, str(app_dir))
    prepare = getattr(importlib.import_module(module_name), function_name)
    prepare(stack)


def _up(args: argparse.Namespace) -> int:
    from devhost.storage import StorageConfig, StorageStack

    # Until the host runs, a signal must still unwind the stack (and stop Azurite).
    signal.signal(signal.SIGTERM, _interrupt)
    app_dir = args.app_dir.resolve()
    data_dir = (args.storage_dir or app_dir / STORAGE_DIR).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = StorageConfig(
        data_dir=data_dir,
        https=bool(args.https),
        blob_port=args.blob_port,
        queue_port=args.queue_port,
        table_port=args.table_port,
    )
    with StorageStack(config) as stack:
        # The environment wins over local.settings.json, so the app talks to this stack.
        env = {**os.environ, DEFAULT_STORAGE_SETTING: stack.connection_string()}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")])
        )
        if stack.ca_cert_path is not None:
            env |= ca_trust_environment(stack.ca_cert_path, data_dir / "ca-bundle.pem")
        log.info(
            "Storage stack up: blob %s, queue %s", stack.blob_endpoint(), stack.queue_endpoint()
        )
        if args.prepare:
            _prepare(args.prepare, app_dir, stack)
        code = _run_host_process(_run_argv(args), env)
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        log.info("Stopping the storage stack...")
        return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m devhost`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["storage"]:
        return _storage_main()(arguments[1:])
    args = _parser().parse_args(arguments)
    configure_console(getattr(logging, args.log_level))
    if args.command == "run":
        return _serve(_host_options(args))
    return _up(args)
