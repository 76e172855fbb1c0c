"""Bad input gets a clear error naming the rule and the value, and the store is left as it was."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import zarr_stream as zs
from helpers import dims_from, expected_array, random_frames, read

SHAPE = (0, 12, 10)


def snapshot(path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def make(path, shape=SHAPE, key="raw", **kwargs):
    array = zs.ArraySettings(key=key, dimensions=dims_from(shape, (2, 4, 4), (2, 2, 2)), **kwargs)
    return zs.StreamSettings(store=path, arrays=[array])


@pytest.fixture
def flushed(tmp_path):
    """An open stream with 5 frames flushed, the frames, and the store path."""
    path = tmp_path / "s.zarr"
    stream = zs.ZarrStream(make(path))
    frames = random_frames(SHAPE, 5, "uint16")
    stream.append(frames)
    stream.flush()
    yield stream, frames, path
    stream.close()


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros((12, 11), "uint16"), zs.FrameError, "trailing shape (12, 10)"),
        (np.zeros((2, 10, 12), "uint16"), zs.FrameError, "Got shape (2, 10, 12)"),
        (np.zeros(10, "uint16"), zs.FrameError, "trailing shape"),
        (np.zeros((12, 10), "int16"), zs.FrameDtypeError, "cast safely to the array's dtype uint16"),
        (np.zeros((12, 10), "float32"), zs.FrameDtypeError, "Got float32"),
        (np.zeros((12, 10), "uint32"), zs.FrameDtypeError, "Got uint32"),
        (np.full((12, 10), "x", dtype=object), zs.FrameDtypeError, "Got object"),
    ],
)
def test_bad_frames_raise_and_write_nothing(flushed, bad, error, message):
    stream, frames, path = flushed
    before = snapshot(path)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        stream.append(bad)
    assert issubclass(error, (ValueError, TypeError))
    stream.flush()
    assert snapshot(path) == before
    np.testing.assert_array_equal(read(path, "raw"), frames)


def test_unknown_and_missing_keys(tmp_path):
    a = zs.ArraySettings(key="a", dimensions=dims_from(SHAPE, (2, 4, 4), (1, 1, 1)))
    b = zs.ArraySettings(key="b", dimensions=dims_from(SHAPE, (2, 4, 4), (1, 1, 1)))
    with zs.ZarrStream(zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[a, b])) as stream:
        frame = np.ones((12, 10), "uint16")
        with pytest.raises(zs.UnknownKeyError, match=r"key is required .* Got None; keys are \['a', 'b'\]"):
            stream.append(frame)
        with pytest.raises(zs.UnknownKeyError, match="Got 'c'"):
            stream.append(frame, key="c")
        with pytest.raises(ValueError, match="Got 'c'"):
            stream.set_attributes({"x": 1}, key="c")
        stream.append(frame, key="a")
    np.testing.assert_array_equal(read(tmp_path / "s.zarr", "a"), frame[None])
    assert read(tmp_path / "s.zarr", "b").shape == (0, 12, 10)


def test_writing_past_a_bounded_dimension_raises_and_writes_nothing_of_that_call(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((5, 12, 10), 6, "uint16")
    with zs.ZarrStream(make(path, shape=(5, 12, 10))) as stream:
        stream.append(frames[:3])
        with pytest.raises(zs.CapacityError, match=r"holds 5 frames .* 3 are written\. Got 3 more"):
            stream.append(frames[3:])
        stream.append(frames[3:5])
        with pytest.raises(zs.CapacityError):
            stream.append(frames[5])
    np.testing.assert_array_equal(read(path, "raw"), frames[:5])


def test_append_after_close(tmp_path):
    stream = zs.ZarrStream(make(tmp_path / "s.zarr"))
    stream.close()
    stream.close()  # idempotent
    assert stream.closed
    for call in (
        lambda: stream.append(np.zeros((12, 10), "uint16")),
        stream.flush,
        lambda: stream.set_attributes({}),
    ):
        with pytest.raises(zs.StreamClosedError, match="closed"):
            call()
    assert issubclass(zs.StreamClosedError, RuntimeError)


def test_existing_store_without_overwrite_is_left_untouched(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames(SHAPE, 9, "uint16")
    with zs.ZarrStream(make(path)) as stream:
        stream.append(frames)
    before = snapshot(path)
    with pytest.raises(zs.StoreExistsError, match="overwrite=True") as info:
        zs.ZarrStream(make(path))
    assert isinstance(info.value, FileExistsError)
    assert snapshot(path) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        zs.ZarrStream(make(tmp_path / "file"))
    assert (tmp_path / "file").read_text() == "x"
    # overwrite=True replaces it
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=make(path).arrays, overwrite=True)) as stream:
        stream.append(frames[:2])
    np.testing.assert_array_equal(read(path, "raw"), frames[:2])


def test_an_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "s.zarr").mkdir()
    with zs.ZarrStream(make(tmp_path / "s.zarr")) as stream:
        stream.append(np.ones((12, 10), "uint16"))
    assert read(tmp_path / "s.zarr", "raw").shape == (1, 12, 10)


def test_attributes_must_be_json(flushed):
    stream, _, path = flushed
    before = snapshot(path)
    with pytest.raises(zs.SettingsError, match="attributes must be JSON"):
        stream.set_attributes({"bad": object()})
    assert snapshot(path) == before


def test_set_attributes_merges_into_the_array(tmp_path):
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(make(path, attributes={"a": 1})) as stream:
        stream.append(np.ones((3, 12, 10), "uint16"))
        stream.set_attributes({"operator": "ab"})
        stream.set_attributes({"a": 2})
    import zarr

    arr = zarr.open_array(str(path), path="raw")
    assert dict(arr.attrs) == {"a": 2, "operator": "ab"}
    assert arr.shape == (3, 12, 10)


def test_background_write_failure_surfaces_on_next_call_with_cause(tmp_path):
    path = tmp_path / "s.zarr"
    stream = zs.ZarrStream(make(path))
    frames = random_frames(SHAPE, 8, "uint16")
    stream.append(frames[:4])  # two slabs, one shard row: written
    stream.flush()
    good = snapshot(path)
    (path / "raw/c/1").write_bytes(b"")  # a file where shard row 1's directory must go
    with pytest.raises(zs.BackgroundError, match="writing array 'raw' failed") as info:
        stream.append(frames[4:8])
        stream.flush()
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(zs.BackgroundError):
        stream.append(frames[:1])
    with pytest.raises(zs.BackgroundError):
        stream.close()
    assert stream.closed
    (path / "raw/c/1").unlink()
    assert snapshot(path) == good
    np.testing.assert_array_equal(read(path, "raw"), expected_array(SHAPE, frames[:4]))


def test_disk_full_surfaces_with_cause(tmp_path):
    """A write that fails with EFBIG (a file size limit stands in for a full disk)."""
    import resource
    import signal

    path = tmp_path / "s.zarr"
    array = zs.ArraySettings(
        key="raw", dimensions=dims_from((0, 64, 64), (2, 64, 64), (4, 1, 1)), compression=None
    )
    stream = zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array]))
    frames = random_frames((0, 64, 64), 16, "uint16")
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, limits[1]))  # one 16 KiB chunk fits, two do not
    try:
        with pytest.raises(zs.BackgroundError) as info:
            stream.append(frames)
            stream.flush()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(zs.BackgroundError):
        stream.close()
    assert read(path, "raw").shape == (0, 64, 64)


def test_a_stream_short_of_slab_memory_warns_and_goes_on_with_what_it_has(tmp_path, monkeypatch):
    """Slabs after the first are allocated on a background thread; its failure is not silent."""
    from zarr_stream.engine import _buffer

    real = _buffer.preallocated
    calls = []

    def first_only(shape, dtype):
        calls.append(shape)
        if len(calls) > 1:
            raise MemoryError("no memory for another slab")
        return real(shape, dtype)

    monkeypatch.setattr(_buffer, "preallocated", first_only)
    path = tmp_path / "s.zarr"
    stream = zs.ZarrStream(make(path, compression=None))
    for thread in threading.enumerate():
        if thread.name == "zarr-stream-alloc":
            thread.join()  # it has failed by now
    frames = random_frames(SHAPE, 7, "uint16")
    with pytest.warns(RuntimeWarning, match="could not allocate every slab.*no memory for another slab"):
        stream.append(frames[:2])
    stream.append(frames[2:])  # each slab waits for the one before it to come back from the writer
    stream.close()
    assert len(calls) == 2  # one slab made it
    np.testing.assert_array_equal(read(path, "raw"), expected_array(SHAPE, frames))
