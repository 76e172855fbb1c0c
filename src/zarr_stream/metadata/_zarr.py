"""Array and group ``zarr.json`` documents.

The array metadata is made by ``zarr.create_array`` on a throw-away
``MemoryStore``, so it is exactly what zarr-python itself writes for these
settings; growing the append dimension is ``ArrayV3Metadata.update_shape``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.storage import MemoryStore

from zarr_stream.settings import ArraySettings

__all__ = [
    "array_document",
    "array_metadata",
    "document_key",
    "group_document",
    "group_keys",
    "read_document",
]


def array_metadata(settings: ArraySettings) -> ArrayV3Metadata:
    """Metadata of the array for ``settings``, with an append dimension of length 0."""
    dims = settings.stored_dimensions
    compression = settings.compression
    compressors: BloscCodec | ZstdCodec | None = None
    if compression is not None and compression.compressor == "zstd":
        compressors = ZstdCodec(level=compression.level)
    elif compression is not None:
        compressors = BloscCodec(
            cname=compression.codec, clevel=compression.level, shuffle=compression.shuffle
        )
    array = zarr.create_array(
        MemoryStore(),
        shape=(0, *(d.size for d in dims[1:])),
        dtype=settings.dtype,
        chunks=settings.chunk_shape,
        shards=tuple(d.shard_shape for d in dims),
        compressors=compressors,
        fill_value=0,
        dimension_names=[d.name for d in dims],
        attributes=dict(settings.attributes or {}),
        zarr_format=3,
    )
    metadata = array.metadata
    assert isinstance(metadata, ArrayV3Metadata)
    return metadata


def array_document(metadata: ArrayV3Metadata) -> bytes:
    """The ``zarr.json`` bytes of an array."""
    return metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()


def group_document(attributes: Mapping[str, Any] | None = None) -> bytes:
    """The ``zarr.json`` bytes of a plain group."""
    group = zarr.create_group(MemoryStore(), zarr_format=3, attributes=dict(attributes or {}))
    return group.metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes()


def read_document(store: Any, node_key: str) -> dict[str, Any] | None:
    """The ``zarr.json`` of the node at ``node_key`` in the zarr ``Store`` ``store``, or None."""
    from zarr.core.sync import sync

    found = sync(store.get(document_key(node_key), prototype=default_buffer_prototype()))
    if found is None:
        return None
    document: dict[str, Any] = json.loads(found.to_bytes())
    return document


def document_key(node_key: str) -> str:
    """Store key of a node's ``zarr.json``.

    >>> document_key(""), document_key("a/b")
    ('zarr.json', 'a/b/zarr.json')
    """
    return f"{node_key}/zarr.json" if node_key else "zarr.json"


def group_keys(array_keys: Iterable[str]) -> list[str]:
    """Keys of the plain groups to create: the root and every intermediate path segment.

    >>> group_keys(["a/b/raw", "a/x", "top"])
    ['', 'a', 'a/b']
    >>> group_keys([""])
    []
    """
    keys = list(array_keys)
    if "" in keys:
        return []
    groups = {""}
    for key in keys:
        parts = key.split("/")
        groups.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(groups)
