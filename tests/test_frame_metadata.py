"""Per-frame metadata: one JSON record per frame, flushed with the frames, read back in frame order."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import zarr

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension


def array(key="raw", **options):
    dims = [D("t", kind="time", chunk=4, shard=2), D("y", size=24, chunk=16), D("x", size=20, chunk=16)]
    return zs.ArraySettings(key=key, dimensions=dims, compression=zs.Compression(codec="lz4"), **options)


def records_by_zarr_alone(store, key):
    """The documented layout, read with zarr-python and json only."""
    group = zarr.open_group(str(store), path=f"{key}.frame_metadata", mode="r")
    text, spans = group["json"][:, 0].tobytes(), group["spans"][:]
    return [json.loads(text[s:e]) if e > s else {} for s, e in spans]


def test_records_of_blocks_single_frames_plain_appends_and_skips_read_back_in_order(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 24, 20), 9, "uint16")
    stamp = np.float64(12.5)  # numpy numbers are numbers
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        stream.append(frames[0])  # before any record: read as {}
        stream.append(frames[1:3], metadata=[{"t": 0.1, "pos": [1, 2.5]}, {"t": 0.2, "note": "é"}])
        stream.append(frames[3], metadata={"t": stamp, "z": np.int64(4), "ok": True, "none": None})
        stream.skip(2)
        stream.append(frames[4:6])
        stream.append(frames[6:9], key="raw", metadata=tuple({"i": i, "deep": {"a": [{}]}} for i in range(3)))
    expected = [
        {},
        {"t": 0.1, "pos": [1, 2.5]},
        {"t": 0.2, "note": "é"},
        {"t": 12.5, "z": 4, "ok": True, "none": None},
        {},
        {},
        {},
        {},
        *({"i": i, "deep": {"a": [{}]}} for i in range(3)),
    ]
    assert zs.read_frame_metadata(path, "raw") == expected
    assert zs.read_frame_metadata(str(path), key="raw") == expected
    assert records_by_zarr_alone(path, "raw") == expected
    data = zarr.open_array(str(path), path="raw", mode="r")[...]
    np.testing.assert_array_equal(
        data, np.stack([*frames[:4], *np.zeros((2, 24, 20), "uint16"), *frames[4:]])
    )


def test_records_are_visible_at_every_flush(tmp_path):
    path = tmp_path / "s.zarr"
    frames = random_frames((0, 24, 20), 12, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        for i, frame in enumerate(frames):
            stream.append(frame, metadata={"i": i})
            if i % 5 == 2:
                stream.flush()
                assert zs.read_frame_metadata(path, "raw") == [{"i": k} for k in range(i + 1)]
    assert zs.read_frame_metadata(path, "raw") == [{"i": k} for k in range(12)]


def test_a_stream_that_never_got_metadata_has_none(tmp_path):
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        stream.append(random_frames((0, 24, 20), 3, "uint16"))
    assert zs.read_frame_metadata(path, "raw") == []
    assert not (path / "raw.frame_metadata").exists()
    with pytest.raises(zs.UnknownKeyError, match="Got 'cam'"):
        zs.read_frame_metadata(path, "cam")


def test_a_flush_does_not_rewrite_the_records_already_stored(tmp_path, monkeypatch):
    """Each frame costs its row: a flush rewrites at most the partial chunks, never the full ones."""
    from zarr_stream.engine import _frame_records

    monkeypatch.setattr(_frame_records, "SPANS_CHUNK_FRAMES", 8)
    monkeypatch.setattr(_frame_records, "JSON_CHUNK_BYTES", 64)
    path = tmp_path / "s.zarr"
    dims = [D("t", kind="time", chunk=64), D("x", size=4)]
    settings = zs.StreamSettings(store=path, arrays=[zs.ArraySettings(key="raw", dimensions=dims)])
    with zs.ZarrStream(settings) as stream:
        stream.append(np.ones((20, 4), "uint16"), metadata=[{"i": i} for i in range(20)])
        stream.flush()
        first = {
            p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (path / "raw.frame_metadata").rglob("c/*/*")
        }
        stream.append(np.ones((20, 4), "uint16"), metadata=[{"i": i} for i in range(20, 40)])
        stream.flush()
        after = {
            p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (path / "raw.frame_metadata").rglob("c/*/*")
        }
    kept = [p for p in first if after.get(p) == first[p]]
    # spans: 20 frames made 2 full chunks of 8 (and a partial one); json: 20 records of ~8 bytes
    # made 2 full chunks of 64 bytes: those 4 are never touched again
    assert len(kept) >= 4, (sorted(first), sorted(after))
    assert zs.read_frame_metadata(path, "raw") == [{"i": i} for i in range(40)]


@pytest.mark.parametrize(
    ("frames", "metadata", "message"),
    [
        (3, {"t": 1}, "metadata for a block of 3 frames must be a sequence of 3 mappings"),
        (
            3,
            [{"t": 1}] * 2,
            "metadata must hold one mapping per frame (array 'raw'): 3 for this block. Got 2.",
        ),
        (1, "t=1", "metadata must be a mapping or a sequence of mappings (array 'raw'). Got 't=1'."),
        (
            2,
            [{"t": 1}, 5],
            "each frame's metadata must be a mapping with string keys (array 'raw'). Got 5 for frame 1.",
        ),
        (1, {1: "a"}, "must be a mapping with string keys"),
        (1, {"t": math.nan}, "each frame's metadata must be JSON (no NaN or infinity)"),
        (1, {"t": object()}, "must be JSON"),
        (1, {"t": b"bytes"}, "must be JSON"),
    ],
)
def test_bad_metadata_is_refused_and_writes_nothing(tmp_path, frames, metadata, message):
    path = tmp_path / "s.zarr"
    data = random_frames((0, 24, 20), 4, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        stream.append(data[0], metadata={"i": 0})
        with pytest.raises(zs.FrameError, match=re.escape(message)):
            stream.append(data[1 : 1 + frames], metadata=metadata)
        stream.append(data[3], metadata={"i": 1})
    np.testing.assert_array_equal(zarr.open_array(str(path), path="raw")[...], data[[0, 3]])
    assert zs.read_frame_metadata(path, "raw") == [{"i": 0}, {"i": 1}]


def test_a_bad_frame_with_metadata_writes_no_record(tmp_path):
    path = tmp_path / "s.zarr"
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        with pytest.raises(zs.FrameError, match="trailing shape"):
            stream.append(np.zeros((2, 3), "uint16"), metadata={"i": 0})
        stream.append(np.zeros((24, 20), "uint16"), metadata={"i": 1})
    assert zs.read_frame_metadata(path, "raw") == [{"i": 1}]


def test_an_array_at_the_root_has_no_room_for_records(tmp_path):
    with zs.ZarrStream(zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[array(key="")])) as stream:
        with pytest.raises(zs.FrameError, match=r"an array at the store root .* give the array a key"):
            stream.append(np.zeros((24, 20), "uint16"), metadata={"i": 0})
        stream.append(np.zeros((24, 20), "uint16"))
    assert zarr.open_array(str(tmp_path / "s.zarr")).shape[0] == 1


def test_keys_that_end_like_a_records_group_are_refused():
    with pytest.raises(zs.SettingsError, match=r"must not end in '\.frame_metadata'"):
        zs.StreamSettings(store="s.zarr", arrays=[array(key="cam/raw.frame_metadata")])


def test_images_and_plate_fields_get_records_beside_them(tmp_path):
    path = tmp_path / "s.zarr"
    image = array(key="img", multiscale=zs.Multiscale())
    field = zs.ArraySettings(dimensions=[D("t", kind="time", chunk=2), D("y", size=8), D("x", size=8)])
    plate = zs.Plate(
        rows=["A"],
        columns=["1"],
        wells=[zs.Well(row="A", column="1", fields=[zs.FieldOfView(path="0", array=field)])],
    )
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[image], plates=[plate])) as stream:
        stream.append(
            random_frames((0, 24, 20), 3, "uint16"), key="img", metadata=[{"i": i} for i in range(3)]
        )
        stream.append(np.ones((2, 8, 8), "uint16"), key="plate/A/1/0", metadata=[{"f": 0}, {"f": 1}])
    assert zs.read_frame_metadata(path, "img") == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert zs.read_frame_metadata(path, "plate/A/1/0") == [{"f": 0}, {"f": 1}]
    from ome_zarr_models.v05 import HCS, Image

    Image.from_zarr(zarr.open_group(str(path), path="img", mode="r"))  # still a valid image
    HCS.from_zarr(zarr.open_group(str(path), path="plate", mode="r"))


async def test_async_appends_carry_metadata(tmp_path):
    path = tmp_path / "s.zarr"
    async with zs.AsyncZarrStream(zs.StreamSettings(store=path, arrays=[array()])) as stream:
        await stream.append(np.zeros((2, 24, 20), "uint16"), metadata=[{"i": 0}, {"i": 1}])
    assert zs.read_frame_metadata(path, "raw") == [{"i": 0}, {"i": 1}]


def test_records_on_s3(bucket):
    s3 = zs.S3Settings(endpoint=bucket.endpoint, allow_http=True)
    url = bucket.url("m.zarr")
    frames = random_frames((0, 24, 20), 6, "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=url, s3=s3, arrays=[array()])) as stream:
        stream.append(frames[:4], metadata=[{"i": i} for i in range(4)])
        stream.flush()
        assert zs.read_frame_metadata(url, "raw", s3=s3) == [{"i": i} for i in range(4)]
        stream.append(frames[4:], metadata=[{"i": 4}, {"i": 5}])
    assert zs.read_frame_metadata(url, "raw", s3=s3) == [{"i": i} for i in range(6)]
    assert zs.read_frame_metadata(bucket.obstore("m.zarr"), "raw") == [{"i": i} for i in range(6)]
