"""One Blosc chunk assembled from blocks compressed elsewhere. Bytes only, no I/O.

A Blosc chunk (the 1.x format that zarr's ``blosc`` codec reads) is a 16-byte header,
a table of int32 block offsets, then the blocks, each compressed on its own. So the parts
of several chunks laid side by side (a frame's tile of each, or a run of frames' tiles of
each), compressed in one Blosc call whose block size is one such part, yield one block of
each of those chunks: a chunk is stitched from its blocks without its raw bytes ever
being held together.

Tiles that Blosc could not compress come back "memcpyed" (raw bytes, not shuffled,
after the header). Inside a compressed chunk such a tile becomes a stored block: its
shuffled bytes behind a length equal to the block size, which is how Blosc itself
stores a block it cannot compress. A chunk whose tiles are all raw is written
memcpyed as a whole.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Sequence

import numpy as np

from zarr_stream.engine._encode import blosc_codec
from zarr_stream.settings import Compression
from zarr_stream.storage import Buffer

__all__ = ["BlockCompressor", "bitshuffle", "byteshuffle"]

HEADER = 16
_MEMCPYED = 0x02
_DONT_SPLIT = 0x10
_MAX_SPLITS = 16  # Blosc splits a block into typesize streams only up to this typesize
_MIN_SPLIT_STREAM = 128  # ... and only when each stream is at least this long


def byteshuffle(raw: bytes | memoryview, typesize: int) -> bytes:
    """Blosc's byte shuffle: byte j of every element, for j = 0 .. typesize - 1.

    >>> byteshuffle(bytes([1, 2, 3, 4, 5, 6]), 2)
    b'\\x01\\x03\\x05\\x02\\x04\\x06'
    """
    return np.frombuffer(raw, np.uint8).reshape(-1, typesize).T.tobytes()


def bitshuffle(raw: bytes | memoryview, typesize: int, version: int = 2) -> bytes:
    """Blosc's bit shuffle: bit b of byte j of every element, packed 8 elements a byte.

    With fewer than a multiple of 8 elements, the Blosc 1 chunk format (``version`` 2)
    leaves the block as it is; later formats shuffle the whole 8s and leave the rest.

    >>> bitshuffle(bytes([1, 0, 1, 0, 1, 0, 1, 0]), 1).hex()
    '5500000000000000'
    """
    data = np.frombuffer(raw, np.uint8)
    whole = len(data) // typesize // 8 * 8
    if version <= 2 and whole * typesize != len(data):
        return bytes(data)
    head = data[: whole * typesize].reshape(whole, typesize)
    bits = np.unpackbits(head, axis=1, bitorder="little")  # column j*8+b: bit b of byte j
    return np.packbits(bits.T, axis=1, bitorder="little").tobytes() + data[whole * typesize :].tobytes()


#: One tile as a block of a chunk: ``(bytes, raw)``, raw meaning the tile's own bytes (its
#: frame did not compress) rather than a block as a compressed chunk stores it; None when
#: the tile is all fill value.
Block = tuple[memoryview, bool] | None
_MIN_BLOCK = 128  # Blosc's smallest block: it raises a smaller forced block size to this
_CALL_BYTES = 8 << 20  # tiles per Blosc call: few calls, each output buffer under the threshold below
_MMAP_THRESHOLD = 31 << 20  # below glibc's 32 MiB cap on its adaptive mmap threshold


@functools.cache
def _keep_output_buffers_on_the_heap() -> None:
    """Have glibc serve Blosc's per-call output buffers (up to ``_CALL_BYTES``) from its heap.

    numcodecs allocates each call's output anew. Above glibc's mmap threshold (128 KiB at
    start) every allocation is a fresh mapping, so every compressed byte written costs a
    page fault: a tenth of the CPU time of a zstd stream. glibc raises the threshold to
    the size of any mapped block freed (mallopt(3), "dynamic mmap threshold"): free one
    once. Elsewhere than glibc this allocates and frees 31 MiB of untouched memory.
    """
    bytes(_MMAP_THRESHOLD)  # calloc'd, so mapped zero pages never touched; freed at once


class BlockCompressor:
    """Compresses tiles of ``block_bytes`` into Blosc blocks and stitches them into chunks.

    Examples
    --------
    >>> from numcodecs import Blosc
    >>> from zarr_stream.settings import Compression
    >>> bc = BlockCompressor(Compression(codec="zstd", level=1), np.dtype("<u2"), 256)
    >>> tiles = (np.arange(3 * 128).reshape(3, 128) * [[0], [1], [2]]).astype("<u2")
    >>> blocks = bc.compress(tiles)
    >>> blocks[0] is None  # all zero: the fill value
    True
    >>> chunk = b"".join(bc.assemble(blocks))
    >>> bool((np.frombuffer(Blosc().decode(chunk), "<u2") == tiles.reshape(-1)).all())
    True
    """

    def __init__(self, compression: Compression, dtype: np.dtype, block_bytes: int) -> None:
        self.block_bytes = block_bytes
        self._typesize = dtype.itemsize
        self._shuffle = compression.shuffle
        self._codec = blosc_codec(compression, blocksize=block_bytes)
        zero = memoryview(bytes(self._codec.encode(np.zeros(block_bytes // self._typesize, dtype))))
        raw = bool(zero[2] & _MEMCPYED)  # level 0, or too small a tile to compress
        self._template = bytes(zero[:HEADER])  # header flags as any chunk of these settings has them
        self._zero: tuple[memoryview, bool] = (zero[HEADER:], True) if raw else (zero[HEADER + 4 :], False)
        # Blosc makes blocks of at least 128 bytes: smaller tiles are compressed one a call.
        self.blocks_per_call = 1 if block_bytes < _MIN_BLOCK else max(1, _CALL_BYTES // block_bytes)
        _keep_output_buffers_on_the_heap()

    def compress(self, tiles: np.ndarray) -> list[Block]:
        """Each row of the contiguous 2-D ``tiles`` (``block_bytes`` each) as a block.

        A few Blosc calls (``blocks_per_call`` rows each), not one per row: Blosc splits its
        input into blocks itself.
        """
        blocks: list[Block] = []
        for start in range(0, len(tiles), self.blocks_per_call):
            blocks += self._compress(tiles[start : start + self.blocks_per_call])
        return blocks

    def assemble(self, blocks: Sequence[Block]) -> list[Buffer] | None:
        """The parts of the chunk made of ``blocks`` in order.

        None when every block is fill value: the chunk need not be stored.
        """
        if all(block is None for block in blocks):
            return None
        count = len(blocks)
        filled = [self._zero if block is None else block for block in blocks]
        if all(raw for _, raw in filled):  # nothing compressed: the chunk stored raw, as Blosc would
            body = [data for data, _ in filled]
            return [self._header(count, HEADER + count * self.block_bytes, memcpyed=True), *body]
        stored = [self.block_data(block) for block in blocks]
        sizes = np.fromiter((len(s) for s in stored), np.int64, count)
        starts = self.header_bytes(count) + np.concatenate(([0], np.cumsum(sizes[:-1])))
        return [self.header(starts, self.header_bytes(count) + int(sizes.sum())), *stored]

    def header_bytes(self, blocks: int) -> int:
        """Size of the header of a compressed chunk of ``blocks`` blocks: its start."""
        return HEADER + 4 * blocks

    def header(self, starts: np.ndarray, total: int) -> bytes:
        """Header of a compressed chunk of ``total`` bytes whose blocks start at ``starts``.

        Blocks may lie anywhere after the header, in any order: Blosc finds each by its start.
        """
        return self._header(len(starts), total, memcpyed=False) + starts.astype("<i4").tobytes()

    def block_data(self, block: Block) -> Buffer:
        """The bytes of ``block`` as a compressed chunk holds it (fill value for None)."""
        data, raw = self._zero if block is None else block
        return self._stored(data) if raw else data

    def _compress(self, tiles: np.ndarray) -> list[Block]:
        chunk = memoryview(self._codec.encode(tiles))
        size = self.block_bytes
        if chunk[2] & _MEMCPYED:  # rare (noise): check each tile for fill value by its bytes
            raw = np.frombuffer(chunk, np.uint8, len(tiles) * size, HEADER).reshape(len(tiles), size)
            filled = np.any(raw, axis=1)
            return [
                (chunk[HEADER + i * size : HEADER + (i + 1) * size], True) if filled[i] else None
                for i in range(len(tiles))
            ]
        blocksize, cbytes = struct.unpack_from("<II", chunk, 8)
        if blocksize != size and len(tiles) > 1:  # Blosc cut other blocks: one tile a call, then
            return [block for tile in tiles for block in self._compress(tile[None])]
        starts = np.frombuffer(chunk, "<i4", len(tiles), HEADER).tolist()
        bounds = [*sorted(starts), cbytes]  # in order when compressed serially, but need not be
        end = dict(itertools.pairwise(bounds))
        blocks = (chunk[start : end[start]] for start in starts)
        zero = self._zero[0]
        return [None if block == zero else (block, False) for block in blocks]

    def _header(self, blocks: int, total: int, memcpyed: bool) -> bytes:
        head = bytearray(self._template)
        head[2] = head[2] | _MEMCPYED if memcpyed else head[2] & ~_MEMCPYED
        struct.pack_into("<III", head, 4, blocks * self.block_bytes, self.block_bytes, total)
        return bytes(head)

    def _stored(self, raw: memoryview) -> bytes:
        """A raw tile as a block of a compressed chunk: its shuffled bytes, stored."""
        if self._shuffle == "shuffle" and self._typesize > 1:
            shuffled = byteshuffle(raw, self._typesize)
        elif self._shuffle == "bitshuffle":
            shuffled = bitshuffle(raw, self._typesize, self._template[0])
        else:
            shuffled = bytes(raw)
        split = (
            not self._template[2] & _DONT_SPLIT
            and self._typesize <= _MAX_SPLITS
            and self.block_bytes // self._typesize >= _MIN_SPLIT_STREAM
        )
        streams = self._typesize if split else 1
        size = self.block_bytes // streams
        length = struct.pack("<i", size)
        return b"".join(length + shuffled[j * size : (j + 1) * size] for j in range(streams))
