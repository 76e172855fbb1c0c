"""Frames -> compressed tiles -> chunks, with no raw slab.

Each frame is copied once, cut into its chunks' tiles, into a small recycled frame
buffer; an encoder thread compresses it in one Blosc call, every tile one Blosc block
(see :mod:`zarr_stream._stitch`), and gives the buffer back. A slab is then only the
compressed blocks of its frames: when its last frame is in, each chunk is stitched
from its blocks, in order, with no copy of the compressed bytes.

Memory is a few frame buffers plus, per slab in flight, its compressed bytes.
``append`` blocks while every frame buffer is in use (encoders behind) or
``slabs_in_flight`` full slabs wait for the writer (disk behind).
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, wait

import numpy as np

from zarr_stream._buffer import FrameScatter, preallocated, take
from zarr_stream._encode import EncodedChunk, EncodedSlab
from zarr_stream._layout import Layout
from zarr_stream._stitch import Block, BlockCompressor
from zarr_stream.settings import Compression

__all__ = ["TileEncoding", "tile_bytes"]

Blocks = list[Block]  # one frame's tiles, compressed


def tile_bytes(layout: Layout, dtype: np.dtype) -> int:
    """Bytes of one frame's tile of a chunk: the Blosc block size of the tile encoding."""
    return math.prod(layout.tile_shape) * dtype.itemsize


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
    ) -> None:
        self._layout = layout
        self._pool = pool
        self._compressor = BlockCompressor(compression, dtype, tile_bytes(layout, dtype))
        self._scatter = FrameScatter(layout)
        self._tile_size = math.prod(layout.tile_shape)
        fnd = layout.frame_ndim
        shape = (*layout.frame_grid, 1, *layout.tile_shape)  # the scatter's view of one frame
        self._free_frames: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        for _ in range(frames_in_flight):
            self._free_frames.put(preallocated(shape, dtype))
        self._free_slabs: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(slabs_in_flight + 1):  # the filling slab, then those waiting to be written
            self._free_slabs.put(slot)
        self._current: list[Future[Blocks]] = []
        self._slot: int | None = None
        self._index = 0
        self.frames = 0
        segments = layout.chunk_segments()
        # per depth in a shard row: each chunk's placement, its tile in a frame, its segments' frames
        self._chunks = [
            [
                (
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
            if self._slot is None:
                self._slot = take(self._free_slabs, check)
            buffer = take(self._free_frames, check)
            try:
                self._scatter.copy(buffer, frames[position : position + 1])
            except BaseException:
                self._free_frames.put(buffer)
                raise
            self._current.append(self._pool.submit(self._compress, buffer))
            self.frames += 1
            if len(self._current) == per_slab:
                on_full(self._slab(self._current, self._slot))
                self._current, self._slot = [], None
                self._index += 1

    def partial(self) -> EncodedSlab | None:
        return self._slab(list(self._current), None) if self._current else None

    def _compress(self, buffer: np.ndarray) -> Blocks:
        try:
            return self._compressor.compress(buffer.reshape(-1, self._tile_size))
        finally:
            self._free_frames.put(buffer)

    def _slab(self, frames: list[Future[Blocks]], slot: int | None) -> EncodedSlab:
        """The slab at ``self._index`` made of ``frames`` (fewer than a slab: the rest is fill value)."""
        chunks = self._chunks[self._index % self._layout.shard_counts[0]]
        assemble = self._compressor.assemble

        def encoded() -> Iterator[EncodedChunk]:
            blocks = [future.result() for future in frames]
            filled = len(blocks)
            for placement, tile, segment_frames in chunks:
                parts = assemble([blocks[f][tile] if 0 <= f < filled else None for f in segment_frames])
                if parts is not None:
                    yield placement, parts

        def release() -> None:
            wait(frames)
            if slot is not None:
                self._free_slabs.put(slot)

        return EncodedSlab(self._index, encoded(), release)
