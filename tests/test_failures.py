"""Failures while writing are sticky, raised with their cause, and never cost what was flushed.

Faults are real: a full filesystem (tmpfs), a file size limit inside flush(), a file where
a folder must go, the store folder deleted or moved while the stream writes.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import shutil
import signal

import numpy as np
import pytest
import zarr

import zarr_stream as zs
from helpers import dims_from, expected_array, read

SHAPE = (0, 64, 64)


LZ4 = zs.Compression(codec="lz4")


def lz4_array(shape=SHAPE, chunks=(4, 32, 32), shards=(2, 2, 2), compression=LZ4):
    return zs.ArraySettings(key="raw", dimensions=dims_from(shape, chunks, shards), compression=compression)


def noise(n, seed=0):
    """Frames that do not compress, with no fill-value chunk."""
    return np.random.default_rng(seed).integers(1, 2**16, (n, *SHAPE[1:]), dtype=np.uint16)


@contextlib.contextmanager
def file_size_limit(nbytes):
    """Writes past ``nbytes`` in any file fail with EFBIG, as on a full disk."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def assert_failed_for_good(stream, cause_errno):
    """Every later call raises the failure, with the same cause; close releases and raises it,
    and raises it again if called again."""
    calls = (lambda: stream.append(noise(1)[0]), stream.flush, lambda: stream.set_attributes({"a": 1}))
    for call in (*calls, stream.close, stream.close):
        with pytest.raises(zs.BackgroundError) as info:
            call()
        assert isinstance(info.value, zs.ZarrStreamError)
        assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == cause_errno
    assert stream.closed


def stream_until_full(stream, frames) -> int:
    """Append and flush 3 frames at a time until the disk is full; the frames flushed by then.

    The stream must then fail for good, for want of space.
    """
    flushed = 0
    with pytest.raises(zs.BackgroundError) as info:
        for i in range(0, len(frames), 3):
            stream.append(frames[i : i + 3])
            stream.flush()
            flushed = i + 3
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert_failed_for_good(stream, errno.ENOSPC)
    assert flushed > 0
    return flushed


def test_an_io_error_inside_flush_is_sticky_and_keeps_every_flushed_frame(tmp_path, engine):
    """Case 1: the flush after the failed one, and close(), used to return normally and corrupt a shard."""
    path = tmp_path / "s.zarr"
    frames = noise(11)
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[lz4_array()]))
    stream.append(frames[:5])  # a row of 8 frames is not complete: shards are partial
    stream.flush()
    flushed = {p: p.read_bytes() for p in (path / "raw/c").rglob("*") if p.is_file()}
    stream.append(frames[5:7])
    with file_size_limit(max(map(len, flushed.values())) + 100), pytest.raises(zs.BackgroundError) as info:
        stream.flush()  # the copy of a partial shard outgrows the limit
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.EFBIG
    assert_failed_for_good(stream, errno.EFBIG)
    assert {p: p.read_bytes() for p in (path / "raw/c").rglob("*") if p.is_file()} == flushed
    np.testing.assert_array_equal(read(path, "raw"), frames[:5])
    assert not list(path.rglob(".zarr-stream")), "close() leaves no staged file behind"


def test_a_full_disk_keeps_every_flushed_frame(small_disk, engine):
    """Stream until a real 512 KiB filesystem is full: wherever that happens (a background
    write, a flush), the stream fails for good and the store holds every flushed frame."""
    path = small_disk / "s.zarr"
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[lz4_array()]))
    frames = noise(200)
    flushed = stream_until_full(stream, frames)
    np.testing.assert_array_equal(read(path, "raw"), frames[:flushed])
    assert not list(path.rglob(".zarr-stream"))


def test_a_file_where_a_folder_must_go_fails_the_stream(tmp_path):
    path = tmp_path / "s.zarr"
    frames = noise(12)
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[lz4_array()]))
    stream.append(frames[:8])  # shard row 0: complete and published
    stream.flush()
    (path / "raw/c/1").write_bytes(b"")  # where shard row 1's folder must go
    with pytest.raises(zs.BackgroundError) as info:
        stream.append(frames[8:])
        stream.flush()
    assert info.value.__cause__.errno == errno.ENOTDIR
    assert_failed_for_good(stream, errno.ENOTDIR)
    (path / "raw/c/1").unlink()
    np.testing.assert_array_equal(read(path, "raw"), frames[:8])


