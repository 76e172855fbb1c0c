"""Slab -> encoded chunks -> shard bytes, in the zarr ``sharding_indexed`` format.

Inner codecs are ``bytes`` (little endian) then optionally ``blosc``; the shard
index is ``bytes`` + ``crc32c`` and sits at the end of the shard. numcodecs'
Blosc releases the GIL, so chunks encode in parallel on a thread pool.
"""

from __future__ import annotations

import crc32c
import numpy as np
from numcodecs import Blosc

from zarr_stream._layout import ChunkPlacement
from zarr_stream.settings import Compression

__all__ = ["ChunkEncoder", "encode_index"]

_SHUFFLE = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}


class ChunkEncoder:
    """Cuts one chunk out of a slab, pads it at ragged edges, and compresses it.

    Examples
    --------
    >>> import numpy as np
    >>> from zarr_stream._layout import Layout
    >>> lay = Layout(shape=(0, 5), chunks=(2, 4), shard_counts=(1, 2))
    >>> enc = ChunkEncoder((2, 4), np.dtype("<u2"), None)
    >>> slab = np.arange(10, dtype="<u2").reshape(2, 5)
    >>> [len(enc.encode(slab, p) or b"") for p in lay.slab_chunks(0)]
    [16, 16]
    """

    def __init__(self, chunk_shape: tuple[int, ...], dtype: np.dtype, compression: Compression | None):
        self._chunk_shape = chunk_shape
        self._dtype = dtype
        self._bits = np.dtype(f"<u{dtype.itemsize}")  # compare bit patterns with the fill value 0
        self._blosc = (
            None
            if compression is None
            else Blosc(
                cname=compression.codec, clevel=compression.level, shuffle=_SHUFFLE[compression.shuffle]
            )
        )

    def encode(self, slab: np.ndarray, placement: ChunkPlacement) -> bytes | memoryview | None:
        """Encoded bytes of one chunk, or None when every element equals the fill value."""
        chunk = slab[placement.region]
        if not chunk.view(self._bits).any():
            return None
        if chunk.shape != self._chunk_shape:
            padded = np.zeros(self._chunk_shape, dtype=self._dtype)
            padded[tuple(slice(0, n) for n in chunk.shape)] = chunk
            chunk = padded
        elif self._blosc is None:
            return chunk.tobytes()  # a copy: the slab is recycled before the shard is written
        if self._blosc is None:
            return chunk.data.cast("B")
        return bytes(self._blosc.encode(np.ascontiguousarray(chunk)))


def encode_index(index: np.ndarray) -> bytes:
    """Shard index bytes: little-endian (offset, nbytes) pairs followed by their crc32c."""
    raw = index.astype("<u8", copy=False).tobytes()
    return raw + crc32c.crc32c(raw).to_bytes(4, "little")
