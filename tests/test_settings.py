"""Every invalid setting raises a SettingsError (a ValueError) that names the rule and the value."""

from __future__ import annotations

import pytest

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
        (lambda: zs.Compression(level=10), r"compression level must be in 0..9. Got 10."),
        (lambda: zs.Compression(level=-1), r"compression level must be in 0..9. Got -1."),
        (lambda: zs.Compression(shuffle="byte"), "compression shuffle must be one of"),
        (lambda: zs.Multiscale(method="median"), "multiscale method must be one of"),
        (
            lambda: zs.ArraySettings(dtype="complex64", dimensions=good_dims()),
            "dtype must be one of .* Got 'complex64'",
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
            lambda: zs.ArraySettings(dimensions=good_dims(), ngff=True),
            "multiscale and ngff are not supported yet",
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
            "not supported yet. Got 'http://x/y'",
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
