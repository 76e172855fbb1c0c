"""Where bytes go: store resolution and the write-once backends.

A backend writes three kinds of objects:

* **shards**, assembled by appending encoded chunks to a :class:`ShardFile`,
  then published once (write-once: publishing over an object the stream did not
  write raises :class:`~zarr_stream.errors.ObjectExistsError`). The one exception
  is the stream's own partial shard: ``flush()`` publishes a shard that is not yet
  complete and the same stream later replaces it, and only it.
* **documents** (``zarr.json``), always replaced whole and atomically.

:class:`LocalBackend` writes files directly (temporary file, then ``os.link`` for
no-clobber creation or ``os.replace`` for replacement; fsync on flush).
:class:`StoreBackend` writes through any zarr-python ``Store``, including
obstore stores wrapped in ``zarr.storage.ObjectStore``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from zarr_stream.errors import ObjectExistsError, SettingsError, StoreExistsError

__all__ = ["Backend", "Buffer", "LocalBackend", "ShardFile", "StoreBackend", "nbytes", "open_backend"]

T = TypeVar("T")
_GATHER_MAX = 512  # buffers per writev, under every platform's IOV_MAX
#: Shards fsynced at once. One at a time, the disk idles while each fsync's journal commit
#: waits for a CPU busy compressing; with a few in flight it always has data queued (lz4
#: bench: close tail 0.55 s -> 0.15 s, and 1.1-1.3x the throughput). 8 measured no faster.
FSYNC_THREADS = 4
#: Bytes a staged shard takes before a background data sync is worth its journal commit
#: and disk cache flush (lz4 bench: one per 0.5 MiB frame cost 10% of the throughput).
DATA_SYNC_BYTES = 8 << 20
#: Bytes-like objects the backends accept (collections.abc.Buffer needs Python 3.12).
Buffer = bytes | bytearray | memoryview


class ShardFile(ABC):
    """A shard being assembled: encoded chunks appended in order, then published.

    A shard file that ``writes_in_place`` also lets a chunk be written piece by piece into
    a region reserved for it (see :mod:`zarr_stream._regions`).
    """

    writes_in_place = False

    def __init__(self) -> None:
        self.size = 0  # bytes appended or reserved so far: the offset of the next chunk

    def reserve(self, nbytes: int) -> int:
        """Set ``nbytes`` aside at the end for a chunk written in place; return their offset."""
        offset = self.size
        self.size += nbytes
        return offset

    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        """Write ``parts`` one after the other from ``offset``, inside what was reserved."""
        raise NotImplementedError(f"{type(self).__name__} does not write in place")

    def read_at(self, offset: int, nbytes: int) -> bytes:
        """The ``nbytes`` written from ``offset``."""
        raise NotImplementedError(f"{type(self).__name__} does not write in place")

    def sync_soon(self) -> None:  # noqa: B027 - only files on a disk have anything to start
        """Start getting what was written so far to disk, without waiting for it."""

    @abstractmethod
    def append(self, parts: Sequence[Buffer]) -> None:
        """Append one encoded chunk, given as parts in order.

        Parts may be views of memory that is reused once this returns: copy what is kept.
        """

    @abstractmethod
    def publish_snapshot(self, tail: Sequence[Buffer], replace: bool) -> None:
        """Durably write what was appended plus ``tail`` (ending with the index) to the shard key.

        The shard keeps accepting appends afterwards.
        """

    @abstractmethod
    def publish_final(self, index: bytes, replace: bool) -> None:
        """Write what was appended plus ``index`` to the shard key; the shard is done."""

    @abstractmethod
    def discard(self) -> None:
        """Drop whatever is staged; nothing is published."""


class Backend(ABC):
    """Writes shards and documents under one store root."""

    writes_in_place = False  # its shard files write chunks in place (ShardFile.writes_in_place)

    @abstractmethod
    def prepare(self, overwrite: bool) -> None:
        """Raise StoreExistsError if the root holds anything, unless ``overwrite`` removes it."""

    @abstractmethod
    def open_shard(self, key: str) -> ShardFile:
        """Start assembling the shard at ``key``."""

    @abstractmethod
    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        """Replace the document at ``key`` whole, atomically."""

    @abstractmethod
    def sync(self) -> None:
        """Make every shard published so far durable."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release background resources; the backend is not used afterwards."""


