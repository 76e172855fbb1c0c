"""Compressed chunks written in place while their slab fills: a region of the shard for each.

A shard's chunks lie one after another, and a compressed chunk's size is known only once
its last block is: written whole, all of a slab's chunks wait for its last frame and reach
the disk at once, and ``close()`` waits for the last slab's bytes to get there (a sixth of
a zstd stream's time).

A slab comes as runs of frames (one frame, or a few whose tiles make one bigger block):
each run's compression gives one block of each chunk of the slab. Once a quarter of a
slab's runs are compressed, every chunk of the slab gets a region at the end of its shard
file, sized for its blocks so far plus those still to come, at their mean size plus a
margin. Blocks go into their regions as their runs are compressed, and the disk takes them
while later frames compress. A quarter, not more: the blocks held until then are memory
that must be faulted in anew each slab, and bytes that reach the disk late. Each block's
offset goes into the chunk's Blosc header, written last at the region's start:
Blosc finds blocks by those offsets, so they may come in any order. A chunk that
outgrows its region moves to a bigger one at the end of the file.

What a chunk leaves unused of its region is a gap in the shard, which the sharding format
allows (the index says where each chunk starts and how long it is): with the margin below,
a few percent of the shard. Writing needs a shard file that ``writes_in_place``; other
stores get whole chunks (:class:`zarr_stream.engine._tiles.HeldBlocks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from zarr_stream.engine._encode import Placed
from zarr_stream.engine._layout import ChunkPlacement
from zarr_stream.engine._stitch import Block, BlockCompressor
from zarr_stream.storage import Buffer, ShardFile

__all__ = ["MARGIN", "Blocks", "ChunkTiles", "SlabPlacer", "SlabRuns", "region_bytes", "run_blocks"]

Blocks = list[Block]  # one run's block of each chunk (see _stitch), in a frame's tile order

#: Room for a chunk's blocks still to come, over their mean size so far.
MARGIN = 0.05


class ChunkTiles(NamedTuple):
    """One chunk of a slab: where it goes, its tile in each frame, and its blocks' runs."""

    placement: ChunkPlacement
    tile: int  # the chunk's tile in a frame: its block in a run's list of blocks
    segment_runs: list[int]  # the run (in the slab) of each block; -1 past a ragged edge


def region_bytes(placed: int, blocks_to_come: int, mean_block: float) -> int:
    """Room for a chunk that holds ``placed`` bytes (header included) and has blocks to come.

    >>> region_bytes(1000, 10, 100.0)
    2050
    """
    return placed + math.ceil(blocks_to_come * mean_block * (1 + MARGIN))


class _Batch(NamedTuple):
    """A chunk's blocks from some runs: block numbers, bytes as stored, their total."""

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


class SlabRuns:
    """A slab's runs of frames as the caller adds them: each one's compression, under way or done.

    A run is compressed in parts (Blosc calls), each giving the blocks of some chunks.
    """

    def __init__(self) -> None:
        self._runs: list[Sequence[Future[Blocks]] | None] = []  # None once its blocks are written

    @property
    def runs(self) -> int:
        """Runs added so far."""
        return len(self._runs)

    def add(self, parts: Sequence[Future[Blocks]]) -> None:
        self._runs.append(parts)

    def release(self) -> None:
        """Wait for compression still going (its run buffers come back then)."""
        wait([part for parts in self._runs if parts is not None for part in parts])


def run_blocks(parts: Sequence[Future[Blocks]]) -> Blocks:
    """A run's blocks, in tile order, once each of its parts is compressed."""
    return [block for part in parts for block in part.result()]


