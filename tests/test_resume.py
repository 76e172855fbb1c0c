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


IMAGE_CASES = {
    "z appended": (
        [D("z", chunk=2, shard=2), D("y", size=40, chunk=8, shard=2), D("x", size=36, chunk=8)],
        1,
    ),
    "t z y x": (
        [
            D("t", kind="time", chunk=1, shard=2),
            D("z", size=5, chunk=2),
            D("y", size=40, chunk=8),
            D("x", size=36),
        ],
        5,
    ),
    "t c y x": (
        [
            D("t", kind="time", chunk=2, shard=2),
            D("c", kind="channel", size=2),
            D("y", size=40, chunk=8),
            D("x", size=36),
        ],
        2,
    ),
}


def stream_image(path, image, frames, resume=False, metadata=False):
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[image], resume=resume)) as stream:
        records = [{"i": int(f[0, 0])} for f in frames] if metadata else None
        stream.append(frames, key="img", metadata=records)


@pytest.mark.parametrize("method", ["mean", "decimate", "max"])
@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
@pytest.mark.parametrize("first", [1, 7, 9, 22])
def test_a_resumed_pyramid_is_the_pyramid_of_every_frame(tmp_path, case, method, first):
    """Every level equals that of one stream of all the frames: the partial step, the targets a
    close finished with one plane, and the levels' partial rows are all made again."""
    dims, per_step = IMAGE_CASES[case]
    image = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method=method))
    frames = random_frames((0, 40, 36), 12 * per_step, "uint16", seed=first)
    frames[:, 0, 0] = np.arange(len(frames))  # each frame says which it is
    stream_image(tmp_path / "r.zarr", image, frames[:first], metadata=True)
    stream_image(tmp_path / "r.zarr", image, frames[first:], resume=True, metadata=True)
    stream_image(tmp_path / "one.zarr", image, frames)
    resumed = zarr.open_group(str(tmp_path / "r.zarr"), path="img", mode="r")
    one = zarr.open_group(str(tmp_path / "one.zarr"), path="img", mode="r")
    assert sorted(resumed.array_keys()) == sorted(one.array_keys())
    for level in one.array_keys():
        np.testing.assert_array_equal(resumed[level][...], one[level][...])
    assert resumed.attrs.asdict() == one.attrs.asdict()
    assert [r["i"] for r in zs.read_frame_metadata(tmp_path / "r.zarr", "img")] == list(range(len(frames)))
    from ome_zarr_models.v05 import Image

    Image.from_zarr(resumed)


def test_an_image_with_other_ome_settings_is_named_and_touched_nothing(tmp_path):
    path = tmp_path / "s.zarr"
    dims = IMAGE_CASES["t c y x"][0]
    image = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method="mean"))
    stream_image(path, image, random_frames((0, 40, 36), 4, "uint16"))
    before = snapshot(path)
    other = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method="max"))
    with pytest.raises(zs.SettingsError, match="the OME metadata of 'img' differs"):
        zs.ZarrStream(zs.StreamSettings(store=path, arrays=[other], resume=True))
    for plain in ("img/0", "img/extra"):  # the image would become a plain group
        with pytest.raises(
            zs.SettingsError, match=r"the OME metadata of 'img' differs .* made a plain group"
        ):
            zs.ZarrStream(settings(path, array(key=plain)))
    with pytest.raises(zs.SettingsError, match=r"an array at 'img'\. Got a group stored there"):
        zs.ZarrStream(settings(path, array(key="img")))
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


def test_a_plate_resumes_every_field_and_keeps_its_layout(tmp_path):
    field = zs.ArraySettings(dimensions=IMAGE_CASES["t c y x"][0], multiscale=zs.Multiscale())
    wells = [zs.Well(row="A", column=c, fields=[zs.FieldOfView(path="0", array=field)]) for c in ("1", "2")]
    plate = zs.Plate(name="p", rows=["A"], columns=["1", "2"], wells=wells)
    frames = random_frames((0, 40, 36), 10, "uint16")

    def run(path, parts, resume):
        with zs.ZarrStream(zs.StreamSettings(store=path, plates=[plate], resume=resume)) as stream:
            for key in ("plate/A/1/0", "plate/A/2/0"):
                stream.append(parts, key=key)

    run(tmp_path / "r.zarr", frames[:3], False)
    run(tmp_path / "r.zarr", frames[3:], True)
    run(tmp_path / "one.zarr", frames, False)
    for key in ("plate/A/1/0", "plate/A/2/0"):
        resumed = zarr.open_group(str(tmp_path / "r.zarr"), path=key, mode="r")
        one = zarr.open_group(str(tmp_path / "one.zarr"), path=key, mode="r")
        for level in one.array_keys():
            np.testing.assert_array_equal(resumed[level][...], one[level][...])
    from ome_zarr_models.v05 import HCS

    HCS.from_zarr(zarr.open_group(str(tmp_path / "r.zarr"), path="plate", mode="r"))
    other = zs.Plate(name="q", rows=["A"], columns=["1", "2"], wells=wells)
    with pytest.raises(zs.SettingsError, match="the OME metadata of 'plate' differs"):
        zs.ZarrStream(zs.StreamSettings(store=tmp_path / "r.zarr", plates=[other], resume=True))


def records_settings(path, resume):
    return settings(path, array(compression=zs.Compression()), resume=resume)


def test_records_a_kill_left_half_made_are_taken_up_as_far_as_they_go(tmp_path):
    """A kill between the records' documents: the group and one array's zarr.json only."""
    frames = random_frames((0, 20, 16), 9, "uint16")
    for missing in ("spans", "json"):
        path = tmp_path / f"{missing}.zarr"
        with zs.ZarrStream(records_settings(path, False)) as stream:
            stream.append(frames[:4], metadata=[{"i": i} for i in range(4)])
        (path / f"raw.frame_metadata/{missing}/zarr.json").unlink()
        with zs.ZarrStream(records_settings(path, True)) as stream:
            stream.append(frames[4:], metadata=[{"i": i} for i in range(4, 9)])
        np.testing.assert_array_equal(read(path), frames)
        assert zs.read_frame_metadata(path, "raw") == [{}] * 4 + [{"i": i} for i in range(4, 9)]


def test_spans_whose_bytes_were_not_stored_are_dropped_not_misread(tmp_path):
    """Spans pointing past the stored bytes (as a kill between the two could leave): the resumed
    records keep the spans whose bytes are there, and every later record reads back as given."""
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 20, 16), 12, "uint16")
    with zs.ZarrStream(records_settings(path, False)) as stream:
        stream.append(frames[:6], metadata=[{"i": i} for i in range(6)])
    spans = zarr.open_array(str(path), path="raw.frame_metadata/spans", mode="r")[...]
    document = path / "raw.frame_metadata/json/zarr.json"
    shown = json.loads(document.read_text())
    shown["shape"][0] = int(spans[2, 1])  # the bytes of records 0 .. 2 only
    document.write_text(json.dumps(shown))
    with zs.ZarrStream(records_settings(path, True)) as stream:
        stream.append(frames[6:], metadata=[{"i": i} for i in range(6, 12)])
    assert zs.read_frame_metadata(path, "raw") == [{"i": i} for i in range(3)] + [{}] * 3 + [
        {"i": i} for i in range(6, 12)
    ]
