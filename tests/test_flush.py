"""flush() makes frames visible and durable; partial shards are replaced, complete ones never."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.storage import MemoryStore

import zarr_stream as zs
from helpers import dims_from, expected_array, random_frames, read
from zarr_stream.settings import STAGING_NAME

SHAPE = (0, 16, 16)


def settings(store, key="raw"):
    array = zs.ArraySettings(
        key=key, dimensions=dims_from(SHAPE, (2, 8, 8), (2, 1, 2)), compression=zs.Compression()
    )
    return zs.StreamSettings(store=store, arrays=[array])


def shard_files(root):
    return {
        p.relative_to(root / "raw").as_posix(): p.stat() for p in (root / "raw/c").rglob("*") if p.is_file()
    }


def test_reader_sees_a_growing_array_and_complete_shards_are_never_rewritten(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames(SHAPE, 21, "uint16") + 1  # no fill-value chunks
    seen = {}
    with zs.ZarrStream(settings(path)) as stream:
        for i, frame in enumerate(frames):
            stream.append(frame)
            # what a reader sees mid-stream is always a prefix of the frames
            got = read(path, "raw")
            np.testing.assert_array_equal(got, frames[: len(got)])
            if i in (2, 4, 9):
                stream.flush()
                np.testing.assert_array_equal(read(path, "raw"), frames[: i + 1])
                seen[i] = shard_files(path)
        # shard row 0 (frames 0-3) completed at frame 3: never replaced since
        assert seen[4]["c/0/0/0"].st_ino == seen[9]["c/0/0/0"].st_ino
        assert seen[4]["c/0/0/0"].st_mtime_ns == seen[9]["c/0/0/0"].st_mtime_ns
        # shard row 2 (frames 8-11) was published partial at frame 9 and is replaced when it completes
        partial = seen[9]["c/2/0/0"]
    final = shard_files(path)
    assert final["c/2/0/0"].st_ino != partial.st_ino
    assert final["c/0/0/0"].st_ino == seen[4]["c/0/0/0"].st_ino
    np.testing.assert_array_equal(read(path, "raw"), frames)
    leftovers = [p.name for p in path.rglob("*") if p.name == ".zarr-stream" or p.name.endswith(".partial")]
    assert leftovers == []


def test_close_pads_the_last_partial_time_point(tmp_path):
    path = tmp_path / "s.zarr"
    shape = (0, 3, 8, 8)
    array = zs.ArraySettings(key="raw", dimensions=dims_from(shape, (2, 1, 8, 8), (1, 3, 1, 1)))
    frames = random_frames(shape, 3 * 2 + 2, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as stream:
        stream.append(frames)
    got = read(path, "raw")
    assert got.shape == (3, 3, 8, 8)  # 8 frames = 2 full time points and 2 of 3 channels
    np.testing.assert_array_equal(got, expected_array(shape, frames))
    assert not got[2, 2].any()


@pytest.mark.parametrize(
    "make_store", [MemoryStore, lambda: zarr.storage.ObjectStore(__import__("obstore").store.MemoryStore())]
)
def test_zarr_and_obstore_stores(make_store):
    store = make_store()
    frames = random_frames(SHAPE, 13, "uint16")
    with zs.ZarrStream(settings(store)) as stream:
        stream.append(frames[:5])
        stream.flush()
        np.testing.assert_array_equal(zarr.open_array(store, path="raw", mode="r")[...], frames[:5])
        stream.append(frames[5:])
    np.testing.assert_array_equal(zarr.open_array(store, path="raw", mode="r")[...], frames)
    with pytest.raises(zs.StoreExistsError):
        zs.ZarrStream(settings(store))


def test_raw_obstore_store_is_accepted(tmp_path):
    from obstore.store import LocalStore

    (tmp_path / "s.zarr").mkdir()
    frames = random_frames(SHAPE, 6, "uint16")
    with zs.ZarrStream(settings(LocalStore(tmp_path / "s.zarr"))) as stream:
        stream.append(frames)
    np.testing.assert_array_equal(read(tmp_path / "s.zarr", "raw"), frames)


def test_a_shard_someone_else_wrote_is_never_overwritten(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames(SHAPE, 8, "uint16") + 1
    stream = zs.ZarrStream(settings(path))
    stream.append(frames[:4])
    stream.flush()
    intruder = path / "raw/c/1/0/0"
    intruder.parent.mkdir(parents=True)
    intruder.write_bytes(b"someone else's object")
    with pytest.raises(zs.ObjectExistsError, match="written once") as info:
        stream.append(frames[4:])
        stream.flush()
    assert isinstance(info.value, FileExistsError)
    assert isinstance(info.value.__cause__, zs.ObjectExistsError)
    with pytest.raises(FileExistsError):
        stream.close()
    assert intruder.read_bytes() == b"someone else's object"
    np.testing.assert_array_equal(read(path, "raw")[:4], frames[:4])


def test_a_shard_someone_else_wrote_is_never_overwritten_in_a_zarr_store():
    store = MemoryStore()
    frames = random_frames(SHAPE, 8, "uint16") + 1
    stream = zs.ZarrStream(settings(store))
    stream.append(frames[:4])
    stream.flush()
    buf = zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(b"theirs")
    zarr.core.sync.sync(store.set("raw/c/1/0/0", buf))
    with pytest.raises(zs.ObjectExistsError) as info:
        stream.append(frames[4:])
        stream.close()
    assert isinstance(info.value.__cause__, zs.ObjectExistsError)
    got = zarr.core.sync.sync(store.get("raw/c/1/0/0", zarr.core.buffer.default_buffer_prototype()))
    assert got.to_bytes() == b"theirs"


@pytest.mark.parametrize("durable", [True, False])
def test_fsync_config(tmp_path, monkeypatch, durable):
    import os

    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    frames = random_frames(SHAPE, 9, "uint16") + 1
    with zs.config.set({"fsync": durable}), zs.ZarrStream(settings(tmp_path / "s.zarr")) as stream:
        stream.append(frames[:5])
        stream.flush()
        stream.append(frames[5:])
    assert bool(calls) is durable
    np.testing.assert_array_equal(read(tmp_path / "s.zarr", "raw"), frames)


def fsync_spy(monkeypatch) -> dict[tuple[int, int], set[int]]:
    """(device, inode) of every file and folder fsynced, with the mtimes it had when it was."""
    import threading

    synced: dict[tuple[int, int], set[int]] = {}
    lock = threading.Lock()
    real = os.fsync

    def spy(fd):
        real(fd)
        stat = os.fstat(fd)
        with lock:
            synced.setdefault((stat.st_dev, stat.st_ino), set()).add(stat.st_mtime_ns)

    monkeypatch.setattr(os, "fsync", spy)
    return synced


def unsynced(paths, synced, changed_after: set[Path] = frozenset()) -> list[str]:
    """The ``paths`` not fsynced since their last change (those in ``changed_after``: at all)."""
    missing = []
    for path in paths:
        stat = path.stat()
        mtimes = synced.get((stat.st_dev, stat.st_ino), set())
        if not mtimes or (path not in changed_after and stat.st_mtime_ns not in mtimes):
            missing.append(str(path))
    return missing


@pytest.mark.parametrize("end", ["flush", "close", "close with no frame"])
def test_every_file_and_folder_a_flush_or_close_covers_is_fsynced_after_its_last_change(
    tmp_path, monkeypatch, end
):
    """A power cut after flush()/close() keeps the whole store: each file, the folders holding
    it (group documents, new chunk folders, a new store folder and the folders made above it),
    all fsynced since they last changed. Before, groups' zarr.json and new folders never were."""
    synced = fsync_spy(monkeypatch)
    path = tmp_path / "new" / "deeper" / "s.zarr"
    arrays = [
        zs.ArraySettings(
            key=key, dimensions=dims_from(SHAPE, (2, 8, 8), (2, 1, 2)), compression=zs.Compression()
        )
        for key in ("a/b/raw", "a/labels")
    ]
    frames = random_frames(SHAPE, 11, "uint16") + 1  # a complete shard row, then a partial one
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=arrays))
    try:
        if end != "close with no frame":
            for key in ("a/b/raw", "a/labels"):
                stream.append(frames, key=key)
        if end == "flush":
            stream.flush()
            written = [p for p in path.rglob("*") if STAGING_NAME not in p.parts]
            created = [tmp_path / "new", tmp_path / "new" / "deeper", path]
            assert not unsynced([tmp_path, *created, *written], synced)
    finally:
        stream.close()
    if end != "flush":
        written = list(path.rglob("*"))
        # removing the staging folder, after the last fsync, changes the first array's folder
        staging_parent = {path / "a" / "b" / "raw"}
        created = [tmp_path / "new", tmp_path / "new" / "deeper", path]
        assert not unsynced([tmp_path, *created, *written], synced, staging_parent)
    expected = frames if end != "close with no frame" else frames[:0]
    for key in ("a/b/raw", "a/labels"):
        np.testing.assert_array_equal(read(path, key), expected)