class SlabPlacer(SlabRuns):
    """One slab's chunks, written in place as its runs come (see the module docstring).

    The caller thread adds each run's compression; everything else runs on the writer
    thread, or on the caller's once the writer is idle (a flush).
    """

    def __init__(
        self,
        compressor: BlockCompressor,
        chunks: Sequence[ChunkTiles],
        runs_per_slab: int,
        shard_file: Callable[[ChunkPlacement], ShardFile],
    ) -> None:
        super().__init__()
        self._compressor = compressor
        self._chunks = chunks
        self._plan_at = max(1, runs_per_slab // 4)  # see the module docstring
        self._shard_file = shard_file
        self._placed = 0  # runs whose blocks are written
        self._regions: list[_Region] | None = None

    def place(self, upto: int) -> None:
        """Write the blocks of the first ``upto`` runs once regions are planned; start syncing them."""
        if self._regions is None and upto < self._plan_at:
            return
        self._place(upto)
        assert self._regions is not None
        for file in {id(r.file): r.file for r in self._regions}.values():
            file.sync_soon()

    def _place(self, upto: int) -> None:
        if upto <= self._placed:
            return
        first, self._placed = self._placed, upto
        runs = [self._take(r) for r in range(first, upto)]
        batches = [self._batch(chunk, runs, first) for chunk in self._chunks]
        if self._regions is None:
            self._regions = self._plan(batches)
        for region, batch in zip(self._regions, batches, strict=True):
            self._write(region, batch)

    def chunks(self, partial: Blocks | None = None) -> Iterator[tuple[ChunkPlacement, Placed]]:
        """Every stored chunk as it stands: ``partial`` is the blocks of the run being filled
        (its frames to come as fill value), and runs not yet added are fill value.

        Writes the headers, and the blocks not written yet, in place, then yields each chunk.
        No data sync is started: the shard's own fsync, or the snapshot's, follows.
        """
        self._place(len(self._runs))
        extra = None
        if partial is not None:
            extra = [self._batch(chunk, [partial], len(self._runs)) for chunk in self._chunks]
            if self._regions is None:
                self._regions = self._plan(extra)
        if self._regions is None:  # no frame at all
            return
        zero = self._compressor.block_data(None)
        for i, (chunk, region) in enumerate(zip(self._chunks, self._regions, strict=True)):
            missing = np.flatnonzero(region.starts < 0)
            tail = dict.fromkeys(missing.tolist(), zero)
            stored = region.stored
            if extra is not None:
                tail.update(zip(extra[i].segments, extra[i].data, strict=True))
                stored = stored or extra[i].stored
            if not stored:
                continue
            sizes = [len(data) for data in tail.values()]
            if region.used + sum(sizes) > region.capacity:
                self._move(region, sum(sizes), len(missing), 0)
            starts = region.starts.copy()  # blocks not written yet come after the rest: not kept
            starts[missing] = region.used + np.cumsum([0, *sizes])[:-1]
            total = region.used + sum(sizes)
            if tail:
                region.file.write_at(region.start + region.used, list(tail.values()))
            region.file.write_at(region.start, [self._compressor.header(starts, total)])
            yield chunk.placement, Placed(region.start, total)

    def _take(self, run: int) -> Blocks:
        parts = self._runs[run]
        assert parts is not None
        self._runs[run] = None  # written once taken: its blocks are freed with the batch
        return run_blocks(parts)

    def _batch(self, chunk: ChunkTiles, runs: list[Blocks], first: int) -> _Batch:
        """The chunk's blocks among ``runs`` (runs ``first`` on), in block order."""
        last = first + len(runs)
        segments = [s for s, r in enumerate(chunk.segment_runs) if first <= r < last]
        blocks = [runs[chunk.segment_runs[s] - first][chunk.tile] for s in segments]
        data = [self._compressor.block_data(block) for block in blocks]
        return _Batch(segments, data, sum(len(d) for d in data), any(b is not None for b in blocks))

    def _plan(self, batches: list[_Batch]) -> list[_Region]:
        """A region at the end of its shard file for each chunk, from its first blocks."""
        sizes = [batch.nbytes for batch in batches]
        counts = [len(batch.segments) for batch in batches]
        overall = sum(sizes) / max(1, sum(counts))  # for chunks with no block yet
        regions = []
        for chunk, size, count in zip(self._chunks, sizes, counts, strict=True):
            blocks = len(chunk.segment_runs)
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
