"""The backend interface: where a stream's bytes go.

A backend writes two kinds of objects under one store root:

* **shards**, assembled by appending encoded chunks to a :class:`ShardFile`,
  then published once (write-once: publishing over an object the stream did not
  write raises :class:`~zarr_stream.errors.ObjectExistsError`). The one exception
  is the stream's own partial shard: ``flush()`` publishes a shard that is not yet
  complete and the same stream later replaces it, and only it.
* **documents** (``zarr.json``), always replaced whole and atomically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

__all__ = ["Backend", "Buffer", "ShardFile", "nbytes"]

#: Bytes-like objects the backends accept (collections.abc.Buffer needs Python 3.12).
Buffer = bytes | bytearray | memoryview


class ShardFile(ABC):
    """A shard being assembled: encoded chunks appended in order, then published.

    A shard file that ``writes_in_place`` also lets a chunk be written piece by piece into
    a region reserved for it (see :mod:`zarr_stream.engine._regions`).
    """

    writes_in_place = False

    def __init__(self) -> None:
        self.size = 0  # bytes appended or reserved so far: the offset of the next chunk

    def reserve(self, nbytes: int) -> int:
        """Set ``nbytes`` aside at the end for a chunk written in place; return their offset."""
        offset = self.size
        self.size += nbytes
        return offset

    def write_at(self, offset: int, parts: Sequence[Buffer]) -> None:
        """Write ``parts`` one after the other from ``offset``, inside what was reserved."""
        raise NotImplementedError(f"{type(self).__name__} does not write in place")

    def read_at(self, offset: int, nbytes: int) -> bytes:
        """The ``nbytes`` written from ``offset``."""
        raise NotImplementedError(f"{type(self).__name__} does not write in place")

    def sync_soon(self) -> None:  # noqa: B027 - only files on a disk have anything to start
        """Start getting what was written so far to disk, without waiting for it."""

    @abstractmethod
    def append(self, parts: Sequence[Buffer]) -> None:
        """Append one encoded chunk, given as parts in order.

        Parts may be views of memory that is reused once this returns: copy what is kept.
        """

    @abstractmethod
    def publish_snapshot(self, tail: Sequence[Buffer], replace: bool) -> None:
        """Durably write what was appended plus ``tail`` (ending with the index) to the shard key.

        The shard keeps accepting appends afterwards.
        """

    @abstractmethod
    def publish_final(self, index: bytes, replace: bool) -> None:
        """Write what was appended plus ``index`` to the shard key; the shard is done."""

    @abstractmethod
    def discard(self) -> None:
        """Drop whatever is staged; nothing is published."""


class Backend(ABC):
    """Writes shards and documents under one store root."""

    writes_in_place = False  # its shard files write chunks in place (ShardFile.writes_in_place)

    @abstractmethod
    def prepare(self, overwrite: bool) -> None:
        """Raise StoreExistsError if the root holds anything, unless ``overwrite`` removes it."""

    @abstractmethod
    def open_shard(self, key: str) -> ShardFile:
        """Start assembling the shard at ``key``."""

    @abstractmethod
    def write_document(self, key: str, data: bytes, durable: bool) -> None:
        """Replace the document at ``key`` whole, atomically."""

    @abstractmethod
    def sync(self) -> None:
        """Make every shard published so far durable."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release background resources; the backend is not used afterwards."""


def nbytes(parts: Sequence[Buffer]) -> int:
    """Total bytes of ``parts``."""
    return sum(memoryview(part).nbytes for part in parts)
