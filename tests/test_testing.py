"""The public test kit: assert_round_trip passes on what was appended and fails on anything else."""

from __future__ import annotations

import numpy as np
import pytest

import zarr_stream as zs
from zarr_stream.testing import assert_round_trip, camera_frames


@pytest.fixture
def streamed(tmp_path):
    frames = camera_frames(5, 24, 16)
    dims = [zs.Dimension("t", size=0, chunk=2), zs.Dimension("c", size=2), zs.Dimension("y", size=24),
            zs.Dimension("x", size=16)]  # fmt: skip
    with zs.ZarrStream(
        zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[zs.ArraySettings(dimensions=dims)])
    ) as s:
        for frame in frames:
            s.append(frame)
    return tmp_path / "s.zarr", frames


def test_the_frames_appended_round_trip(streamed):
    store, frames = streamed
    assert_round_trip(store, frames)  # 5 frames in steps of 2 channels: the last step is padded
    assert_round_trip(str(store), np.stack(frames))


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f[:-1],  # one frame missing
        lambda f: [*f, f[0]],  # one frame more
        lambda f: [f[0] + 1, *f[1:]],  # one value off
        lambda f: [x.astype("int32") for x in f],  # another dtype
    ],
    ids=["missing", "extra", "value", "dtype"],
)
def test_anything_else_fails(streamed, change):
    store, frames = streamed
    with pytest.raises(AssertionError):
        assert_round_trip(store, change(frames))
