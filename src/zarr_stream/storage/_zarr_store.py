"""A zarr-python ``Store`` (a ``WriteOnceStore`` over obstore, for S3): each shard is
assembled in memory and put whole, in the background, at every publish.

Why whole puts rather than a multipart upload fed as the chunks come: a conditional
create (``If-None-Match``) and a replace conditioned on an ETag (``If-Match``) are single
PUTs in obstore, a flushed partial shard must be put whole anyway, and a single PUT can
never leave an unfinished multipart upload behind in the bucket. The price is a shard's
bytes in memory while it is assembled and uploaded (bounded: ``._uploads``) and
S3's 5 GiB limit on one PUT, far above any sensible shard.

With a ``WriteOnceStore``, every object, documents included, is created with a
conditional create, and replaced only with a put conditioned on the ETag this stream got
for it: a second stream racing to create the same array fails, and never overwrites a
shard or a document of the winner. Any other zarr ``Store`` cannot promise that: a data
key is checked with ``exists`` first, and the check and the put are not atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from zarr_stream._threads import DaemonPool
from zarr_stream.errors import (
    ObjectExistsError,
    SettingsError,
    StoreAccessError,
    StoreExistsError,
    ZarrStreamError,
)
from zarr_stream.storage._backend import Backend, Buffer, ShardFile
from zarr_stream.storage._uploads import Uploads
from zarr_stream.storage._write_once_store import WriteOnceStore, is_document

__all__ = ["StoreBackend"]

T = TypeVar("T")
_ZARR_ROOT_DOCUMENTS = ("zarr.json", ".zgroup", ".zarray")
#: Puts in flight at once: a round trip each, so a few keep a link busy (measured: docs/s3.md).
UPLOAD_PUTS = 8
#: Bytes of shards held for upload at most (one shard bigger than this still goes alone).
UPLOAD_BYTES = 256 << 20
#: Seconds the store has to answer when the stream opens (a wrong endpoint may never answer).
OPEN_TIMEOUT = 30.0


def brief(error: BaseException) -> str:
    """``error``'s message without the debug dump obstore appends (it stays in the chained cause)."""
    return str(error).split("\n\nDebug source:", 1)[0].strip()


class _StoreShardFile(ShardFile):
    """A shard's bytes in memory, as they will be put."""

    def __init__(self, backend: StoreBackend, key: str) -> None:
        super().__init__()
        self._backend = backend
        self._key = key
        self._data = bytearray()
        self._last_put: Future[None] | None = None  # a replace must follow the put it replaces

    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        for part in parts:
            view = memoryview(part).cast("B")
            end = offset + view.nbytes
            if offset == len(self._data):  # appended at the end, as most chunks are: one copy
                self._data += view
            else:  # into reserved space, which may not have been written up to yet
                if len(self._data) < end:
                    self._data.extend(bytes(end - len(self._data)))
                self._data[offset:end] = view
            offset = end

    def read_at(self, offset: int, nbytes: int) -> bytes:
        return bytes(self._data[offset : offset + nbytes])

    def _publish(self, final: bool) -> None:
        # A complete shard's buffer is handed over as it is; a partial one goes on growing,
        # so its put takes a copy.
        data: Buffer = self._data if final else bytes(self._data)
        if final:
            self._data = bytearray()
        self._last_put = self._backend.put_shard(self._key, data, self.published, self._last_put)

    def discard(self) -> None:
        self._data = bytearray()


