"""One stream's arrays, with their shared encoder pool and backend: opened, flushed and closed together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from zarr_stream._threads import DaemonPool
from zarr_stream.config import tuning
from zarr_stream.engine._pipeline import ArrayStream
from zarr_stream.errors import StoreAccessError, UnknownKeyError, ZarrStreamError
from zarr_stream.metadata import document_key, group_document, group_keys
from zarr_stream.settings import STAGING_NAME, StreamSettings
from zarr_stream.storage import open_backend

__all__ = ["WriteSession"]


class WriteSession:
    """The arrays of ``settings``, their encoder pool and their backend; open once constructed.

    The store is checked and prepared, and every ``zarr.json`` written, before this returns;
    they are durable once the first ``flush()`` or ``close()`` returns.
    The first failure of any array fails them all: every later call raises it.
    """

    def __init__(self, settings: StreamSettings) -> None:
        self.closed = False
        self._store = str(settings.store)
        knobs = tuning()
        # Staged files go in the first array's folder, where no Zarr reader lists members.
        first = settings.arrays[0].key
        self._backend = backend = open_backend(
            settings.store, knobs.fsync, f"{first}/{STAGING_NAME}".lstrip("/"), settings.s3
        )
        self._pool = DaemonPool(knobs.encode_threads, "zarr-stream-encode")
        self.arrays: dict[str, ArrayStream] = {}
        try:
            for array in settings.arrays:
                self.arrays[array.key] = ArrayStream(array, backend, self._pool, knobs)
            backend.prepare(settings.overwrite)
            try:
                for key in group_keys(self.arrays):
                    backend.write_document(document_key(key), group_document(), durable=False)
                for stream in self.arrays.values():
                    stream.document.write(durable=False)  # durable at the first flush or close
            except ZarrStreamError:
                raise
            except OSError as error:
                raise StoreAccessError(
                    f"the store must be writable. Got {settings.store!r}: {error}"
                ) from error
        except BaseException:
            for stream in self.arrays.values():  # nothing was written: release their writer threads
                stream.close(publish=False)
            self._release()
            raise

    def array(self, key: str | None) -> ArrayStream:
        """The array at ``key``; None names the only one."""
        if key is None:
            if len(self.arrays) != 1:
                raise UnknownKeyError(
                    "key is required when the stream has several arrays. "
                    f"Got None; keys are {sorted(self.arrays)}."
                )
            return next(iter(self.arrays.values()))
        try:
            return self.arrays[key]
        except KeyError:
            raise UnknownKeyError(
                f"key must name an array of the stream {sorted(self.arrays)}. Got {key!r}."
            ) from None

    def check(self) -> None:
        """Raise the first failure of any array."""
        failed = [array for array in self.arrays.values() if array.failure is not None]
        for array in failed or self.arrays.values():
            array.check()

    def append(self, data: npt.ArrayLike, key: str | None) -> None:
        array = self.array(key)
        self.check()
        array.append(data)

    def flush(self) -> None:
        self.check()
        for array in self.arrays.values():
            array.flush()

    def set_attributes(self, attributes: Mapping[str, Any], key: str | None) -> None:
        array = self.array(key)
        self.check()
        array.set_attributes(attributes)

    def close(self) -> None:
        """Close every array, release everything, then raise the first failure, if any.

        Arrays publish what is left, unless the session failed: then nothing more is written.
        Once closed, ``closed`` is True, and closing again raises the failure again, if any.
        """
        if self.closed:
            self.check()
            return
        self.closed = True
        failed = any(array.failure is not None for array in self.arrays.values())
        errors: list[BaseException] = []
        for array in self.arrays.values():
            try:
                array.close(publish=not failed)
            except BaseException as error:  # close every array, then report the first failure
                errors.append(error)
                failed = True
        try:
            self._release()
        except BaseException as error:
            errors.append(error)
        if errors:
            first = errors[0]
            if isinstance(first, Exception) and not isinstance(first, ZarrStreamError):
                # releasing staged files failed (the writes had succeeded, or failed first)
                raise StoreAccessError(f"closing the stream to {self._store!r} failed: {first!r}") from first
            raise first

    def _release(self) -> None:
        self._pool.shutdown(wait=True)
        self._backend.close()
