"""A zarr ``Store`` over any obstore store whose data objects are written once.

zarr-python's own ``zarr.storage.ObjectStore`` already speaks obstore for everything a
store does (byte-range gets, listing, deletes, pickling), so this subclasses it and changes
only how objects are written:

* a data key (a chunk or shard: anything but a metadata document) is created with a
  conditional put (``mode="create"``, S3's ``If-None-Match: *``): if it exists, the put
  fails and ``ObjectExistsError`` names the key. zarr's own
  ``set_if_not_exists`` swallows that conflict; a stream must not.
* a metadata document (``zarr.json``) is replaced whole in one PUT.

The stream itself writes through ``WriteOnceStore.create`` and
``WriteOnceStore.replace``, which return the new object's ETag, so that the stream's
own partial shard (and its documents) are replaced only by a put conditioned on the
version it wrote (S3's ``If-Match``).

Retries: obstore retries a put that failed with a 5xx or a dropped connection, and the
attempt it gave up on may have reached the store. A retried create then finds the object
"already there", and a retried replace finds it "changed". Both are our own write when the
object now holds exactly our bytes (its ETag is their MD5, as on S3 for a single PUT, or
its content is equal), and the write carries on; any other object is foreign and an error.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import obstore as obs
from obstore.exceptions import AlreadyExistsError, PreconditionError
from zarr.core.buffer import Buffer as ZarrBuffer
from zarr.storage import ObjectStore

from zarr_stream.errors import ObjectExistsError

logger = logging.getLogger("zarr_stream")

if TYPE_CHECKING:
    from zarr_stream.storage._backend import Buffer

__all__ = ["WriteOnceStore", "is_document"]

_DOCUMENT_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})


def is_document(key: str) -> bool:
    """Whether ``key`` names a metadata document (replaced whole) rather than a data object."""
    return key.rsplit("/", 1)[-1] in _DOCUMENT_NAMES


def _md5_e_tag(data: Buffer) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


class WriteOnceStore(ObjectStore[Any]):
    """A zarr Store over an obstore store (``S3Store``, ``LocalStore``, ``MemoryStore``, ...)
    in which data objects are written once.

    It takes zarr's ``ObjectStore`` arguments: ``store``, the obstore store, set up with
    its credentials, and ``read_only``.

    Examples
    --------
    >>> import numpy as np, zarr
    >>> from obstore.store import MemoryStore
    >>> store = WriteOnceStore(MemoryStore())
    >>> array = zarr.create_array(store, shape=(4,), chunks=(2,), dtype="uint8")
    >>> array[:2] = 1
    >>> array[:2] = 2  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zarr_stream.errors.ObjectExistsError: data objects are written once: 'c/0' already exists, ...
    """

    def __eq__(self, value: object) -> bool:
        return type(value) is type(self) and super().__eq__(value)

    def __str__(self) -> str:
        return f"write-once://{self.store!r}"

    async def set(self, key: str, value: ZarrBuffer) -> None:
        """Replace a document whole; create a data object, or raise ``ObjectExistsError``."""
        self._check_writable()
        data = value.as_buffer_like()
        if is_document(key):
            await obs.put_async(self.store, key, data)
        else:
            await self.create_async(key, data)

    async def create_async(self, key: str, data: Buffer) -> str | None:
        """Create ``key`` holding ``data``; return its ETag. An existing object raises, unless
        it holds exactly ``data`` (our own earlier attempt, retried)."""
        self._check_writable()
        try:
            result = await obs.put_async(self.store, key, data, mode="create", use_multipart=False)
        except AlreadyExistsError as error:
            message = (
                f"data objects are written once: {key!r} already exists, written by someone "
                "else; it is left as it is."
            )
            return await self._ours_or_raise(key, data, error, message)
        return result["e_tag"]

    async def replace_async(self, key: str, data: Buffer, e_tag: str | None) -> str | None:
        """Replace ``key``, as long as it is still the version ``e_tag`` (which this stream
        wrote); return the new ETag. A store that cannot check (obstore's ``LocalStore``,
        which writes by atomic rename) replaces unconditionally."""
        self._check_writable()
        try:
            result = await obs.put_async(self.store, key, data, mode={"e_tag": e_tag}, use_multipart=False)
        except NotImplementedError:  # conditional updates unsupported (LocalStore): a plain replace
            result = await obs.put_async(self.store, key, data, use_multipart=False)
        except PreconditionError as error:
            message = (
                f"{key!r} was changed by another writer since this stream wrote it: "
                "it is left as it is, and this stream writes no more."
            )
            return await self._ours_or_raise(key, data, error, message)
        return result["e_tag"]

    async def find_async(self, key: str) -> tuple[bool, str | None]:
        """Whether an object is at ``key``, and its ETag (None if the store gives none)."""
        try:
            head = await obs.head_async(self.store, key)
        except FileNotFoundError:
            return False, None
        e_tag: str | None = head["e_tag"]
        return True, e_tag

    async def _ours_or_raise(self, key: str, data: Buffer, error: Exception, message: str) -> str | None:
        """After a conditional put was refused: the ETag of ``key`` if it holds exactly ``data``
        (our own earlier attempt, retried); otherwise raise ``ObjectExistsError(message)``."""
        try:
            head = await obs.head_async(self.store, key)
        except FileNotFoundError:
            raise ObjectExistsError(message) from error
        if head["size"] == memoryview(data).nbytes:
            if head["e_tag"] is not None and head["e_tag"] == _md5_e_tag(data):
                logger.info("%r: a retried write found its own earlier attempt stored", key)
                return head["e_tag"]
            stored = await (await obs.get_async(self.store, key)).bytes_async()
            if memoryview(stored) == memoryview(data).cast("B"):
                logger.info("%r: a retried write found its own earlier attempt stored", key)
                return head["e_tag"]
        logger.warning("%s", message)
        raise ObjectExistsError(message) from error
