"""The memory a stream may hold at most, from its settings and the engine's knobs. Pure arithmetic.

Worst case: compressed bytes are counted as large as the raw bytes (plus the codec's overhead),
as for data that does not compress. Counted per array (each pyramid level is one):

- slab-buffered arrays (raw, or tiles under ``min_block_bytes``): ``slabs_in_flight + 1``
  raw slabs, and the encoded chunks of the slabs in flight;
- tile-encoded arrays: the run buffers, and ``slabs_in_flight + 1`` slabs of compressed blocks;
- stores other than local files (S3, zarr Stores): the shard row being assembled in memory.

Per pyramid, the accumulators of frames waiting for their second z-plane (one step of the
next level at most) and the next level's frames made by one ``append``: a quarter of that
call's block (or less), not counted here since the block's size is the caller's. Per stream,
the background uploads of a store (``UPLOAD_BYTES``) and a fixed allowance for threads and
codec contexts.
"""

from __future__ import annotations

import math

import numpy as np

from zarr_stream.config import Tuning
from zarr_stream.engine._frame_records import record_arrays
from zarr_stream.engine._layout import Layout
from zarr_stream.engine._pipeline import stored_layout
from zarr_stream.engine._tiles import encodes_tiles, frames_per_block, run_buffers
from zarr_stream.multiscale import ImagePlan, Reducer
from zarr_stream.settings import ArraySettings, StreamSettings

__all__ = ["FIXED_BYTES", "array_bytes", "stream_bytes"]

#: Threads' stacks, Blosc and numpy scratch, Python objects: what a stream holds besides its buffers.
FIXED_BYTES = 64 << 20


def _compressed_max(raw: int, chunks: int) -> int:
    """The largest output of Blosc or zstd for ``raw`` bytes in ``chunks`` chunks: the bytes
    stored as they are, a header per chunk, and Blosc's block table (4 bytes per block of 4 KiB
    or more) or zstd's block headers (``ZSTD_compressBound``: ``raw / 256`` at most)."""
    return raw + 64 * chunks + raw // 256 + 4096


def array_bytes(settings: ArraySettings, tuning: Tuning, in_memory_shards: bool) -> int:
    """The most one array's pipeline holds (see the module docstring)."""
    layout = stored_layout(settings)
    dtype = np.dtype(settings.dtype)
    slab = int(math.prod(layout.buffer_shape)) * dtype.itemsize  # chunk-major: padded to whole chunks
    chunks = math.prod(layout.grid)
    held = (tuning.slabs_in_flight + 1) * _compressed_max(slab, chunks)
    if encodes_tiles(settings.compression, layout, dtype, tuning.min_block_bytes):
        per_run = frames_per_block(layout, dtype, tuning.max_block_bytes)
        frame = slab // layout.frames_per_slab
        total = run_buffers(tuning.encode_threads, per_run) * per_run * frame + held
    else:
        encoded = tuning.slabs_in_flight * _compressed_max(slab, chunks) if settings.compression else 0
        total = (tuning.slabs_in_flight + 1) * slab + encoded
    if in_memory_shards:
        total += _shard_row_bytes(layout, slab)
    return int(total)


def _shard_row_bytes(layout: Layout, slab: int) -> int:
    """A shard row assembled in memory: its slabs' chunks, compressed (at most raw)."""
    slabs = layout.shard_counts[0]
    return _compressed_max(slab * slabs, math.prod(layout.grid) * slabs)


def image_bytes(settings: ArraySettings, tuning: Tuning, in_memory_shards: bool) -> int:
    """Every level of an image, and its waiting accumulators."""
    plan = ImagePlan.of(settings)
    total = sum(array_bytes(level, tuning, in_memory_shards) for level in plan.levels)
    method = settings.multiscale.method if settings.multiscale is not None else None
    if method is not None:
        dtype = np.dtype(settings.dtype)
        for geometry in plan.geometries:
            reducer = Reducer(method, dtype, geometry.frame_shape, geometry.halve_frame)
            total += geometry.below().frames_per_step * reducer.accumulator_bytes
    return total


def stream_bytes(settings: StreamSettings, tuning: Tuning, in_memory_shards: bool, upload_bytes: int) -> int:
    """The most a stream with ``settings`` holds (see the module docstring)."""
    total = FIXED_BYTES + (upload_bytes if in_memory_shards else 0)
    for array in settings.streamed_arrays:
        measure = image_bytes if array.ngff else array_bytes
        total += measure(array, tuning, in_memory_shards)
        if array.key:  # room for its per-frame metadata, should it get some
            total += sum(array_bytes(part, tuning, in_memory_shards) for part in record_arrays(array.key))
    return total