def test_flush_returns_only_once_every_published_shard_is_fsynced(tmp_path, monkeypatch):
    """Shards are fsynced in the background, several at once; flush() must wait for all of them."""
    import threading
    import time

    import zarr_stream.storage._local as storage

    synced: set[tuple[int, int]] = set()  # (device, inode) of every file fsynced to completion
    lock = threading.Lock()
    real = storage._fsync_drop_and_close

    def slow_fsync(fd):
        stat = os.fstat(fd)
        time.sleep(0.1)  # slow background fsyncs: a flush that did not wait would return first
        real(fd)
        with lock:
            synced.add((stat.st_dev, stat.st_ino))

    monkeypatch.setattr(storage, "_fsync_drop_and_close", slow_fsync)
    path = tmp_path / "s.zarr"
    frames = random_frames(SHAPE, 13, "uint16") + 1
    with zs.ZarrStream(settings(path)) as stream:
        for start, stop in ((0, 4), (4, 9), (9, 13)):  # complete shard rows, then partial ones
            stream.append(frames[start:stop])
            stream.flush()
            files = list(shard_files(path).values())  # published shards (staged ones are elsewhere)
            assert files
            with lock:
                unsynced = [f for f in files if (f.st_dev, f.st_ino) not in synced]
            assert not unsynced, f"flush() returned before {len(unsynced)} shard files were fsynced"
    np.testing.assert_array_equal(read(path, "raw"), frames)


