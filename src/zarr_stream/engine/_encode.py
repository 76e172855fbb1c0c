"""Frames -> encoded chunks, in the zarr ``sharding_indexed`` format, and the shard index.

Inner codecs are ``bytes`` (little endian) then optionally ``blosc`` or ``zstd``; the shard
index is ``bytes`` + ``crc32c`` and sits at the end of the shard. numcodecs'
Blosc and Zstd release the GIL, so chunks encode in parallel on a thread pool.

Two encodings hand the writer the same thing, an ``EncodedSlab``:
``SlabEncoding`` (here) buffers raw slabs and encodes whole chunks;
``TileEncoding`` compresses frame tiles as they arrive.

What a flush publishes is never written again (see ``zarr_stream.storage``). The chunks
of a slab being filled that a flush encodes are kept in their shards: compressed ones as
they are (they are stored again, whole, when the slab is), uncompressed ones in a region
that the slab's later writes reuse (``RawRegions``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from typing import Protocol

import crc32c
import numpy as np
from numcodecs import Blosc, Zstd

from zarr_stream.engine._buffer import FrameBuffer, Slab
from zarr_stream.engine._layout import ChunkPlacement, Layout
from zarr_stream.settings import Compression
from zarr_stream.storage import Buffer, ShardFile

__all__ = [
    "ChunkEncoder",
    "EncodedChunk",
    "EncodedSlab",
    "Encoding",
    "Placed",
    "RawRegions",
    "SlabEncoding",
    "blosc_codec",
    "chunk_codec",
    "encode_index",
]


@dataclass(frozen=True, slots=True)
class Placed:
    """A chunk already written into its shard file (see ``zarr_stream.engine._regions``)."""

    offset: int
    nbytes: int


#: One stored chunk: where it goes, and its bytes as parts to write one after the other,
#: or where it already is in its shard file.
EncodedChunk = tuple[ChunkPlacement, Sequence[Buffer] | Placed]


@dataclass(slots=True)
class EncodedSlab:
    """A slab's worth of encoded chunks, for the writer.

    ``chunks`` yields each stored chunk in shard-slot order, waiting for its encoding (chunks
    of fill value only are left out). ``release`` waits for any work still going and frees the
    slab's memory; call it once, after ``chunks`` or instead of it.
    """

    index: int
    chunks: Iterator[EncodedChunk]
    release: Callable[[], None]


class Encoding(Protocol):
    """Frames in, encoded slabs out."""

    @property
    def frames(self) -> int:
        """Frames accepted so far."""

    def write(
        self, frames: np.ndarray, on_full: Callable[[EncodedSlab], None], check: Callable[[], None]
    ) -> None:
        """Take validated frames (``(n, *frame_shape)``); every completed slab goes to ``on_full``."""

    def partial(self) -> EncodedSlab | None:
        """The slab being filled, encoded as it stands (padded with fill value), or None if empty."""

    def start_at(self, slab_index: int) -> None:
        """Before any frame: the first frame taken is the first of slab ``slab_index`` (a resume)."""


_SHUFFLE = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}


def blosc_codec(compression: Compression, blocksize: int = 0) -> Blosc:
    """numcodecs' Blosc for ``compression``; ``blocksize`` 0 lets Blosc choose."""
    return Blosc(
        cname=compression.codec,
        clevel=compression.level,
        shuffle=_SHUFFLE[compression.shuffle or "shuffle"],  # None is resolved at construction
        blocksize=blocksize,
    )


def chunk_codec(compression: Compression) -> Blosc | Zstd:
    """numcodecs' codec that writes what zarr's ``blosc`` or ``zstd`` codec for ``compression`` reads."""
    if compression.compressor == "zstd":
        return Zstd(level=compression.level)  # zarr's ZstdCodec: no checksum, as written in zarr.json
    return blosc_codec(compression)


class ChunkEncoder:
    """Encodes one chunk of a chunk-major slab: raw bytes, or compressed.

    Examples
    --------
    >>> import numpy as np
    >>> from zarr_stream.engine._layout import Layout
    >>> lay = Layout(shape=(0, 5), chunks=(2, 4), shard_counts=(1, 2))
    >>> enc = ChunkEncoder(np.dtype("<u2"), None)
    >>> slab = np.ones(lay.buffer_shape, dtype="<u2")
    >>> [len(enc.encode(slab, p) or b"") for p in lay.slab_chunks(0)]
    [16, 16]
    """

    def __init__(self, dtype: np.dtype, compression: Compression | None):
        self._bits = np.dtype(f"<u{dtype.itemsize}")  # compare bit patterns with the fill value 0
        self._codec = None if compression is None else chunk_codec(compression)

    def encode(self, slab: np.ndarray, placement: ChunkPlacement) -> bytes | memoryview | None:
        """Encoded bytes of one chunk, or None when every element equals the fill value.

        Without compression this is a view of the slab, valid until the slab is recycled.
        """
        chunk = slab[placement.grid_coords]  # whole and contiguous: the slab is chunk-major
        if not chunk.view(self._bits).any():
            return None
        if self._codec is None:
            view: memoryview = chunk.data.cast("B")
            return view
        return bytes(self._codec.encode(chunk))


