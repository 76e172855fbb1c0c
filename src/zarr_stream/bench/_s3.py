"""The S3 side of the bench: writers that stream to an S3 server, and the server's own CPU.

``zarr-stream bench --s3`` starts a local moto server (or uses ``--endpoint``), and runs
zarr-stream (``s3://``), acquire-zarr (its ``S3Settings``) and zarr-python (its
``ObjectStore`` over obstore) against it, interleaved. A local server's CPU is shared with
the writers, and moto is Python: it may be the bottleneck for every writer, so the bench
reports the server's CPU seconds per run beside each result. To show what zarr-stream's
store adapter itself costs, it also streams the same workload through a ``WriteOnceStore``
over an obstore ``MemoryStore`` (no server, no network) and to local disk.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import zarr_stream as zs
from zarr_stream.bench._workloads import Workload
from zarr_stream.bench._writers import AcquireZarrWriter, Writer, ZarrPythonWriter, ZarrStreamWriter

__all__ = ["S3_ENGINES", "S3_WRITERS", "clear_prefix", "process_cpu_seconds", "s3_server", "s3_settings"]

#: Environment variable naming the S3 endpoint the bench's S3 writers use.
ENDPOINT_VARIABLE = "ZSTREAM_BENCH_S3_ENDPOINT"
#: For a local moto server, which takes any credentials (AWS ones are never needed).
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_settings() -> zs.S3Settings:
    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    return zs.S3Settings(
        endpoint=endpoint,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        allow_http=(endpoint or "").startswith("http://"),
    )


def _obstore(url: str) -> Any:
    from zarr_stream.storage import s3_store

    return s3_store(url, s3_settings())


def clear_prefix(url: str) -> None:
    """Delete every object under ``url`` (s3://bucket/prefix): the server keeps them in memory."""
    import obstore

    store = _obstore(url)
    keys = [item["path"] for batch in obstore.list(store) for item in batch]
    for start in range(0, len(keys), 1000):
        obstore.delete(store, keys[start : start + 1000])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ZarrStreamS3Writer(ZarrStreamWriter):
    def __init__(self, workload: Workload, url: str) -> None:
        super().__init__(workload, url, s3_settings())


class ZarrStreamMemoryWriter(ZarrStreamWriter):
    """Through a WriteOnceStore over an obstore MemoryStore: the adapter's cost, with no server."""

    def __init__(self, workload: Workload, url: str) -> None:
        from obstore.store import MemoryStore

        super().__init__(workload, MemoryStore())


class ZarrStreamLocalWriter(ZarrStreamWriter):
    """To local disk (fsync on): the local engine the memory writer is set against."""

    def __init__(self, workload: Workload, url: str) -> None:
        self.path = Path(os.environ.get("TMPDIR", "/tmp")) / f"zarr-stream-bench-{os.getpid()}.zarr"
        super().__init__(workload, self.path)

    def close(self) -> None:
        import shutil

        super().close()
        shutil.rmtree(self.path, ignore_errors=True)


class AcquireZarrS3Writer(AcquireZarrWriter):
    def __init__(self, workload: Workload, url: str) -> None:
        import acquire_zarr as az

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        settings = s3_settings()
        s3 = az.S3Settings(endpoint=settings.endpoint or "", bucket_name=bucket, region=settings.region)
        super().__init__(workload, Path(prefix), s3)


class ZarrPythonS3Writer(ZarrPythonWriter):
    """zarr-python through its own ObjectStore over obstore's S3Store."""

    def __init__(self, workload: Workload, url: str) -> None:
        from zarr.storage import ObjectStore

        super().__init__(workload, ObjectStore(_obstore(url)))


S3_WRITERS: dict[str, Callable[..., Writer]] = {
    "zarr-stream": ZarrStreamS3Writer,
    "acquire-zarr": AcquireZarrS3Writer,
    "zarr-python": ZarrPythonS3Writer,
    "zarr-stream-memory": ZarrStreamMemoryWriter,
    "zarr-stream-local": ZarrStreamLocalWriter,
}
S3_ENGINES = ("zarr-stream", "acquire-zarr", "zarr-python", "zarr-stream-memory", "zarr-stream-local")


@contextlib.contextmanager
def s3_server(endpoint: str | None) -> Iterator[tuple[str, int]]:
    """The bucket URL the S3 writers stream to, and the server's process id (0: not ours).

    Without ``endpoint``, a moto server is started on 127.0.0.1 (dummy credentials, unless
    the environment has some) with a bucket of its own. With one, the bucket named by
    ``ZSTREAM_BENCH_S3_BUCKET`` (default ``zarr-stream-bench``) must exist there.
    """
    from zarr_stream.testing import moto_server

    bucket = os.environ.get("ZSTREAM_BENCH_S3_BUCKET", "zarr-stream-bench")
    if endpoint is not None:
        os.environ[ENDPOINT_VARIABLE] = endpoint
        yield f"s3://{bucket}", 0
        return
    for name, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    with moto_server() as (started, pid):
        os.environ[ENDPOINT_VARIABLE] = started
        urllib.request.urlopen(urllib.request.Request(f"{started}/{bucket}", method="PUT")).read()
        yield f"s3://{bucket}", pid
