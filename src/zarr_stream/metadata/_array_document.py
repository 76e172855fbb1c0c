"""An array's ``zarr.json`` as a stream keeps it: the metadata, grown and annotated, and its writes."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

from zarr.core.metadata.v3 import ArrayV3Metadata

from zarr_stream.metadata._zarr import array_document, array_metadata, document_key
from zarr_stream.settings import ArraySettings
from zarr_stream.storage import Backend

__all__ = ["FRAMES_KEY", "ArrayDocument", "stored_frames"]

#: The attribute in which an array with several frames per step says how many frames it holds.
FRAMES_KEY = "zarr_stream"


def stored_frames(document: Mapping[str, Any], frames_per_step: int) -> int:
    """The frames a stored array's ``zarr.json`` says it holds: every step's, unless it says fewer."""
    steps = int(document["shape"][0])
    said = document.get("attributes", {}).get(FRAMES_KEY, {})
    frames = said.get("frames") if isinstance(said, dict) else None
    whole = steps * frames_per_step
    return min(int(frames), whole) if isinstance(frames, int) and frames >= 0 else whole


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
        dims = settings.dimensions
        #: Frames a step holds: when more than one, the extent alone does not say how many
        #: frames a partial last step has, so the document says it (``FRAMES_KEY``).
        self.frames_per_step = math.prod(d.size for d in dims[1 : len(dims) - (2 if len(dims) >= 3 else 1)])
        self._frames = 0  # the frames the published shards hold
        #: The most the append dimension may show (a pyramid level: what the level above covers).
        self.cap: Callable[[], int] | None = None
        #: Documents capped by this one, grown again when it grows.
        self.followers: list[ArrayDocument] = []

    def resume(self, extent: int, frames: int, attributes: Mapping[str, Any]) -> None:
        """Before it is first written: the stored array's extent, frames and attributes are kept
        (the settings' attributes over them), so the document never shows less than was stored."""
        with self._lock:
            kept = {k: v for k, v in attributes.items() if k != FRAMES_KEY}
            merged = {**kept, **self.metadata.attributes}
            shape = (extent, *self.metadata.shape[1:])
            self.metadata = self.metadata.update_shape(shape).update_attributes(merged)
            self._wanted = extent
            self._frames = frames

    def write(self, durable: bool = True) -> None:
        """Write the document as it stands."""
        with self._lock:
            self._write(self.metadata, durable)

    def grow(self, extent: int, durable: bool, frames: int | None = None) -> None:
        """Make the append dimension at least ``extent`` long (within ``cap``), holding ``frames``
        frames (all of its steps' by default); write it if it grew, or if ``durable``. Then let
        the followers grow as far as they may now."""
        with self._lock:
            self._wanted = max(self._wanted, extent)
            self._frames = max(self._frames, extent * self.frames_per_step if frames is None else frames)
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
        written = metadata
        if self.frames_per_step > 1:
            frames = min(self._frames, metadata.shape[0] * self.frames_per_step)  # what it shows
            written = metadata.update_attributes({**metadata.attributes, FRAMES_KEY: {"frames": frames}})
        self._backend.write_document(document_key(self.key), array_document(written), durable)
        self.metadata = metadata
