"""Any zarr-python ``Store``: each shard is assembled in memory and put whole at every publish."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from zarr_stream.errors import ObjectExistsError, SettingsError, StoreAccessError, StoreExistsError
from zarr_stream.storage._backend import Backend, Buffer, ShardFile

__all__ = ["StoreBackend"]

T = TypeVar("T")
_ZARR_DOCUMENTS = ("zarr.json", ".zgroup", ".zarray")


class _StoreShardFile(ShardFile):
    """A shard's bytes in memory, as they will be put."""

    def __init__(self, backend: StoreBackend, key: str) -> None:
        super().__init__()
        self._backend = backend
        self._key = key
        self._data = bytearray()

    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        for part in parts:
            view = memoryview(part).cast("B")
            end = offset + view.nbytes
            if len(self._data) < end:
                self._data += bytes(end - len(self._data))
            self._data[offset:end] = view
            offset = end

    def read_at(self, offset: int, nbytes: int) -> bytes:
        return bytes(self._data[offset : offset + nbytes])

    def _publish(self, final: bool) -> None:
        self._backend.put(self._key, bytes(self._data), replace=self.published)
        if final:
            self._data = bytearray()

    def discard(self) -> None:
        self._data = bytearray()


class StoreBackend(Backend):
    """Objects in a zarr-python ``Store``; each shard is put whole."""

    writes_in_place = False  # in memory: nothing to gain from writing blocks before a slab is whole

    def __init__(self, store: Store) -> None:
        if store.read_only:
            raise SettingsError(f"store must be writable. Got a read-only {type(store).__name__}.")
        self.store = store

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return sync(coroutine)

    def prepare(self, overwrite: bool) -> None:
        try:
            empty = self._run(self.store.is_empty(""))
            if not empty:
                if not overwrite:
                    raise StoreExistsError(
                        f"the store must be empty unless overwrite=True. Got a non-empty {self.store!r}."
                    )
                if not any(self._run(self.store.exists(name)) for name in _ZARR_DOCUMENTS):
                    raise StoreExistsError(
                        f"the store must be empty or hold a Zarr hierarchy (its root holding zarr.json) "
                        f"to be replaced. Got {self.store!r}, which holds other objects: they are left "
                        "untouched."
                    )
                self._run(self.store.clear())
        except StoreExistsError:
            raise
        except Exception as error:
            raise StoreAccessError(
                f"the store must be reachable and writable. Got {self.store!r}: {error!r}"
            ) from error

    def open_shard(self, key: str) -> ShardFile:
        return _StoreShardFile(self, key)

    def put(self, key: str, data: bytes, replace: bool) -> None:
        value = default_buffer_prototype().buffer.from_bytes(data)
        if not replace and self._run(self.store.exists(key)):
            raise ObjectExistsError(f"data objects are written once: {key!r} already exists.")
        self._run(self.store.set(key, value))

    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        self._run(self.store.set(key, default_buffer_prototype().buffer.from_bytes(data)))

    def sync(self) -> None:
        """Every put has completed when it returns: nothing more to do."""
