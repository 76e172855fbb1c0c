"""One suite for every backend: local files, any zarr Store, a WriteOnceStore over obstore
(in memory, on local disk, on S3). Each keeps the Backend contract of ``storage._backend``."""

from __future__ import annotations

import numpy as np
import obstore
import pytest
import zarr
from obstore.store import LocalStore
from obstore.store import MemoryStore as ObstoreMemory
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import MemoryStore as ZarrMemory

import zarr_stream as zs
from zarr_stream.storage import Backend, LocalBackend, StoreBackend, WriteOnceStore

BACKENDS = ["local", "zarr-memory", "obstore-memory", "obstore-local", "s3"]


class Target:
    """A backend of one kind, and a way to read what it wrote, as a reader would."""

    def __init__(self, kind: str, tmp_path, request) -> None:
        self.kind = kind
        if kind == "local":
            self.store = None
            self.path = tmp_path / "s.zarr"
            self.make = lambda: LocalBackend(self.path, fsync=True, staging="raw/.zarr-stream")
            return
        if kind == "zarr-memory":
            store = ZarrMemory()
        elif kind == "obstore-memory":
            store = WriteOnceStore(ObstoreMemory())
        elif kind == "obstore-local":
            (tmp_path / "s.zarr").mkdir()
            store = WriteOnceStore(LocalStore(tmp_path / "s.zarr"))
        else:
            store = WriteOnceStore(request.getfixturevalue("bucket").obstore())
        self.store = store
        self.make = lambda: StoreBackend(store)

    def read(self, key: str) -> bytes | None:
        if self.store is None:
            path = self.path / key
            return path.read_bytes() if path.exists() else None
        value = sync(self.store.get(key, default_buffer_prototype()))
        return None if value is None else value.to_bytes()

    def put_foreign(self, key: str, data: bytes) -> None:
        if self.store is None:
            (self.path / key).parent.mkdir(parents=True, exist_ok=True)
            (self.path / key).write_bytes(data)
        elif isinstance(self.store, WriteOnceStore):
            obstore.put(self.store.store, key, data)
        else:
            sync(self.store.set(key, default_buffer_prototype().buffer.from_bytes(data)))

    def zarr_store(self):
        return str(self.path) if self.store is None else self.store


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path) -> Target:
    return Target(request.param, tmp_path, request)


def opened(target: Target) -> Backend:
    backend = target.make()
    backend.prepare(overwrite=False)
    return backend


def test_a_shard_published_partial_then_final_holds_every_byte_in_order(target):
    backend = opened(target)
    shard = backend.open_shard("raw/c/0/0")
    shard.append([b"chunk-a", memoryview(b"chunk-b")])
    shard.publish(b"index-1", final=False)
    backend.sync()
    assert target.read("raw/c/0/0") == b"chunk-achunk-bindex-1"
    offset = shard.reserve(4)
    shard.write_at(offset, [b"abcd"])
    assert shard.read_at(offset, 4) == b"abcd"
    shard.publish(b"index-2", final=True)
    backend.sync()
    assert target.read("raw/c/0/0") == b"chunk-achunk-bindex-1abcdindex-2"
    backend.close()


def test_a_data_key_that_exists_is_never_overwritten(target):
    backend = opened(target)
    target.put_foreign("raw/c/1/0", b"someone else's")
    shard = backend.open_shard("raw/c/1/0")
    shard.append([b"ours"])
    with pytest.raises(zs.ObjectExistsError, match="raw/c/1/0"):
        shard.publish(b"index", final=True)
        backend.sync()
    backend.close()
    assert target.read("raw/c/1/0") == b"someone else's"


def test_documents_are_replaced_whole_and_are_durable_after_sync(target):
    backend = opened(target)
    backend.write_document("zarr.json", b'{"v": 1}', durable=False)
    backend.write_document("raw/zarr.json", b'{"v": 2}', durable=False)
    backend.write_document("raw/zarr.json", b'{"v": 33}', durable=True)
    backend.sync()
    assert target.read("zarr.json") == b'{"v": 1}'
    assert target.read("raw/zarr.json") == b'{"v": 33}'
    backend.close()


def test_a_document_written_after_a_shard_never_lands_before_it(target):
    backend = opened(target)
    for i in range(20):
        shard = backend.open_shard(f"raw/c/{i}/0")
        shard.append([bytes(1000)])
        shard.publish(b"i", final=True)
        backend.write_document("raw/zarr.json", str(i).encode(), durable=False)
        # whichever version of the document is there, every shard it names is there too
        document = target.read("raw/zarr.json")
        if document is not None:
            assert all(target.read(f"raw/c/{j}/0") is not None for j in range(int(document) + 1))
    backend.sync()
    assert target.read("raw/zarr.json") == b"19"
    backend.close()


def test_prepare_refuses_a_non_empty_store_and_replaces_a_zarr_hierarchy_only_with_overwrite(target):
    with zs.ZarrStream(zs.StreamSettings(store=target.zarr_store(), arrays=[tiny_array()])) as stream:
        stream.append(np.ones((2, 4, 4), "uint16"))
    refused = target.make()
    with pytest.raises(zs.StoreExistsError):
        refused.prepare(overwrite=False)
    refused.close()
    assert target.read("raw/zarr.json") is not None
    backend = target.make()
    backend.prepare(overwrite=True)
    assert target.read("raw/zarr.json") is None
    backend.close()


def test_a_stream_on_each_backend_reads_back_through_zarr(target):
    frames = np.arange(5 * 4 * 4, dtype="uint16").reshape(5, 4, 4)
    with zs.ZarrStream(zs.StreamSettings(store=target.zarr_store(), arrays=[tiny_array()])) as stream:
        stream.append(frames[:3])
        stream.flush()
        stream.append(frames[3:])
    got = zarr.open_array(target.zarr_store(), path="raw", mode="r")
    np.testing.assert_array_equal(got[...], frames)


def tiny_array() -> zs.ArraySettings:
    return zs.ArraySettings(
        key="raw",
        dimensions=[
            zs.Dimension("t", kind="time", size=0, chunk=2, shard=2),
            zs.Dimension("y", size=4, chunk=2, shard=2),
            zs.Dimension("x", size=4, chunk=4, shard=1),
        ],
        compression=zs.Compression(codec="lz4"),
    )