@pytest.mark.parametrize("how", ["deleted", "moved"])
def test_a_store_deleted_or_moved_while_streaming_is_never_recreated(tmp_path, how):
    """Case 5: the stream used to recreate the folder half-empty, and raise nothing."""
    path, elsewhere = tmp_path / "s.zarr", tmp_path / "moved.zarr"
    frames = noise(16)
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[lz4_array()]))
    stream.append(frames[:8])
    stream.flush()
    if how == "deleted":
        shutil.rmtree(path)
    else:
        path.rename(elsewhere)
    with pytest.raises(
        zs.StoreAccessError, match=f"which was (deleted|replaced).*{path.name}|{path.name}.*which"
    ):
        stream.append(frames[8:])  # completes shard row 1: its shards are published at once
        stream.flush()
    for call in (stream.flush, stream.close):
        with pytest.raises(zs.StoreAccessError):
            call()
    assert not path.exists()
    if how == "moved":  # what was flushed is intact where the folder went
        np.testing.assert_array_equal(zarr.open_array(str(elsewhere), path="raw", mode="r")[...], frames[:8])


def test_a_failure_fails_every_array_of_the_stream(tmp_path):
    path = tmp_path / "s.zarr"
    a, b = lz4_array(), lz4_array()
    a = zs.ArraySettings(key="a", dimensions=a.dimensions, compression=a.compression)
    b = zs.ArraySettings(key="b", dimensions=b.dimensions, compression=None)
    frames = noise(8)
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[a, b]))
    stream.append(frames[:4], key="b")
    stream.flush()
    (path / "a/c").write_bytes(b"")
    with pytest.raises(zs.BackgroundError):
        stream.append(frames, key="a")
        stream.flush()
    with pytest.raises(zs.BackgroundError, match="array 'a'"):
        stream.append(frames[4:], key="b")  # the stream is failed, not only array a
    with pytest.raises(zs.BackgroundError):
        stream.close()
    np.testing.assert_array_equal(read(path, "b"), expected_array(SHAPE, frames[:4]))


def test_a_failed_attribute_write_is_sticky_and_changes_nothing(tmp_path):
    path = tmp_path / "s.zarr"
    frames = noise(5)
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[lz4_array()]))
    stream.append(frames)
    stream.flush()
    document = (path / "raw/zarr.json").read_bytes()
    with file_size_limit(len(document) + 100), pytest.raises(zs.BackgroundError) as info:
        stream.set_attributes({"notes": "x" * 1000})  # a zarr.json bigger than the limit
    assert info.value.__cause__.errno == errno.EFBIG
    assert_failed_for_good(stream, errno.EFBIG)
    assert (path / "raw/zarr.json").read_bytes() == document  # close() wrote no attributes
    np.testing.assert_array_equal(read(path, "raw"), frames)


def test_a_full_disk_under_a_pyramid_fails_the_image_for_good_and_keeps_a_valid_image(small_disk):
    from ome_zarr_models.v05.image import Image

    from pyramid_reference import reference_levels
    from test_ome import assert_frames_final_or_fill

    path = small_disk / "s.zarr"
    image = zs.ArraySettings(
        key="raw",
        dimensions=dims_from(SHAPE, (4, 32, 32), (2, 2, 2)),
        compression=LZ4,
        multiscale=zs.Multiscale(),
    )
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[image]))
    frames = noise(200)
    flushed = stream_until_full(stream, frames)
    group = zarr.open_group(path, path="raw", mode="r")
    Image.from_zarr(group)
    ome = group.attrs["ome"]
    level0 = read(path, "raw/0")
    np.testing.assert_array_equal(level0[:flushed], frames[:flushed])
    expected = reference_levels(frames[: len(level0)], ome, "mean")
    for dataset, reference in zip(ome["multiscales"][0]["datasets"], expected, strict=True):
        assert_frames_final_or_fill(read(path, f"raw/{dataset['path']}"), reference, whole_frames=False)
    assert not list(path.rglob(".zarr-stream"))
