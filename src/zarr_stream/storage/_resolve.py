"""The ``store`` setting -> a backend."""

from __future__ import annotations

import os
from pathlib import Path

from zarr.abc.store import Store

from zarr_stream.errors import SettingsError
from zarr_stream.settings import STAGING_NAME
from zarr_stream.storage._backend import Backend
from zarr_stream.storage._local import LocalBackend
from zarr_stream.storage._zarr_store import StoreBackend

__all__ = ["open_backend"]


def open_backend(store: object, fsync: bool = True, staging: str = STAGING_NAME) -> Backend:
    """Resolve the ``store`` setting to a backend.

    Accepts a local path (``str`` or ``os.PathLike``), a zarr ``Store``, or an obstore store.
    ``fsync`` and ``staging`` (the staging folder, relative to the root) apply to local paths.
    """
    if isinstance(store, Store):
        return StoreBackend(store)
    if type(store).__module__.split(".")[0] == "obstore":
        from zarr.storage import ObjectStore

        return StoreBackend(ObjectStore(store))  # type: ignore[type-var]
    if isinstance(store, (str, os.PathLike)):
        path = os.fspath(store)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if "://" in path:
            scheme = path.split("://", 1)[0]
            if scheme == "file":
                return LocalBackend(Path(path.split("://", 1)[1]).absolute(), fsync, staging)
            raise SettingsError(f"store URLs other than file:// are not supported yet. Got {path!r}.")
        return LocalBackend(Path(path).absolute(), fsync, staging)
    raise SettingsError(f"store must be a path, a zarr Store or an obstore store. Got {store!r}.")
