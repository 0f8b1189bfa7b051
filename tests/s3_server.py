"""An S3 server on loopback (moto's server mode) for the tests of the S3 profile, and the
environment docs/running.md has a reader export for it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

KEY, SECRET = "cosmos-test", "cosmos-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client(url: str, kind: str = "client"):
    """A boto3 client (or resource) of the server."""
    make = boto3.client if kind == "client" else boto3.resource
    return make("s3", endpoint_url=url, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                region_name="us-east-1")  # fmt: skip


@contextmanager
def s3_server(*buckets: str) -> Iterator[str]:
    """moto's S3 server on a free loopback port holding `buckets`; yields its URL."""
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                client(url).list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"moto's S3 server did not answer on {url}")
        for bucket in buckets:
            client(url).create_bucket(Bucket=bucket)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def s3_env(url: str) -> dict[str, str]:
    """What docs/running.md exports before running the S3 profile, for this server."""
    return {
        "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": KEY,
        "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET,
        "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": url,
    }
