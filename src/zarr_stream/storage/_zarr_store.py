"""Any zarr-python ``Store``: each shard is assembled in memory and put whole."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from zarr_stream.errors import ObjectExistsError, SettingsError, StoreExistsError
from zarr_stream.storage._backend import Backend, Buffer, ShardFile

__all__ = ["StoreBackend"]

T = TypeVar("T")


class _StoreShardFile(ShardFile):
    def __init__(self, backend: StoreBackend, key: str) -> None:
        super().__init__()
        self._backend = backend
        self._key = key
        self._parts: list[Buffer] = []

    def append(self, parts: Sequence[Buffer]) -> None:
        chunk = b"".join(parts)  # a copy: raw chunks are views of a slab that is recycled
        self._parts.append(chunk)
        self.size += len(chunk)

    def publish_snapshot(self, tail: Sequence[Buffer], replace: bool) -> None:
        self._backend.put(self._key, [*self._parts, *tail], replace)

    def publish_final(self, index: bytes, replace: bool) -> None:
        self._backend.put(self._key, [*self._parts, index], replace)
        self._parts = []

    def discard(self) -> None:
        self._parts = []


class StoreBackend(Backend):
    """Objects in a zarr-python ``Store``; each shard is assembled in memory and put whole."""

    def __init__(self, store: Store) -> None:
        if store.read_only:
            raise SettingsError(f"store must be writable. Got a read-only {type(store).__name__}.")
        self.store = store

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return sync(coroutine)

    def prepare(self, overwrite: bool) -> None:
        if not self._run(self.store.is_empty("")):
            if not overwrite:
                raise StoreExistsError(
                    f"the store must be empty unless overwrite=True. Got a non-empty {self.store!r}."
                )
            self._run(self.store.clear())

    def open_shard(self, key: str) -> ShardFile:
        return _StoreShardFile(self, key)

    def put(self, key: str, parts: Sequence[Buffer], replace: bool) -> None:
        value = default_buffer_prototype().buffer.from_bytes(b"".join(parts))
        if not replace and self._run(self.store.exists(key)):
            raise ObjectExistsError(f"data objects are written once: {key!r} already exists.")
        self._run(self.store.set(key, value))

    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        self._run(self.store.set(key, default_buffer_prototype().buffer.from_bytes(data)))

    def sync(self) -> None:
        """Every put has completed when it returns: nothing more to do."""