# --- local disk ---------------------------------------------------------------------------


def nbytes(parts: Sequence[Buffer]) -> int:
    """Total bytes of ``parts``."""
    return sum(memoryview(part).nbytes for part in parts)


def _write_parts(fd: int, parts: Sequence[Buffer], offset: int) -> None:
    """Write ``parts`` one after the other from ``offset``, gathered: a few system calls, no copy."""
    views = deque(memoryview(part).cast("B") for part in parts)
    while views:
        written = os.pwritev(fd, [views[j] for j in range(min(len(views), _GATHER_MAX))], offset)
        offset += written
        while views and written >= views[0].nbytes:
            written -= views.popleft().nbytes
        if written:
            views[0] = views[0][written:]


def _copy_range(src: int, dst: int, count: int) -> None:
    offset = 0
    while offset < count:
        copied = os.copy_file_range(src, dst, count - offset, offset)
        if copied == 0:
            raise OSError(f"short copy of a staged shard: {offset} of {count} bytes")
        offset += copied


def _fsync_path(path: Path, sync: Callable[[int], None] = os.fsync) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        sync(fd)
    finally:
        os.close(fd)


def _data_sync_and_close(fd: int) -> None:
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def fsync_and_drop(fd: int) -> None:
    """Make a written file durable, then drop its pages from the page cache.

    A streaming writer does not read its shards back, and their clean pages are better
    reused for the next shards: otherwise the kernel takes fresh pages for every write,
    which on this VM (free pages handed back to the host) is slow. Raw bench: system CPU
    2.1-3.5 s -> 1.0-1.4 s for 2 GiB.
    """
    os.fsync(fd)
    if hasattr(os, "posix_fadvise"):  # Linux; elsewhere the pages stay cached
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _commit(staged: Path, target: Path, replace: bool) -> None:
    """Move a staged file to ``target``: replace it, or create it only if absent."""
    if replace:
        os.replace(staged, target)
        return
    try:
        os.link(staged, target)  # atomic, and fails if target exists
    except FileExistsError:
        os.unlink(staged)
        raise ObjectExistsError(f"data objects are written once: {str(target)!r} already exists.") from None
    os.unlink(staged)


