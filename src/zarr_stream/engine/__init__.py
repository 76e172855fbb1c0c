"""Frames -> encoded shards: layout arithmetic, frame buffers, tiles and runs, Blosc block
stitching, chunks written in place, encoding, and the per-array pipeline.

The engine knows nothing of where bytes go beyond the :class:`~zarr_stream.storage.Backend`
interface.
"""

from zarr_stream.engine._pipeline import ArrayStream

__all__ = ["ArrayStream"]
