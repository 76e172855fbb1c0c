"""Settings as data and files: exact round trips, and clear errors for what does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
import zarr

import zarr_stream as zs
from helpers import random_frames

D = zs.Dimension


def plate_field() -> zs.ArraySettings:
    return zs.ArraySettings(
        dtype="uint16",
        multiscale=zs.Multiscale(method="mean", max_levels=2),
        dimensions=[D("t", kind="time", chunk=2), D("y", size=16, chunk=8), D("x", size=16, chunk=8)],
    )


SETTINGS = {
    "one array": zs.StreamSettings(
        store="out.zarr",
        arrays=[zs.ArraySettings(dimensions=[D("t", chunk=4, shard=2), D("y", size=8), D("x", size=8)])],
    ),
    "everything": zs.StreamSettings(
        store="runs/acq.zarr",
        overwrite=True,
        arrays=[
            zs.ArraySettings(
                key="cam/raw",
                dtype="float32",
                compression=zs.Compression(compressor="zstd", level=19),
                ngff=True,
                storage_order="ome",
                channels=[zs.Channel(label="gfp", color="00ff00", window=(0, 2000)), zs.Channel(label="rfp")],
                attributes={"operator": "ab", "nested": {"list": [1, 2.5, None, True]}},
                dimensions=[
                    D("t", kind="time", size=100, chunk=4, unit="millisecond", scale=50),
                    D("z", size=5, chunk=1, unit="micrometer", scale=2.0),
                    D("c", kind="channel", size=2, chunk=1),
                    D("y", size=64, chunk=32, shard=2, unit="micrometer", scale=0.65),
                    D("x", size=48, chunk=32, shard=2, unit="micrometer", scale=0.65),
                ],
            ),
            zs.ArraySettings(
                key="cam/raw-lz4",
                dtype="int8",
                compression=zs.Compression(codec="lz4", level=9, shuffle="bitshuffle"),
                dimensions=[D("t"), D("x", size=1000)],
            ),
            zs.ArraySettings(key="uncompressed", compression=None, dimensions=[D("t"), D("x", size=4)]),
        ],
        plates=[
            zs.Plate(
                key="screen/plate",
                name="p1",
                rows=["A", "B"],
                columns=["1", "2", "3"],
                acquisitions=[zs.Acquisition(id=0, name="first"), zs.Acquisition(id=3, description="x")],
                wells=[
                    zs.Well(
                        row="B",
                        column="3",
                        fields=[zs.FieldOfView(path="0", acquisition=3, array=plate_field())],
                    ),
                ],
            )
        ],
    ),
    "s3": zs.StreamSettings(
        store="s3://bucket/prefix",
        s3=zs.S3Settings(endpoint="http://127.0.0.1:9000", region="us-east-1", allow_http=True),
        arrays=[zs.ArraySettings(dimensions=[D("t"), D("x", size=4)])],
    ),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_settings_round_trip_exactly_through_dicts(name):
    settings = SETTINGS[name]
    data = settings.to_dict()
    assert data["version"] == 1
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    assert zs.StreamSettings.from_dict(data) == settings
    assert zs.StreamSettings.from_dict(data).to_dict() == data


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_settings_round_trip_exactly_through_files(tmp_path, name, suffix):
    settings = SETTINGS[name]
    path = tmp_path / f"acq{suffix}"
    settings.to_file(path)
    text = path.read_text()
    loaded = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    assert loaded == settings.to_dict()  # the file holds exactly the dict, in its format
    assert zs.StreamSettings.from_file(path) == settings
    assert zs.StreamSettings.from_file(str(path)) == settings
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nothing staged is left


def test_a_stream_from_a_hand_written_yaml_file_writes_what_it_says(tmp_path):
    path = tmp_path / "acq.yaml"
    path.write_text(
        f"""
store: {tmp_path / "out.zarr"}
arrays:
  - key: raw
    dtype: uint16
    compression: {{compressor: zstd, level: 3}}
    dimensions:
      - {{name: t, kind: time, chunk: 4, shard: 2}}
      - {{name: y, size: 24, chunk: 16}}
      - {{name: x, size: 20, chunk: 16}}
