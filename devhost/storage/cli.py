"""`python -m devhost.storage`: run the storage stack in the foreground until Ctrl-C or SIGTERM.

Prints the connection strings to use, then waits. `python -m devhost storage` calls `main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devhost.storage.stack import ACCOUNTS, DEV_ACCOUNT_KEY, StorageConfig, StorageStack

RATE_ENV = "DEVHOST_COPY_RATE"
ALL_ASYNC_ENV = "DEVHOST_COPY_ALL_ASYNC"
_UNITS = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
}


def parse_rate(text: str) -> float | None:
    """Bytes per second from `64MiB`, `10M`, `500000` (a trailing `/s` or `B` is allowed);
    `0`, `none` or `unlimited` mean no limit."""
    value = text.strip().lower().removesuffix("/s").removesuffix("b")
    if value in ("0", "none", "unlimited", "off"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|m|g|ki|mi|gi)?", value)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (try 64MiB, 10M or unlimited)")
    rate = float(match.group(1)) * _UNITS[match.group(2) or ""]
    return rate if rate > 0 else None


def build_parser() -> argparse.ArgumentParser:
    defaults = StorageConfig()
    parser = argparse.ArgumentParser(
        prog="python -m devhost.storage",
        description="Azurite + the asynchronous copy engine, in the foreground.",
    )
    parser.add_argument("--host", default=defaults.host, help="address to bind (loopback)")
    parser.add_argument("--blob-port", type=int, default=defaults.blob_port)
    parser.add_argument("--queue-port", type=int, default=defaults.queue_port)
    parser.add_argument("--table-port", type=int, default=defaults.table_port)
    parser.add_argument(
        "--copy-rate",
        type=parse_rate,
        default=parse_rate(os.environ.get(RATE_ENV, "64MiB")),
        help=f"async copy rate, e.g. 64MiB, 10M, unlimited (env {RATE_ENV}; default 64MiB)",
    )
    parser.add_argument(
        "--all-async",
        action="store_true",
        default=os.environ.get(ALL_ASYNC_ENV, "") not in ("", "0", "false"),
        help=f"run same-account copies asynchronously too (env {ALL_ASYNC_ENV}=1)",
    )
    parser.add_argument(
        "--https", action="store_true", help="HTTPS + OAuth (user delegation SAS) mode"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep data here (default: a temp dir)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every copy")
    return parser


def development_storage_note(config: StorageConfig) -> str | None:
    """What to say of `UseDevelopmentStorage=true`, which the SDKs read as plain HTTP to
    127.0.0.1 on ports 10000-10002: it works only when the stack is just that."""
    if (config.blob_port, config.queue_port, config.table_port) != (10000, 10001, 10002):
        return None
    if config.https:
        return "UseDevelopmentStorage=true does not work here: it means HTTP, these are HTTPS."
    if config.host not in ("127.0.0.1", "0.0.0.0"):
        return None
    return "UseDevelopmentStorage=true works too."


def main(argv: list[str] | None = None) -> int:
    """Start the stack, print how to reach it, stop it cleanly on Ctrl-C or SIGTERM."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    config = StorageConfig(
        host=args.host,
        blob_port=args.blob_port,
        queue_port=args.queue_port,
        table_port=args.table_port,
        https=args.https,
        copy_rate_bytes_per_s=args.copy_rate,
        all_async=args.all_async,
        data_dir=args.data_dir,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = StorageStack(config)
    try:
        stack.start()
        rate = "unlimited" if args.copy_rate is None else f"{args.copy_rate / 2**20:g} MiB/s"
        print(f"storage stack up (copy rate {rate}, all-async {args.all_async})", flush=True)
        for account in ACCOUNTS:
            # The key is Azurite's public well-known one, but keys never go to logs.
            shown = stack.connection_string(account).replace(DEV_ACCOUNT_KEY, "<Azurite dev key>")
            print(f"  {account}: {shown}", flush=True)
        shortcut = development_storage_note(config)
        if shortcut:
            print(f"  {shortcut}", flush=True)
        if stack.ca_cert_path is not None:
            print(f"  CA bundle: {stack.ca_cert_path}", flush=True)
        print(f"  control API: {stack.control_url}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except Exception as exc:
        print(f"storage stack failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("storage stack stopped.", flush=True)
    return 0
