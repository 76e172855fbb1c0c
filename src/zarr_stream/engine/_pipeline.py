"""One array's pipeline: frames -> encoding -> shard row -> zarr.json.

Threads: the caller's thread checks and copies frames in (see ``._encode`` and
``._tiles``), and the shared encoder pool encodes them; one writer thread per array
takes the encoded slabs in order, puts their chunks in the shards of the current shard
row (``._shard_row``), publishes the row's shards when its last slab is in, and then
grows the append dimension in ``zarr.json``. Metadata never covers a shard before that
shard is published.

Failures are sticky: the first exception of any step, on either thread, fails the array.
It writes nothing more from then on (so nothing flushed is touched again), and every
later call raises it, as the cause of a ``BackgroundError`` (or
of the same zarr-stream error, for those that say what happened: an object that exists, a
store that vanished).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, wait
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from zarr_stream._threads import DaemonPool
from zarr_stream.config import Tuning
from zarr_stream.engine._encode import EncodedSlab, Encoding, SlabEncoding
from zarr_stream.engine._layout import ChunkPlacement, Layout, frame_order
from zarr_stream.engine._resume import Restart, check_same_array, restart_at, shards_from
from zarr_stream.engine._shard_row import Chunk, ShardRow
from zarr_stream.engine._tiles import InPlace, TileEncoding, encodes_tiles, frames_per_block, run_buffers
from zarr_stream.errors import (
    BackgroundError,
    CapacityError,
    FrameDtypeError,
    FrameError,
    ObjectExistsError,
    StoreAccessError,
)
from zarr_stream.metadata import ArrayDocument, array_document, document_key
from zarr_stream.metadata._array_document import stored_frames
from zarr_stream.settings import ArraySettings, check_not_reserved, json_attributes
from zarr_stream.storage import Backend, ShardFile

__all__ = ["ArrayStream"]

#: Failures raised again as their own type: they say what happened better than BackgroundError.
_OWN_TYPES = (ObjectExistsError, StoreAccessError)


class ArrayStream:
    """Streams frames into one array. One caller thread at a time."""

    def __init__(
        self,
        settings: ArraySettings,
        backend: Backend,
        pool: Executor,
        tuning: Tuning,
        grow_with_rows: bool = True,
    ):
        """``grow_with_rows``: the zarr.json grows as shard rows complete, not only at flushes."""
        self.key = settings.key
        self._grow_with_rows = grow_with_rows
        self.settings = settings
        self.dtype: np.dtype = np.dtype(settings.dtype)
        self.layout = stored_layout(settings)
        self.document = ArrayDocument(settings, backend)
        self._backend = backend
        self._row = ShardRow(self.layout, f"{self.key}/" if self.key else "", backend)
        slab_bytes = self.layout.frames_per_slab * math.prod(self.layout.frame_shape) * self.dtype.itemsize
        early = backend.writes_in_place and slab_bytes >= tuning.in_place_slab_bytes
        in_place = InPlace(self._slab_shard_file, self._run_on_writer, early)
        self._encoding = _encoding(self.layout, self.dtype, settings, pool, tuning, in_place)
        self._writer = DaemonPool(1, "zarr-stream-writer")
        self._pending: deque[Future[None]] = deque()
        self._failure: BaseException | None = None
        self._published_frames: int | None = None  # frames the last flush covered (None: no flush yet)
        self._reload: tuple[Any, Restart] | None = None  # what a resume reads back (see resume)

    @property
    def frames(self) -> int:
        """Frames accepted so far."""
        return self._encoding.frames

    @property
    def failure(self) -> BaseException | None:
        """The exception that failed the array, if one did."""
        return self._failure

    # --- caller thread ---------------------------------------------------------------------

    def append(self, data: npt.ArrayLike) -> None:
        """Check ``data`` (shape ``(..., *frame_shape)``) and take its frames; full slabs go to the writer.

        A bad call raises and takes nothing.
        """
        self.take(self.checked_frames(data))

    def resume(self, reader: Any, stored: dict[str, Any], keep_frames: int | None = None) -> None:
        """Before any frame, and before the documents are written: continue the array stored
        at the key (its ``zarr.json`` is ``stored``), keeping ``keep_frames`` frames (all its
        steps' by default). The shards to be written again are adopted, the document keeps
        the stored extent and attributes; ``reload`` then appends the partial row again."""
        check_same_array(self.key, json.loads(array_document(self.document.metadata)), stored)
        stored_steps = int(stored["shape"][0])
        frames = stored_frames(stored, self.layout.frames_per_step)
        restart = restart_at(
            self.layout, stored_steps, frames if keep_frames is None else min(keep_frames, frames)
        )
        # every stored shard of the rows written again, and of rows a killed stream wrote past
        # them (complete, but not yet in its zarr.json)
        self.adopt_shards(restart.start // self.layout.shard_shape[0])
        self._backend.adopt(document_key(self.key))
        self.document.resume(stored_steps, frames, stored.get("attributes", {}))
        self._encoding.start_at(restart.start // self.layout.chunks[0])
        self._reload = (reader, restart)

    def adopt_shards(self, first_row: int = 0) -> None:
        """Take the stored shards of rows ``first_row`` on as this stream's own, to be replaced:
        those a resume writes again, or all of an array a kill left without its zarr.json."""
        prefix = f"{self.key}/" if self.key else ""
        stored = [key.removeprefix(prefix) for key in self._backend.stored_keys(prefix + "c/")]
        for key in shards_from(stored, first_row):
            self._backend.adopt(prefix + key)

    @property
    def resumed_frames(self) -> int:
        """The frames the array holds once :meth:`reload` has run: those a resume keeps."""
        if self._reload is None:
            return self.frames
        restart = self._reload[1]
        return restart.start * self.layout.frames_per_step + restart.frames

    def reload(self) -> None:
        """Append again the stored frames of the partial shard row a resume starts in (so the
        row's shards are rewritten whole)."""
        if self._reload is None:
            return
        reader, restart = self._reload
        self._reload = None
        per_step = self.layout.frames_per_step
        for frames in self.read_frames(
            reader, restart.start * per_step, restart.start * per_step + restart.frames
        ):
            self.take(frames)

    def read_frames(self, reader: Any, first: int, end: int) -> Iterator[np.ndarray]:
        """Frames ``first`` to ``end`` (in arrival order) as the store holds them, read with
        zarr-python a slab's steps at a time, in blocks."""
        if end <= first:
            return
        array = zarr.open_array(reader, path=self.key, mode="r")
        acquired = [dim.name for dim in self.settings.dimensions]
        stored = [dim.name for dim in self.settings.stored_dimensions]
        to_acquired = [stored.index(name) for name in acquired]
        per_step, depth = self.layout.frames_per_step, self.layout.chunks[0]
        step = first // per_step
        while step * per_step < end:
            block = np.asarray(array[step : step + depth]).transpose(to_acquired)
            frames = block.reshape(-1, *self.layout.frame_shape)
            low, high = max(first - step * per_step, 0), min(end - step * per_step, len(frames))
            yield frames[low:high]
            step += depth

    def checked_frames(self, data: npt.ArrayLike) -> np.ndarray:
        """``data`` as a block of frames, once checked to fit the array (else it raises)."""
        self.check()
        frames = self._frames(data)
        self.check_room(len(frames))
        return frames

    def check_room(self, count: int) -> None:
        """Raise ``CapacityError`` unless ``count`` more frames fit a bounded append dimension."""
        capacity = self.layout.capacity_frames
        if capacity is not None and self.frames + count > capacity:
            raise CapacityError(
                f"the append dimension of array {self.key!r} holds {capacity} frames "
                f"({self.layout.shape[0]} x {self.layout.frames_per_step}); {self.frames} are written. "
                f"Got {count} more."
            )

    def take(self, frames: np.ndarray) -> None:
        """Take a checked block of frames (see ``checked_frames``)."""
        self._guarded(self._encoding.write, frames, self._dispatch, self.check)

    def check(self) -> None:
        """Raise the array's failure, if a step has failed (in the background or not)."""
        while self._pending and self._pending[0].done():
            error = self._pending.popleft().exception()
            if error is not None and self._failure is None:
                self._failure = error
        if self._failure is None:  # an upload the writer handed over may have failed since
            self._failure = self._backend.failure
        failure = self._failure
        if failure is not None:
            kind = type(failure) if isinstance(failure, _OWN_TYPES) else BackgroundError
            raise kind(
                f"writing array {self.key!r} failed, and the stream writes no more: {failure!r}"
            ) from failure

    def flush(self) -> None:
        """Publish every frame appended so far (partial chunks padded) and make it durable."""
        self.check()
        self._guarded(self._publish, False)

    def close(self, publish: bool = True) -> None:
        """Publish what is left (unless ``publish`` is False or the array failed), release the
        writer thread and staged files in any case, then raise the failure, if there was one."""
        try:
            if publish and self._failure is None:
                self._guarded(self._publish, True)
        finally:
            wait(list(self._pending))
            self._writer.shutdown(wait=True)
            self._row.discard()
        self.check()

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Merge ``attributes`` into the array's ``zarr.json`` attributes.

        Attributes that are not strict JSON raise and change nothing; a failed write fails the array.
        """
        self.check()
        update = json_attributes(attributes, "attributes")
        check_not_reserved(update)
        self._guarded(self.document.merge_attributes, update)

    def write_documents(self, durable: bool) -> None:
        """Write the array's ``zarr.json`` as it stands."""
        self.document.write(durable)

    def _frames(self, data: npt.ArrayLike) -> np.ndarray:
        try:
            frames = np.asarray(data)
        except (TypeError, ValueError) as error:
            raise FrameError(
                f"frames must be an array of numbers (array {self.key!r}). Got {error}."
            ) from error
        if not np.can_cast(frames.dtype, self.dtype, casting="safe"):
            raise FrameDtypeError(
                f"frame dtype must cast safely to the array's dtype {self.dtype.name} "
                f"(array {self.key!r}). Got {frames.dtype}."
            )
        frame_shape = self.layout.frame_shape
        if frames.ndim < len(frame_shape) or frames.shape[frames.ndim - len(frame_shape) :] != frame_shape:
            raise FrameError(
                f"frames must have trailing shape {frame_shape} (array {self.key!r}). "
                f"Got shape {frames.shape}."
            )
        return frames.reshape(-1, *frame_shape)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Run a step of the caller's thread; its failure fails the array."""
        try:
            step(*args)
        except BaseException as error:
            if self._failure is None:
                self._failure = error
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt and the like go on as they are: the array is failed
            self.check()

    def _publish(self, final: bool) -> None:
        wait(list(self._pending))
        self.check()
        if self._published_frames == self.frames:  # nothing new since the last flush: all durable
            if final:
                self._row.discard()
            return
        versions: dict[tuple[int, ...], list[tuple[int, Chunk]]] = {}
        encoded = self._encoding.partial()
        if encoded is not None:
            row = self.layout.shard_row_of_slab(encoded.index)
            try:
                for placement, chunk in encoded.chunks:
                    coords = (row, *placement.shard_coords[1:])
                    versions.setdefault(coords, []).append((placement.inner_index, chunk))
            finally:
                encoded.release()
        self._row.publish(versions, final)
        self._backend.sync()
        self.document.grow(self.layout.extent(self.frames), durable=True, frames=self.frames)
        self._published_frames = self.frames

    def _dispatch(self, encoded: EncodedSlab) -> None:
        self._pending.append(self._writer.submit(self._write_slab, encoded))

    def _run_on_writer(self, task: Callable[[], None]) -> None:
        self._pending.append(self._writer.submit(self._write_part, task))

    # --- writer thread ---------------------------------------------------------------------

    def _write_part(self, task: Callable[[], None]) -> None:
        """Write part of the slab being filled (its blocks written as they come)."""
        if self._failure is not None:
            return  # an earlier step failed: write nothing after it
        try:
            task()
        except BaseException as error:
            self._failure = self._failure or error
            raise

    def _write_slab(self, encoded: EncodedSlab) -> None:
        row = self.layout.shard_row_of_slab(encoded.index)
        completes_row = self.layout.completes_shard_row(encoded.index)
        try:
            if self._failure is not None:
                return  # an earlier step failed: write nothing after it
            previous: tuple[int, ...] | None = None  # the shard the last chunk went to
            for placement, chunk in encoded.chunks:
                coords = (row, *placement.shard_coords[1:])
                if completes_row and previous is not None and coords != previous:
                    self._row.finish(previous)  # chunks come shard by shard
                self._row.add(coords, placement.inner_index, chunk)
                previous = coords
            if completes_row:
                self._row.finish_all()
                if self._grow_with_rows:
                    self.document.grow(self.layout.shard_row_extent(row), durable=False)
        except BaseException as error:
            self._failure = self._failure or error
            raise
        finally:
            encoded.release()

    # --- either thread (never both at once: a flush waits for the writer first) --------------

    def _slab_shard_file(self, slab_index: int, placement: ChunkPlacement) -> ShardFile:
        """The shard file of a chunk of slab ``slab_index`` (opened on first use)."""
        row = self.layout.shard_row_of_slab(slab_index)
        return self._row.file((row, *placement.shard_coords[1:]))


def stored_layout(settings: ArraySettings) -> Layout:
    """The layout of the array as stored, its frames put in stored order as they arrive."""
    acquired, stored = settings.dimensions, settings.stored_dimensions
    middle = slice(1, len(acquired) - (2 if len(acquired) >= 3 else 1))
    names = [dim.name for dim in acquired[middle]]
    order = frame_order(
        tuple(dim.size for dim in acquired[middle]), tuple(names.index(dim.name) for dim in stored[middle])
    )
    return Layout(
        shape=tuple(dim.size for dim in stored),
        chunks=settings.chunk_shape,
        shard_counts=settings.shard_counts,
        frame_order=order,
    )


def _encoding(
    layout: Layout,
    dtype: np.dtype,
    settings: ArraySettings,
    pool: Executor,
    tuning: Tuning,
    in_place: InPlace,
) -> Encoding:
    """Tile by tile for Blosc arrays with big enough tiles; whole slabs otherwise."""
    threads = tuning.encode_threads
    compression = settings.compression
    if compression is not None and encodes_tiles(compression, layout, dtype, tuning.min_block_bytes):
        per_run = frames_per_block(layout, dtype, tuning.max_block_bytes)
        runs = run_buffers(threads, per_run)
        return TileEncoding(layout, dtype, compression, pool, tuning.slabs_in_flight, runs, per_run, in_place)
    batches = 4 * threads
    return SlabEncoding(
        layout, dtype, compression, pool, tuning.slabs_in_flight, batches, in_place.shard_file
    )
