"""Local disk: shards and documents as files under a directory.

Every file is written in the stream's staging folder first, then moved to its key:
``os.link`` for a no-clobber create, ``os.replace`` to replace; fsync on flush. The staging
folder (``.zarr-stream`` in the first array's folder, where no Zarr reader lists) holds
nothing but the stream's own staged files, and the stream removes it when it closes; a
process killed mid-stream leaves it behind, harmless, and the next ``overwrite`` of the
store removes it (see ``zarr_stream.storage.leftovers``).

All paths are relative to the store root's descriptor (``._directory``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from zarr_stream._threads import DaemonPool
from zarr_stream.errors import ObjectExistsError, StoreAccessError
from zarr_stream.settings import STAGING_NAME
from zarr_stream.storage._backend import Backend, Buffer, ShardFile, nbytes
from zarr_stream.storage._directory import PinnedDirectory, missing_folders
from zarr_stream.storage._local_root import open_root
from zarr_stream.storage._write_once_store import is_document

__all__ = ["DATA_SYNC_BYTES", "FSYNC_THREADS", "LocalBackend", "fsync_and_drop", "fsync_path"]

_GATHER_MAX = 512  # buffers per writev, under every platform's IOV_MAX
#: Shards fsynced at once. One at a time, the disk idles while each fsync's journal commit
#: waits for a CPU busy compressing; with a few in flight it always has data queued (lz4
#: bench: close tail 0.55 s -> 0.15 s, and 1.1-1.3x the throughput). 8 measured no faster.
FSYNC_THREADS = 4
#: Bytes a staged shard takes before a background data sync is worth its journal commit
#: and disk cache flush (lz4 bench: one per 0.5 MiB frame cost 10% of the throughput).
DATA_SYNC_BYTES = 8 << 20


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
    """Copy bytes ``[0, count)`` of ``src`` to the start of ``dst``, in the kernel."""
    offset = 0
    while offset < count:
        copied = os.copy_file_range(src, dst, count - offset, offset, offset)
        if copied == 0:
            raise OSError(f"short copy of a staged shard: {offset} of {count} bytes")
        offset += copied


def fsync_path(path: Path, sync: Callable[[int], None] | None = None) -> None:
    """fsync the file or directory at ``path`` with ``sync`` (``os.fsync`` as it is at the call)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        (sync or os.fsync)(fd)
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


def _fsync_drop_and_close(fd: int) -> None:
    try:
        fsync_and_drop(fd)
    finally:
        os.close(fd)


class _LocalShardFile(ShardFile):
    def __init__(self, backend: LocalBackend, key: str) -> None:
        super().__init__()
        self._backend = backend
        self._key = key
        # read-write: a chunk that outgrows its region is read back to move it
        self._staged, fd = backend.staged_file()
        self._fd: int | None = fd
        self._unsynced = 0  # bytes written since the last background data sync

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

    def _publish(self, final: bool) -> None:
        assert self._fd is not None
        if final:  # the staged file itself becomes the shard
            fd, self._fd = self._fd, None
            self._backend.commit(self._staged, self._key, self.published, fd)
            return
        snapshot, fd = self._backend.staged_file()  # a copy: the staged file goes on growing
        try:
            _copy_range(self._fd, fd, self.size)
        except BaseException:
            os.close(fd)
            self._backend.root.unlink(snapshot)
            raise
        self._backend.commit(snapshot, self._key, self.published, fd)

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(FileNotFoundError):  # gone with its store: nothing to drop
                self._backend.root.unlink(self._staged)


