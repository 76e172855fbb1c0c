"""One array's pipeline: encoding -> shard files -> zarr.json.

Threads: the caller's thread copies frames in (see :mod:`zarr_stream.engine._encode` and
:mod:`zarr_stream.engine._tiles`), and the shared encoder pool encodes them; one writer
thread per array takes the encoded slabs in order, appends their chunks to the
shard files of the current shard row, publishes the row's shards when its last
slab is in, and then grows the append dimension in ``zarr.json``. Metadata never
covers a shard before that shard is published.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zarr_stream.config import Tuning
from zarr_stream.engine._encode import EncodedSlab, Encoding, Placed, SlabEncoding, encode_index
from zarr_stream.engine._layout import ChunkPlacement, Layout
from zarr_stream.engine._tiles import InPlace, TileEncoding, frames_per_block, run_buffers, tile_bytes
from zarr_stream.errors import BackgroundError, ObjectExistsError, SettingsError
from zarr_stream.metadata import array_document, array_metadata, document_key
from zarr_stream.settings import ArraySettings
from zarr_stream.storage import Backend, Buffer, ShardFile, nbytes

__all__ = ["ArrayStream"]

# (slot in the shard, parts) of chunks not yet appended, or where chunks written in place are
Tail = list[tuple[int, Sequence[Buffer] | Placed]]


@dataclass(slots=True)
class _Shard:
    """A shard of the current shard row being assembled."""

    file: ShardFile
    index: np.ndarray
    published: bool = False  # the stream already wrote (a snapshot of) it to its key
    chunks: int = field(default=0)


class ArrayStream:
    """Streams frames into one array. Not thread-safe: one caller thread at a time."""

    def __init__(self, settings: ArraySettings, backend: Backend, pool: Executor, tuning: Tuning):
        dims = settings.dimensions
        self.key = settings.key
        self.dtype: np.dtype = np.dtype(settings.dtype)
        self.layout = Layout(
            shape=tuple(d.size for d in dims),
            chunks=tuple(d.chunk for d in dims),
            shard_counts=tuple(d.shard for d in dims),
        )
        self.metadata = array_metadata(settings)
        self._prefix = f"{self.key}/" if self.key else ""
        self._backend = backend
        self._pool = pool
        slab_bytes = self.layout.frames_per_slab * math.prod(self.layout.frame_shape) * self.dtype.itemsize
        in_place = None
        if backend.writes_in_place and slab_bytes >= tuning.in_place_slab_bytes:
            in_place = InPlace(self._slab_shard_file, self._run_on_writer)
        self._encoding = _encoding(self.layout, self.dtype, settings, pool, tuning, in_place)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="zarr-stream-writer")
        self._pending: deque[Future[None]] = deque()
        self._row: dict[tuple[int, ...], _Shard] = {}
        self._metadata_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._flushed_frames = -1

    @property
    def frames(self) -> int:
        """Frames accepted so far."""
        return self._encoding.frames

    # --- caller thread ---------------------------------------------------------------------

    def write_metadata(self, durable: bool = True) -> None:
        """Write the array's ``zarr.json`` as it stands."""
        with self._metadata_lock:
            self._backend.write_document(document_key(self.key), array_document(self.metadata), durable)

    def append(self, frames: np.ndarray) -> None:
        """Take validated frames (shape ``(n, *frame_shape)``); full slabs go to the writer."""
        self.check()
        self._encoding.write(frames, self._dispatch, self.check)

    def check(self) -> None:
        """Raise BackgroundError if a background encode or write has failed."""
        while self._pending and self._pending[0].done():
            error = self._pending.popleft().exception()
            if error is not None and self._failure is None:
                self._failure = error
        if self._failure is not None:
            # a write-once conflict keeps its FileExistsError type, as the API contract says
            kind = ObjectExistsError if isinstance(self._failure, ObjectExistsError) else BackgroundError
            raise kind(
                f"a background encode or write of array {self.key!r} failed: {self._failure!r}"
            ) from self._failure

    def flush(self) -> None:
        """Publish every frame appended so far (partial shards padded) and make it durable."""
        self._drain()
        if self._flushed_frames == self.frames:
            return
        encoded = self._encoding.partial()
        tails: dict[tuple[int, ...], Tail] = {}
        if encoded is not None:
            row = self.layout.shard_row_of_slab(encoded.index)
            try:
                for placement, parts in encoded.chunks:
                    coords = (row, *placement.shard_coords[1:])
                    tails.setdefault(coords, []).append((placement.inner_index, parts))
            finally:
                encoded.release()
            for coords in tails:
                self._shard(coords)
        for coords, shard in self._row.items():
            self._publish_snapshot(shard, tails.get(coords, []))
        self._backend.sync()
        self._set_extent(self.layout.extent(self.frames), durable=True)
        self._flushed_frames = self.frames

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Merge ``attributes`` into the array's ``zarr.json`` attributes."""
        try:
            json.dumps(dict(attributes), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise SettingsError(f"attributes must be JSON-serializable. Got {attributes!r}.") from error
        with self._metadata_lock:
            self.metadata = self.metadata.update_attributes({**self.metadata.attributes, **attributes})
        self.write_metadata()

    def close(self) -> None:
        """Flush, then release staging files and the writer thread (also after a failure)."""
        try:
            self.flush()
        finally:
            wait(list(self._pending))
            self._writer.shutdown(wait=True)
            for shard in self._row.values():
                shard.file.discard()
            self._row.clear()

    def _drain(self) -> None:
        wait(list(self._pending))
        self.check()

    def _dispatch(self, encoded: EncodedSlab) -> None:
        self._pending.append(self._writer.submit(self._write_slab, encoded))

    def _run_on_writer(self, task: Callable[[], None]) -> None:
        self._pending.append(self._writer.submit(self._write_part, task))

    # --- writer thread ---------------------------------------------------------------------

    def _write_part(self, task: Callable[[], None]) -> None:
        """Write part of the slab being filled (chunks written in place)."""
        if self._failure is not None:
            return  # an earlier slab failed: write nothing after the gap
        try:
            task()
        except BaseException as error:
            self._failure = error
            raise

    def _write_slab(self, encoded: EncodedSlab) -> None:
        row = self.layout.shard_row_of_slab(encoded.index)
        completes_row = self.layout.completes_shard_row(encoded.index)
        try:
            if self._failure is not None:
                return  # an earlier slab failed: write nothing after the gap
            previous: tuple[int, ...] | None = None  # the shard the last chunk went to
            for placement, parts in encoded.chunks:
                coords = (row, *placement.shard_coords[1:])
                if completes_row and previous is not None and coords != previous:
                    self._finish_shard(self._row.pop(previous))  # chunks come shard by shard
                shard = self._shard(coords)
                if isinstance(parts, Placed):
                    shard.index[placement.inner_index] = (parts.offset, parts.nbytes)
                else:
                    shard.index[placement.inner_index] = (shard.file.size, nbytes(parts))
                    shard.file.append(parts)
                shard.chunks += 1
                previous = coords
            if completes_row:
                for shard in self._row.values():
                    self._finish_shard(shard)
                self._row.clear()
                self._set_extent(self.layout.shard_row_extent(row), durable=False)
        except BaseException as error:
            self._failure = error
            raise
        finally:
            encoded.release()

    def _finish_shard(self, shard: _Shard) -> None:
        """Publish a complete shard, or drop it if it holds no chunk."""
        if shard.chunks:
            shard.file.publish_final(encode_index(shard.index), replace=shard.published)
        else:
            shard.file.discard()

    # --- either thread (never both at once: flush drains the writer first) -------------------

    def _slab_shard_file(self, slab_index: int, placement: ChunkPlacement) -> ShardFile:
        """The shard file of a chunk of slab ``slab_index`` (opened on first use)."""
        row = self.layout.shard_row_of_slab(slab_index)
        return self._shard((row, *placement.shard_coords[1:])).file

    def _shard(self, coords: tuple[int, ...]) -> _Shard:
        shard = self._row.get(coords)
        if shard is None:
            key = self._prefix + self.layout.shard_key(coords)
            shard = self._row[coords] = _Shard(self._backend.open_shard(key), self.layout.empty_index())
        return shard

    def _publish_snapshot(self, shard: _Shard, tail: Tail) -> None:
        if not shard.chunks and not tail:
            return
        index = shard.index.copy()
        offset = shard.file.size
        parts: list[Buffer] = []
        for inner_index, chunk in tail:
            if isinstance(chunk, Placed):
                index[inner_index] = (chunk.offset, chunk.nbytes)
                continue
            size = nbytes(chunk)
            index[inner_index] = (offset, size)
            offset += size
            parts.extend(chunk)
        parts.append(encode_index(index))
        shard.file.publish_snapshot(parts, replace=shard.published)
        shard.published = True

    def _set_extent(self, extent: int, durable: bool) -> None:
        with self._metadata_lock:
            if extent > self.metadata.shape[0] or durable:
                self.metadata = self.metadata.update_shape(
                    (max(extent, self.metadata.shape[0]), *self.metadata.shape[1:])
                )
                self._backend.write_document(document_key(self.key), array_document(self.metadata), durable)


def _encoding(
    layout: Layout,
    dtype: np.dtype,
    settings: ArraySettings,
    pool: Executor,
    tuning: Tuning,
    in_place: InPlace | None,
) -> Encoding:
    """Tile by tile for compressed arrays with big enough tiles; raw slabs otherwise."""
    threads = tuning.encode_threads
    compression = settings.compression
    if compression is not None and tile_bytes(layout, dtype) >= tuning.min_block_bytes:
        per_run = frames_per_block(layout, dtype, tuning.max_block_bytes)
        runs = run_buffers(threads, per_run)
        return TileEncoding(layout, dtype, compression, pool, tuning.slabs_in_flight, runs, per_run, in_place)
    return SlabEncoding(layout, dtype, compression, pool, tuning.slabs_in_flight, batches=4 * threads)