def cached_pages(path: Path) -> int:
    """Pages of ``path`` in the page cache (mincore(2) over a private mapping of it)."""
    import ctypes
    import mmap

    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        vector = (ctypes.c_ubyte * pages)()
        start = ctypes.c_char.from_buffer(mapped)  # holds the mapping's buffer until deleted
        status = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vector)
        del start
    assert status == 0, f"mincore failed: errno {ctypes.get_errno()}"
    return sum(byte & 1 for byte in vector)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux-only")
@pytest.mark.parametrize("fsync", [True, False])
def test_fsynced_shards_leave_the_page_cache_and_unsynced_ones_stay(tmp_path, fsync):
    """A durable shard's pages are handed back for the next writes; without fsync they stay dirty in cache."""
    path = tmp_path / "s.zarr"
    frames = random_frames(SHAPE, 8, "uint16") + 1
    with zs.config.set({"fsync": fsync}), zs.ZarrStream(settings(path)) as stream:
        stream.append(frames)
    shards = [path / "raw" / key for key in shard_files(path)]
    assert shards
    cached = {shard.name: cached_pages(shard) for shard in shards}
    if fsync:
        assert not any(cached.values()), f"fsynced shards still cached: {cached}"
    else:
        assert all(cached.values()), f"unsynced shards dropped from the cache: {cached}"
    np.testing.assert_array_equal(read(path, "raw"), frames)


def test_fsync_config_must_be_a_boolean(tmp_path):
    with (
        zs.config.set({"fsync": "sometimes"}),
        pytest.raises(zs.SettingsError, match="'fsync' must be true or false"),
    ):
        zs.ZarrStream(settings(tmp_path / "s.zarr"))
    assert not (tmp_path / "s.zarr").exists()
