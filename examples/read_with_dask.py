"""Needs dask (pip install "dask[array]"). Stream frames, then read the store lazily with dask
while a reduction runs chunk by chunk.

Run: python examples/read_with_dask.py [OUT]   (default ./dask-example.zarr)
"""

import sys

import dask.array as da
import numpy as np

import zarr_stream as zs

out = sys.argv[1] if len(sys.argv) > 1 else "dask-example.zarr"
frames = np.random.default_rng(0).integers(0, 4096, (50, 256, 256), dtype=np.uint16)

settings = zs.StreamSettings(
    store=out,
    overwrite=True,
    arrays=[
        zs.ArraySettings(
            key="raw",
            dtype="uint16",
            dimensions=[
                zs.Dimension("t", kind="time", chunk=10, shard=2),
                zs.Dimension("y", size=256, chunk=64, shard=2),
                zs.Dimension("x", size=256, chunk=64, shard=2),
            ],
            compression=zs.Compression(codec="lz4", level=1),
        )
    ],
)
with zs.ZarrStream(settings) as stream:
    stream.append(frames)  # a block of frames at once

lazy = da.from_zarr(out, component="raw")
mean_projection = lazy.mean(axis=0).compute()
assert np.allclose(mean_projection, frames.mean(axis=0))
print(f"dask read {lazy.shape} in chunks {lazy.chunksize}; mean intensity {mean_projection.mean():.1f}")