"""
    )
    settings = zs.StreamSettings.from_file(path)
    assert settings.arrays[0].compression == zs.Compression(compressor="zstd", level=3)
    frames = random_frames((0, 24, 20), 11, "uint16")
    with zs.ZarrStream(settings) as stream:
        stream.append(frames)
    array = zarr.open_array(str(tmp_path / "out.zarr"), path="raw", mode="r")
    np.testing.assert_array_equal(array[...], np.stack(list(frames)))
    assert array.chunks == (4, 16, 16)
    assert array.metadata.codecs[0].codecs[1].to_dict()["name"] == "zstd"


def test_a_path_store_is_written_as_text(tmp_path):
    settings = zs.StreamSettings(store=tmp_path / "o.zarr", arrays=SETTINGS["s3"].arrays)
    assert settings.to_dict()["store"] == str(tmp_path / "o.zarr")
    assert zs.StreamSettings.from_dict(settings.to_dict()).store == str(tmp_path / "o.zarr")


def test_a_store_object_cannot_be_written_to_a_file(tmp_path):
    settings = zs.StreamSettings(store=zarr.storage.MemoryStore(), arrays=SETTINGS["s3"].arrays)
    with pytest.raises(zs.SettingsError, match="only a path or an s3:// URL can be written"):
        settings.to_dict()
    with pytest.raises(zs.SettingsError, match="only a path or an s3:// URL"):
        settings.to_file(tmp_path / "acq.json")
    assert not list(tmp_path.iterdir())


def edited(change):
    data = SETTINGS["everything"].to_dict()
    change(data)
    return data


def _set(path, value):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            edited(_set(["arrays", 0, "dimensions", 1, "chunks"], 2)),
            r"unknown key 'chunks' in settings.arrays\[0\].dimensions\[1\] \(did you mean 'chunk'\?\); "
            "Dimension has the keys name, kind, size, chunk, shard, unit, scale.",
        ),
        (
            edited(_set(["overwrites"], True)),
            r"unknown key 'overwrites' in settings \(did you mean 'overwrite'\?\)",
        ),
        (
            edited(_set(["arrays", 0, "dimensions", 1, "chunk"], 0)),
            r"in settings.arrays\[0\].dimensions\[1\]: chunk must be > 0 for dimension 'z'. Got 0.",
        ),
        (
            edited(_set(["arrays", 0, "compression", "level"], 30)),
            r"in settings.arrays\[0\].compression: compression level must be in 1..22 for zstd. Got 30.",
        ),
        (
            edited(_set(["plates", 0, "wells", 0, "fields", 0, "array", "dtype"], "complex64")),
            r"in settings.plates\[0\].wells\[0\].fields\[0\].array: dtype must be one of",
        ),
        (
            edited(lambda d: d["arrays"][0]["dimensions"][0].pop("name")),
            r"settings.arrays\[0\].dimensions\[0\] \(Dimension\) must have the key 'name'.",
        ),
        (edited(lambda d: d.pop("store")), r"settings \(StreamSettings\) must have the key 'store'."),
        (edited(_set(["version"], 2)), "settings version must be 1 .* Got 2."),
        (edited(_set(["version"], "1")), "settings version must be 1 .* Got '1'."),
        (
            edited(_set(["arrays", 0, "dimensions"], "t,y,x")),
            r"settings.arrays\[0\].dimensions must be a list of Dimension mappings. Got \'t,y,x\'.",
        ),
        (
            edited(_set(["arrays", 1], [1, 2])),
            r"settings.arrays\[1\] must be a mapping of ArraySettings fields",
        ),
        (edited(_set(["s3"], {"endpoint": "x"})), "s3 settings apply to s3:// stores only"),
        ([1, 2], "settings must be a mapping of their fields. Got"),
    ],
)
def test_bad_settings_data_name_the_key_and_where_it_is(data, message):
    with pytest.raises(zs.SettingsError, match=message):
        zs.StreamSettings.from_dict(data)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("acq.json", "{not json", "is not valid JSON"),
        ("acq.yaml", "arrays: [unclosed", "is not valid YAML"),
        ("acq.yaml", "- 1\n- 2\n", "settings must be a mapping"),
        ("acq.toml", "store = 1", r"a settings file ends in .json, .yaml, .yml \(JSON or YAML\)"),
        ("acq.json", b"\xff\xfe", "cannot be read"),
    ],
)
def test_bad_settings_files_are_refused_with_their_name(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(zs.SettingsError, match=message):
        zs.StreamSettings.from_file(path)


def test_a_missing_settings_file_is_a_settings_error(tmp_path):
    with pytest.raises(zs.SettingsError, match="cannot be read") as info:
        zs.StreamSettings.from_file(tmp_path / "missing.yaml")
    assert isinstance(info.value.__cause__, FileNotFoundError)
