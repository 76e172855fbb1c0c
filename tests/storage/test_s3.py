"""Streams to S3 (a moto server over HTTP): round trips, flushes, write-once rules, access errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from zarr.storage import ObjectStore

import zarr_stream as zs
from helpers import dims_from, random_frames
from zarr_stream.testing import expected_array

# (shape, chunks, shard counts, frames): a representative subset of the core layouts.
LAYOUTS = {
    "3d": ((0, 50, 37), (4, 16, 8), (2, 2, 3), 19),
    "4d": ((0, 3, 33, 20), (2, 2, 16, 7), (3, 1, 2, 2), 3 * 13 + 2),
    "bounded-partial": ((10, 20, 20), (4, 8, 8), (2, 1, 1), 7),
    "many-shards-along-t": ((0, 12, 12), (1, 6, 6), (2, 1, 2), 11),
}
COMPRESSIONS = {"raw": None, "zstd": zs.Compression(codec="zstd", level=1, shuffle="shuffle")}


def array_settings(layout: str, compression: str, key: str = "raw") -> zs.ArraySettings:
    shape, chunks, shards, _ = LAYOUTS[layout]
    return zs.ArraySettings(
        key=key,
        dtype="uint16",
        dimensions=dims_from(shape, chunks, shards),
        compression=COMPRESSIONS[compression],
    )


def read_back(bucket, key: str, prefix: str = "data.zarr") -> np.ndarray:
    """The array as zarr-python reads it through its own ObjectStore, checked equal by dask."""
    array = zarr.open_array(ObjectStore(bucket.obstore(prefix), read_only=True), path=key, mode="r")
    values = np.asarray(array[...])
    np.testing.assert_array_equal(da.from_zarr(array).compute(), values)
    return values


def expected(settings: zs.ArraySettings, frames: np.ndarray) -> np.ndarray:
    shape = tuple(d.size for d in settings.dimensions)
    return expected_array(shape, frames)


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_stream_to_an_s3_url_reads_back_as_the_frames(bucket, layout, compression):
    array = array_settings(layout, compression)
    frames = random_frames(LAYOUTS[layout][0], LAYOUTS[layout][3], "uint16")
    settings = zs.StreamSettings(
        store=bucket.url(),
        arrays=[array],
        s3=zs.S3Settings(endpoint=bucket.endpoint, region="us-east-1", allow_http=True),
    )
    with zs.ZarrStream(settings) as stream:
        for start in range(0, len(frames), 3):
            stream.append(frames[start : start + 3])
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))
    assert bucket.multipart_uploads() == []


def test_an_obstore_store_passed_as_store_streams_several_arrays_and_groups(bucket):
    arrays = [array_settings("3d", "zstd", key="a/b/raw"), array_settings("4d", "raw", key="a/other")]
    frames = {a.key: random_frames(LAYOUTS[layout][0], LAYOUTS[layout][3], "uint16", seed=i)
              for i, (a, layout) in enumerate(zip(arrays, ["3d", "4d"]))}
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=arrays)) as stream:
        for i in range(max(len(f) for f in frames.values())):
            for key, block in frames.items():
                if i < len(block):
                    stream.append(block[i], key=key)
    for a in arrays:
        np.testing.assert_array_equal(read_back(bucket, a.key), expected(a, frames[a.key]))
    group = zarr.open_group(ObjectStore(bucket.obstore(), read_only=True), mode="r")
    assert sorted(group["a"].array_keys()) == ["other"]
    assert sorted(group["a"].group_keys()) == ["b"]


def test_each_flush_makes_everything_appended_readable_and_close_completes_it(bucket):
    array = array_settings("many-shards-along-t", "zstd")
    frames = random_frames(LAYOUTS["many-shards-along-t"][0], 11, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=bucket.obstore(), arrays=[array])) as stream:
        for count, frame in enumerate(frames, 1):
            stream.append(frame)
            if count in (1, 2, 5, 6, 9):
                stream.flush()
                np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames[:count]))
    np.testing.assert_array_equal(read_back(bucket, "raw"), expected(array, frames))
