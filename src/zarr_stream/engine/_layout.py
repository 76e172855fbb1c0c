"""Pure chunk and shard index arithmetic: no I/O, no threads.

Terms
-----
frame
    One plane over the last two dimensions (one row of the last dimension
    for a 2-D array).
step
    One index along the append (first) dimension; it holds
    ``frames_per_step`` frames, in C order over the dimensions between the
    first and the frame dimensions.
slab
    One chunk deep along the append dimension and the full extent of every
    other dimension: the unit that is buffered, cut into chunks and encoded.
shard row
    ``shard_counts[0]`` consecutive slabs: every shard whose first index is
    the same. A shard row is complete when its last slab is encoded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["ChunkPlacement", "FramePiece", "Layout", "ceil_div", "frame_order", "frame_pieces"]

#: Offset and length of an inner chunk that is not stored (sharding spec).
EMPTY_ENTRY = np.uint64(2**64 - 1)


def ceil_div(a: int, b: int) -> int:
    """Smallest integer >= a / b, for non-negative ``a`` and positive ``b``."""
    return -(-a // b)


def frame_order(sizes: tuple[int, ...], stored: tuple[int, ...]) -> tuple[int, ...] | None:
    """Where each frame of a step is stored, in arrival order; None when that is arrival order.

    ``sizes`` are the middle dimensions (between the append dimension and the frame's) in
    arrival order, C order; ``stored[i]`` is the arrival axis stored i-th.

    >>> frame_order((2, 3), (1, 0))  # arrive z-major (z=2, c=3), stored c-major
    (0, 2, 4, 1, 3, 5)
    """
    if stored == tuple(range(len(sizes))):
        return None
    coords = np.unravel_index(np.arange(math.prod(sizes)), sizes)
    stored_coords = tuple(coords[axis] for axis in stored)
    order = np.ravel_multi_index(stored_coords, tuple(sizes[axis] for axis in stored))
    return tuple(int(i) for i in order)


@dataclass(frozen=True, slots=True)
class ChunkPlacement:
    """Where one chunk of a slab goes: its shard, its slot in the shard, its grid cell in the slab buffer."""

    shard_coords: tuple[int, ...]
    inner_index: int
    grid_coords: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FramePiece:
    """One rectangular piece of a frame and where it lands in a chunk-major slab buffer.

    ``source`` slices the frame; reshaped to ``split`` (grid, chunk) pairs per frame axis and
    transposed, it is assigned to ``target`` of the frame's view of the buffer, whose axes are
    ``(*frame grid, frames, *frame chunk)``.
    """

    source: tuple[slice, ...]
    split: tuple[int, ...]
    target: tuple[slice, ...]


def frame_pieces(frame_shape: tuple[int, ...], frame_chunks: tuple[int, ...]) -> list[FramePiece]:
    """Cut a frame into the pieces that map onto whole-chunk views: full chunks and ragged edges.

    >>> [p.split for p in frame_pieces((10, 8), (4, 8))]
    [(2, 4, 1, 8), (1, 2, 1, 8)]
    """
    per_axis = []
    for size, chunk in zip(frame_shape, frame_chunks, strict=True):
        full, rest = divmod(size, chunk)
        parts = []
        if full:
            parts.append((slice(0, full * chunk), (full, chunk), slice(0, full), slice(0, chunk)))
        if rest:
            parts.append((slice(full * chunk, size), (1, rest), slice(full, full + 1), slice(0, rest)))
        per_axis.append(parts)
    pieces = []
    for combo in itertools.product(*per_axis):
        source = tuple(part[0] for part in combo)
        split = tuple(n for part in combo for n in part[1])
        target = (*(part[2] for part in combo), slice(None), *(part[3] for part in combo))
        pieces.append(FramePiece(source, split, target))
    return pieces


@dataclass(frozen=True, slots=True)
class Layout:
    """Chunk/shard geometry of one array.

    ``shape[0]`` is the capacity of the append dimension, 0 when unbounded.

    Examples
    --------
    >>> lay = Layout(shape=(0, 3, 100, 100), chunks=(4, 1, 32, 32), shard_counts=(2, 1, 2, 2))
    >>> lay.frame_shape, lay.frames_per_step, lay.frames_per_slab
    ((100, 100), 3, 12)
    >>> lay.shard_shape
    (8, 1, 64, 64)
    >>> len(list(lay.slab_chunks(1)))
    48
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shard_counts: tuple[int, ...]
    #: Where each frame of a step goes, in the order they arrive (None: they arrive in stored order).
    frame_order: tuple[int, ...] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def frame_ndim(self) -> int:
        """2 (a plane) for arrays of 3 or more dimensions, 1 (a row) for 2-D arrays."""
        return 2 if self.ndim >= 3 else 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self.shape[self.ndim - self.frame_ndim :]

    @property
    def frames_per_step(self) -> int:
        return math.prod(self.shape[1 : self.ndim - self.frame_ndim])

    @property
    def slab_shape(self) -> tuple[int, ...]:
        return (self.chunks[0], *self.shape[1:])

    @property
    def frames_per_slab(self) -> int:
        return self.chunks[0] * self.frames_per_step

    @property
    def shard_shape(self) -> tuple[int, ...]:
        return tuple(c * n for c, n in zip(self.chunks, self.shard_counts, strict=True))

    @property
    def chunks_per_shard(self) -> int:
        return math.prod(self.shard_counts)

    @property
    def capacity_frames(self) -> int | None:
        """Frames the array can hold, or None when the append dimension is unbounded."""
        return self.shape[0] * self.frames_per_step if self.shape[0] else None

    def extent(self, frames: int) -> int:
        """Length of the append dimension that holds ``frames`` frames."""
        return ceil_div(frames, self.frames_per_step)

    def shard_row_of_slab(self, slab_index: int) -> int:
        return slab_index // self.shard_counts[0]

    def completes_shard_row(self, slab_index: int) -> bool:
        """True when ``slab_index`` is the last slab of its shard row."""
        return slab_index % self.shard_counts[0] == self.shard_counts[0] - 1

    def shard_row_extent(self, row: int) -> int:
        """Append-dimension length covered once shard row ``row`` is complete."""
        end = (row + 1) * self.shard_shape[0]
        return min(end, self.shape[0]) if self.shape[0] else end

    @property
    def grid(self) -> tuple[int, ...]:
        """Chunks along each dimension but the append dimension."""
        return tuple(ceil_div(s, c) for s, c in zip(self.shape[1:], self.chunks[1:], strict=True))

    @property
    def buffer_shape(self) -> tuple[int, ...]:
        """Chunk-major slab buffer: ``buffer[grid_coords]`` is one whole, contiguous chunk.

        Axes are ``(*grid, chunks[0], *chunks[1:])``; cells past a ragged edge stay at the fill value.
        """
        return (*self.grid, *self.chunks)

    def frame_position(self, frame_in_slab: int) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        """Grid cell, depth in the chunk, and offset in the chunk of the non-frame middle dimensions.

        Returns ``(mid_grid, t, mid_inner)`` for the ``frame_in_slab``-th frame of a slab to arrive.
        """
        t, rest = divmod(frame_in_slab, self.frames_per_step)
        if self.frame_order is not None:
            rest = self.frame_order[rest]
        mids = self.shape[1 : self.ndim - self.frame_ndim]
        coords = np.unravel_index(rest, mids) if mids else ()
        mid_chunks = self.chunks[1 : self.ndim - self.frame_ndim]
        grid = tuple(int(c) // n for c, n in zip(coords, mid_chunks, strict=True))
        inner = tuple(int(c) % n for c, n in zip(coords, mid_chunks, strict=True))
        return grid, t, inner

    def slab_chunks(self, slab_index: int) -> Iterator[ChunkPlacement]:
        """Every chunk of slab ``slab_index``: shard by shard, each shard's in slot order.

        Shard by shard, so that a shard's last chunk comes as early as it can and the
        shard can be published (and go to disk) while the next ones are written.
        """
        row, depth = divmod(slab_index, self.shard_counts[0])
        counts = self.shard_counts[1:]
        shard_grid = [-(-g // n) for g, n in zip(self.grid, counts, strict=True)]
        for shard in itertools.product(*(range(n) for n in shard_grid)):
            for inner in itertools.product(*(range(n) for n in counts)):
                coords = tuple(s * n + i for s, n, i in zip(shard, counts, inner, strict=True))
                if all(c < g for c, g in zip(coords, self.grid, strict=True)):
                    slot = int(np.ravel_multi_index((depth, *inner), self.shard_counts))
                    yield ChunkPlacement((row, *shard), slot, coords)

    @property
    def frame_grid(self) -> tuple[int, ...]:
        """Chunks across a frame, along each frame dimension."""
        return self.grid[len(self.grid) - self.frame_ndim :]

    @property
    def tile_shape(self) -> tuple[int, ...]:
        """A frame's part of one chunk (padded at ragged edges): the chunk's frame dimensions."""
        return self.chunks[self.ndim - self.frame_ndim :]

    def chunk_segments(self) -> dict[tuple[int, ...], list[int]]:
        """Which frame of a slab fills each tile-sized segment of a chunk, by middle grid cell.

        In C order a chunk is ``chunks[0] * prod(middle chunks)`` segments, each one frame's
        tile. ``result[mid_grid][s]`` is the frame (its position in the slab) whose tile is
        segment ``s`` of the chunks at middle grid cell ``mid_grid``; -1 past a ragged edge.

        >>> Layout(shape=(0, 3, 4, 4), chunks=(2, 2, 4, 4), shard_counts=(1, 1, 1, 1)).chunk_segments()
        {(0,): [0, 1, 3, 4], (1,): [2, -1, 5, -1]}
        >>> Layout(shape=(0, 4, 4), chunks=(2, 2, 2), shard_counts=(1, 1, 1)).chunk_segments()
        {(): [0, 1]}
        """
        mid_chunks = self.chunks[1 : self.ndim - self.frame_ndim]
        per_depth = math.prod(mid_chunks)
        segments: dict[tuple[int, ...], list[int]] = {}
        for frame in range(self.frames_per_slab):
            grid, t, inner = self.frame_position(frame)
            offset = int(np.ravel_multi_index(inner, mid_chunks)) if mid_chunks else 0
            segments.setdefault(grid, [-1] * (self.chunks[0] * per_depth))[t * per_depth + offset] = frame
        return segments

    def shard_key(self, shard_coords: tuple[int, ...]) -> str:
        """Key of a shard relative to its array, with zarr's default ``/`` chunk key encoding."""
        return "c/" + "/".join(map(str, shard_coords))

    def empty_index(self) -> np.ndarray:
        """A shard index (offset, nbytes per inner chunk) with every chunk marked empty."""
        return np.full((self.chunks_per_shard, 2), EMPTY_ENTRY, dtype="<u8")
