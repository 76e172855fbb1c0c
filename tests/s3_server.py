"""A real S3-compatible server for the tests: moto in server mode on 127.0.0.1, a free port.

The S3 tests talk HTTP to it through obstore, as they would to AWS; nothing of obstore or
of HTTP is mocked. Credentials are dummies set in the environment, where obstore looks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from zarr_stream import testing
from zarr_stream.testing import free_port

__all__ = ["CREDENTIALS", "Bucket", "free_port", "moto_server", "s3_client"]

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-never-shown",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a moto server with the test credentials; yield its endpoint URL."""
    with testing.moto_server({**CREDENTIALS, **(extra_env or {})}) as (endpoint, _):
        yield endpoint


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

    def object_keys(self, prefix: str = "") -> list[str]:
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