def encode_index(index: np.ndarray) -> bytes:
    """Shard index bytes: little-endian (offset, nbytes) pairs followed by their crc32c."""
    raw = index.astype("<u8", copy=False).tobytes()
    return raw + crc32c.crc32c(raw).to_bytes(4, "little")


class RawRegions:
    """Where flushes wrote the uncompressed chunks of a slab, so that its later writes go there too.

    An uncompressed chunk has a fixed size. A flush writes each stored chunk of the slab being
    filled, whole, into a region of its shard file (its frames to come as fill value); the
    slab's later flushes, and its end, write it there again. Only bytes of frames to come
    change, and no reader looks at those: they lie past the array's shape as that flush
    published it. Unless the flush ended inside a step (a time point of several frames): its
    shape then covers the whole step, the frames to come as fill value, so those regions must
    stay as they are, and the slab's later writes take new ones (``seal``).
    """

    def __init__(self, chunk_bytes: int, shard_file: Callable[[int, ChunkPlacement], ShardFile]) -> None:
        self._chunk_bytes = chunk_bytes
        self._shard_file = shard_file
        self._regions: dict[int, dict[tuple[tuple[int, ...], int], int]] = {}  # slab -> chunk -> offset

    def has(self, slab_index: int) -> bool:
        """Whether a flush wrote chunks of the slab (its later chunks must go through ``write``)."""
        return slab_index in self._regions

    def write(self, slab_index: int, placement: ChunkPlacement, data: Buffer) -> Placed:
        """Write a chunk of the slab into its region (reserved on first use)."""
        regions = self._regions.setdefault(slab_index, {})
        file = self._shard_file(slab_index, placement)
        chunk = (placement.shard_coords[1:], placement.inner_index)
        offset = regions.get(chunk)
        if offset is None:
            offset = regions[chunk] = file.reserve(self._chunk_bytes)
        file.write_at(offset, [data])
        return Placed(offset, self._chunk_bytes)

    def seal(self, slab_index: int) -> None:
        """Keep the regions written so far as they are: later writes of the slab take new ones."""
        if slab_index in self._regions:
            self._regions[slab_index] = {}

    def done(self, slab_index: int) -> None:
        self._regions.pop(slab_index, None)


class SlabEncoding:
    """Frames into raw chunk-major slabs; each full slab's chunks encoded on the pool, in batches."""

    def __init__(
        self,
        layout: Layout,
        dtype: np.dtype,
        compression: Compression | None,
        pool: Executor,
        slabs_in_flight: int,
        batches: int,
        shard_file: Callable[[int, ChunkPlacement], ShardFile],
    ) -> None:
        self._layout = layout
        self._buffer = FrameBuffer(layout, dtype, slabs_in_flight + 1)
        self._encoder = ChunkEncoder(dtype, compression)
        self._pool = pool
        self._batches = batches  # encode tasks per slab: a few per thread, not one per chunk
        # Chunk placements of a slab at each depth of a shard row (row 0; the writer adds the row).
        self._placements = [list(layout.slab_chunks(d)) for d in range(layout.shard_counts[0])]
        chunk_bytes = math.prod(layout.chunks) * dtype.itemsize
        self._raw_regions = RawRegions(chunk_bytes, shard_file) if compression is None else None

    @property
    def frames(self) -> int:
        return self._buffer.frames

    def start_at(self, slab_index: int) -> None:
        self._buffer.start_at(slab_index)

    def write(
        self, frames: np.ndarray, on_full: Callable[[EncodedSlab], None], check: Callable[[], None]
    ) -> None:
        self._buffer.write(frames, lambda slab: on_full(self._encode(slab, recycle=True)), check)

    def partial(self) -> EncodedSlab | None:
        slab = self._buffer.partial()
        if slab is None:
            return None
        encoded = self._encode(slab, recycle=False)
        regions = self._raw_regions
        if regions is not None and slab.filled % self._layout.frames_per_step:  # it ends inside a step
            release = encoded.release

            def release_and_seal() -> None:
                release()
                regions.seal(slab.index)

            encoded.release = release_and_seal
        return encoded

    def _encode(self, slab: Slab, recycle: bool) -> EncodedSlab:
        placements = self._placements[slab.index % self._layout.shard_counts[0]]
        size = -(-len(placements) // self._batches)
        batches = deque(
            self._pool.submit(self._encode_batch, slab.data, placements[start : start + size])
            for start in range(0, len(placements), size)
        )
        regions = self._raw_regions
        in_regions = regions is not None and (not recycle or regions.has(slab.index))

        def chunks() -> Iterator[EncodedChunk]:
            while batches:
                for placement, data in batches.popleft().result():  # each batch dropped once consumed
                    if data is None:
                        continue
                    if in_regions:
                        assert regions is not None
                        yield placement, regions.write(slab.index, placement, data)
                    else:
                        yield placement, (data,)

        def release() -> None:
            wait(batches)
            if recycle:
                if regions is not None:
                    regions.done(slab.index)
                self._buffer.release(slab.data)

        return EncodedSlab(slab.index, chunks(), release)

    def _encode_batch(
        self, data: np.ndarray, placements: list[ChunkPlacement]
    ) -> list[tuple[ChunkPlacement, Buffer | None]]:
        return [(placement, self._encoder.encode(data, placement)) for placement in placements]
