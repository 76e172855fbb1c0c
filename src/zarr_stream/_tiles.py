"""Frames -> compressed tiles -> chunks, with no raw slab.

Each frame is copied once, cut into its chunks' tiles, into a small recycled frame
buffer; an encoder thread compresses it in one Blosc call, every tile one Blosc block
(see :mod:`zarr_stream._stitch`), and gives the buffer back. A slab is then only the
compressed blocks of its frames. On a local disk they are written into their chunks'
regions of the shard files as they come (:mod:`zarr_stream._regions`); elsewhere they
are kept until the slab's last frame is in, then each chunk is stitched from its blocks,
in order, with no copy of the compressed bytes (:class:`HeldBlocks`).

Memory is a few frame buffers plus, per slab in flight, its compressed bytes not yet
written: half a slab's at most when written in place.
``append`` blocks while every frame buffer is in use (encoders behind) or
``slabs_in_flight`` full slabs wait for the writer (disk behind).
"""

from __future__ import annotations

import functools
import math
import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import NamedTuple, Protocol

import numpy as np

from zarr_stream._buffer import FrameScatter, preallocated, take
from zarr_stream._encode import EncodedChunk, EncodedSlab
from zarr_stream._layout import ChunkPlacement, Layout
from zarr_stream._regions import Blocks, ChunkTiles, SlabFrames, SlabPlacer
from zarr_stream._stitch import BlockCompressor
from zarr_stream.settings import Compression
from zarr_stream.storage import ShardFile

__all__ = ["HeldBlocks", "InPlace", "TileEncoding", "tile_bytes"]


def tile_bytes(layout: Layout, dtype: np.dtype) -> int:
    """Bytes of one frame's tile of a chunk: the Blosc block size of the tile encoding."""
    return math.prod(layout.tile_shape) * dtype.itemsize


class InPlace(NamedTuple):
    """What writing chunks in place needs from the array's writer."""

    shard_file: Callable[[int, ChunkPlacement], ShardFile]  # a slab's chunk's shard file
    run: Callable[[Callable[[], None]], None]  # run a task on the writer thread, in order


class SlabBlocks(Protocol):
    """One slab's frames, compressed: :class:`HeldBlocks` or a :class:`SlabPlacer`."""

    @property
    def frames(self) -> int: ...

    def add(self, frame: Future[Blocks]) -> None: ...

    def place(self, upto: int, now: bool = False) -> None: ...

    def chunks(self) -> Iterator[EncodedChunk]: ...

    def release(self) -> None: ...


class HeldBlocks(SlabFrames):
    """One slab's compressed blocks, kept until its chunks are stitched whole."""

    def __init__(self, compressor: BlockCompressor, chunks: Sequence[ChunkTiles]) -> None:
        super().__init__()
        self._compressor = compressor
        self._chunks = chunks

    def place(self, upto: int, now: bool = False) -> None:
        """Nothing is written before the slab is whole."""

    def chunks(self) -> Iterator[EncodedChunk]:
        """Every stored chunk, stitched; frames not yet added are fill value."""
        blocks = [future.result() for future in self._frames if future is not None]
        filled = len(blocks)
        for chunk in self._chunks:
            tiles = [blocks[f][chunk.tile] if 0 <= f < filled else None for f in chunk.segment_frames]
            parts = self._compressor.assemble(tiles)
            if parts is not None:
                yield chunk.placement, parts


class TileEncoding:
    """Compresses frame tiles as they arrive; full slabs of compressed blocks go to the writer."""

    def __init__(
        self,
        layout: Layout,
        dtype: np.dtype,
        compression: Compression,
        pool: Executor,
        slabs_in_flight: int,
        frames_in_flight: int,
        in_place: InPlace | None = None,
    ) -> None:
        self._layout = layout
        self._pool = pool
        self._compressor = BlockCompressor(compression, dtype, tile_bytes(layout, dtype))
        self._scatter = FrameScatter(layout)
        self._tile_size = math.prod(layout.tile_shape)
        self._in_place = in_place
        self._batch = max(1, layout.frames_per_slab // 16)  # frames per in-place write
        fnd = layout.frame_ndim
        shape = (*layout.frame_grid, 1, *layout.tile_shape)  # the scatter's view of one frame
        self._free_frames: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        for _ in range(frames_in_flight):
            self._free_frames.put(preallocated(shape, dtype))
        self._free_slabs: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(slabs_in_flight + 1):  # the filling slab, then those waiting to be written
            self._free_slabs.put(slot)
        self._slab: SlabBlocks | None = None
        self._slot: int | None = None
        self._index = 0
        self.frames = 0
        segments = layout.chunk_segments()
        # per depth in a shard row: each chunk's placement, its tile in a frame, its segments' frames
        self._chunks = [
            [
                ChunkTiles(
                    p,
                    int(np.ravel_multi_index(p.grid_coords[-fnd:], layout.frame_grid)),
                    segments[p.grid_coords[:-fnd]],
                )
                for p in layout.slab_chunks(depth)
            ]
            for depth in range(layout.shard_counts[0])
        ]

    def write(
        self, frames: np.ndarray, on_full: Callable[[EncodedSlab], None], check: Callable[[], None]
    ) -> None:
        per_slab = self._layout.frames_per_slab
        for position in range(len(frames)):
            if self._slab is None:
                self._slot = take(self._free_slabs, check)
                self._slab = self._new_slab()
            buffer = take(self._free_frames, check)
            try:
                self._scatter.copy(buffer, frames[position : position + 1])
            except BaseException:
                self._free_frames.put(buffer)
                raise
            slab = self._slab
            slab.add(self._pool.submit(self._compress, buffer))
            self.frames += 1
            if slab.frames == per_slab:
                on_full(self._encoded(slab, self._slot))
                self._slab, self._slot = None, None
                self._index += 1
            elif self._in_place is not None and slab.frames % self._batch == 0:
                self._in_place.run(functools.partial(slab.place, slab.frames))

    def partial(self) -> EncodedSlab | None:
        """The slab being filled as it stands; it goes on filling afterwards."""
        if self._slab is None or not self._slab.frames:
            return None
        return EncodedSlab(self._index, self._slab.chunks(), lambda: None)

    def _new_slab(self) -> SlabBlocks:
        chunks = self._chunks[self._index % self._layout.shard_counts[0]]
        if self._in_place is None:
            return HeldBlocks(self._compressor, chunks)
        shard_file = functools.partial(self._in_place.shard_file, self._index)
        return SlabPlacer(self._compressor, chunks, self._layout.frames_per_slab, shard_file)

    def _compress(self, buffer: np.ndarray) -> Blocks:
        try:
            return self._compressor.compress(buffer.reshape(-1, self._tile_size))
        finally:
            self._free_frames.put(buffer)

    def _encoded(self, slab: SlabBlocks, slot: int | None) -> EncodedSlab:
        def release() -> None:
            slab.release()
            if slot is not None:
                self._free_slabs.put(slot)

        return EncodedSlab(self._index, slab.chunks(), release)
