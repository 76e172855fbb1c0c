"""Where bytes go: the backend interface, local files, any zarr ``Store``, and ``store`` resolution."""

from zarr_stream.storage._backend import Backend, Buffer, ShardFile, nbytes
from zarr_stream.storage._local import (
    DATA_SYNC_BYTES,
    FSYNC_THREADS,
    LocalBackend,
    fsync_and_drop,
    fsync_path,
)
from zarr_stream.storage._local_root import is_zarr_hierarchy, leftovers
from zarr_stream.storage._resolve import open_backend, open_reader
from zarr_stream.storage._s3 import s3_store
from zarr_stream.storage._write_once_store import WriteOnceStore, is_document
from zarr_stream.storage._zarr_store import StoreBackend

__all__ = [
    "DATA_SYNC_BYTES",
    "FSYNC_THREADS",
    "Backend",
    "Buffer",
    "LocalBackend",
    "ShardFile",
    "StoreBackend",
    "WriteOnceStore",
    "fsync_and_drop",
    "fsync_path",
    "is_document",
    "is_zarr_hierarchy",
    "leftovers",
    "nbytes",
    "open_backend",
    "open_reader",
    "s3_store",
]