class StoreBackend(Backend):
    """Objects in a zarr-python ``Store``; each shard is put whole, in the background."""

    writes_in_place = False  # in memory: nothing to gain from writing blocks before a slab is whole

    def __init__(self, store: Store, open_timeout: float = OPEN_TIMEOUT) -> None:
        if store.read_only:
            raise SettingsError(f"store must be writable. Got a read-only {type(store).__name__}.")
        self.store = store
        self.open_timeout = open_timeout
        self._write_once = isinstance(store, WriteOnceStore)
        self._uploads = Uploads(UPLOAD_PUTS, UPLOAD_BYTES)
        self._e_tags: dict[str, str | None] = {}  # what this stream wrote: key -> its ETag
        self._documents_lock = threading.Lock()  # one document put at a time, in order

    @property
    def failure(self) -> BaseException | None:
        return self._uploads.failure

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return sync(coroutine)

    def prepare(self, overwrite: bool, resume: bool = False) -> None:
        # In a thread of its own, so that a store that never answers fails within open_timeout.
        probe = DaemonPool(1, "zarr-stream-open")
        try:
            probe.submit(self._prepare, overwrite, resume).result(timeout=self.open_timeout)
        except FutureTimeoutError as error:
            raise StoreAccessError(
                f"the store must answer within {self.open_timeout:g} s when the stream opens. "
                f"Got no answer from {self.store!r}."
            ) from error
        except ZarrStreamError:
            raise
        except Exception as error:
            raise StoreAccessError(
                f"the store must be reachable and writable. Got {self.store!r}: {brief(error)}"
            ) from error
        finally:
            probe.shutdown(wait=False)

    def _prepare(self, overwrite: bool, resume: bool) -> None:
        if self._run(self.store.is_empty("")):
            return
        if resume:
            if not self._run(self.store.exists("zarr.json")):
                raise StoreExistsError(
                    f"resume continues a Zarr v3 hierarchy (its root holding zarr.json). Got "
                    f"{self.store!r}, which holds other objects: they are left untouched."
                )
            return
        if not overwrite:
            raise StoreExistsError(
                f"the store must be empty unless overwrite=True. Got a non-empty {self.store!r}."
            )
        if not any(self._run(self.store.exists(name)) for name in _ZARR_ROOT_DOCUMENTS):
            raise StoreExistsError(
                f"the store must be empty or hold a Zarr hierarchy (its root holding zarr.json) "
                f"to be replaced. Got {self.store!r}, which holds other objects: they are left untouched."
            )
        self._run(self.store.clear())

    def open_shard(self, key: str) -> ShardFile:
        file = _StoreShardFile(self, key)
        file.published = key in self._e_tags
        return file

    def adopt(self, key: str) -> bool:
        store = self.store
        try:
            if isinstance(store, WriteOnceStore):
                found, e_tag = self._run(store.find_async(key))
                if found:
                    self._e_tags[key] = e_tag  # replaced only while it is still this version
                return found
            if not self._run(store.exists(key)):
                return False
        except ZarrStreamError:
            raise
        except Exception as error:
            raise StoreAccessError(f"reading {key!r} in {self.store!r} failed: {brief(error)}") from error
        self._e_tags[key] = None
        return True

    def stored_keys(self, prefix: str) -> list[str]:
        async def listed() -> list[str]:
            return [key async for key in self.store.list_prefix(prefix)]

        try:
            return sorted(self._run(listed()))
        except Exception as error:
            raise StoreAccessError(f"listing {prefix!r} in {self.store!r} failed: {brief(error)}") from error

    def reader_store(self) -> Any:
        return self.store

    def put_shard(self, key: str, data: Buffer, replace: bool, after: Future[None] | None) -> Future[None]:
        """Put a shard in the background, once ``after`` (its previous version's put) is done."""

        def put() -> None:
            if after is not None:
                after.result()
            self._put(key, data, replace)

        return self._uploads.submit(memoryview(data).nbytes, put)

    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        """Put a document after every shard submitted before it; at once if ``durable`` or
        if no put is pending (so that the documents written at open fail right there)."""
        put: Callable[[], None] = lambda: self._put_document(key, data)  # noqa: E731
        if durable or not self._uploads.pending:
            self._uploads.wait()
            put()
        else:
            self._uploads.submit_after(put)

    def _put_document(self, key: str, data: bytes) -> None:
        with self._documents_lock:
            self._put(key, data, replace=key in self._e_tags)

    def _put(self, key: str, data: Buffer, replace: bool) -> None:
        """Create ``key``, or replace what this stream wrote there; failures name the key."""
        try:
            if self._write_once:
                self._put_write_once(key, data, replace)
            else:
                self._put_plain(key, data, replace)
        except ZarrStreamError:
            raise
        except Exception as error:
            raise StoreAccessError(f"writing {key!r} to {self.store!r} failed: {brief(error)}") from error

    def _put_write_once(self, key: str, data: Buffer, replace: bool) -> None:
        store = self.store
        assert isinstance(store, WriteOnceStore)
        if replace:
            e_tag = self._run(store.replace_async(key, data, self._e_tags.get(key)))
        else:
            e_tag = self._run(store.create_async(key, data))
        self._e_tags[key] = e_tag

    def _put_plain(self, key: str, data: Buffer, replace: bool) -> None:
        if not replace and not is_document(key) and self._run(self.store.exists(key)):
            raise ObjectExistsError(f"data objects are written once: {key!r} already exists.")
        self._run(self.store.set(key, default_buffer_prototype().buffer.from_bytes(data)))
        self._e_tags[key] = None

    def sync(self) -> None:
        """Wait for every put submitted so far: once the store has answered, it holds them."""
        self._uploads.wait()

    def close(self) -> None:
        self._uploads.close()
