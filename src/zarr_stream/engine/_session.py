"""One stream's arrays, with their shared encoder pool and backend: opened, flushed and closed together."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from zarr_stream._threads import DaemonPool
from zarr_stream.config import tuning
from zarr_stream.engine._frame_records import FrameRecords, encode_records, records_key
from zarr_stream.engine._image import ImageStream
from zarr_stream.engine._pipeline import ArrayStream
from zarr_stream.errors import (
    BackgroundError,
    FrameError,
    SettingsError,
    StoreAccessError,
    UnknownKeyError,
    ZarrStreamError,
)
from zarr_stream.metadata import (
    GroupDocument,
    document_key,
    group_keys,
    plate_attributes,
    read_document,
    well_attributes,
)
from zarr_stream.settings import (
    OME_KEY,
    STAGING_NAME,
    StreamSettings,
    check_not_reserved,
    json_attributes,
)
from zarr_stream.storage import Backend, open_backend

__all__ = ["MAX_SKIP", "WriteSession", "store_label"]

#: The most frames one ``skip`` appends.
MAX_SKIP = 2**32

logger = logging.getLogger("zarr_stream")


def store_label(store: object) -> str:
    """The store as log lines and errors name it: a path or URL as given, an object by its type
    alone (a store object's repr may hold its configuration, credentials included)."""
    if isinstance(store, (str, os.PathLike)):
        return repr(os.fspath(store))
    return f"a {type(store).__module__.split('.')[0]} {type(store).__name__}"


class WriteSession:
    """The arrays of ``settings``, their encoder pool and their backend; open once constructed.

    The store is checked and prepared, and every ``zarr.json`` written, before this returns;
    they are durable once the first ``flush()`` or ``close()`` returns.
    The first failure of any array fails them all: every later call raises it.
    """

    def __init__(self, settings: StreamSettings) -> None:
        self.closed = False
        self._store = store_label(settings.store)
        self._opened = time.perf_counter()
        self._failure_logged = False
        knobs = tuning()
        # Staged files go in the first array's folder (an image's level 0), where no Zarr reader
        # lists members.
        streamed = settings.streamed_arrays
        first = streamed[0]
        home = f"{first.key}/0" if first.ngff else first.key
        self._backend = backend = open_backend(
            settings.store, knobs.fsync, f"{home}/{STAGING_NAME}".lstrip("/"), settings.s3
        )
        self._pool = DaemonPool(knobs.encode_threads, "zarr-stream-encode")
        self._tuning = knobs
        self.arrays: dict[str, ArrayStream | ImageStream] = {}
        self.records: dict[str, FrameRecords] = {}  # per-frame metadata, from its first record
        self.groups = _groups(settings, backend)
        self._failure: BaseException | None = None  # of a plain group's write
        try:
            for array in streamed:
                kind = ImageStream if array.ngff else ArrayStream
                self.arrays[array.key] = kind(array, backend, self._pool, knobs)
            backend.prepare(settings.overwrite, settings.resume)
            try:
                reader = backend.reader_store() if settings.resume else None
                if reader is not None:
                    self._resume(reader)
                for group in self.groups.values():
                    group.write(durable=False)
                for stream in self.arrays.values():
                    stream.write_documents(durable=False)  # durable at the first flush or close
                if reader is not None:
                    self._reload()
            except ZarrStreamError:
                raise
            except OSError as error:
                raise StoreAccessError(
                    f"the store must be writable. Got {settings.store!r}: {error}"
                ) from error
        except BaseException as error:
            for part in [*self.records.values(), *self.arrays.values()]:  # release their writer threads
                part.close(publish=False)
            self._release()
            logger.warning("the stream to %s could not open: %s", self._store, error)
            raise
        logger.info(
            "stream opened: %s, arrays %s%s",
            self._store,
            ", ".join(repr(key) for key in self.arrays),
            " (overwrite)" if settings.overwrite else "",
        )

    def _resume(self, reader: Any) -> None:
        """Before any document is written: take up the groups and arrays already stored (their
        attributes kept, their documents and partial shards adopted); check they match."""
        for key, group in self.groups.items():
            stored = read_document(reader, key)
            if stored is not None:
                if stored.get("node_type") != "group":
                    raise SettingsError(
                        f"resume needs a group at {key!r}, as the settings have. Got an array."
                    )
                ome = stored.get("attributes", {}).get(OME_KEY)
                if ome != group.fixed.get(OME_KEY):
                    raise SettingsError(
                        f"resume continues the groups the settings make: the OME metadata of {key!r} "
                        f"differs (a plate, well or image changed, or made a plain group). Got "
                        f"{json.dumps(group.fixed.get(OME_KEY))[:300]} from the settings, "
                        f"{json.dumps(ome)[:300]} stored."
                    )
                self._backend.adopt(document_key(key))
                kept = {k: v for k, v in stored.get("attributes", {}).items() if k != OME_KEY}
                group.attributes = {**kept, **group.attributes}
        for key, array in self.arrays.items():
            stored = read_document(reader, key)
            if stored is None:
                continue  # a new array, beside those continued
            image = isinstance(array, ImageStream)
            if stored.get("node_type") != ("group" if image else "array"):
                raise SettingsError(
                    f"resume continues what the settings name: an {'image' if image else 'array'} at "
                    f"{key!r}. Got {'an array' if image else 'a group'} stored there."
                )
            if isinstance(array, ImageStream):
                self._backend.adopt(document_key(key))
                kept = {k: v for k, v in stored.get("attributes", {}).items() if k != OME_KEY}
                array.document.attributes = {**kept, **array.document.attributes}
            array.resume(reader, stored)
        for key, array in self.arrays.items():
            if key and read_document(reader, records_key(key)) is not None:
                records = self.records[key] = FrameRecords(key, self._backend, self._pool, self._tuning)
                records.resume(reader, array.resumed_frames)

    def _reload(self) -> None:
        """After the documents are written: append the stored partial shard rows again, and
        continue the per-frame metadata of the arrays that have some."""
        for key, array in self.arrays.items():
            array.reload()
            if key in self.records:
                self.records[key].open(array.frames)

    def array(self, key: str | None) -> ArrayStream | ImageStream:
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
        """Raise the first failure of any array (logged once, as a warning)."""
        try:
            parts = [*self.arrays.values(), *self.records.values()]
            failed = [part for part in parts if part.failure is not None]
            for part in failed or parts:
                part.check()
            if self._failure is not None:
                raise BackgroundError(
                    f"writing a group's zarr.json failed, and the stream writes no more: {self._failure!r}"
                ) from self._failure
        except ZarrStreamError as error:
            if not self._failure_logged:
                self._failure_logged = True
                logger.warning("the stream to %s failed and writes no more: %s", self._store, error)
            raise

    def frames(self) -> dict[str, int]:
        """Frames accepted so far, per array or image."""
        return {key: array.frames for key, array in self.arrays.items()}

    def append(self, data: npt.ArrayLike, key: str | None, metadata: object = None) -> None:
        """Append a block of frames, and their metadata records when given. A bad call takes nothing."""
        array = self.array(key)
        self.check()
        frames = _level0(array).checked_frames(data)
        encoded = None if metadata is None else encode_records(metadata, len(frames), array.key)
        records = self.records.get(array.key)
        if encoded is not None and records is None:
            if not array.key:
                raise FrameError(
                    "per-frame metadata is written beside its array, and an array at the store "
                    "root ('') has nothing beside it: give the array a key. Got metadata for key ''."
                )
            records = self._open_records(array)
        array.take(frames)
        if records is not None:
            if encoded is None:
                records.add_empty(len(frames))
            else:
                records.add(encoded)

    def _open_records(self, array: ArrayStream | ImageStream) -> FrameRecords:
        records = FrameRecords(array.key, self._backend, self._pool, self._tuning)
        try:
            records.open(array.frames)
        except BaseException as error:
            records.close(publish=False)  # its writer threads
            if isinstance(error, ZarrStreamError) or not isinstance(error, OSError):
                raise
            raise StoreAccessError(
                f"writing the per-frame metadata of {array.key!r} to {self._store} failed: {error}"
            ) from error
        self.records[array.key] = records
        return records

    def skip(self, count: object, key: str | None) -> None:
        """Append ``count`` frames of the fill value (frames a camera dropped)."""
        array = self.array(key)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= MAX_SKIP:
            raise FrameError(
                f"skip count must be an integer from 0 to 2**32 (frames dropped). Got {count!r}."
            )
        self.check()
        level0 = _level0(array)
        level0.check_room(int(count))  # all of them or none
        records = self.records.get(array.key)
        # read-only views of one fill value, a slab's frames at a time: nothing is allocated,
        # and each frame's place in the buffers is filled as for any frame; chunks left all
        # fill are not stored
        block = max(1, level0.layout.frames_per_slab)
        for start in range(0, int(count), block):
            frames = min(block, int(count) - start)
            array.take(np.broadcast_to(np.zeros((), level0.dtype), (frames, *level0.layout.frame_shape)))
            if records is not None:
                records.add_empty(frames)

    def flush(self) -> None:
        self.check()
        start = time.perf_counter()
        for key, array in self.arrays.items():
            if key in self.records:  # records first: a reader never finds frames' records missing
                self.records[key].flush()
            array.flush()
        if logger.isEnabledFor(logging.DEBUG):
            seconds = time.perf_counter() - start
            logger.debug("flushed %s in %.3f s: frames %s", self._store, seconds, self.frames())

    def set_attributes(self, attributes: Mapping[str, Any], key: str | None) -> None:
        """Merge ``attributes`` into the node at ``key``: an array, an image or one of its
        levels, a group; None names the only array."""
        if key is not None and key in self.groups:
            self.check()
            update = json_attributes(attributes, "attributes")
            check_not_reserved(update)
            try:
                self.groups[key].merge_attributes(update)
            except BaseException as error:
                self._failure = self._failure or error
                raise
            return
        image = next(
            (a for a in self.arrays.values() if isinstance(a, ImageStream) and key in a.level_keys), None
        )
        if image is not None:
            self.check()
            image.set_attributes(attributes, key)
            return
        try:
            array = self.array(key)
        except UnknownKeyError:
            nodes = sorted(
                [
                    *self.groups,
                    *self.arrays,
                    *(k for a in self.arrays.values() if isinstance(a, ImageStream) for k in a.level_keys),
                ]
            )
            raise UnknownKeyError(f"key must name a node of the stream {nodes}. Got {key!r}.") from None
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
        parts = [*self.records.values(), *self.arrays.values()]
        failed = self._failure is not None or any(part.failure is not None for part in parts)
        errors: list[BaseException] = []
        for part in parts:
            try:
                part.close(publish=not failed)
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
                raise StoreAccessError(f"closing the stream to {self._store} failed: {first!r}") from first
            raise first
        self.check()  # a group's failed write
        seconds = time.perf_counter() - self._opened
        logger.info("stream closed: %s after %.1f s, frames %s", self._store, seconds, self.frames())

    def _release(self) -> None:
        self._pool.shutdown(wait=True)
        self._backend.close()


def _level0(array: ArrayStream | ImageStream) -> ArrayStream:
    """The array that takes the frames as given: the array, or an image's level 0."""
    return array.levels[0] if isinstance(array, ImageStream) else array


def _groups(settings: StreamSettings, backend: Backend) -> dict[str, GroupDocument]:
    """The groups above the arrays and images: plain ones, and each plate's and well's."""
    groups = {key: GroupDocument(key, backend) for key in group_keys(a.key for a in settings.streamed_arrays)}
    for plate in settings.plates:
        groups[plate.key] = GroupDocument(plate.key, backend, fixed=plate_attributes(plate))
        for well in plate.wells:
            key = plate.well_key(well)
            groups[key] = GroupDocument(key, backend, fixed=well_attributes(well))
    return groups
