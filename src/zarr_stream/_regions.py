"""Compressed chunks written in place while their slab fills: a region of the shard for each.

A shard's chunks lie one after another, and a compressed chunk's size is known only once
its last block is: written whole, all of a slab's chunks wait for its last frame and reach
the disk at once, and ``close()`` waits for the last slab's bytes to get there (a sixth of
a zstd stream's time).

Instead, once half of a slab's frames are compressed, every chunk of the slab gets a
region at the end of its shard file, sized for its blocks so far plus as many again as
are still to come, at their mean size plus a margin. Blocks go into their regions as
their frames are compressed, and the disk takes them while later frames compress. Each
block's offset goes into the chunk's Blosc header, written last at the region's start:
Blosc finds blocks by those offsets, so they may come in any order. A chunk that
outgrows its region moves to a bigger one at the end of the file.

What a chunk leaves unused of its region is a gap in the shard, which the sharding format
allows (the index says where each chunk starts and how long it is): with the margin below,
a few percent of the shard. Writing needs a shard file that ``writes_in_place``; other
stores get whole chunks (:class:`zarr_stream._tiles.HeldBlocks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from zarr_stream._encode import Placed
from zarr_stream._layout import ChunkPlacement
from zarr_stream._stitch import Block, BlockCompressor
from zarr_stream.storage import Buffer, ShardFile

__all__ = ["MARGIN", "Blocks", "ChunkTiles", "SlabFrames", "SlabPlacer", "region_bytes"]

Blocks = list[Block]  # one frame's tiles, compressed

#: Room for a chunk's blocks still to come, over their mean size so far.
MARGIN = 0.05


class ChunkTiles(NamedTuple):
    """One chunk of a slab: where it goes, its tile in each frame, and its blocks' frames."""

    placement: ChunkPlacement
    tile: int  # the chunk's tile in a frame's list of blocks
    segment_frames: list[int]  # the frame (in the slab) of each block; -1 past a ragged edge


def region_bytes(placed: int, blocks_to_come: int, mean_block: float) -> int:
    """Room for a chunk that holds ``placed`` bytes (header included) and has blocks to come.

    >>> region_bytes(1000, 10, 100.0)
    2050
    """
    return placed + math.ceil(blocks_to_come * mean_block * (1 + MARGIN))


class _Batch(NamedTuple):
    """A chunk's blocks from a run of frames: block numbers, bytes as stored, their total."""

    segments: list[int]
    data: list[Buffer]
    nbytes: int
    stored: bool  # some block is not all fill value


@dataclass(slots=True)
class _Region:
    """Where a chunk is being written: ``used`` bytes from ``start`` (header first) of ``capacity``."""

    file: ShardFile
    start: int
    capacity: int
    used: int
    starts: np.ndarray  # each block's offset in the chunk; -1 until it is written
    stored: bool = False  # some block is not all fill value: the chunk is stored
    mean_block: float = 0.0  # of the blocks written so far


class SlabFrames:
    """A slab's frames as the caller adds them: each one's compression, under way or done."""

    def __init__(self) -> None:
        self._frames: list[Future[Blocks] | None] = []  # None once its blocks are written

    @property
    def frames(self) -> int:
        """Frames added so far."""
        return len(self._frames)

    def add(self, frame: Future[Blocks]) -> None:
        self._frames.append(frame)

    def release(self) -> None:
        """Wait for compression still going (its frame buffers come back then)."""
        wait([frame for frame in self._frames if frame is not None])


