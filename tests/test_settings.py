"""Every invalid setting raises a SettingsError (a ValueError) that names the rule and the value."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import zarr_stream as zs
from helpers import dims_from

D = zs.Dimension


def good_dims():
    return [D("t", size=0, chunk=2), D("y", size=8, chunk=4), D("x", size=8, chunk=4)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: D(""), "dimension name must be a non-empty string"),
        (
            lambda: D("y", kind="depth"),
            "kind for dimension 'y' must be one of 'time', 'channel', 'space', 'other'. Got 'depth'",
        ),
        (lambda: D("y", size=-1, chunk=1), "size must be >= 0 for dimension 'y'. Got -1."),
        (lambda: D("y", size=8, chunk=0), "chunk must be > 0 for dimension 'y'. Got 0."),
        (
            lambda: D("y", size=8, chunk=2, shard=0),
            r"shard must be > 0 \(chunks per shard\) for dimension 'y'. Got 0.",
        ),
        (lambda: D("y", size=8.5, chunk=2), "size must be an integer for dimension 'y'. Got 8.5."),
        (lambda: D("y", size=8, chunk=True), "chunk must be an integer"),
        (
            lambda: D("y", size=8, chunk=2, scale=0.0),
            "scale must be finite and > 0 for dimension 'y'. Got 0.0.",
        ),
        (lambda: D("y", size=8, chunk=2, scale=float("nan")), "scale must be finite"),
        (lambda: D("y", size=8, chunk=2, unit=3), "unit must be a string or None"),
        (lambda: zs.Compression(codec="gzip"), "compression codec must be one of 'zstd', 'lz4'. Got 'gzip'."),
        (lambda: zs.Compression(level=10), r"compression level must be in 0..9 for blosc. Got 10."),
        (lambda: zs.Compression(level=-1), r"compression level must be in 0..9 for blosc. Got -1."),
        (
            lambda: zs.Compression(compressor="zstd", level=23),
            r"compression level must be in 1..22 for zstd. Got 23.",
        ),
        (lambda: zs.Compression(compressor="gzip"), "compression compressor must be one of 'blosc', 'zstd'"),
        (
            lambda: zs.Compression(compressor="zstd", codec="lz4"),
            "compressor 'zstd' compresses with zstd only. Got codec='lz4'.",
        ),
        (
            lambda: zs.Compression(compressor="zstd", shuffle="bitshuffle"),
            r"plain zstd has no shuffle .* Got shuffle='bitshuffle'.",
        ),
        (lambda: zs.Compression(shuffle="byte"), "compression shuffle must be one of"),
        (lambda: zs.Multiscale(method="median"), "multiscale method must be one of"),
        (
            lambda: zs.ArraySettings(dtype="complex64", dimensions=good_dims()),
            "dtype must be one of .* Got 'complex64'",
        ),
        (  # numpy parses it as Python and raises SyntaxError: found by hypothesis
            lambda: zs.ArraySettings(dtype=",", dimensions=good_dims()),
            "dtype must be a numpy dtype. Got ','.",
        ),
        (lambda: zs.ArraySettings(dtype="bool", dimensions=good_dims()), "Got 'bool'"),
        (lambda: zs.ArraySettings(dtype="nonsense", dimensions=good_dims()), "dtype must be a numpy dtype"),
        (lambda: zs.ArraySettings(dimensions=good_dims()[:1]), "at least 2 dimensions. Got 1."),
        (
            lambda: zs.ArraySettings(dimensions=[D("t"), D("y", size=0, chunk=2), D("x", size=4)]),
            "size must be > 0 for dimension 'y': only the first .* Got 0.",
        ),
        (
            lambda: zs.ArraySettings(dimensions=[D("t"), D("y", size=4), D("y", size=4)]),
            "dimension names must be unique. Got 'y' twice.",
        ),
        (lambda: zs.ArraySettings(dimensions=[D("t"), "y"]), "dimensions must be Dimension objects"),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), compression="zstd"),
            "compression must be a Compression or None",
        ),
        (
            lambda: zs.ArraySettings(
                dimensions=[
                    D("t", kind="time"),
                    D("z", size=4),
                    D("c", kind="channel", size=2),
                    D("y", size=4),
                    D("x", size=4),
                ],
                ngff=True,
            ),
            r"stores time first, then channel or other, then space; storage_order='ome' stores them so. "
            r"Got \['t \(time\)', 'z \(space\)', 'c \(channel\)', 'y \(space\)', 'x \(space\)'\]",
        ),
        (
            lambda: zs.ArraySettings(dimensions=[D("t", kind="time"), D("x", size=4)], ngff=True),
            r"an OME-NGFF image must have 2 or 3 space dimensions. Got \['x'\].",
        ),
        (
            lambda: zs.ArraySettings(
                dimensions=[D("t", kind="time"), D("u", kind="time", size=2), D("y", size=4), D("x", size=4)],
                ngff=True,
            ),
            r"at most one time dimension. Got \['t', 'u'\]",
        ),
        (
            lambda: zs.ArraySettings(
                dimensions=[
                    D("t", kind="time"),
                    D("c", kind="channel", size=2),
                    D("o", kind="other", size=2),
                    D("y", size=4),
                    D("x", size=4),
                ],
                multiscale=zs.Multiscale(),
            ),
            r"at most one channel or other dimension. Got \['c', 'o'\]",
        ),
        (
            lambda: zs.ArraySettings(
                dimensions=[
                    D("t", kind="time"),
                    D("a", kind="other", size=2),
                    D("b", size=2),
                    D("z", size=2),
                    D("y", size=4),
                    D("x", size=4),
                ],
                ngff=True,
            ),
            "an OME-NGFF image has at most 5 dimensions. Got 6",
        ),
        (
            lambda: zs.ArraySettings(
                dimensions=[D("z"), D("c", kind="channel", size=2), D("y", size=4), D("x", size=4)],
                storage_order="ome",
            ),
            r"storage_order must keep the append dimension 'z' first and the frame's \['y', 'x'\] last. "
            r"Got \['c', 'z', 'y', 'x'\]",
        ),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), storage_order=["t", "x", "y"]),
            "storage_order must keep the append dimension 't' first",
        ),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), storage_order=["t", "y"]),
            r"storage_order must name each dimension \['t', 'y', 'x'\] once. Got \['t', 'y'\]",
        ),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), storage_order="tyx"),
            "storage_order must be None, 'ome' or a list of dimension names. Got 'tyx'",
        ),
        (lambda: D("y", size=4, unit="microns"), "unit must be an OME-NGFF space unit .*Got 'microns'"),
        (lambda: D("t", kind="time", unit="meter"), "unit must be an OME-NGFF time unit .*Got 'meter'"),
        (lambda: D("c", kind="channel", unit="meter"), "a channel dimension has no unit in OME-NGFF"),
        (
            lambda: zs.ArraySettings(dimensions=[D("t"), D("y", size=4, unit="micrometer"), D("x", size=4)]),
            "unit and scale are written in OME-NGFF metadata only: set ngff=True",
        ),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), attributes={"ome": {}}),
            "the attribute key 'ome' is reserved",
        ),
        (
            lambda: zs.ArraySettings(dimensions=good_dims(), attributes={"zarr_stream": {"frames": 3}}),
            "the attribute key 'zarr_stream' is reserved: zarr-stream writes there how many frames",
        ),
        (lambda: zs.ArraySettings(dimensions=good_dims(), attributes=[1]), "attributes must be a mapping"),
        (
            lambda: zs.ArraySettings(key="/a", dimensions=good_dims()),
            "key must not start with '/'. Got '/a'.",
        ),
        (
            lambda: zs.ArraySettings(key="a//b", dimensions=good_dims()),
            "empty, '.' or '..' segments. Got 'a//b'.",
        ),
        (lambda: zs.ArraySettings(key="a/./b", dimensions=good_dims()), "Got 'a/./b'"),
        (lambda: zs.ArraySettings(key="../a", dimensions=good_dims()), "Got '../a'"),
        (lambda: zs.ArraySettings(key="a/", dimensions=good_dims()), "Got 'a/'"),
        (lambda: zs.ArraySettings(key=3, dimensions=good_dims()), "key must be a string. Got 3."),
        (lambda: zs.StreamSettings(store="x", arrays=[]), "at least one array"),
        (
            lambda: zs.StreamSettings(store="", arrays=[zs.ArraySettings(dimensions=good_dims())]),
            "non-empty path",
        ),
        (
            lambda: zs.StreamSettings(
                store="x", arrays=[zs.ArraySettings(key="a", dimensions=good_dims())] * 2
            ),
            "array keys must be unique. Got 'a' twice.",
        ),
        (
            lambda: zs.StreamSettings(
                store="x",
                arrays=[
                    zs.ArraySettings(key="a", dimensions=good_dims()),
                    zs.ArraySettings(key="a/b", dimensions=good_dims()),
                ],
            ),
            "cannot be nested under another array. Got 'a/b' under 'a'.",
        ),
        (
            lambda: zs.StreamSettings(
                store="x",
                arrays=[
                    zs.ArraySettings(key="", dimensions=good_dims()),
                    zs.ArraySettings(key="b", dimensions=good_dims()),
                ],
            ),
            "cannot be nested under another array. Got 'b' under ''.",
        ),
        (lambda: zs.StreamSettings(store="x", arrays=["raw"]), "arrays must be ArraySettings objects"),
        (lambda: zs.ZarrStream({"store": "x"}), "settings must be a StreamSettings"),
        (
            lambda: zs.ZarrStream(
                zs.StreamSettings(store=42, arrays=[zs.ArraySettings(dimensions=good_dims())])
            ),
            "store must be a path, a zarr Store or an obstore store. Got 42.",
        ),
        (
            lambda: zs.ZarrStream(
                zs.StreamSettings(store="http://x/y", arrays=[zs.ArraySettings(dimensions=good_dims())])
            ),
            "must be file:// or s3://bucket/prefix. Got 'http://x/y'",
        ),
        (
            lambda: zs.StreamSettings(
                store="s3://No_Bucket/x", arrays=[zs.ArraySettings(dimensions=good_dims())]
            ),
            "the bucket 3 to 63 lowercase letters, digits, '.', '-' or '_'. Got 's3://No_Bucket/x'",
        ),
        (
            lambda: zs.StreamSettings(
                store="s3://bucket/a//b", arrays=[zs.ArraySettings(dimensions=good_dims())]
            ),
            "an s3 prefix must be plain '/'-separated names. Got 's3://bucket/a//b'",
        ),
    ],
)
def test_invalid_settings_raise_before_anything_is_written(tmp_path, monkeypatch, make, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zs.SettingsError, match=message) as info:
        make()
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("slabs_in_flight", 0, "config 'slabs_in_flight' must be an integer >= 1. Got 0."),
        ("encode_threads", "many", "config 'encode_threads' must be an integer >= 0. Got 'many'."),
        ("max_block_bytes", -1, "config 'max_block_bytes' must be an integer >= 0. Got -1."),
    ],
)
def test_invalid_config_raises_before_anything_is_written(tmp_path, key, value, message):
    settings = zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[zs.ArraySettings(dimensions=good_dims())])
    with zs.config.set({key: value}), pytest.raises(zs.SettingsError, match=message):
        zs.ZarrStream(settings)
    assert not (tmp_path / "s.zarr").exists()


def test_config_from_environment(monkeypatch):
    monkeypatch.setenv("ZSTREAM_SLABS_IN_FLIGHT", "5")
    zs.config.refresh()
    try:
        assert zs.config.get("slabs_in_flight") == 5
    finally:
        monkeypatch.delenv("ZSTREAM_SLABS_IN_FLIGHT")
        zs.config.refresh()
    assert zs.config.get("slabs_in_flight") == 1


def test_settings_are_frozen_and_normalised():
    dims = dims_from((0, 8, 8), (2, 4, 4), (1, 2, 2))
    array = zs.ArraySettings(key="raw", dtype=">u2", dimensions=dims)
    assert array.dimensions == tuple(dims)
    assert array.dtype.str == "<u2"
    with pytest.raises(AttributeError):
        array.key = "other"  # type: ignore[misc]
    assert zs.Dimension("y", size=10, chunk=4, shard=3).shard_shape == 12


GOOD = {"dimensions": [D("t"), D("y", size=8, chunk=4), D("x", size=8, chunk=4)]}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # case 2: booleans are booleans ("no" used to mean True, and deleted the store)
        (lambda s: zs.StreamSettings(store=s, arrays=[zs.ArraySettings(**GOOD)], overwrite="no"),
         "overwrite must be True or False. Got 'no'."),
        (lambda s: zs.StreamSettings(store=s, arrays=[zs.ArraySettings(**GOOD)], overwrite=0),
         "overwrite must be True or False. Got 0."),
        (lambda s: zs.ArraySettings(**GOOD, ngff="false"), "ngff must be True or False"),
        (lambda s: zs.S3Settings(allow_http="yes"), "s3 allow_http must be True or False"),
        # case 7: NaN and infinity are not JSON
        (lambda s: zs.ArraySettings(**GOOD, attributes={"gain": float("nan")}), "attributes must be JSON"),
        (lambda s: zs.ArraySettings(**GOOD, attributes={"x": [float("inf")]}), "attributes must be JSON"),
        (lambda s: zs.ArraySettings(**GOOD, attributes={1: "a"}), "attributes must have string keys"),
        # case 9: keys that Zarr or the file system cannot take, and other bad values
        *(
            (lambda s, key=key: zs.ArraySettings(key=key, **GOOD), message)
            for key, message in [
                ("zarr.json", "must not be 'zarr.json'"),
                ("a/zarr.json/b", "Got 'zarr.json' in 'a/zarr.json/b'"),
                ("a\0b", "control characters"),
                ("a\nb", "control characters"),
                ("x" * 300, "at most 255 bytes"),
                ("é" * 128, "Got 256 bytes"),
                ("__meta", "start with '__'"),
                ("...", "all periods"),
                (".zarr-stream", "'.zarr-stream'"),
                ("a/\udc80", "valid Unicode"),
            ]
        ),
        (lambda s: zs.ArraySettings(dtype=None, **GOOD), "dtype must be one of .* Got None."),
        (lambda s: zs.ArraySettings(dtype=[("a", "u1")], **GOOD), "dtype must be one of"),
        (lambda s: zs.ArraySettings(dtype="uint16", dimensions="tyx"), "dimensions must be a sequence"),
        (lambda s: D("y", size=2**64), "size must be at most 2\\*\\*63 - 1"),
        (lambda s: D("y", size=8, chunk=2**62, shard=4), "chunk x shard must be at most"),
        (lambda s: D("y", size=8, scale=10**400), "scale must be finite"),
        (lambda s: D("y", size=8, scale="1"), "scale must be a number"),
        (
            lambda s: zs.ArraySettings(
                dimensions=[D("t", chunk=2**20), D("y", size=2**12), D("x", size=2**12)]
            ),
            "compressed chunk must hold at most",
        ),
        (lambda s: zs.StreamSettings(store=s, arrays=[zs.ArraySettings(**GOOD)], s3="junk"),
         "s3 must be an S3Settings or None. Got 'junk'."),
        (lambda s: zs.StreamSettings(store=s, arrays=[zs.ArraySettings(**GOOD)], s3=zs.S3Settings()),
         "s3 settings apply to s3:// stores only"),
        (lambda s: zs.StreamSettings(store=s, arrays=zs.ArraySettings(**GOOD)), "arrays must be a sequence"),
        (lambda s: zs.StreamSettings(store=str(s) + "\0", arrays=[zs.ArraySettings(**GOOD)]), "NUL byte"),
        (lambda s: zs.S3Settings(endpoint=5), "s3 endpoint must be a string"),
    ],
)  # fmt: skip
def test_more_invalid_settings_raise_settings_error_naming_rule_and_value(tmp_path, make, message):
    with pytest.raises(zs.SettingsError, match=message) as info:
        make(tmp_path / "s.zarr")
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_chunks_left_out_make_a_sensible_layout(tmp_path):
    """Case 11: chunk used to default to 1: 65,522 files for 128 KiB of a 128x128 array."""
    import numpy as np

    array = zs.ArraySettings(
        key="raw", dimensions=[D("t"), D("c", size=3), D("y", size=128), D("x", size=128)]
    )
    assert [d.chunk for d in array.dimensions] == [32, 1, 128, 128]  # 32 x 128 x 128 x 2 bytes = 1 MiB
    frames = np.ones((3 * 40, 128, 128), "uint16")
    with zs.ZarrStream(zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[array])) as stream:
        stream.append(frames)
    files = [p for p in (tmp_path / "s.zarr").rglob("*") if p.is_file()]
    assert len(files) == 3 * 2 + 2  # 2 chunks deep x 3 channels, and 2 zarr.json
    bounded = zs.ArraySettings(dimensions=[D("t", size=4), D("y", size=16), D("x", size=16)])
    assert [d.chunk for d in bounded.dimensions] == [4, 16, 16]


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.floats(), max_size=2),
)


@hsettings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["name", "kind", "size", "chunk", "shard", "unit", "scale"]), value=JUNK)
def test_junk_in_any_dimension_field_raises_only_settings_error(field, value):
    fields = {"name": "y", "size": 8, "chunk": 4}
    fields[field] = value
    name = fields.pop("name")
    with contextlib.suppress(zs.SettingsError):  # any other exception fails the test
        D(name, **fields)  # type: ignore[arg-type]


@hsettings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["key", "dtype", "dimensions", "compression", "multiscale", "ngff", "attributes"]),
    value=JUNK,
)
def test_junk_in_any_array_field_raises_only_settings_error(field, value):
    fields = {"key": "raw", **GOOD}
    fields[field] = value
    with contextlib.suppress(zs.SettingsError):
        zs.ArraySettings(**fields)  # type: ignore[arg-type]


@hsettings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["store", "arrays", "overwrite", "s3"]), value=JUNK)
def test_junk_in_any_stream_field_raises_only_settings_error(field, value):
    fields = {"store": "s.zarr", "arrays": [zs.ArraySettings(**GOOD)]}
    fields[field] = value
    with contextlib.suppress(zs.SettingsError):
        zs.StreamSettings(**fields)  # type: ignore[arg-type]
