"""resume=True: a stream continues the arrays at the store right after their stored frames."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import zarr

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension
COMPRESSIONS = {"raw": None, "blosc": zs.Compression(codec="lz4"), "zstd": zs.Compression(compressor="zstd")}


def array(key="raw", compression=None, size=0, chunk_t=3, **options):
    dims = [
        D("t", kind="time", size=size, chunk=chunk_t, shard=2),
        D("y", size=20, chunk=8, shard=2),
        D("x", size=16, chunk=8),
    ]
    return zs.ArraySettings(key=key, dimensions=dims, compression=compression, **options)


def settings(path, *arrays, resume=True, **options):
    return zs.StreamSettings(store=path, arrays=list(arrays or [array()]), resume=resume, **options)


def snapshot(path):
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.rglob("*")
        if p.is_file()
    }


def read(path, key="raw"):
    return zarr.open_array(str(path), path=key, mode="r")[...]


@pytest.mark.parametrize("name", sorted(COMPRESSIONS))
@pytest.mark.parametrize("first", [0, 4, 6, 7, 12])  # frames of the first stream: rows of 6 steps
def test_close_then_resume_continues_right_after_the_last_frame(tmp_path, engine, name, first):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), first + 11, "uint16", seed=first)
    one = array(compression=COMPRESSIONS[name])
    with zs.ZarrStream(settings(path, one, resume=False)) as stream:
        for i in range(first):
            stream.append(frames[i], metadata={"i": i} if i % 3 else None)
        stream.set_attributes({"operator": "ab"}, key="raw")
        stream.set_attributes({"run": 1}, key="")
    with zs.ZarrStream(settings(path, one)) as stream:
        stream.append(frames[first : first + 5], metadata=[{"i": i} for i in range(first, first + 5)])
        stream.flush()
        np.testing.assert_array_equal(read(path), frames[: first + 5])
        stream.append(frames[first + 5 :])
    np.testing.assert_array_equal(read(path), np.stack(list(frames)))
    records = zs.read_frame_metadata(path, "raw")
    expected = [{"i": i} if i % 3 else {} for i in range(first)] + [{"i": i} for i in range(first, first + 5)]
    assert records == expected + [{}] * 6
    node = zarr.open_array(str(path), path="raw", mode="r")
    assert node.attrs["operator"] == "ab"  # what set_attributes merged is kept
    assert zarr.open_group(str(path), mode="r").attrs["run"] == 1


def test_resume_twice_and_with_several_flushes_on_the_way(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), 40, "uint16")
    done = 0
    for run, count in enumerate([5, 1, 9, 13, 12]):
        with zs.ZarrStream(settings(path, array(compression=zs.Compression()), resume=run > 0)) as stream:
            for i in range(done, done + count):
                stream.append(frames[i], metadata={"run": run, "i": i})
                if i % 4 == 0:
                    stream.flush()
        done += count
        np.testing.assert_array_equal(read(path), frames[:done])
    assert [r["i"] for r in zs.read_frame_metadata(path, "raw")] == list(range(40))


def test_an_array_with_several_frames_per_step_resumes_after_its_last_step(tmp_path):
    path = tmp_path / "s.zarr"
    dims = [
        D("t", kind="time", chunk=2, shard=2),
        D("c", kind="channel", size=3),
        D("y", size=8),
        D("x", size=8),
    ]
    four = zs.ArraySettings(key="raw", dimensions=dims, compression=zs.Compression())
    frames = random_frames((0, 3, 8, 8), 3 * 9, "uint16")
    with zs.ZarrStream(settings(path, four, resume=False)) as stream:
        stream.append(frames[:15])  # 5 whole steps
    with zs.ZarrStream(settings(path, four)) as stream:
        stream.append(frames[15:])
    np.testing.assert_array_equal(read(path), frames.reshape(9, 3, 8, 8))


def test_a_new_array_is_added_beside_those_continued(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), 9, "uint16")
    with zs.ZarrStream(settings(path, array(key="acq/a"), resume=False)) as stream:
        stream.append(frames[:4], key="acq/a")
    with zs.ZarrStream(settings(path, array(key="acq/a"), array(key="acq/b"))) as stream:
        stream.append(frames[4:], key="acq/a")
        stream.append(frames[:2], key="acq/b")
    np.testing.assert_array_equal(read(path, "acq/a"), frames)
    np.testing.assert_array_equal(read(path, "acq/b"), frames[:2])
    assert sorted(zarr.open_group(str(path), path="acq", mode="r").array_keys()) == ["a", "b"]


def test_resume_of_a_missing_or_empty_store_starts_it(tmp_path):
    frames = random_frames((0, 20, 16), 3, "uint16")
    for path in (tmp_path / "new.zarr", tmp_path / "empty"):
        if path.name == "empty":
            path.mkdir()
        with zs.ZarrStream(settings(path)) as stream:
            stream.append(frames)
        np.testing.assert_array_equal(read(path), frames)


def test_a_bounded_array_resumes_up_to_its_end(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), 8, "uint16")
    with zs.ZarrStream(settings(path, array(size=8), resume=False)) as stream:
        stream.append(frames[:5])
    with zs.ZarrStream(settings(path, array(size=8))) as stream:
        with pytest.raises(zs.CapacityError, match="holds 8 frames"):
            stream.append(frames[:4])
        stream.append(frames[5:])
    np.testing.assert_array_equal(read(path), frames)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (array(chunk_t=4), r"'chunk_grid' \(and 'codecs'\) of the array 'raw' differs"),
        (array(compression=zs.Compression()), r"'codecs' of the array 'raw' differs"),
        (
            zs.ArraySettings(key="raw", dtype="uint8", compression=None, dimensions=array().dimensions),
            "'data_type'",
        ),
        (
            zs.ArraySettings(
                key="raw",
                compression=None,
                dimensions=[
                    D("t", chunk=3, shard=2),
                    D("y", size=21, chunk=8, shard=2),
                    D("x", size=16, chunk=8),
                ],
            ),
            r"'shape' of the array 'raw' differs. Got \[21, 16\] from the settings, \[20, 16\] stored.",
        ),
        (
            zs.ArraySettings(
                key="raw",
                compression=None,
                dimensions=[
                    D("t", chunk=3, shard=2),
                    D("z", size=20, chunk=8, shard=2),
                    D("x", size=16, chunk=8),
                ],
            ),
            "'dimension_names'",
        ),
    ],
)
def test_settings_that_differ_from_the_stored_array_are_named_and_touch_nothing(tmp_path, changed, message):
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(settings(path, array(), resume=False)) as stream:
        stream.append(random_frames((0, 20, 16), 4, "uint16"))
    before = snapshot(path)
    with pytest.raises(zs.SettingsError, match=message):
        zs.ZarrStream(settings(path, changed))
    assert snapshot(path) == before


def test_resume_and_overwrite_together_are_refused():
    with pytest.raises(zs.SettingsError, match=r"set one\. Got overwrite=True, resume=True\."):
        zs.StreamSettings(store="s.zarr", arrays=[array()], resume=True, overwrite=True)


def test_resume_never_touches_what_is_not_a_zarr_hierarchy(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(zs.StoreExistsError, match="to be continued"):
        zs.ZarrStream(settings(tmp_path / "mine"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_an_array_where_the_settings_have_a_group_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(settings(path, array(key="a"), resume=False)) as stream:
        stream.append(random_frames((0, 20, 16), 2, "uint16"))
    before = snapshot(path)
    with pytest.raises(zs.SettingsError, match="resume needs a group at 'a'"):
        zs.ZarrStream(settings(path, array(key="a/b")))
    assert snapshot(path) == before


def test_images_are_not_continued_yet_and_say_so(tmp_path):
    path = tmp_path / "s.zarr"
    image = array(key="img", multiscale=zs.Multiscale())
    with zs.ZarrStream(settings(path, image, resume=False)) as stream:
        stream.append(random_frames((0, 20, 16), 2, "uint16"))
    before = snapshot(path)
    with pytest.raises(zs.SettingsError, match="OME-NGFF images and pyramids are not continued yet"):
        zs.ZarrStream(settings(path, image))
    assert snapshot(path) == before


def test_the_zarr_json_never_shows_fewer_frames_while_a_resumed_stream_opens(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), 10, "uint16")
    with zs.ZarrStream(settings(path, array(compression=zs.Compression()), resume=False)) as stream:
        stream.append(frames[:8])
    stream = zs.ZarrStream(settings(path, array(compression=zs.Compression())))
    assert json.loads((path / "raw/zarr.json").read_text())["shape"][0] == 8  # opened, not yet flushed
    np.testing.assert_array_equal(read(path), frames[:8])
    stream.append(frames[8:])
    stream.close()
    np.testing.assert_array_equal(read(path), frames)


def test_resume_on_s3_replaces_the_flushed_partial_shards(bucket):
    from zarr.storage import ObjectStore

    s3 = zs.S3Settings(endpoint=bucket.endpoint, allow_http=True)
    url = bucket.url("r.zarr")
    frames = random_frames((0, 20, 16), 17, "uint16")
    one = array(compression=zs.Compression())
    with zs.ZarrStream(zs.StreamSettings(store=url, s3=s3, arrays=[one])) as stream:
        stream.append(frames[:8], metadata=[{"i": i} for i in range(8)])
    with zs.ZarrStream(zs.StreamSettings(store=url, s3=s3, arrays=[one], resume=True)) as stream:
        stream.append(frames[8:12], metadata=[{"i": i} for i in range(8, 12)])
        stream.flush()
        stream.append(frames[12:])
    got = zarr.open_array(ObjectStore(bucket.obstore("r.zarr"), read_only=True), path="raw", mode="r")
    np.testing.assert_array_equal(got[...], frames)
    assert zs.read_frame_metadata(url, "raw", s3=s3) == [{"i": i} for i in range(12)] + [{}] * 5
