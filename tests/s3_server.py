"""A real S3-compatible server for the tests: moto in server mode on 127.0.0.1, a free port.

The S3 tests talk HTTP to it through obstore, as they would to AWS; nothing of obstore or
of HTTP is mocked. Credentials are dummies set in the environment, where obstore looks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-never-shown",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a moto server; yield its endpoint URL; stop it."""
    port = free_port()
    env = {**os.environ, **CREDENTIALS, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass
class Bucket:
    """A fresh bucket on the test server."""

    endpoint: str
    name: str

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return s3_client(self.endpoint)

    def url(self, prefix: str = "data.zarr") -> str:
        return f"s3://{self.name}/{prefix}"

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def multipart_uploads(self) -> list[str]:
        answer = self.client.list_multipart_uploads(Bucket=self.name)
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    def obstore(self, prefix: str = "data.zarr", endpoint: str | None = None, **options):  # type: ignore[no-untyped-def]
        """An obstore S3Store of ``prefix`` (through ``endpoint``, a proxy, if given)."""
        from obstore.store import S3Store

        return S3Store(
            self.name,
            prefix=prefix,
            endpoint=endpoint or self.endpoint,
            region=CREDENTIALS["AWS_DEFAULT_REGION"],
            client_options={"allow_http": True},
            **options,
        )
