"""Copy engine throughput: a cross-account asynchronous copy vs Azurite's own same-account copy.

    .venv/bin/python bench/bench_copyengine.py [--size-mib 256] [--runs 3] [--chunk-mib 4]

Starts its own storage stack (free ports, rate limit off), uploads one random blob to each
account, then times, for each run, (a) the engine's cross-account copy from `start_copy_from_url`
until the destination reports `success`, and (b) Azurite's synchronous same-account copy of the
same bytes, sent straight to Azurite's internal blob port, and (c) for scale, a client-side copy
(download + upload with the SDK, straight to Azurite). Prints medians and their ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)

from devhost.storage.stack import (
    ACCOUNTS,
    DEV_ACCOUNT_KEY,
    StorageConfig,
    StorageStack,
)

MIB = 1024 * 1024


def _sas_url(blob: BlobClient) -> str:
    token = generate_blob_sas(
        str(blob.account_name),
        blob.container_name,
        blob.blob_name,
        account_key=DEV_ACCOUNT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    return f"{blob.url}?{token}"


def _engine_copy(source_url: str, target: BlobClient, expected: int) -> float:
    began = time.perf_counter()
    status = str(target.start_copy_from_url(source_url)["copy_status"])
    while status == "pending":
        time.sleep(0.01)
        status = str(target.get_blob_properties().copy.status)
    elapsed = time.perf_counter() - began
    if status != "success" or target.get_blob_properties().size != expected:
        raise SystemExit(f"engine copy ended {status}")
    return elapsed


def _azurite_copy(source: BlobClient, target: BlobClient, expected: int) -> float:
    began = time.perf_counter()
    status = target.start_copy_from_url(source.url)["copy_status"]
    elapsed = time.perf_counter() - began
    if status != "success" or target.get_blob_properties().size != expected:
        raise SystemExit(f"Azurite copy ended {status}")
    return elapsed


def _client_side_copy(source: BlobClient, target: BlobClient, expected: int) -> float:
    began = time.perf_counter()
    data = source.download_blob(max_concurrency=4).readall()
    target.upload_blob(data, max_concurrency=4, overwrite=True)
    elapsed = time.perf_counter() - began
    if target.get_blob_properties().size != expected:
        raise SystemExit("client-side copy lost bytes")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=4)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    config = StorageConfig.free_ports(
        copy_rate_bytes_per_s=None, copy_chunk_bytes=args.chunk_mib * MIB
    )
    with StorageStack(config) as stack:
        dest_account, source_account = ACCOUNTS
        through_engine = BlobServiceClient.from_connection_string(stack.connection_string())
        source_service = BlobServiceClient.from_connection_string(
            stack.connection_string(source_account)
        )
        direct = BlobServiceClient(
            f"http://{config.host}:{stack.config.azurite_blob_port}/{dest_account}",
            credential={"account_name": dest_account, "account_key": DEV_ACCOUNT_KEY},
        )
        data = os.urandom(size)
        source = source_service.create_container("bench").get_blob_client("source.bin")
        source.upload_blob(data, max_concurrency=4)
        local = through_engine.create_container("bench").get_blob_client("source.bin")
        local.upload_blob(data, max_concurrency=4)
        del data
        source_url = _sas_url(source)
        engine_s, azurite_s, client_s = [], [], []
        for run in range(args.runs):
            engine_s.append(
                _engine_copy(
                    source_url, through_engine.get_blob_client("bench", f"e{run}.bin"), size
                )
            )
            direct_source = direct.get_blob_client("bench", "source.bin")
            azurite_s.append(
                _azurite_copy(direct_source, direct.get_blob_client("bench", f"a{run}.bin"), size)
            )
            client_s.append(
                _client_side_copy(
                    direct_source, direct.get_blob_client("bench", f"c{run}.bin"), size
                )
            )
            print(
                f"run {run + 1}: engine {engine_s[-1]:.2f} s, azurite copy {azurite_s[-1]:.3f} s,"
                f" client-side {client_s[-1]:.2f} s",
                flush=True,
            )
    engine_median = statistics.median(engine_s)
    azurite_median = statistics.median(azurite_s)
    print(f"blob {args.size_mib} MiB, chunk {args.chunk_mib} MiB, {args.runs} runs (medians)")
    print(
        f"copy engine, cross-account async, no rate limit: {engine_median:.2f} s "
        f"({args.size_mib / engine_median:.0f} MiB/s)"
    )
    print(
        f"Azurite, same-account sync copy:               {azurite_median:.3f} s "
        f"({args.size_mib / azurite_median:.0f} MiB/s)"
    )
    client_median = statistics.median(client_s)
    print(
        f"client-side copy via Azurite (download + upload, 4 threads): {client_median:.2f} s "
        f"({args.size_mib / client_median:.0f} MiB/s)"
    )
    print(f"ratio engine / Azurite same-account copy (time): {engine_median / azurite_median:.0f}x")
    print(f"ratio engine / client-side copy (time): {engine_median / client_median:.2f}x")
    print(
        "note: Azurite's same-account copy shares the source's stored extents (no bytes move);"
        " the engine moves every byte through Azurite, whose single node process is the limit."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
