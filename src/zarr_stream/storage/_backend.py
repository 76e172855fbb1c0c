"""The backend interface: where a stream's bytes go.

A backend writes two kinds of objects under one store root:

* **shards**, assembled in a ``ShardFile`` and published at their key: by ``flush()``
  while the shard is still partial, as often as the stream flushes, and once more when it is
  complete. Data objects are written once: the first publish creates the key and fails with
  ``ObjectExistsError`` if it exists; later publishes replace only
  what this shard file itself published.
* **documents** (``zarr.json``), always replaced whole and atomically.

How a partial shard is replaced without a reader ever mixing two versions of it: a reader
reads a shard's index, then the chunks it points to, in separate reads (zarr-python does),
and the shard may be replaced in between. So a shard file only ever grows: every publish
puts all of its bytes so far, index last, and no byte that a reader of a published version
can see is ever written again. Compressed chunks and indexes are never rewritten at all; an
uncompressed chunk may be filled in, in place, only in its steps past the array's shape as
that version was published, which no reader of it looks at (``engine._encode.RawRegions``).
A reader holding an older index reads, from the newer object, the values it would have
read from the older one. Chunk versions a flush published, and the indexes, stay in the
shard as unreferenced bytes (the sharding format allows them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

__all__ = ["Backend", "Buffer", "ShardFile", "nbytes"]

#: Bytes-like objects the backends accept (collections.abc.Buffer needs Python 3.12).
Buffer = bytes | bytearray | memoryview


def nbytes(parts: Sequence[Buffer]) -> int:
    """Total bytes of ``parts``."""
    return sum(memoryview(part).nbytes for part in parts)


class ShardFile(ABC):
    """A shard being assembled: bytes reserved at its end and written there, then published.

    The engine keeps the rule of the module docstring: it writes only into space it
    reserved, and that no reader of a published version can see. Chunks are appended whole,
    or written in place, piece by piece, into a region reserved for them (see
    ``engine._regions``).
    """

    def __init__(self) -> None:
        self.size = 0  # bytes reserved so far: where the next reservation starts
        self.published = False  # some version is at the shard key: later ones replace it

    def reserve(self, nbytes: int) -> int:
        """Set ``nbytes`` aside at the end; return their offset."""
        offset = self.size
        self.size += nbytes
        return offset

    def append(self, parts: Sequence[Buffer]) -> int:
        """Write ``parts`` one after the other at the end; return their offset."""
        offset = self.reserve(nbytes(parts))
        self.write_at(offset, parts)
        return offset

    @abstractmethod
    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        """Write ``parts`` one after the other from ``offset``, inside reserved space.

        Parts may be views of memory that is reused once this returns: copy what is kept.
        """

    @abstractmethod
    def read_at(self, offset: int, nbytes: int) -> bytes:
        """The ``nbytes`` written from ``offset``."""

    def sync_soon(self) -> None:  # noqa: B027 - only files on a disk have anything to start
        """Start getting what was written so far to disk, without waiting for it."""

    def publish(self, index: bytes, final: bool) -> None:
        """Append ``index`` and put every byte so far at the shard key.

        ``final``: the shard is complete (or the stream ends) and the file is done;
        otherwise it goes on taking bytes, and a later publish replaces this one.
        """
        self.append([index])
        self._publish(final)
        self.published = True

    @abstractmethod
    def _publish(self, final: bool) -> None:
        """Put bytes ``[0, size)`` at the shard key: create it, or replace what ``published``."""

    @abstractmethod
    def discard(self) -> None:
        """Drop whatever is staged; nothing more is published."""


class Backend(ABC):
    """Writes shards and documents under one store root."""

    #: Whether writing a slab's blocks into its shard files as its frames come pays off (files
    #: on disk); otherwise they are written once the slab is whole.
    writes_in_place = False

    @property
    def failure(self) -> BaseException | None:
        """The first failure of the backend's own background writes (uploads), if one failed."""
        return None

    @abstractmethod
    def prepare(self, overwrite: bool, resume: bool = False) -> None:
        """Make the root ready to write, or raise.

        It raises ``StoreExistsError`` if the root holds anything,
        unless ``overwrite`` and the root holds a Zarr hierarchy, which is then removed, or
        ``resume`` and it holds a Zarr v3 hierarchy, which is kept to be continued; and
        ``StoreAccessError`` if it cannot be reached or written.
        """

    @abstractmethod
    def adopt(self, key: str) -> bool:
        """Take the object at ``key``, if there is one, as this stream's own: its shard or
        document is then replaced (as a flushed partial shard is), not created. A resumed
        stream adopts what it continues. Return whether there was one."""

    @abstractmethod
    def stored_keys(self, prefix: str) -> list[str]:
        """The keys of the objects under ``prefix`` (a folder: ends with ``/``), staging left out."""

    @abstractmethod
    def reader_store(self) -> Any:
        """A zarr ``Store`` that reads what is at the root (a resumed stream reads its data back)."""

    @abstractmethod
    def open_shard(self, key: str) -> ShardFile:
        """Start assembling the shard at ``key`` (replacing it, if it was adopted)."""

    @abstractmethod
    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        """Replace the document at ``key`` whole, atomically."""

    @abstractmethod
    def sync(self) -> None:
        """Make every shard and document published so far durable."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release background resources and staged data; the backend is not used afterwards."""
