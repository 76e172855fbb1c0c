"""Every layout, dtype and codec setting reads back through zarr-python as np.stack of the frames."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import tensorstore as ts
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zarr_stream as zs
from helpers import dims_from, expected_array, random_frames, read, stream
from zarr_stream.settings import SUPPORTED_DTYPES
from zarr_stream.testing import assert_round_trip

# (shape, chunks, shard counts, frames): ragged chunks and shards in every dimension.
LAYOUTS = {
    "2d": ((0, 37), (3, 8), (2, 3), 20),
    "3d": ((0, 50, 37), (4, 16, 8), (2, 2, 3), 19),
    "4d": ((0, 3, 33, 20), (2, 2, 16, 7), (3, 1, 2, 2), 3 * 13 + 2),
    "5d": ((0, 2, 3, 17, 19), (2, 1, 2, 8, 8), (2, 2, 1, 2, 3), 6 * 5 + 4),
    "bounded": ((10, 20, 20), (4, 8, 8), (2, 1, 1), 10),
    "bounded-partial": ((10, 20, 20), (4, 8, 8), (2, 1, 1), 7),
    "chunk-over-size": ((0, 5, 5), (2, 8, 8), (1, 1, 1), 5),
    "frame-chunks": ((0, 16, 16), (1, 16, 16), (1, 1, 1), 4),
    "many-shards-along-t": ((0, 12, 12), (1, 6, 6), (2, 1, 2), 11),
}


def array_settings(shape, chunks, shards, dtype="uint16", compression=None, key="raw"):
    return zs.ArraySettings(
        key=key, dtype=dtype, dimensions=dims_from(shape, chunks, shards), compression=compression
    )


def check_metadata(path, key, array: zs.ArraySettings) -> None:
    a = zarr.open_array(str(path), path=key, mode="r")
    dims = array.dimensions
    assert a.chunks == tuple(d.chunk for d in dims)
    assert a.shards == tuple(d.chunk * d.shard for d in dims)
    assert a.metadata.dimension_names == tuple(d.name for d in dims)
    assert a.dtype == np.dtype(array.dtype)
    doc = json.loads((path / key / "zarr.json").read_text())
    assert doc["fill_value"] == 0
    (sharding,) = doc["codecs"]
    assert sharding["name"] == "sharding_indexed"
    config = sharding["configuration"]
    assert config["chunk_shape"] == [d.chunk for d in dims]
    assert [c["name"] for c in config["index_codecs"]] == ["bytes", "crc32c"]
    inner = config["codecs"]
    assert inner[0]["name"] == "bytes"
    if array.compression is None:
        assert len(inner) == 1
    elif array.compression.compressor == "zstd":
        (zstd,) = inner[1:]
        assert zstd == {
            "name": "zstd",
            "configuration": {"level": array.compression.level, "checksum": False},
        }
    else:
        (blosc,) = inner[1:]
        assert blosc["name"] == "blosc"
        assert blosc["configuration"]["cname"] == array.compression.codec
        assert blosc["configuration"]["clevel"] == array.compression.level
        assert blosc["configuration"]["shuffle"] == array.compression.shuffle


def skip_raw_but_once(compression, engine):
    """Uncompressed arrays take the same path (raw slabs) with every engine: test it once."""
    if compression is None and engine != "slabs":
        pytest.skip("uncompressed arrays are written from raw slabs whatever the engine")


@pytest.mark.parametrize("compression", [None, zs.Compression()], ids=["raw", "blosc"])
@pytest.mark.parametrize("block", [1, 7, 1000])
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layouts_round_trip(tmp_path, name, block, compression, engine):
    skip_raw_but_once(compression, engine)
    shape, chunks, shards, n = LAYOUTS[name]
    array = array_settings(shape, chunks, shards, compression=compression)
    frames = random_frames(shape, n, "uint16", seed=n)
    stream(tmp_path / "s.zarr", array, frames, block)
    assert_round_trip(tmp_path / "s.zarr", frames, key="raw")
    check_metadata(tmp_path / "s.zarr", "raw", array)


@pytest.mark.parametrize("dtype", SUPPORTED_DTYPES)
def test_every_dtype_round_trips(tmp_path, dtype):
    shape, chunks, shards, n = LAYOUTS["4d"]
    array = array_settings(shape, chunks, shards, dtype=dtype, compression=zs.Compression(codec="lz4"))
    frames = random_frames(shape, n, dtype)
    stream(tmp_path / "s.zarr", array, frames, block=5)
    assert_round_trip(tmp_path / "s.zarr", frames, key="raw")
    check_metadata(tmp_path / "s.zarr", "raw", array)


COMPRESSIONS = [
    None,
    *(
        zs.Compression(codec=codec, level=level, shuffle=shuffle)
        for codec in ("zstd", "lz4")
        for shuffle in ("noshuffle", "shuffle", "bitshuffle")
        for level in (0, 1, 9)
    ),
    *(zs.Compression(compressor="zstd", level=level) for level in (1, 3, 22)),
]


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=str)
def test_each_compression_setting_round_trips(tmp_path, compression, engine):
    shape, chunks, shards, n = LAYOUTS["3d"]
    array = array_settings(shape, chunks, shards, compression=compression)
    frames = random_frames(shape, n, "uint16")
    stream(tmp_path / "s.zarr", array, frames, block=4)
    assert_round_trip(tmp_path / "s.zarr", frames, key="raw")
    check_metadata(tmp_path / "s.zarr", "raw", array)


@pytest.mark.parametrize(
    "make_view",
    [
        lambda f: f[:, ::-1, :],  # negative strides
        lambda f: np.asfortranarray(f),  # Fortran order
        lambda f: np.ascontiguousarray(f.transpose(0, 2, 1)).transpose(0, 2, 1),  # transposed view
        lambda f: np.repeat(f, 2, axis=2)[:, :, ::2],  # strided
        lambda f: f.astype(">u2"),  # big-endian input
        lambda f: f.astype("uint8"),  # safe upcast from a narrower dtype
    ],
    ids=["reversed", "fortran", "transposed", "strided", "big-endian", "upcast"],
)
def test_any_memory_layout_and_safe_dtype_is_accepted(tmp_path, make_view):
    shape, chunks, shards, n = LAYOUTS["3d"]
    array = array_settings(shape, chunks, shards, compression=zs.Compression())
    frames = random_frames(shape, n, "uint16") % 200
    views = make_view(frames)
    stream(tmp_path / "s.zarr", array, views, block=3)
    np.testing.assert_array_equal(
        read(tmp_path / "s.zarr", "raw"), expected_array(shape, np.asarray(views).astype("uint16"))
    )


def test_leading_axes_are_flattened_into_frames(tmp_path):
    shape, chunks, shards, _ = LAYOUTS["4d"]
    frames = random_frames(shape, 4 * 3 * 2, "uint16").reshape(4, 3, 2, 33, 20)
    array = array_settings(shape, chunks, shards, compression=zs.Compression())
    with zs.ZarrStream(zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[array])) as s:
        s.append(frames)  # (4, 3, 2, Y, X): 24 frames, 8 time points of 3 channels
    np.testing.assert_array_equal(
        read(tmp_path / "s.zarr", "raw"), expected_array(shape, frames.reshape(-1, 33, 20))
    )


def test_several_arrays_with_groups(tmp_path):
    a = array_settings((0, 20, 20), (4, 8, 8), (2, 2, 2), key="acq/cam1/raw", compression=zs.Compression())
    b = array_settings((0, 9), (5, 4), (1, 2), dtype="float32", key="acq/log", compression=None)
    fa = random_frames((0, 20, 20), 11, "uint16")
    fb = random_frames((0, 9), 23, "float32")
    settings = zs.StreamSettings(store=tmp_path / "s.zarr", arrays=[a, b])
    with zs.ZarrStream(settings) as s:
        for i in range(23):
            if i < 11:
                s.append(fa[i], key="acq/cam1/raw")
            s.append(fb[i], key="acq/log")
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert isinstance(root["acq"], zarr.Group)
    assert isinstance(root["acq/cam1"], zarr.Group)
    np.testing.assert_array_equal(root["acq/cam1/raw"][...], expected_array((0, 20, 20), fa))
    np.testing.assert_array_equal(root["acq/log"][...], expected_array((0, 9), fb))


def test_array_at_store_root(tmp_path):
    array = array_settings((0, 8, 8), (2, 4, 4), (1, 2, 2), key="")
    frames = random_frames((0, 8, 8), 5, "uint16")
    stream(tmp_path / "s.zarr", array, frames)
    np.testing.assert_array_equal(read(tmp_path / "s.zarr"), expected_array((0, 8, 8), frames))


@pytest.mark.parametrize("compression", [None, zs.Compression()], ids=["raw", "blosc"])
def test_fill_value_chunks_and_shards_are_not_stored(tmp_path, compression, engine):
    skip_raw_but_once(compression, engine)
    shape = (0, 16, 16)
    array = array_settings(shape, (2, 8, 8), (1, 1, 2), compression=compression)
    frames = np.zeros((6, 16, 16), "uint16")
    frames[2:4, :8, :8] = 7  # only chunk (1, 0, 0) holds data
    stream(tmp_path / "s.zarr", array, frames)
    shards = sorted(
        p.relative_to(tmp_path / "s.zarr/raw").as_posix()
        for p in (tmp_path / "s.zarr/raw/c").rglob("*")
        if p.is_file()
    )
    assert shards == ["c/1/0/0"]
    np.testing.assert_array_equal(read(tmp_path / "s.zarr", "raw"), frames)
    raw = (tmp_path / "s.zarr/raw/c/1/0/0").read_bytes()
    index = np.frombuffer(raw[-(2 * 16 + 4) : -4], "<u8").reshape(2, 2)
    assert index[1].tolist() == [2**64 - 1, 2**64 - 1]  # the empty inner chunk
    assert index[0][1] > 0


@pytest.mark.parametrize(
    "compression",
    [zs.Compression(codec="zstd", shuffle="bitshuffle"), zs.Compression(compressor="zstd", level=5)],
    ids=["blosc", "zstd"],
)
@pytest.mark.parametrize("name", ["3d", "4d", "2d"])
def test_dask_and_tensorstore_read_the_same(tmp_path, name, compression, engine):
    shape, chunks, shards, n = LAYOUTS[name]
    array = array_settings(shape, chunks, shards, compression=compression)
    frames = random_frames(shape, n, "uint16")
    stream(tmp_path / "s.zarr", array, frames, block=2)
    expected = expected_array(shape, frames)
    np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "s.zarr"), component="raw").compute(), expected)
    store = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "s.zarr/raw")}}, open=True
    ).result()
    np.testing.assert_array_equal(store.read().result(), expected)


@st.composite
def layouts(draw):
    ndim = draw(st.integers(2, 4))
    shape = [draw(st.sampled_from([0, 0, 5]))] + [draw(st.integers(1, 13)) for _ in range(ndim - 1)]
    chunks = [draw(st.integers(1, 6)) for _ in range(ndim)]
    shards = [draw(st.integers(1, 3)) for _ in range(ndim)]
    per_step = int(np.prod(shape[1 : ndim - (2 if ndim >= 3 else 1)]))
    limit = shape[0] * per_step if shape[0] else 30
    n = draw(st.integers(0, limit))
    block = draw(st.integers(1, 8))
    flushes = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3))
    return tuple(shape), tuple(chunks), tuple(shards), n, block, set(flushes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=layouts(),
    dtype=st.sampled_from(["uint8", "int16", "float32"]),
    compression=st.sampled_from([None, zs.Compression(codec="lz4")]),
)
def test_random_layouts_round_trip(tmp_path_factory, engine, layout, dtype, compression):
    shape, chunks, shards, n, block, flushes = layout
    path = tmp_path_factory.mktemp("h") / "s.zarr"
    array = array_settings(shape, chunks, shards, dtype=dtype, compression=compression)
    frames = random_frames(shape, n, dtype)
    with zs.ZarrStream(zs.StreamSettings(store=path, arrays=[array])) as s:
        for start in range(0, n, block):
            s.append(frames[start : start + block])
            if start in flushes:
                s.flush()
                got = read(path, "raw")
                np.testing.assert_array_equal(
                    got, expected_array(shape, frames[: start + len(frames[start : start + block])])
                )
    np.testing.assert_array_equal(read(path, "raw"), expected_array(shape, frames))