class LocalBackend(Backend):
    """Files under a local directory, staged in the stream's own staging folder."""

    writes_in_place = True

    def __init__(self, path: Path, fsync: bool = True, staging: str = ".zarr-stream") -> None:
        self.path = path
        self.fsync = fsync
        self._staging = staging  # the staging folder, relative to the root
        self._root: PinnedDirectory | None = None
        # Published shards are fsynced in the background as they land, so the disk absorbs them
        # while encoding goes on and flush()/close() only wait for the last few.
        self._syncer = DaemonPool(FSYNC_THREADS, "zarr-stream-fsync")
        self._syncing: list[Future[None]] = []  # guarded by _syncing_lock: arrays' writers share it
        self._syncing_lock = threading.Lock()
        self._data_syncs: dict[int, Future[None]] = {}  # the last data sync of each staged fd
        self._unsynced_dirs: set[str] = set()
        # Documents: one lock for their writes and their fsyncs, so that a durable version is
        # only ever replaced by a successor fsynced first.
        self._documents_lock = threading.Lock()
        self._durable_documents: set[str] = set()  # keys made durable at least once
        self._unsynced_documents: set[str] = set()  # keys written since, not durable yet
        self._adopted: set[str] = set()  # shards of a resumed stream, replaced rather than created

    @property
    def root(self) -> PinnedDirectory:
        assert self._root is not None, "prepare() first"
        return self._root

    def prepare(self, overwrite: bool, resume: bool = False) -> None:
        created = missing_folders(self.path)
        self._root = open_root(self.path, overwrite, resume)
        if self.fsync:  # a new store folder survives a power loss once the folders above hold it
            for folder in created:
                fsync_path(folder.parent)
        try:
            self._root.makedirs(self._staging)
        except OSError as error:
            raise StoreAccessError(
                f"the store must be writable. Got {str(self.path)!r}, where creating "
                f"{self._staging!r} failed: {error}"
            ) from error

    def staged_file(self) -> tuple[str, int]:
        """A new file in the staging folder: its path relative to the root, and a read-write descriptor."""
        name = f"{self._staging}/{uuid.uuid4().hex}"
        try:
            return name, self.root.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        except OSError:
            self.root.check()  # the store vanished: say so, rather than "no such file"
            raise

    def commit(self, staged: str, key: str, replace: bool, fd: int) -> None:
        """Move a staged file to ``key`` (replace it, or create it only if absent); fsync and close ``fd``.

        Nothing is moved into a store whose root is no longer where the stream opened it.
        """
        root = self.root
        try:
            root.check()
            directory = key.rpartition("/")[0]
            root.makedirs(directory)
            if replace:
                if self.fsync:  # the version replaced may be durable: so must its successor be, first
                    os.fsync(fd)
                root.replace(staged, key)
            else:
                try:
                    root.link(staged, key)  # atomic, and fails if the key exists
                except FileExistsError:
                    root.unlink(staged)
                    raise ObjectExistsError(
                        f"data objects are written once: {key!r} already exists in {str(self.path)!r}."
                    ) from None
                root.unlink(staged)
        except BaseException:
            os.close(fd)
            raise
        if not self.fsync:
            os.close(fd)
            return
        with self._syncing_lock:
            self._unsynced_dirs.add(directory)
        self._track(self._syncer.submit(_fsync_drop_and_close, fd))

    def start_data_sync(self, fd: int) -> bool:
        """fdatasync a staged file in the background, unless its last one is still going.

        Returns whether it started one.

        Written pages otherwise sit in the page cache, and the disk's cache, until the
        shard's fsync, which then waits for all of them at once. A failure is kept for
        ``sync`` to raise: the shard's own fsync, on a new descriptor, may not see it.
        """
        last = self._data_syncs.get(fd)
        if not self.fsync or (last is not None and not last.done()):
            return False
        self._data_syncs[fd] = self._track(self._syncer.submit(_data_sync_and_close, os.dup(fd)))
        return True

    def _track(self, future: Future[None]) -> Future[None]:
        with self._syncing_lock:
            # drop syncs that succeeded, so a stream that never flushes does not pile them up
            self._syncing = [f for f in self._syncing if not f.done() or f.exception() is not None]
            self._syncing.append(future)
        return future

    def open_shard(self, key: str) -> ShardFile:
        file = _LocalShardFile(self, key)
        file.published = key in self._adopted
        return file

    def adopt(self, key: str) -> bool:
        self.root.check()
        if not (self.path / key).is_file():
            return False
        if is_document(key):
            with self._documents_lock:
                self._durable_documents.add(key)  # replaced only by a successor fsynced first
        else:
            self._adopted.add(key)
        return True

    def stored_keys(self, prefix: str) -> list[str]:
        self.root.check()
        keys: list[str] = []
        for directory, subdirectories, files in os.walk(self.path / prefix):
            if STAGING_NAME in subdirectories:
                subdirectories.remove(STAGING_NAME)
            folder = Path(directory).relative_to(self.path).as_posix()
            keys.extend(f"{folder}/{name}" for name in files)
        return sorted(keys)

    def reader_store(self) -> Any:
        from zarr.storage import LocalStore

        return LocalStore(self.path, read_only=True)

    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        root = self.root
        root.check()
        with self._documents_lock:
            # A document that may be durable is only replaced by a successor fsynced first, so a
            # power cut leaves one whole version or the other. Before it is first made durable
            # nothing of it was promised, and the fsync is skipped: on a busy disk it waits for
            # the journal to commit every shard written since, on the writer thread, at every
            # shard row. sync() makes it durable later.
            sync_content = self.fsync and (durable or key in self._durable_documents)
            staged, fd = self.staged_file()
            try:
                _write_parts(fd, [data], 0)
                if sync_content:
                    os.fsync(fd)
            finally:
                os.close(fd)
            directory = key.rpartition("/")[0]
            root.makedirs(directory)
            root.replace(staged, key)
            if not self.fsync:
                return
            if durable:
                for changed in sorted({directory} | root.take_changed()):  # and new folders' parents
                    root.fsync(changed)
                self._durable_documents.add(key)
                self._unsynced_documents.discard(key)
            elif not sync_content:
                self._unsynced_documents.add(key)
            else:
                with self._syncing_lock:
                    self._unsynced_dirs.add(directory)

    def sync(self) -> None:
        with self._syncing_lock:
            syncing, self._syncing = self._syncing, []
        for future in syncing:
            future.result()
        if not self.fsync:
            return
        root = self.root
        root.check()
        with self._documents_lock:
            documents, self._unsynced_documents = self._unsynced_documents, set()
            for key in sorted(documents):
                fd = root.open(key, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._durable_documents |= documents
        with self._syncing_lock:
            directories, self._unsynced_dirs = self._unsynced_dirs, set()
        directories |= {key.rpartition("/")[0] for key in documents} | root.take_changed()
        for directory in sorted(directories):
            root.fsync(directory)

    def close(self) -> None:
        """Wait for the background syncs, then remove the staging folder (the stream's own)."""
        self._syncer.shutdown(wait=True)
        if self._root is not None:
            try:
                self._root.remove_tree(self._staging)
            finally:
                self._root.close()
                self._root = None
