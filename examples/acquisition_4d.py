"""A 4-D t/c/y/x acquisition: three channels per time point, streamed as frames arrive.

Run: python examples/acquisition_4d.py [OUT]   (default ./acquisition.zarr)
"""

import sys

import numpy as np
import zarr

import zarr_stream as zs

out = sys.argv[1] if len(sys.argv) > 1 else "acquisition.zarr"
channels, height, width, timepoints = 3, 512, 640, 20

settings = zs.StreamSettings(
    store=out,
    overwrite=True,
    arrays=[
        zs.ArraySettings(
            key="acquisition/raw",
            dtype="uint16",
            dimensions=[
                zs.Dimension("t", kind="time", size=0, chunk=8, shard=2),
                zs.Dimension("c", kind="channel", size=channels, chunk=1, shard=channels),
                zs.Dimension(
                    "y", kind="space", size=height, chunk=128, shard=2, unit="micrometer", scale=0.65
                ),
                zs.Dimension(
                    "x", kind="space", size=width, chunk=128, shard=5, unit="micrometer", scale=0.65
                ),
            ],
            compression=zs.Compression(codec="zstd", level=1, shuffle="bitshuffle"),
        )
    ],
)

rng = np.random.default_rng(1)
acquired = []
with zs.ZarrStream(settings) as stream:
    for t in range(timepoints):
        for c in range(channels):  # frames fill c fastest, then t
            frame = rng.poisson(100 + 50 * c, (height, width)).astype(np.uint16)
            stream.append(frame)
            acquired.append(frame)
        if t % 5 == 4:
            stream.flush()  # everything so far is durable and readable
    stream.set_attributes({"operator": "example", "timepoints": timepoints})

array = zarr.open_array(out, path="acquisition/raw", mode="r")
expected = np.stack(acquired).reshape(timepoints, channels, height, width)
assert array.shape == expected.shape and (array[:] == expected).all()
print(f"wrote {array.shape} {array.dtype} to {out}; attributes {dict(array.attrs)}")
