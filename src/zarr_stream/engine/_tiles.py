"""Frames -> compressed tiles -> chunks, with no raw slab.

Each frame is copied once, cut into its chunks' tiles, into a small recycled buffer that
holds a run of consecutive frames: one frame, or as many as make a Blosc block of up to
``max_block_bytes`` (``frames_per_block``), laid out so that each chunk's tiles of the
run are contiguous. Once the run is in, the encoder threads compress the buffer, every
chunk's tiles of it one Blosc block (see ``zarr_stream.engine._stitch``), a few chunks per
Blosc call, and the last call gives the buffer back. A slab is then only the compressed
blocks of its runs, which go into their chunks' regions of the shard files
(``zarr_stream.engine._regions``): as they come, for big slabs on a local disk, or once
the slab is whole. A flush compresses the run being filled as it stands, its frames to come
as fill value, and publishes a version of each chunk.

Memory is a few run buffers plus, per slab in flight, its compressed bytes not yet
written: a quarter of a slab's at most when written as they come.
``append`` blocks while every run buffer is in use (encoders behind) or
``slabs_in_flight`` full slabs wait for the writer (disk behind).
"""

from __future__ import annotations

import functools
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import NamedTuple

import numpy as np

from zarr_stream.engine._buffer import BufferPool, FrameScatter, take
from zarr_stream.engine._encode import EncodedSlab
from zarr_stream.engine._layout import ChunkPlacement, Layout
from zarr_stream.engine._regions import Blocks, ChunkTiles, SlabPlacer
from zarr_stream.engine._stitch import BlockCompressor
from zarr_stream.settings import Compression
from zarr_stream.storage import ShardFile

__all__ = ["InPlace", "TileEncoding", "encodes_tiles", "frames_per_block", "run_buffers", "tile_bytes"]


def tile_bytes(layout: Layout, dtype: np.dtype) -> int:
    """Bytes of one frame's tile of a chunk."""
    return math.prod(layout.tile_shape) * dtype.itemsize


def encodes_tiles(
    compression: Compression | None, layout: Layout, dtype: np.dtype, min_block_bytes: int
) -> bool:
    """Whether frames are compressed tile by tile as they arrive: Blosc chunks with tiles of at
    least ``min_block_bytes`` (its blocks are stitched; a plain zstd chunk is one frame of its own)."""
    return (
        compression is not None
        and compression.compressor == "blosc"
        and tile_bytes(layout, dtype) >= min_block_bytes
    )