class SlabPlacer(SlabFrames):
    """One slab's chunks, written in place as its frames come (see the module docstring).

    The caller thread adds each frame's compression; everything else runs on the writer
    thread, or on the caller's once the writer is idle (a flush).
    """

    def __init__(
        self,
        compressor: BlockCompressor,
        chunks: Sequence[ChunkTiles],
        frames_per_slab: int,
        shard_file: Callable[[ChunkPlacement], ShardFile],
    ) -> None:
        super().__init__()
        self._compressor = compressor
        self._chunks = chunks
        self._plan_at = max(1, frames_per_slab // 2)
        self._shard_file = shard_file
        self._placed = 0  # frames whose blocks are written
        self._regions: list[_Region] | None = None

    def place(self, upto: int, now: bool = False) -> None:
        """Write the blocks of the first ``upto`` frames; before half the slab is in, only if ``now``."""
        if upto <= self._placed or (self._regions is None and upto < self._plan_at and not now):
            return
        first, self._placed = self._placed, upto
        frames = [self._take(f) for f in range(first, upto)]
        batches = [self._batch(chunk, frames, first) for chunk in self._chunks]
        if self._regions is None:
            self._regions = self._plan(batches)
        for region, batch in zip(self._regions, batches, strict=True):
            self._write(region, batch)
        for file in {id(r.file): r.file for r in self._regions}.values():
            file.sync_soon()

    def chunks(self) -> Iterator[tuple[ChunkPlacement, Placed]]:
        """Every stored chunk as it stands, frames not yet added as fill value.

        Writes the headers (and the fill-value blocks) in place, then yields each chunk.
        """
        self.place(len(self._frames), now=True)
        if self._regions is None:  # no frame at all
            return
        zero = self._compressor.block_data(None)
        for chunk, region in zip(self._chunks, self._regions, strict=True):
            if not region.stored:
                continue
            missing = np.flatnonzero(region.starts < 0)
            if region.used + len(missing) * len(zero) > region.capacity:
                self._move(region, len(missing) * len(zero), len(missing), 0)
            starts = region.starts.copy()  # missing blocks come after what is written: not kept
            starts[missing] = region.used + np.arange(len(missing)) * len(zero)
            total = region.used + len(missing) * len(zero)
            if len(missing):
                region.file.write_at(region.start + region.used, [zero] * len(missing))
            region.file.write_at(region.start, [self._compressor.header(starts, total)])
            yield chunk.placement, Placed(region.start, total)

    def _take(self, frame: int) -> Blocks:
        future = self._frames[frame]
        assert future is not None
        self._frames[frame] = None  # written once taken: its blocks are freed with the batch
        return future.result()

    def _batch(self, chunk: ChunkTiles, frames: list[Blocks], first: int) -> _Batch:
        """The chunk's blocks among ``frames`` (frames ``first`` on)."""
        last = first + len(frames)
        segments = [s for s, f in enumerate(chunk.segment_frames) if first <= f < last]
        blocks = [frames[chunk.segment_frames[s] - first][chunk.tile] for s in segments]
        data = [self._compressor.block_data(block) for block in blocks]
        return _Batch(segments, data, sum(len(d) for d in data), any(b is not None for b in blocks))

    def _plan(self, batches: list[_Batch]) -> list[_Region]:
        """A region at the end of its shard file for each chunk, from its first blocks."""
        sizes = [batch.nbytes for batch in batches]
        counts = [len(batch.segments) for batch in batches]
        overall = sum(sizes) / max(1, sum(counts))  # for chunks with no block yet
        regions = []
        for chunk, size, count in zip(self._chunks, sizes, counts, strict=True):
            blocks = len(chunk.segment_frames)
            header = self._compressor.header_bytes(blocks)
            mean = size / count if count else overall
            capacity = region_bytes(header + size, blocks - count, mean)
            file = self._shard_file(chunk.placement)
            starts = np.full(blocks, -1, np.int64)
            regions.append(_Region(file, file.reserve(capacity), capacity, header, starts, mean_block=mean))
        return regions

    def _write(self, region: _Region, batch: _Batch) -> None:
        if not batch.segments:
            return
        if region.used + batch.nbytes > region.capacity:
            to_come = int((region.starts < 0).sum()) - len(batch.segments)
            self._move(region, batch.nbytes, len(batch.segments), to_come)
        offset = region.used
        for segment, block in zip(batch.segments, batch.data, strict=True):
            region.starts[segment] = offset
            offset += len(block)
        region.file.write_at(region.start + region.used, batch.data)
        region.used = offset
        region.stored = region.stored or batch.stored

    def _move(self, region: _Region, incoming: int, incoming_blocks: int, to_come: int) -> None:
        """Move a chunk that outgrew its region to a new one at the end of its file."""
        header = self._compressor.header_bytes(len(region.starts))
        placed = int((region.starts >= 0).sum()) + incoming_blocks
        body = region.used - header
        region.mean_block = max(region.mean_block, (body + incoming) / max(1, placed))
        capacity = region_bytes(region.used + incoming, to_come, region.mean_block)
        start = region.file.reserve(capacity)
        if body:
            region.file.write_at(start + header, [region.file.read_at(region.start + header, body)])
        region.start, region.capacity = start, capacity
