"""A group's ``zarr.json`` as a stream keeps it: its attributes, merged, and its writes."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from zarr_stream.metadata._zarr import document_key, group_document
from zarr_stream.storage import Backend

__all__ = ["GroupDocument"]


class GroupDocument:
    """The ``zarr.json`` of the group at ``key`` (plain, OME image, plate or well).

    ``fixed`` attributes (the ``ome`` metadata) are the stream's: merged attributes never
    replace them (``check_not_reserved`` refuses the key before a merge).
    """

    def __init__(self, key: str, backend: Backend, fixed: Mapping[str, Any] | None = None) -> None:
        self.key = key
        self._backend = backend
        self._fixed = dict(fixed or {})
        self.attributes: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def fixed(self) -> dict[str, Any]:
        """The attributes the stream sets (the ``ome`` metadata)."""
        return dict(self._fixed)

    def write(self, durable: bool = True) -> None:
        """Write the document as it stands."""
        with self._lock:
            self._write(self.attributes, durable)

    def merge_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Merge ``attributes`` (strict JSON, as ``json_attributes`` makes) in, and write it."""
        with self._lock:
            self._write({**self.attributes, **attributes}, True)

    def _write(self, attributes: dict[str, Any], durable: bool) -> None:
        """Write with ``attributes``; they are the document's once written."""
        document = group_document({**attributes, **self._fixed})
        self._backend.write_document(document_key(self.key), document, durable)
        self.attributes = attributes