def frames_per_block(layout: Layout, dtype: np.dtype, max_block_bytes: int) -> int:
    """Consecutive frames whose tiles of a chunk make one Blosc block of the tile encoding.

    As many as fit in ``max_block_bytes`` (one at least) and divide the chunk's depth, so
    that no block straddles two chunks. One when frames have dimensions between the append
    dimension and theirs: a chunk's consecutive tiles are then not consecutive frames'.

    >>> lay = Layout(shape=(0, 2048, 2048), chunks=(64, 256, 256), shard_counts=(1, 4, 4))
    >>> frames_per_block(lay, np.dtype("uint16"), 512 << 10)  # 128 KiB tiles
    4
    >>> frames_per_block(Layout((0, 8, 8), (6, 8, 8), (1, 1, 1)), np.dtype("uint8"), 256)
    3
    """
    depth = layout.chunks[0]
    if list(layout.chunk_segments().values()) != [list(range(depth))]:  # tiles not frames in order
        return 1
    fitting = max(1, max_block_bytes // tile_bytes(layout, dtype))
    return max(k for k in range(1, min(depth, fitting) + 1) if depth % k == 0)


def run_buffers(threads: int, per_run: int) -> int:
    """Run buffers a tile encoding allocates, for ``threads`` encoders and runs of ``per_run`` frames.

    Runs are compressed on every encoder at once: one run buffer compressing, one filling,
    one spare. One-frame runs need more to ride out jitter: 2 per encoder plus 2.

    >>> run_buffers(2, 1), run_buffers(2, 4)
    (6, 3)
    """
    return max(3, -(-(2 * threads + 2) // per_run))


class InPlace(NamedTuple):
    """What writing chunks into their shard files needs from the array's writer."""

    shard_file: Callable[[int, ChunkPlacement], ShardFile]  # a slab's chunk's shard file
    run: Callable[[Callable[[], None]], None]  # run a task on the writer thread, in order
    early: bool  # write a slab's blocks as its frames come (big slabs on disk), or once it is whole


class TileEncoding:
    """Compresses frame tiles as they arrive; full slabs of compressed blocks go to the writer."""

    def __init__(
        self,
        layout: Layout,
        dtype: np.dtype,
        compression: Compression,
        pool: Executor,
        slabs_in_flight: int,
        runs_in_flight: int,
        per_run: int,
        in_place: InPlace,
    ) -> None:
        self._layout = layout
        self._pool = pool
        self._per_run = per_run  # frames per run (per block): frames_per_block
        self._compressor = BlockCompressor(compression, dtype, per_run * tile_bytes(layout, dtype))
        self._scatter = FrameScatter(layout)
        self._block_size = per_run * math.prod(layout.tile_shape)
        self._runs_per_slab = layout.frames_per_slab // per_run
        self._in_place = in_place
        self._batch = max(1, self._runs_per_slab // 16)  # runs per in-place write
        fnd = layout.frame_ndim
        self._whole_grid = (slice(None),) * fnd
        shape = (*layout.frame_grid, per_run, *layout.tile_shape)  # the scatter's view of a run
        self._free_runs = BufferPool(shape, dtype, runs_in_flight, "run buffer")
        self._run: np.ndarray | None = None  # the run buffer being filled
        self._run_frames = 0  # frames in it
        self._free_slabs: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(slabs_in_flight + 1):  # the filling slab, then those waiting to be written
            self._free_slabs.put(slot)
        self._slab: SlabPlacer | None = None
        self._slot: int | None = None
        self._index = 0
        self.frames = 0
        segments = layout.chunk_segments()
        # per depth in a shard row: each chunk's placement, its tile in a frame, its blocks' runs
        self._chunks = [
            [
                ChunkTiles(
                    p,
                    int(np.ravel_multi_index(p.grid_coords[-fnd:], layout.frame_grid)),
                    # runs of consecutive frames (per_run > 1 only when segments are frames in order)
                    [f // per_run for f in segments[p.grid_coords[:-fnd]][::per_run]],
                )
                for p in layout.slab_chunks(depth)
            ]
            for depth in range(layout.shard_counts[0])
        ]

    def start_at(self, slab_index: int) -> None:
        assert self._slab is None and self.frames == 0
        self._index = slab_index
        self.frames = slab_index * self._layout.frames_per_slab

    def write(
        self, frames: np.ndarray, on_full: Callable[[EncodedSlab], None], check: Callable[[], None]
    ) -> None:
        for position in range(len(frames)):
            if self._slab is None:
                self._slot = take(self._free_slabs, check)
                self._slab = self._new_slab()
            if self._run is None:
                self._run = self._free_runs.take(check)
            # a failed copy leaves the run as it was: the frame's place is filled again next
            self._scatter.copy(self._frames_of_run(self._run_frames, 1), frames[position : position + 1])
            self._run_frames += 1
            self.frames += 1
            if self._run_frames < self._per_run:
                continue
            slab, buffer = self._slab, self._run
            self._run, self._run_frames = None, 0
            slab.add(self._compress(buffer))
            if slab.runs == self._runs_per_slab:
                on_full(self._encoded(slab, self._slot))
                self._slab, self._slot = None, None
                self._index += 1
            elif self._in_place.early and slab.runs % self._batch == 0:
                self._in_place.run(functools.partial(slab.place, slab.runs))

    def partial(self) -> EncodedSlab | None:
        """The slab being filled as it stands; it goes on filling afterwards."""
        if self._slab is None:
            return None
        partial = None
        if self._run is not None and self._run_frames:
            # the frames to come as fill value, for now: they overwrite it as they come
            self._scatter.copy(self._frames_of_run(self._run_frames, self._per_run - self._run_frames), None)
            partial = self._compressor.compress(self._run.reshape(-1, self._block_size))
        return EncodedSlab(self._index, self._slab.flush_versions(partial), lambda: None)

    def _frames_of_run(self, first: int, count: int) -> np.ndarray:
        """The run buffer's view of ``count`` of its frames from ``first``, as the scatter fills it."""
        assert self._run is not None
        return self._run[(*self._whole_grid, slice(first, first + count))]

    def _new_slab(self) -> SlabPlacer:
        chunks = self._chunks[self._index % self._layout.shard_counts[0]]
        shard_file = functools.partial(self._in_place.shard_file, self._index)
        plan_at = max(1, self._runs_per_slab // 4) if self._in_place.early else self._runs_per_slab
        return SlabPlacer(self._compressor, chunks, plan_at, shard_file)

    def _compress(self, buffer: np.ndarray) -> list[Future[Blocks]]:
        """Compress a full run buffer in parts, on every encoder; the last part gives it back."""
        blocks = buffer.reshape(-1, self._block_size)
        step = self._compressor.blocks_per_call
        starts = range(0, len(blocks), step)
        left = [len(starts)]  # parts still compressing
        lock = threading.Lock()

        def part(start: int) -> Blocks:
            try:
                return self._compressor.compress(blocks[start : start + step])
            finally:
                with lock:
                    left[0] -= 1
                    done = not left[0]
                if done:
                    self._free_runs.put(buffer)

        return [self._pool.submit(part, start) for start in starts]

    def _encoded(self, slab: SlabPlacer, slot: int | None) -> EncodedSlab:
        def release() -> None:
            slab.release()
            if slot is not None:
                self._free_slabs.put(slot)

        return EncodedSlab(self._index, slab.chunks(), release)
