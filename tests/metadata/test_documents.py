"""zarr.json documents: what zarr-python itself writes, grown and annotated as a stream keeps them."""

from __future__ import annotations

import json
import shutil

import pytest
import zarr
from hypothesis import given
from hypothesis import strategies as st

import zarr_stream as zs
from helpers import dims_from
from zarr_stream.metadata import ArrayDocument, array_document, array_metadata, group_keys
from zarr_stream.storage import LocalBackend

COMPRESSIONS = [
    None,
    zs.Compression(codec="lz4", level=3, shuffle="bitshuffle"),
    zs.Compression(compressor="zstd", level=9),
]


def array_settings(compression):
    return zs.ArraySettings(
        key="a/raw",
        dtype="int16",
        dimensions=dims_from((0, 3, 16, 16), (2, 1, 8, 8), (2, 3, 2, 1)),
        compression=compression,
        attributes={"lab": "b", "n": [1, 2.5]},
    )


def zarr_pythons_own(tmp_path, settings, length):
    """The zarr.json that zarr-python writes for these settings at ``length`` frames."""
    compression = settings.compression
    zarr.create_array(
        zarr.storage.LocalStore(tmp_path / "reference"),
        shape=(length, *(d.size for d in settings.dimensions[1:])),
        dtype=settings.dtype,
        chunks=settings.chunk_shape,
        shards=tuple(d.shard_shape for d in settings.dimensions),
        compressors=None
        if compression is None
        else zarr.codecs.ZstdCodec(level=compression.level)
        if compression.compressor == "zstd"
        else zarr.codecs.BloscCodec(
            cname=compression.codec, clevel=compression.level, shuffle=compression.shuffle
        ),
        fill_value=0,
        dimension_names=[d.name for d in settings.dimensions],
        attributes=dict(settings.attributes or {}),
    )
    return json.loads((tmp_path / "reference/zarr.json").read_bytes())


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["raw", "lz4", "zstd"])
def test_a_grown_document_is_what_zarr_python_writes_for_that_length(tmp_path, compression):
    settings = array_settings(compression)
    metadata = array_metadata(settings)
    assert metadata.shape[0] == 0
    grown = metadata.update_shape((37, *metadata.shape[1:]))
    assert json.loads(array_document(grown)) == zarr_pythons_own(tmp_path, settings, 37)


@pytest.fixture
def backend(tmp_path):
    backend = LocalBackend(tmp_path / "store")
    backend.prepare(overwrite=False)
    yield backend
    backend.close()


def stored(backend):
    return json.loads((backend.path / "a/raw/zarr.json").read_bytes())


def test_the_append_dimension_only_grows(backend):
    document = ArrayDocument(array_settings(None), backend)
    document.write()
    document.grow(5, durable=False)
    assert stored(backend)["shape"][0] == 5
    before = (backend.path / "a/raw/zarr.json").stat().st_ino
    document.grow(3, durable=False)  # not longer: nothing to write
    assert (backend.path / "a/raw/zarr.json").stat().st_ino == before
    document.grow(3, durable=True)  # a flush rewrites it, still at the longest extent
    assert stored(backend)["shape"][0] == 5
    assert zarr.open_array(backend.path, path="a/raw", mode="r").shape == (5, 3, 16, 16)


def test_attributes_merge_over_the_settings_attributes(backend):
    document = ArrayDocument(array_settings(None), backend)
    document.write()
    document.merge_attributes({"n": 3, "new": {"x": None}})
    # 3 frames a step: the document says how many frames it holds
    expected = {"lab": "b", "n": 3, "new": {"x": None}, "zarr_stream": {"frames": 0}}
    assert stored(backend)["attributes"] == expected
    assert zarr.open_array(backend.path, path="a/raw", mode="r").attrs["new"] == {"x": None}


def test_an_array_with_several_frames_a_step_says_how_many_it_holds(backend):
    document = ArrayDocument(array_settings(None), backend)  # 3 frames a step
    document.grow(2, durable=True, frames=4)  # 2 steps shown, the second with 1 of its 3 frames
    assert stored(backend)["attributes"]["zarr_stream"] == {"frames": 4}
    document.grow(2, durable=False)  # a complete shard row's steps, whole; not longer: not written
    assert stored(backend)["attributes"]["zarr_stream"] == {"frames": 4}
    document.merge_attributes({"n": 1})  # the next write says so
    assert stored(backend)["attributes"]["zarr_stream"] == {"frames": 6}


def test_a_failed_write_leaves_the_document_as_it_was(backend):
    document = ArrayDocument(array_settings(None), backend)
    document.write()
    document.grow(4, durable=True)
    shutil.rmtree(backend.path)  # the store vanishes: the write fails before changing anything
    with pytest.raises(zs.StoreAccessError):
        document.grow(9, durable=True)
    with pytest.raises(zs.StoreAccessError):
        document.merge_attributes({"late": 1})
    assert document.metadata.shape[0] == 4
    assert "late" not in document.metadata.attributes


keys = st.lists(st.text("ab/", min_size=1, max_size=7).filter(lambda k: "//" not in k and k.strip("/") == k))


@given(keys)
def test_group_keys_are_the_root_and_every_proper_prefix(array_keys):
    groups = group_keys(array_keys)
    prefixes = {"/".join(k.split("/")[:i]) for k in array_keys for i in range(len(k.split("/")))}
    assert groups == sorted(prefixes | {""})
