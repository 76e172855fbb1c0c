"""Compressed chunks written in place as frames come: regions, moves, gaps, early data syncs."""

from __future__ import annotations

import errno
import itertools
import os
import time

import numpy as np
import pytest

import zarr_stream as zs
from helpers import dims_from, read
from zarr_stream.engine._regions import MARGIN
from zarr_stream.storage import _local as storage
from zarr_stream.testing import camera_frames

INDEX_ENTRY = 16  # (offset, nbytes) as two uint64
EMPTY = 2**64 - 1


def settings(path, shape, chunks, shards):
    array = zs.ArraySettings(
        key="raw", dtype="uint16", dimensions=dims_from(shape, chunks, shards), compression=zs.Compression()
    )
    return zs.StreamSettings(store=path, arrays=[array])


def stored_chunks(shard: bytes, chunks_per_shard: int) -> list[tuple[int, int]]:
    """(offset, nbytes) of every stored chunk of a shard, from its index."""
    raw = shard[-(chunks_per_shard * INDEX_ENTRY + 4) : -4]
    index = np.frombuffer(raw, "<u8").reshape(chunks_per_shard, 2)
    return [(int(o), int(n)) for o, n in index if o != EMPTY]


def test_a_chunk_that_outgrows_its_region_moves_and_reads_back(tmp_path):
    # one 16-frame chunk: its first half compresses to almost nothing, its second half not at all
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 2**16, (8, 64, 64), "uint16")
    frames = np.concatenate([np.full((8, 64, 64), 7, "uint16"), noise])
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(settings(path, (0, 64, 64), (16, 64, 64), (1, 1, 1))) as stream:
        for frame in frames:
            stream.append(frame)
    np.testing.assert_array_equal(read(path, "raw"), frames)
    shard = (path / "raw/c/0/0/0").read_bytes()
    ((offset, nbytes),) = stored_chunks(shard, 1)
    assert offset > 0  # moved past the region planned from the first, quiet frames
    assert nbytes > 8 * 64 * 64 * 2  # the random half is in it


def test_a_flush_before_regions_are_planned_plans_early_and_later_frames_still_fit(tmp_path):
    rng = np.random.default_rng(2)
    quiet = np.full((2, 32, 32), 3, "uint16")
    noisy = rng.integers(0, 2**16, (14, 32, 32), "uint16")
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(settings(path, (0, 32, 32), (16, 16, 16), (1, 2, 1))) as stream:
        stream.append(quiet)
        stream.flush()  # plans from 2 frames of 16
        np.testing.assert_array_equal(read(path, "raw"), quiet)
        stream.append(noisy[:6])
        stream.flush()
        np.testing.assert_array_equal(read(path, "raw"), np.concatenate([quiet, noisy[:6]]))
        stream.append(noisy[6:])
    np.testing.assert_array_equal(read(path, "raw"), np.concatenate([quiet, noisy]))


def test_unused_room_in_shards_stays_within_the_margin(tmp_path):
    frames = camera_frames(8, 256, 256)
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(settings(path, (0, 256, 256), (32, 64, 64), (1, 2, 2))) as stream:
        for i in range(64):
            stream.append(frames[i % len(frames)])
    np.testing.assert_array_equal(read(path, "raw"), np.stack([frames[i % len(frames)] for i in range(64)]))
    for shard_path in (path / "raw/c").rglob("*"):
        if not shard_path.is_file():
            continue
        shard = shard_path.read_bytes()
        chunks = stored_chunks(shard, 4)
        data = sum(n for _, n in chunks)
        gaps = len(shard) - (4 * INDEX_ENTRY + 4) - data
        assert 0 <= gaps <= MARGIN * data
        spans = sorted(chunks)
        assert all(a + n <= b for (a, n), (b, _) in itertools.pairwise(spans))  # no overlap


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("fsync", [True, False])
def test_blocks_go_to_disk_while_their_slab_fills(tmp_path, monkeypatch, fsync):
    monkeypatch.setattr(storage, "DATA_SYNC_BYTES", 1)  # test shards are small
    synced = []
    real = storage._data_sync_and_close
    monkeypatch.setattr(storage, "_data_sync_and_close", lambda fd: (synced.append(fd), real(fd))[1])
    frames = camera_frames(4, 128, 128)
    path = tmp_path / "s.zarr"
    stream_settings = settings(path, (0, 128, 128), (32, 64, 64), (1, 1, 1))
    with zs.config.set({"fsync": fsync}), zs.ZarrStream(stream_settings) as s:
        for i in range(24):  # of a 32-frame slab: no shard is complete
            s.append(frames[i % 4])

        # written in place while the slab fills, before any shard is published, and synced (fsync on)
        def staged():
            return [p for p in (path / "raw/.zarr-stream").glob("*") if p.stat().st_size > 0]

        assert wait_for(lambda: len(staged()) == 4)
        assert not [p for p in (path / "raw/c").rglob("*") if p.is_file() and not p.name.startswith(".")]
        if fsync:
            assert wait_for(lambda: len(synced) >= 4)
        else:
            assert not synced
    np.testing.assert_array_equal(read(path, "raw"), np.stack([frames[i % 4] for i in range(24)]))


def test_a_failed_background_data_sync_fails_the_flush(tmp_path, monkeypatch):
    def failing(fd):
        os.close(fd)
        raise OSError(errno.EIO, "injected write-back error")

    monkeypatch.setattr(storage, "DATA_SYNC_BYTES", 1)
    monkeypatch.setattr(storage, "_data_sync_and_close", failing)
    frames = camera_frames(4, 128, 128)
    stream = zs.ZarrStream(settings(tmp_path / "s.zarr", (0, 128, 128), (32, 64, 64), (1, 2, 2)))
    for i in range(24):
        stream.append(frames[i % 4])
    with pytest.raises(zs.BackgroundError, match="injected write-back error") as info:
        stream.flush()
    assert isinstance(info.value.__cause__, OSError)
    monkeypatch.undo()
    with pytest.raises(zs.BackgroundError, match="injected write-back error"):
        stream.close()  # the failure is sticky: close releases everything and raises it again


@pytest.mark.parametrize("over", [0, 1])
def test_slabs_under_in_place_slab_bytes_are_held_until_full(tmp_path, over):
    slab_bytes = 32 * 128 * 128 * 2
    frames = camera_frames(4, 128, 128)
    path = tmp_path / "s.zarr"
    stream_settings = settings(path, (0, 128, 128), (32, 64, 64), (1, 1, 1))
    with zs.config.set({"in_place_slab_bytes": slab_bytes + over}), zs.ZarrStream(stream_settings) as s:
        for i in range(24):
            s.append(frames[i % 4])
        written = wait_for(
            lambda: [p for p in (path / "raw/.zarr-stream").glob("*") if p.stat().st_size], 2.0
        )
        assert bool(written) is (over == 0)
    np.testing.assert_array_equal(read(path, "raw"), np.stack([frames[i % 4] for i in range(24)]))
