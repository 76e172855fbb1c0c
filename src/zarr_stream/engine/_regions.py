"""Compressed chunks written in place: a region of the shard file for each chunk of a slab.

A slab comes as runs of frames (one frame, or a few whose tiles make one bigger block):
each run's compression gives one block of each chunk of the slab. A chunk's blocks go into
its region of its shard file, one after another, in any order: a Blosc chunk is a header,
a table of each block's offset, then the blocks, and Blosc finds each block by its offset,
so blocks may lie anywhere after the header, with gaps between them.

When regions are planned. Big slabs plan them once a quarter of their runs are compressed,
sized for the blocks so far plus those still to come, at their mean size plus a margin:
blocks then go to disk while later frames compress, and ``close()`` waits for less (a
sixth of a zstd stream's time when written whole at the end). A quarter, not more: the
blocks held until then are memory that must be faulted in anew each slab. Smaller slabs
plan when they are whole (exact sizes), or at a flush. A chunk that outgrows its region
moves to a bigger one at the end of the file.

Versions. The header is written last, when the slab is whole; a ``flush()`` before that
publishes a *version* of each chunk as it stands: its blocks so far, the block of the run
being filled (its frames to come as fill value), and a fill-value block for the runs to
come. A published version must never change (see ``zarr_stream.storage``): a reader
holding its index may read its bytes after the next version is out. So a region keeps a few
*header slots* before its first block, and each version's header takes the next slot out
from the blocks: the version spans from its header to the last byte written so far, and
every byte in it stays as it is, since later blocks go after it and later headers before
it. The provisional blocks a version wrote stay in the region as unused bytes. A chunk that
runs out of slots moves to a new region with twice as many, copying only its real blocks.
A chunk never flushed takes the first slot, next to its blocks.

What a chunk leaves unused of its region is a gap in the shard, which the sharding format
allows (the index says where each chunk starts and how long it is): with the margin below,
a few percent of the shard, mostly holes on disk.
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

__all__ = [
    "FIRST_SLOTS",
    "MARGIN",
    "Blocks",
    "ChunkTiles",
    "SlabPlacer",
    "SlabRuns",
    "region_bytes",
    "run_blocks",
]

Blocks = list[Block]  # one run's block of each chunk (see _stitch), in a frame's tile order

#: Room for a chunk's blocks still to come, over their mean size so far.
MARGIN = 0.05
#: Header slots of a region planned before its slab is whole: one flush's version and the last.
FIRST_SLOTS = 2


class ChunkTiles(NamedTuple):
    """One chunk of a slab: where it goes, its tile in each frame, and its blocks' runs."""

    placement: ChunkPlacement
    tile: int  # the chunk's tile in a frame: its block in a run's list of blocks
    segment_runs: list[int]  # the run (in the slab) of each block; -1 past a ragged edge


