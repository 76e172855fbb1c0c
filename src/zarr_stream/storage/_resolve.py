"""The ``store`` setting -> a backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zarr.abc.store import Store

from zarr_stream.errors import SettingsError
from zarr_stream.settings import STAGING_NAME, S3Settings
from zarr_stream.storage._backend import Backend
from zarr_stream.storage._local import LocalBackend
from zarr_stream.storage._s3 import s3_store
from zarr_stream.storage._write_once_store import WriteOnceStore
from zarr_stream.storage._zarr_store import StoreBackend

__all__ = ["open_backend", "open_reader"]


def open_backend(
    store: object, fsync: bool = True, staging: str = STAGING_NAME, s3: S3Settings | None = None
) -> Backend:
    """Resolve the ``store`` setting to a backend.

    Accepts a local path (``str`` or ``os.PathLike``), an ``s3://bucket/prefix`` URL (with
    ``s3``), a zarr ``Store``, or an obstore store (written through a ``WriteOnceStore``).
    ``fsync`` and ``staging`` (the staging folder, relative to the root) apply to local paths.
    """
    if isinstance(store, Store):
        return StoreBackend(store)
    if type(store).__module__.split(".")[0] == "obstore":
        return StoreBackend(WriteOnceStore(store))
    if isinstance(store, str) and store.startswith("s3://"):
        return StoreBackend(WriteOnceStore(s3_store(store, s3 or S3Settings())))
    if isinstance(store, (str, os.PathLike)):
        path = os.fspath(store)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if "://" in path:
            scheme = path.split("://", 1)[0]
            if scheme == "file":
                return LocalBackend(Path(path.split("://", 1)[1]).absolute(), fsync, staging)
            raise SettingsError(f"store URLs must be file:// or s3://bucket/prefix. Got {path!r}.")
        return LocalBackend(Path(path).absolute(), fsync, staging)
    raise SettingsError(f"store must be a path, a zarr Store or an obstore store. Got {store!r}.")


def open_reader(store: object, s3: S3Settings | None = None) -> Any:
    """What zarr-python reads the ``store`` setting with: a local path as it is, an
    ``s3://bucket/prefix`` URL (with ``s3``) or an obstore store as zarr's read-only
    ``ObjectStore``, a zarr ``Store`` itself."""
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    if isinstance(store, str) and store.startswith("s3://"):
        store = s3_store(store, s3 or S3Settings())
    if type(store).__module__.split(".")[0] == "obstore":
        from zarr.storage import ObjectStore

        return ObjectStore(store, read_only=True)
    return store
