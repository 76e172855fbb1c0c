"""An array's ``zarr.json`` as a stream keeps it: the metadata, grown and annotated, and its writes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from zarr.core.metadata.v3 import ArrayV3Metadata

from zarr_stream.metadata._zarr import array_document, array_metadata, document_key
from zarr_stream.settings import ArraySettings
from zarr_stream.storage import Backend

__all__ = ["ArrayDocument"]


class ArrayDocument:
    """The ``zarr.json`` of the array at ``settings.key``; safe to change from two threads.

    The writer thread grows the append dimension as shard rows complete; the caller's
    thread grows it at a flush and merges attributes. Each change replaces the document whole.
    """

    def __init__(self, settings: ArraySettings, backend: Backend) -> None:
        self.key = settings.key
        self.metadata = array_metadata(settings)
        self._backend = backend
        self._lock = threading.Lock()
        self._wanted = 0  # the extent the array's published shards cover
        #: The most the append dimension may show (a pyramid level: what the level above covers).
        self.cap: Callable[[], int] | None = None
        #: Documents capped by this one, grown again when it grows.
        self.followers: list[ArrayDocument] = []

    def resume(self, extent: int, attributes: Mapping[str, Any]) -> None:
        """Before it is first written: the stored array's extent and attributes are kept (the
        settings' attributes over them), so the document never shows less than was stored."""
        with self._lock:
            merged = {**attributes, **self.metadata.attributes}
            shape = (extent, *self.metadata.shape[1:])
            self.metadata = self.metadata.update_shape(shape).update_attributes(merged)
            self._wanted = extent

    def write(self, durable: bool = True) -> None:
        """Write the document as it stands."""
        with self._lock:
            self._write(self.metadata, durable)

    def grow(self, extent: int, durable: bool) -> None:
        """Make the append dimension at least ``extent`` long (within ``cap``); write it if it
        grew, or if ``durable``. Then let the followers grow as far as they may now."""
        with self._lock:
            self._wanted = max(self._wanted, extent)
            allowed = self._wanted if self.cap is None else min(self._wanted, self.cap())
            grew = allowed > self.metadata.shape[0]
            if grew or durable:
                shape = (max(allowed, self.metadata.shape[0]), *self.metadata.shape[1:])
                self._write(self.metadata.update_shape(shape), durable)
        if grew:
            for follower in self.followers:
                follower.grow(0, durable=False)

    def merge_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Merge ``attributes`` (checked strict JSON, as ``json_attributes`` makes) in, and write it."""
        with self._lock:
            self._write(self.metadata.update_attributes({**self.metadata.attributes, **attributes}), True)

    def _write(self, metadata: ArrayV3Metadata, durable: bool) -> None:
        """Write ``metadata``; it is the document's once written (a failed write changes nothing)."""
        self._backend.write_document(document_key(self.key), array_document(metadata), durable)
        self.metadata = metadata