class _LocalShardFile(ShardFile):
    def __init__(self, backend: LocalBackend, path: Path) -> None:
        super().__init__()
        self._backend = backend
        self._path = path
        self._staged = backend.staging_path(path)
        # read-write: a chunk that outgrows its region is read back to move it
        self._fd: int | None = os.open(self._staged, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self._unsynced = 0  # bytes written since the last background data sync

    writes_in_place = True

    def append(self, parts: Sequence[Buffer]) -> None:
        self.write_at(self.reserve(nbytes(parts)), parts)

    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        assert self._fd is not None
        _write_parts(self._fd, parts, offset)
        self._unsynced += nbytes(parts)

    def read_at(self, offset: int, nbytes: int) -> bytes:
        assert self._fd is not None
        data = os.pread(self._fd, nbytes, offset)
        if len(data) != nbytes:
            raise OSError(f"short read of a staged shard: {len(data)} of {nbytes} bytes at {offset}")
        return data

    def sync_soon(self) -> None:
        assert self._fd is not None
        if self._unsynced >= DATA_SYNC_BYTES and self._backend.start_data_sync(self._fd):
            self._unsynced = 0

    def publish_snapshot(self, tail: Sequence[Buffer], replace: bool) -> None:
        assert self._fd is not None
        snapshot = self._backend.staging_path(self._path)
        fd = os.open(snapshot, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if self.size:
                src = os.open(self._staged, os.O_RDONLY)
                try:  # regions reserved at the end may not be written yet: no bytes to copy there
                    _copy_range(src, fd, min(self.size, os.fstat(src).st_size))
                finally:
                    os.close(src)
            _write_parts(fd, tail, self.size)
            if self._backend.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _commit(snapshot, self._path, replace)
        self._backend.mark_unsynced(self._path)

    def publish_final(self, index: bytes, replace: bool) -> None:
        self.append([index])
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        _commit(self._staged, self._path, replace)
        self._backend.mark_unsynced(self._path)

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._staged.unlink(missing_ok=True)


class LocalBackend(Backend):
    """Files under a local directory; staged files sit beside their target (same filesystem)."""

    writes_in_place = True

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        # Published shards are fsynced in the background as they land, so the disk absorbs them
        # while encoding goes on and flush()/close() only wait for the last few.
        self._syncer = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="zarr-stream-fsync")
        self._syncing: list[Future[None]] = []
        self._data_syncs: dict[int, Future[None]] = {}  # the last data sync of each staged fd
        self._unsynced_dirs: set[Path] = set()

    def prepare(self, overwrite: bool) -> None:
        root = self.root
        if (root.is_dir() and any(root.iterdir())) or (root.exists() and not root.is_dir()):
            if not overwrite:
                raise StoreExistsError(
                    f"the store path must be empty unless overwrite=True. Got {str(root)!r}, which is not."
                )
            if root.is_dir() and not root.is_symlink():
                shutil.rmtree(root)
            else:
                root.unlink()
        root.mkdir(parents=True, exist_ok=True)

    def staging_path(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")

    def mark_unsynced(self, path: Path) -> None:
        if not self.fsync:
            return
        self._track(self._syncer.submit(_fsync_path, path, fsync_and_drop))
        self._unsynced_dirs.add(path.parent)

    def start_data_sync(self, fd: int) -> bool:
        """fdatasync a staged file in the background, unless its last one is still going.

        Returns whether it started one.

        Written pages otherwise sit in the page cache, and the disk's cache, until the
        shard's fsync, which then waits for all of them at once. A failure is kept for
        :meth:`sync` to raise: the shard's own fsync, on a new descriptor, may not see it.
        """
        last = self._data_syncs.get(fd)
        if not self.fsync or (last is not None and not last.done()):
            return False
        self._data_syncs[fd] = self._track(self._syncer.submit(_data_sync_and_close, os.dup(fd)))
        return True

    def _track(self, future: Future[None]) -> Future[None]:
        # drop syncs that succeeded, so a stream that never flushes does not pile them up
        self._syncing = [f for f in self._syncing if not f.done() or f.exception() is not None]
        self._syncing.append(future)
        return future

    def open_shard(self, key: str) -> ShardFile:
        return _LocalShardFile(self, self.root / key)

    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        path = self.root / key
        staged = self.staging_path(path)
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        durable = durable and self.fsync
        try:
            _write_parts(fd, [data], 0)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(staged, path)
        if durable:
            _fsync_path(path.parent)

    def sync(self) -> None:
        syncing, self._syncing = self._syncing, []
        directories, self._unsynced_dirs = self._unsynced_dirs, set()
        for future in syncing:
            future.result()
        for directory in directories:
            _fsync_path(directory)

    def close(self) -> None:
        self._syncer.shutdown(wait=True)


# --- any zarr Store -------------------------------------------------------------------------


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


def open_backend(store: object, fsync: bool = True) -> Backend:
    """Resolve the ``store`` setting to a backend.

    Accepts a local path (``str`` or ``os.PathLike``), a zarr ``Store``, or an obstore store.
    ``fsync`` applies to local paths (see the ``fsync`` config key).
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
                return LocalBackend(Path(path.split("://", 1)[1]).absolute(), fsync)
            raise SettingsError(f"store URLs other than file:// are not supported yet. Got {path!r}.")
        return LocalBackend(Path(path).absolute(), fsync)
    raise SettingsError(f"store must be a path, a zarr Store or an obstore store. Got {store!r}.")
