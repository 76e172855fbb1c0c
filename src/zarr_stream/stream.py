"""The public streaming writer."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from zarr_stream.config import tuning
from zarr_stream.engine import ArrayStream
from zarr_stream.errors import (
    CapacityError,
    FrameDtypeError,
    FrameError,
    SettingsError,
    StreamClosedError,
    UnknownKeyError,
)
from zarr_stream.metadata import document_key, group_document, group_keys
from zarr_stream.settings import StreamSettings
from zarr_stream.storage import open_backend

__all__ = ["ZarrStream"]


class ZarrStream:
    """Streams append-only frames into sharded Zarr v3 arrays.

    Everything about the settings is checked, and the store is checked to be empty
    (or cleared with ``overwrite=True``), before anything is written.

    Examples
    --------
    >>> import numpy as np, tempfile, zarr, zarr_stream as zs
    >>> path = tempfile.mkdtemp() + "/doc.zarr"
    >>> settings = zs.StreamSettings(store=path, arrays=[zs.ArraySettings(
    ...     dtype="uint8",
    ...     dimensions=[zs.Dimension("t", kind="time", chunk=2, shard=2),
    ...                 zs.Dimension("y", size=4, chunk=2), zs.Dimension("x", size=4, chunk=2)])])
    >>> frames = np.arange(48, dtype="uint8").reshape(3, 4, 4)
    >>> with zs.ZarrStream(settings) as stream:
    ...     stream.append(frames)
    >>> bool((zarr.open_array(path)[:] == frames).all())
    True
    """

    def __init__(self, settings: StreamSettings) -> None:
        if not isinstance(settings, StreamSettings):
            raise SettingsError(f"settings must be a StreamSettings. Got {settings!r}.")
        self.settings = settings
        self._closed = False
        knobs = tuning()
        self._backend = backend = open_backend(settings.store, knobs.fsync)
        self._pool = ThreadPoolExecutor(knobs.encode_threads, thread_name_prefix="zarr-stream-encode")
        self._arrays = {a.key: ArrayStream(a, backend, self._pool, knobs) for a in settings.arrays}
        try:
            backend.prepare(settings.overwrite)
        except BaseException:
            self._pool.shutdown()
            self._backend.close()
            raise
        for key in group_keys(self._arrays):
            backend.write_document(document_key(key), group_document(), durable=False)
        for array in self._arrays.values():
            array.write_metadata(durable=False)
        backend.sync()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def append(self, data: npt.ArrayLike, key: str | None = None) -> None:
        """Append one frame, or a block of frames, to the array at ``key``.

        ``data`` has shape ``(..., *frame_shape)``; its leading axes are flattened and
        each frame fills the next position in C order over the non-frame dimensions.
        Any memory layout is accepted. A bad call raises and writes nothing.
        """
        array = self._array(key)
        frames = np.asarray(data)
        layout = array.layout
        if not np.can_cast(frames.dtype, array.dtype, casting="safe"):
            raise FrameDtypeError(
                f"frame dtype must cast safely to the array's dtype {array.dtype.name} "
                f"(array {array.key!r}). Got {frames.dtype}."
            )
        frame_shape = layout.frame_shape
        if frames.shape[frames.ndim - len(frame_shape) :] != frame_shape or frames.ndim < len(frame_shape):
            raise FrameError(
                f"frames must have trailing shape {frame_shape} (array {array.key!r}). "
                f"Got shape {frames.shape}."
            )
        frames = frames.reshape(-1, *frame_shape)
        capacity = layout.capacity_frames
        if capacity is not None and array.frames + len(frames) > capacity:
            raise CapacityError(
                f"the append dimension of array {array.key!r} holds {capacity} frames "
                f"({layout.shape[0]} x {layout.frames_per_step}); {array.frames} are written. "
                f"Got {len(frames)} more."
            )
        array.append(frames)

    def flush(self) -> None:
        """Make every frame appended so far durable and visible to readers."""
        self._check_open()
        for array in self._arrays.values():
            array.flush()

    def set_attributes(self, attributes: Mapping[str, Any], key: str | None = None) -> None:
        """Merge ``attributes`` into the ``zarr.json`` attributes of the array at ``key``."""
        self._array(key).set_attributes(attributes)

    def close(self) -> None:
        """Write the last partial chunks and the final metadata. Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        for array in self._arrays.values():
            try:
                array.close()
            except BaseException as error:  # close every array, then report the first failure
                errors.append(error)
        self._pool.shutdown(wait=True)
        self._backend.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> ZarrStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosedError("the stream is closed: no call may follow close().")

    def _array(self, key: str | None) -> ArrayStream:
        self._check_open()
        if key is None:
            if len(self._arrays) != 1:
                raise UnknownKeyError(
                    "key is required when the stream has several arrays. "
                    f"Got None; keys are {sorted(self._arrays)}."
                )
            return next(iter(self._arrays.values()))
        try:
            return self._arrays[key]
        except KeyError:
            raise UnknownKeyError(
                f"key must name an array of the stream {sorted(self._arrays)}. Got {key!r}."
            ) from None
