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
    """Encodes one chunk of a chunk-major slab: raw bytes, or Blosc-compressed.

    Examples
    --------
    >>> import numpy as np
    >>> from zarr_stream._layout import Layout
    >>> lay = Layout(shape=(0, 5), chunks=(2, 4), shard_counts=(1, 2))
    >>> enc = ChunkEncoder(np.dtype("<u2"), None)
    >>> slab = np.ones(lay.buffer_shape, dtype="<u2")
    >>> [len(enc.encode(slab, p) or b"") for p in lay.slab_chunks(0)]
    [16, 16]
    """

    def __init__(self, dtype: np.dtype, compression: Compression | None):
        self._bits = np.dtype(f"<u{dtype.itemsize}")  # compare bit patterns with the fill value 0
        self._blosc = (
            None
            if compression is None
            else Blosc(
                cname=compression.codec, clevel=compression.level, shuffle=_SHUFFLE[compression.shuffle]
            )
        )

    def encode(self, slab: np.ndarray, placement: ChunkPlacement) -> bytes | memoryview | None:
        """Encoded bytes of one chunk, or None when every element equals the fill value.

        Without compression this is a view of the slab, valid until the slab is recycled.
        """
        chunk = slab[placement.grid_coords]  # whole and contiguous: the slab is chunk-major
        if not chunk.view(self._bits).any():
            return None
        if self._blosc is None:
            view: memoryview = chunk.data.cast("B")
            return view
        return bytes(self._blosc.encode(chunk))


def encode_index(index: np.ndarray) -> bytes:
    """Shard index bytes: little-endian (offset, nbytes) pairs followed by their crc32c."""
    raw = index.astype("<u8", copy=False).tobytes()
    return raw + crc32c.crc32c(raw).to_bytes(4, "little")
