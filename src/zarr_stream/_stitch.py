"""One Blosc chunk assembled from blocks compressed one at a time. Bytes only, no I/O.

A Blosc chunk (the 1.x format that zarr's ``blosc`` codec reads) is a 16-byte header,
a table of int32 block offsets, then the blocks, each compressed on its own. So a
frame's tile of a chunk, compressed as a one-block Blosc buffer whose block size is
the tile size, *is* one block of the chunk: a chunk is stitched from its tiles'
blocks without its raw bytes ever being held together.

A tile that Blosc could not compress comes back "memcpyed" (raw bytes, not shuffled,
after the header). Inside a compressed chunk such a tile becomes a stored block: its
shuffled bytes behind a length equal to the block size, which is how Blosc itself
stores a block it cannot compress. A chunk whose tiles are all memcpyed is written
memcpyed as a whole.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from zarr_stream._encode import blosc_codec
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


class BlockCompressor:
    """Compresses tiles of ``block_bytes`` into Blosc blocks and stitches them into chunks.

    Examples
    --------
    >>> from numcodecs import Blosc
    >>> from zarr_stream.settings import Compression
    >>> bc = BlockCompressor(Compression(codec="zstd", level=1), np.dtype("<u2"), 64)
    >>> tiles = [np.arange(32, dtype="<u2") * k for k in range(3)]
    >>> blocks = [bc.compress(t) for t in tiles]
    >>> blocks[0] is None  # all zero: the fill value
    True
    >>> chunk = b"".join(bc.assemble(blocks))
    >>> bool((np.frombuffer(Blosc().decode(chunk), "<u2") == np.concatenate(tiles)).all())
    True
    """

    def __init__(self, compression: Compression, dtype: np.dtype, block_bytes: int) -> None:
        self.block_bytes = block_bytes
        self._typesize = dtype.itemsize
        self._shuffle = compression.shuffle
        self._codec = blosc_codec(compression, blocksize=block_bytes)
        self._zero = self._encode(np.zeros(block_bytes // self._typesize, dtype))

    def compress(self, tile: np.ndarray) -> bytes | None:
        """The one-block Blosc buffer of a contiguous tile, or None when it is all fill value (0)."""
        encoded = self._encode(tile)
        return None if encoded == self._zero else encoded  # lossless: equal bytes, equal tiles

    def assemble(self, blocks: Sequence[bytes | None]) -> list[Buffer] | None:
        """The parts of the chunk made of ``blocks`` in order (None: a fill-value tile).

        None when every block is fill value: the chunk need not be stored.
        """
        if all(block is None for block in blocks):
            return None
        buffers = [self._zero if block is None else block for block in blocks]
        count = len(buffers)
        template = next((b for b in buffers if not b[2] & _MEMCPYED), None)
        if template is None:  # nothing compressed: store the whole chunk raw, as Blosc would
            body = [memoryview(b)[HEADER:] for b in buffers]
            return [self._header(buffers[0], count, HEADER + count * self.block_bytes), *body]
        stored = [
            memoryview(b)[HEADER + 4 :] if not b[2] & _MEMCPYED else self._stored(b, template)
            for b in buffers
        ]
        sizes = np.fromiter((len(s) for s in stored), np.int64, count)
        starts = HEADER + 4 * count + np.concatenate(([0], np.cumsum(sizes[:-1])))
        total = HEADER + 4 * count + int(sizes.sum())
        return [self._header(template, count, total) + starts.astype("<i4").tobytes(), *stored]

    def _encode(self, tile: np.ndarray) -> bytes:
        return bytes(self._codec.encode(tile))

    def _header(self, template: bytes, blocks: int, total: int) -> bytes:
        head = bytearray(template[:HEADER])
        struct.pack_into("<III", head, 4, blocks * self.block_bytes, self.block_bytes, total)
        return bytes(head)

    def _stored(self, memcpyed: bytes, template: bytes) -> bytes:
        """A memcpyed tile as a block of a compressed chunk: its shuffled bytes, stored."""
        raw = memoryview(memcpyed)[HEADER : HEADER + self.block_bytes]
        if self._shuffle == "shuffle" and self._typesize > 1:
            shuffled = byteshuffle(raw, self._typesize)
        elif self._shuffle == "bitshuffle":
            shuffled = bitshuffle(raw, self._typesize, template[0])
        else:
            shuffled = bytes(raw)
        split = (
            not template[2] & _DONT_SPLIT
            and self._typesize <= _MAX_SPLITS
            and self.block_bytes // self._typesize >= _MIN_SPLIT_STREAM
        )
        streams = self._typesize if split else 1
        size = self.block_bytes // streams
        length = struct.pack("<i", size)
        return b"".join(length + shuffled[j * size : (j + 1) * size] for j in range(streams))
