"""Frames -> encoded shards: layout arithmetic, frame buffers, tiles and runs, Blosc block
stitching, chunks written in place, encoding, the shard row, the per-array pipeline, and
the session that runs a stream's arrays together.

The engine knows nothing of where bytes go beyond the ``Backend``
interface.
"""

from zarr_stream.engine._pipeline import ArrayStream
from zarr_stream.engine._session import WriteSession

__all__ = ["ArrayStream", "WriteSession"]
