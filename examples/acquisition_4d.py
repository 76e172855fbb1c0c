"""Needs dask (pip install "dask[array]"). A 4-D t/c/y/x acquisition streamed as an OME-Zarr
image with a mean pyramid; every level is opened with dask and checked against numpy.

Run: python examples/acquisition_4d.py [OUT]   (default ./acquisition.zarr)
"""

import sys

import dask.array as da
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
                zs.Dimension("t", kind="time", size=0, chunk=8, shard=2, unit="second", scale=2.0),
                zs.Dimension("c", kind="channel", size=channels, chunk=1, shard=channels),
                zs.Dimension("y", size=height, chunk=128, shard=2, unit="micrometer", scale=0.65),
                zs.Dimension("x", size=width, chunk=128, shard=5, unit="micrometer", scale=0.65),
            ],
            compression=zs.Compression(codec="zstd", level=1, shuffle="bitshuffle"),
            multiscale=zs.Multiscale(method="mean"),  # levels 0, 1, 2, ... made while streaming
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
            stream.flush()  # everything so far is durable and readable, at every level
    stream.set_attributes({"operator": "example", "timepoints": timepoints}, key="acquisition/raw")

image = zarr.open_group(out, path="acquisition/raw", mode="r")
expected = np.stack(acquired).reshape(timepoints, channels, height, width)
for dataset in image.attrs["ome"]["multiscales"][0]["datasets"]:
    level = da.from_zarr(out, component=f"acquisition/raw/{dataset['path']}")
    assert (level.compute() == expected).all()
    scale = dataset["coordinateTransformations"][0]["scale"]
    print(f"level {dataset['path']}: {level.shape} {level.dtype}, scale {scale}")
    # the next level: the mean of each 2 x 2 block of y, x (rounded down; odd edges use what is there)
    sums = expected.astype(np.uint32)
    sums = sums[..., 0::2, :] + np.pad(sums[..., 1::2, :], [(0, 0)] * 2 + [(0, sums.shape[2] % 2), (0, 0)])
    sums = sums[..., 0::2] + np.pad(sums[..., 1::2], [(0, 0)] * 3 + [(0, sums.shape[3] % 2)])
    counts = np.outer(
        [2] * (expected.shape[2] // 2) + [1] * (expected.shape[2] % 2),
        [2] * (expected.shape[3] // 2) + [1] * (expected.shape[3] % 2),
    )
    expected = (sums // counts).astype(np.uint16)
print(f"wrote {timepoints * channels} frames to {out}; attributes {dict(image.attrs)['operator']!r}")
