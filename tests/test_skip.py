"""Dropped frames: ``skip(n)`` appends n frames of the fill value, and stores no all-fill chunk."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zarr

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension
COMPRESSIONS = {
    "raw": None,
    "blosc": zs.Compression(),
    "zstd": zs.Compression(compressor="zstd"),
}


def settings(path, compression=None, size=0, **array):
    dims = [
        D("t", kind="time", size=size, chunk=4, shard=2),
        D("y", size=24, chunk=16),
        D("x", size=20, chunk=16),
    ]
    return zs.StreamSettings(
        store=path, arrays=[zs.ArraySettings(key="raw", compression=compression, dimensions=dims, **array)]
    )


def stored_shards(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("c/*/*/*") if p.is_file())


@pytest.mark.parametrize("name", sorted(COMPRESSIONS))
def test_skipped_frames_read_as_fill_and_their_chunks_are_not_stored(tmp_path, name):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 24, 20), 7, "uint16", seed=3)
    frames[frames == 0] = 1  # no appended frame is all fill: only skipped ones are
    with zs.ZarrStream(settings(path, COMPRESSIONS[name])) as stream:
        stream.append(frames[:3])
        stream.skip(0)
        stream.skip(2, key="raw")  # frames 3, 4: the rest of chunk 0
        stream.flush()
        stream.skip(11)  # frames 5 .. 15: shard 1 (frames 8 .. 15) holds no frame
        stream.append(frames[3:])
    appended = [*frames[:3], *np.zeros((13, 24, 20), "uint16"), *frames[3:]]
    array = zarr.open_array(str(path), path="raw", mode="r")
    np.testing.assert_array_equal(array[...], np.stack(appended))
    assert array.shape[0] == 20
    assert {s.split("/")[1] for s in stored_shards(path / "raw")} == {"0", "2"}  # along t


def test_skip_in_a_pyramid_keeps_every_level_in_step(tmp_path):
    path = tmp_path / "p.zarr"
    dims = [D("t", kind="time", chunk=2), D("y", size=32, chunk=8), D("x", size=32, chunk=8)]
    image = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method="max"))
    frames = random_frames((0, 32, 32), 4, "uint16", seed=1)
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[image])) as stream:
        stream.append(frames[:2])
        stream.skip(3, key="img")
        stream.append(frames[2:])
    level0 = np.stack([*frames[:2], *np.zeros((3, 32, 32), "uint16"), *frames[2:]])
    np.testing.assert_array_equal(zarr.open_array(str(path), path="img/0")[...], level0)
    level1 = zarr.open_array(str(path), path="img/1")[...]
    np.testing.assert_array_equal(level1, level0.reshape(7, 16, 2, 16, 2).max(axis=(2, 4)))


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (-1, "skip count must be an integer from 0 to 2**32 (frames dropped). Got -1."),
        (2.0, "skip count must be an integer from 0 to 2**32 (frames dropped). Got 2.0."),
        (True, "Got True."),
        (2**32 + 1, "Got 4294967297."),
        ("3", "Got '3'."),
    ],
)
def test_a_bad_skip_count_is_refused_and_writes_nothing(tmp_path, count, message):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 24, 20), 3, "uint16")
    with zs.ZarrStream(settings(path)) as stream:
        stream.append(frames)
        with pytest.raises(zs.FrameError, match=re.escape(message)):
            stream.skip(count)
    np.testing.assert_array_equal(zarr.open_array(str(path), path="raw")[...], frames)


def test_skip_past_a_bounded_append_dimension_raises_and_writes_nothing(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((5, 24, 20), 3, "uint16")
    with zs.ZarrStream(settings(path, size=5)) as stream:
        stream.append(frames)
        with pytest.raises(zs.CapacityError, match="holds 5 frames"):
            stream.skip(3)
        with pytest.raises(zs.CapacityError, match="holds 5 frames"):
            stream.skip(2**32)
        stream.skip(2)
    expected = np.stack([*frames, *np.zeros((2, 24, 20), "uint16")])
    np.testing.assert_array_equal(zarr.open_array(str(path), path="raw")[...], expected)


def test_skip_names_an_unknown_key_and_refuses_a_closed_stream(tmp_path):
    stream = zs.ZarrStream(settings(tmp_path / "s.zarr"))
    with pytest.raises(zs.UnknownKeyError, match="Got 'cam'"):
        stream.skip(1, key="cam")
    stream.close()
    with pytest.raises(zs.StreamClosedError):
        stream.skip(1)
