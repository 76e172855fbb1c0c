"""WriteOnceStore: zarr's own Store conformance suite, and the write-once rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import obstore
import pytest
import zarr
from obstore.store import LocalStore, MemoryStore
from zarr.core.buffer import Buffer, cpu
from zarr.testing.store import StoreTests

from zarr_stream.errors import ObjectExistsError
from zarr_stream.storage import WriteOnceStore


class TestWriteOnceStore(StoreTests[WriteOnceStore, cpu.Buffer]):
    """zarr's conformance suite, over an obstore LocalStore."""

    store_cls = WriteOnceStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        return {"store": LocalStore(prefix=tmp_path), "read_only": False}

    @pytest.fixture
    def store(self, store_kwargs: dict[str, Any]) -> WriteOnceStore:
        return self.store_cls(**store_kwargs)

    async def get(self, store: WriteOnceStore, key: str) -> Buffer:
        return self.buffer_cls.from_bytes(obstore.get(LocalStore(prefix=store.store.prefix), key).bytes())

    async def set(self, store: WriteOnceStore, key: str, value: Buffer) -> None:
        obstore.put(LocalStore(prefix=store.store.prefix), key, value.to_bytes())

    def test_store_repr(self, store: WriteOnceStore) -> None:
        assert repr(store).startswith("WriteOnceStore(write-once://LocalStore(")

    def test_store_supports_writes(self, store: WriteOnceStore) -> None:
        assert store.supports_writes

    def test_store_supports_partial_writes(self, store: WriteOnceStore) -> None:
        assert not store.supports_partial_writes

    def test_store_supports_listing(self, store: WriteOnceStore) -> None:
        assert store.supports_listing


class TestWriteOnceStoreOnS3(TestWriteOnceStore):
    """The same suite against the S3 server."""

    @pytest.fixture
    def store_kwargs(self, bucket: Any) -> dict[str, Any]:
        return {"store": bucket.obstore("suite"), "read_only": False}

    async def get(self, store: WriteOnceStore, key: str) -> Buffer:
        return self.buffer_cls.from_bytes(obstore.get(store.store, key).bytes())

    async def set(self, store: WriteOnceStore, key: str, value: Buffer) -> None:
        obstore.put(store.store, key, value.to_bytes())

    def test_store_repr(self, store: WriteOnceStore) -> None:
        assert repr(store).startswith("WriteOnceStore(write-once://S3Store(")


@pytest.fixture(params=["memory", "s3"])
def store(request) -> WriteOnceStore:
    if request.param == "memory":
        return WriteOnceStore(MemoryStore())
    return WriteOnceStore(request.getfixturevalue("bucket").obstore())


def test_zarr_python_writes_and_reads_through_it_but_cannot_overwrite_a_chunk(store):
    array = zarr.create_array(store, name="a", shape=(4, 4), chunks=(2, 2), dtype="uint16")
    array[:2, :2] = 7
    array.attrs["note"] = "documents are replaced whole"  # zarr.json is written again
    with pytest.raises(ObjectExistsError, match=r"'a/c/0/0' already exists"):
        array[:2, :2] = 8
    reopened = zarr.open_array(store, path="a", mode="r")
    np.testing.assert_array_equal(reopened[:2, :2], 7)
    assert reopened.attrs["note"] == "documents are replaced whole"


def test_a_create_that_finds_its_own_bytes_carries_on_and_foreign_bytes_raise(store):
    sync = zarr.core.sync.sync
    e_tag = sync(store.create_async("k", b"our bytes"))
    assert sync(store.create_async("k", b"our bytes")) == e_tag  # a retried create of ours
    with pytest.raises(ObjectExistsError, match="'k' already exists"):
        sync(store.create_async("k", b"other bytes"))
    assert obstore.get(store.store, "k").bytes() == b"our bytes"


def test_a_replace_needs_the_version_this_writer_made(store):
    sync = zarr.core.sync.sync
    first = sync(store.create_async("k", b"v1"))
    second = sync(store.replace_async("k", b"v2", first))
    assert second != first
    assert sync(store.replace_async("k", b"v2", first)) == second  # a retried replace of ours
    obstore.put(store.store, "k", b"someone else")
    with pytest.raises(ObjectExistsError, match="changed by another writer"):
        sync(store.replace_async("k", b"v3", second))
    assert obstore.get(store.store, "k").bytes() == b"someone else"
