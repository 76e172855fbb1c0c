"""WriteOnceStore: zarr's own Store conformance suite, and the write-once rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import obstore
import pytest
import zarr
from obstore.store import LocalStore, MemoryStore
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
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