def region_bytes(placed: int, blocks_to_come: int, mean_block: float) -> int:
    """Room for a chunk's blocks: ``placed`` bytes so far, and blocks to come of ``mean_block``.

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
    """Where a chunk is being written: header slots, then blocks from ``start``."""

    file: ShardFile
    slots: int  # header slots just before ``start``
    start: int  # where the blocks begin
    capacity: int  # bytes for blocks from ``start``
    starts: np.ndarray  # each real block's offset from ``start``; -1 until written
    sizes: np.ndarray  # each real block's length
    used: int = 0  # bytes written from ``start``: real blocks, and versions' provisional ones
    versions: int = 0  # header slots taken
    fill: int = -1  # offset from ``start`` of the fill-value block the versions share, once written
    stored: bool = False  # some real block is not all fill value
    mean_block: float = 0.0  # of the real blocks written so far


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
        plan_at: int,
        shard_file: Callable[[ChunkPlacement], ShardFile],
    ) -> None:
        super().__init__()
        self._compressor = compressor
        self._chunks = chunks
        self._plan_at = plan_at  # runs compressed before regions are planned (see the module docstring)
        self._shard_file = shard_file
        self._placed = 0  # runs whose blocks are written
        self._regions: list[_Region] | None = None
        self._fill = compressor.block_data(None)

    def place(self, upto: int) -> None:
        """Write the blocks of the first ``upto`` runs once regions are planned; start syncing them."""
        if self._regions is None and upto < self._plan_at:
            return
        batches = self._take(upto)
        regions = self._planned(batches, slots=FIRST_SLOTS)
        for region, batch in zip(regions, batches, strict=True):
            self._write(region, batch)
        for file in {id(r.file): r.file for r in regions}.values():
            file.sync_soon()

    def chunks(self) -> Iterator[tuple[ChunkPlacement, Placed]]:
        """Every stored chunk of the whole slab, its last blocks and header written in place.

        Chunk by chunk, so that the writer can publish a shard as soon as its chunks are
        written. No data sync is started: the shard's own fsync follows.
        """
        return self._versions(None)

    def flush_versions(self, partial: Blocks | None) -> Iterator[tuple[ChunkPlacement, Placed]]:
        """A version of every stored chunk as it stands, for a flush (see the module docstring).

        ``partial`` is the blocks of the run being filled, its frames to come as fill value;
        runs not added yet are fill value. The slab goes on filling afterwards.
        """
        return self._versions([] if partial is None else partial)

    def _versions(self, partial: Blocks | None) -> Iterator[tuple[ChunkPlacement, Placed]]:
        """Write what is not written yet, chunk by chunk, and a version of each stored chunk."""
        flush = partial is not None
        batches = self._take(len(self._runs))
        extra = (
            [self._batch(chunk, [partial], len(self._runs)) for chunk in self._chunks] if partial else None
        )
        regions = self._planned(batches, extra, slots=FIRST_SLOTS if flush else 1)
        for i, (chunk, region) in enumerate(zip(self._chunks, regions, strict=True)):
            self._write(region, batches[i])
            provisional = extra[i] if extra is not None else None
            if region.stored or (provisional is not None and provisional.stored):
                yield chunk.placement, self._version(region, provisional)

    def _take(self, upto: int) -> list[_Batch]:
        """Each chunk's blocks of the runs not written yet, before ``upto``."""
        first, self._placed = self._placed, max(self._placed, upto)
        runs = []
        for run in range(first, upto):
            parts = self._runs[run]
            assert parts is not None
            self._runs[run] = None  # written once taken: its blocks are freed with the batch
            runs.append(run_blocks(parts))
        return [self._batch(chunk, runs, first) for chunk in self._chunks]

    def _batch(self, chunk: ChunkTiles, runs: list[Blocks], first: int) -> _Batch:
        """The chunk's blocks among ``runs`` (runs ``first`` on), in block order."""
        last = first + len(runs)
        segments = [s for s, r in enumerate(chunk.segment_runs) if first <= r < last]
        blocks = [runs[chunk.segment_runs[s] - first][chunk.tile] for s in segments]
        data = [self._compressor.block_data(block) for block in blocks]
        return _Batch(segments, data, sum(len(d) for d in data), any(b is not None for b in blocks))

    def _planned(
        self, batches: list[_Batch], extra: list[_Batch] | None = None, slots: int = 1
    ) -> list[_Region]:
        """The regions, planned now from these first blocks (and a version's) if they are not yet."""
        if self._regions is None:
            versions: list[_Batch | None] = list(extra) if extra is not None else [None] * len(batches)
            self._regions = self._plan(batches, versions, slots)
        return self._regions

    def _plan(self, batches: list[_Batch], extra: list[_Batch | None], slots: int) -> list[_Region]:
        """A region at the end of its shard file for each chunk, from its first blocks."""
        sizes = [b.nbytes + (e.nbytes if e else 0) for b, e in zip(batches, extra, strict=True)]
        counts = [
            len(b.segments) + (len(e.segments) if e else 0) for b, e in zip(batches, extra, strict=True)
        ]
        overall = sum(sizes) / max(1, sum(counts))  # for chunks with no block yet
        regions = []
        for chunk, batch, version, size, count in zip(
            self._chunks, batches, extra, sizes, counts, strict=True
        ):
            blocks = len(chunk.segment_runs)
            mean = size / count if count else overall
            room = region_bytes(batch.nbytes, blocks - len(batch.segments), mean)
            if version is not None:  # a flush's version: its provisional blocks, and the fill block
                room += version.nbytes + len(self._fill)
            file = self._shard_file(chunk.placement)
            header = self._compressor.header_bytes(blocks)
            start = file.reserve(slots * header + room) + slots * header
            empty = np.full(blocks, -1, np.int64)
            regions.append(
                _Region(file, slots, start, room, empty, np.zeros(blocks, np.int64), mean_block=mean)
            )
        return regions

    def _write(self, region: _Region, batch: _Batch) -> None:
        """Write a chunk's real blocks after what its region holds."""
        if not batch.segments:
            return
        if region.used + batch.nbytes > region.capacity:
            real = int((region.starts >= 0).sum())
            body = int(region.sizes[region.starts >= 0].sum())
            region.mean_block = max(region.mean_block, (body + batch.nbytes) / (real + len(batch.segments)))
            to_come = int((region.starts < 0).sum()) - len(batch.segments)
            self._move(region, region.slots, batch.nbytes, to_come)
        offset = region.used
        for segment, block in zip(batch.segments, batch.data, strict=True):
            region.starts[segment] = offset
            region.sizes[segment] = len(block)
            offset += len(block)
        region.file.write_at(region.start + region.used, batch.data)
        region.used = offset
        region.stored = region.stored or batch.stored
        placed = int((region.starts >= 0).sum())
        region.mean_block = float(region.sizes[region.starts >= 0].sum()) / placed

    def _version(self, region: _Region, provisional: _Batch | None) -> Placed:
        """Write a header for the chunk as it stands into the region's next slot; where it lies.

        Blocks not written yet get the block of ``provisional`` (the run being filled), or
        the fill block. Both are written after everything in the region, and stay there.
        """
        extra = provisional.nbytes if provisional is not None else 0
        taken = set(provisional.segments) if provisional is not None else set()
        missing = [s for s in np.flatnonzero(region.starts < 0).tolist() if s not in taken]
        fill = len(self._fill) if missing and region.fill < 0 else 0
        if region.versions == region.slots or region.used + extra + fill > region.capacity:
            # room for as many more versions as the new region has slots: flushes come again
            slots = 2 * region.slots if region.versions == region.slots else region.slots
            self._move(region, slots, slots * extra, int((region.starts < 0).sum()))
            fill = len(self._fill) if missing else 0
        starts = region.starts.copy()  # where the real blocks are (a move changed that)
        parts: list[Buffer] = []
        offset = region.used
        if provisional is not None:
            for segment, block in zip(provisional.segments, provisional.data, strict=True):
                starts[segment] = offset
                offset += len(block)
            parts += provisional.data
        if fill:
            region.fill = offset
            offset += fill
            parts.append(self._fill)
        starts[missing] = region.fill
        if parts:
            region.file.write_at(region.start + region.used, parts)
        region.used = offset
        region.versions += 1
        lead = region.versions * self._compressor.header_bytes(len(starts))  # header to first block
        region.file.write_at(
            region.start - lead, [self._compressor.header(starts + lead, lead + region.used)]
        )
        return Placed(region.start - lead, lead + region.used)

    def _move(self, region: _Region, slots: int, room: int, to_come: int) -> None:
        """Move a chunk to a new region at the end of its file, with ``slots`` header slots.

        The new region holds its real blocks (only those are copied: what versions wrote
        stays behind, for them), ``room`` more bytes, ``to_come`` blocks of the mean size
        with the margin, and a fill block.
        """
        real = np.flatnonzero(region.starts >= 0)
        body = int(region.sizes[real].sum())
        capacity = region_bytes(body + room, max(0, to_come), region.mean_block) + len(self._fill)
        header = self._compressor.header_bytes(len(region.starts))
        start = region.file.reserve(slots * header + capacity) + slots * header
        if len(real):
            old = memoryview(region.file.read_at(region.start, region.used))
            region.file.write_at(
                start, [old[region.starts[s] : region.starts[s] + region.sizes[s]] for s in real.tolist()]
            )
            region.starts[real] = np.concatenate(([0], np.cumsum(region.sizes[real])[:-1]))
        region.slots, region.start, region.capacity, region.used = slots, start, capacity, body
        region.versions, region.fill = 0, -1
