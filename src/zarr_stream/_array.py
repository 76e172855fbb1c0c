"""One array's pipeline: frame buffer -> encoder pool -> shard files -> zarr.json.

Threads: the caller's thread copies frames into slabs and submits every chunk
of a full slab to the shared encoder pool; one writer thread per array takes
the slabs in order, appends their encoded chunks to the shard files of the
current shard row, publishes the row's shards when its last slab is in, and
then grows the append dimension in ``zarr.json``. Metadata never covers a
shard before that shard is published.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zarr_stream._buffer import FrameBuffer, Slab
from zarr_stream._encode import ChunkEncoder, encode_index
from zarr_stream._layout import ChunkPlacement, Layout
from zarr_stream.errors import BackgroundError, ObjectExistsError, SettingsError
from zarr_stream.metadata import array_document, array_metadata, document_key
from zarr_stream.settings import ArraySettings
from zarr_stream.storage import Backend, Buffer, ShardFile

__all__ = ["ArrayStream"]

EncodedBatch = list[tuple[ChunkPlacement, "Buffer | None"]]
EncodedChunks = deque["Future[EncodedBatch]"]


@dataclass(slots=True)
class _Shard:
    """A shard of the current shard row being assembled."""

    file: ShardFile
    index: np.ndarray
    published: bool = False  # the stream already wrote (a snapshot of) it to its key
    chunks: int = field(default=0)


class ArrayStream:
    """Streams frames into one array. Not thread-safe: one caller thread at a time."""

    def __init__(
        self, settings: ArraySettings, backend: Backend, pool: Executor, slabs_in_flight: int, batches: int
    ):
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
        self._encoder = ChunkEncoder(self.dtype, settings.compression)
        self._buffer = FrameBuffer(self.layout, self.dtype, slabs_in_flight + 1)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="zarr-stream-writer")
        self._pending: deque[Future[None]] = deque()
        self._row: dict[tuple[int, ...], _Shard] = {}
        self._metadata_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._flushed_frames = -1
        self._batches = batches  # encode tasks per slab: a few per thread, not one per chunk
        # Chunk placements of a slab at each depth of a shard row (row 0; the row is added on use).
        self._placements = [list(self.layout.slab_chunks(d)) for d in range(self.layout.shard_counts[0])]

    @property
    def frames(self) -> int:
        """Frames accepted so far."""
        return self._buffer.frames

    # --- caller thread ---------------------------------------------------------------------

    def write_metadata(self, durable: bool = True) -> None:
        """Write the array's ``zarr.json`` as it stands."""
        with self._metadata_lock:
            self._backend.write_document(document_key(self.key), array_document(self.metadata), durable)

    def append(self, frames: np.ndarray) -> None:
        """Copy validated frames (shape ``(n, *frame_shape)``) into slabs; full slabs go to encoding."""
        self.check()
        self._buffer.write(frames, self._dispatch, self.check)

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
        slab = self._buffer.partial()
        tails: dict[tuple[int, ...], list[tuple[int, Buffer]]] = {}
        if slab is not None:
            row = self.layout.shard_row_of_slab(slab.index)
            for batch in self._encode(slab):
                for placement, data in batch.result():
                    if data is not None:
                        coords = (row, *placement.shard_coords[1:])
                        tails.setdefault(coords, []).append((placement.inner_index, data))
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

    def _encode(self, slab: Slab) -> EncodedChunks:
        placements = self._placements[slab.index % self.layout.shard_counts[0]]
        size = -(-len(placements) // self._batches)
        return deque(
            self._pool.submit(self._encode_batch, slab.data, placements[start : start + size])
            for start in range(0, len(placements), size)
        )

    def _encode_batch(self, data: np.ndarray, placements: list[ChunkPlacement]) -> EncodedBatch:
        return [(placement, self._encoder.encode(data, placement)) for placement in placements]

    def _dispatch(self, slab: Slab) -> None:
        self._pending.append(self._writer.submit(self._write_slab, slab, self._encode(slab)))

    # --- writer thread ---------------------------------------------------------------------

    def _write_slab(self, slab: Slab, encoded: EncodedChunks) -> None:
        pending = encoded  # consumed in place: each batch is dropped once written
        row = self.layout.shard_row_of_slab(slab.index)
        try:
            if self._failure is not None:
                return  # an earlier slab failed: write nothing after the gap
            while pending:
                batch = pending.popleft().result()
                for placement, data in batch:
                    if data is not None:
                        shard = self._shard((row, *placement.shard_coords[1:]))
                        shard.index[placement.inner_index] = (shard.file.size, memoryview(data).nbytes)
                        shard.file.append(data)
                        shard.chunks += 1
                del batch
        except BaseException as error:
            self._failure = error
            raise
        finally:
            wait(pending)
            self._buffer.release(slab.data)
        if self.layout.completes_shard_row(slab.index):
            self._finish_row(self.layout.shard_row_of_slab(slab.index))

    def _finish_row(self, row: int) -> None:
        try:
            for shard in self._row.values():
                if shard.chunks:
                    shard.file.publish_final(encode_index(shard.index), replace=shard.published)
                else:
                    shard.file.discard()
            self._row.clear()
            self._set_extent(self.layout.shard_row_extent(row), durable=False)
        except BaseException as error:
            self._failure = error
            raise

    # --- either thread (never both at once: flush drains the writer first) -------------------

    def _shard(self, coords: tuple[int, ...]) -> _Shard:
        shard = self._row.get(coords)
        if shard is None:
            key = self._prefix + self.layout.shard_key(coords)
            shard = self._row[coords] = _Shard(self._backend.open_shard(key), self.layout.empty_index())
        return shard

    def _publish_snapshot(self, shard: _Shard, tail: Sequence[tuple[int, Buffer]]) -> None:
        if not shard.chunks and not tail:
            return
        index = shard.index.copy()
        offset = shard.file.size
        parts: list[Buffer] = []
        for inner_index, data in tail:
            size = memoryview(data).nbytes
            index[inner_index] = (offset, size)
            offset += size
            parts.append(data)
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
