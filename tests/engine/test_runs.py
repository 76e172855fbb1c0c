"""Consecutive frames' tiles joined into one Blosc block (``max_block_bytes``), flushed mid-run."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

import zarr_stream as zs
from helpers import dims_from, read
from zarr_stream.engine._layout import Layout
from zarr_stream.engine._tiles import frames_per_block
from zarr_stream.testing import camera_frames

INDEX_ENTRY = 16  # (offset, nbytes) as two uint64
EMPTY = 2**64 - 1
TILE = 32 * 32 * 2  # bytes of one frame's tile of a (t, 32, 32) uint16 chunk
IN_PLACE = {"in_place_slab_bytes": 0}
HELD = {"in_place_slab_bytes": 2**62}


def settings(path, capacity=0):
    dims = dims_from((capacity, 64, 64), (8, 32, 32), (1, 2, 1))
    array = zs.ArraySettings(key="raw", dtype="uint16", dimensions=dims, compression=zs.Compression())
    return zs.StreamSettings(store=path, arrays=[array])


def block_sizes(path) -> set[int]:
    """The Blosc block size in the header of every stored chunk of every shard."""
    sizes = set()
    for shard_path in (path / "raw/c").rglob("*"):
        if not shard_path.is_file() or shard_path.name.startswith("."):
            continue
        shard = shard_path.read_bytes()
        index = np.frombuffer(shard[-(2 * INDEX_ENTRY + 4) : -4], "<u8").reshape(2, 2)
        for offset, _ in index:
            if offset != EMPTY:
                sizes.add(struct.unpack_from("<I", shard, int(offset) + 8)[0])
    return sizes


@pytest.mark.parametrize(("max_block", "per_run"), [(0, 1), (2 * TILE, 2), (3 * TILE, 2), (8 * TILE, 8)])
def test_chunks_hold_blocks_of_as_many_frames_as_fit(tmp_path, max_block, per_run):
    frames = camera_frames(4, 64, 64)
    expected = np.stack([frames[i % 4] for i in range(16)])
    path = tmp_path / "s.zarr"
    with zs.config.set({"max_block_bytes": max_block}), zs.ZarrStream(settings(path)) as stream:
        stream.append(expected)
    np.testing.assert_array_equal(read(path, "raw"), expected)
    assert block_sizes(path) == {per_run * TILE}


def read_grown(path, tmp_path, frames: int) -> np.ndarray:
    """The array read as if grown to ``frames``: a copy of the store with a longer shape."""
    grown = tmp_path / "grown.zarr"
    shutil.rmtree(grown, ignore_errors=True)
    shutil.copytree(path, grown)
    document = json.loads((grown / "raw/zarr.json").read_text())
    document["shape"][0] = frames
    (grown / "raw/zarr.json").write_text(json.dumps(document))
    return read(grown, "raw")


@pytest.mark.parametrize("where", [IN_PLACE, HELD], ids=["in-place", "held"])
def test_flushes_in_the_middle_of_a_run_read_back_every_frame(tmp_path, where):
    rng = np.random.default_rng(3)
    frames = np.concatenate([camera_frames(6, 64, 64), rng.integers(0, 2**16, (13, 64, 64), "uint16")])
    path = tmp_path / "s.zarr"
    # runs of 4 frames: flushes after 1 (no run is whole yet), 6, 7 and 17 frames
    with zs.config.set({"max_block_bytes": 4 * TILE, **where}), zs.ZarrStream(settings(path)) as stream:
        for count, frame in enumerate(frames, start=1):
            stream.append(frame)
            if count in (1, 6, 7, 17):
                stream.flush()
                np.testing.assert_array_equal(read(path, "raw"), frames[:count])
                # the rest of the chunk is fill value, not frames left in a recycled run buffer
                # (frames 18-20 go into the buffer frames 2-4 were in)
                rest = read_grown(path, tmp_path, 24)[count:]
                assert not rest.any()
    np.testing.assert_array_equal(read(path, "raw"), frames)
    assert block_sizes(path) == {4 * TILE}


def test_frames_between_the_append_dimension_and_the_frame_keep_a_block_per_tile():
    # (t, c, y, x): a chunk's consecutive tiles are the channels of one time point
    layout = Layout(shape=(0, 3, 32, 32), chunks=(8, 1, 32, 32), shard_counts=(1, 1, 1, 1))
    assert frames_per_block(layout, np.dtype("uint16"), 2**30) == 1
    # one channel, but chunks of two: each time point's tile is followed by an empty one
    over = Layout(shape=(0, 1, 32, 32), chunks=(8, 2, 32, 32), shard_counts=(1, 1, 1, 1))
    assert frames_per_block(over, np.dtype("uint16"), 2**30) == 1
    flat = Layout(shape=(0, 1, 32, 32), chunks=(8, 1, 32, 32), shard_counts=(1, 1, 1, 1))
    assert frames_per_block(flat, np.dtype("uint16"), 2**30) == 8
