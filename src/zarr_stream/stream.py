"""The public streaming writer: the front door to one stream's arrays."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import numpy.typing as npt

from zarr_stream._threads import DaemonPool, in_pool_thread
from zarr_stream.engine import WriteSession
from zarr_stream.engine._session import store_label
from zarr_stream.errors import SettingsError, StreamClosedError
from zarr_stream.settings import StreamSettings

__all__ = ["AsyncZarrStream", "ZarrStream"]

logger = logging.getLogger("zarr_stream")


class ZarrStream:
    """Streams append-only frames into sharded Zarr v3 arrays.

    Everything about the settings is checked, and the store is checked to be empty
    (or a Zarr hierarchy, replaced with ``overwrite=True``), before anything is written.
    Calls from several threads are safe: they take the stream one at a time, so every
    frame lands whole, in the order the calls took it. A stream that is never closed is
    closed when it is garbage-collected, or at exit, with a ``ResourceWarning``.

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
        self._lock = threading.Lock()
        self._session = WriteSession(settings)
        # It holds the session and the lock, never the stream, which could then not be collected.
        self._finalizer = weakref.finalize(
            self, _close_unclosed, self._session, self._lock, store_label(settings.store)
        )

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called (or the stream was closed for want of it)."""
        return self._session.closed

    def append(
        self,
        data: npt.ArrayLike,
        key: str | None = None,
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Append one frame, or a block of frames, to the array or image at ``key``.

        ``data`` has shape ``(..., *frame_shape)``; its leading axes are flattened and
        each frame fills the next position in C order over the non-frame dimensions.
        Any memory layout is accepted. ``metadata`` is the frame's record (a mapping of JSON
        values: a timestamp, a stage position, ...) or a sequence of one per frame of the
        block; it is flushed with the frames and read back by
        ``read_frame_metadata``. A bad call raises and writes nothing.
        """
        with self._lock:
            self._check_open()
            self._session.append(data, key, metadata)

    def skip(self, count: int, key: str | None = None) -> None:
        """Append ``count`` frames of the fill value (0) to the array or image at ``key``: the
        frames a camera dropped, so later frames keep their place. Nothing is copied from the
        caller, and chunks left all fill value are not stored (readers see 0 there)."""
        with self._lock:
            self._check_open()
            self._session.skip(count, key)

    def flush(self) -> None:
        """Make every frame appended so far durable and visible to readers."""
        with self._lock:
            self._check_open()
            self._session.flush()

    def set_attributes(self, attributes: Mapping[str, Any], key: str | None = None) -> None:
        """Merge ``attributes`` into the ``zarr.json`` attributes of the node at ``key``: an
        array, an OME image (its group) or one of its levels, a plate, a well, any group, or
        the root ``""``; None names the only array. The ``ome`` key is reserved."""
        with self._lock:
            self._check_open()
            self._session.set_attributes(attributes, key)

    def close(self) -> None:
        """Write the last partial chunks and the final metadata, and release every thread and
        staged file; after a failure, only release, and raise the failure (and again at every
        later ``close()``). Closing a closed stream does nothing else."""
        with self._lock:
            self._finalizer.detach()
            self._session.close()

    def __enter__(self) -> ZarrStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._session.closed:
            raise StreamClosedError("the stream is closed: no call may follow close().")


class AsyncZarrStream:
    """``ZarrStream`` for asyncio: the same methods, awaited.

    Each call runs on the stream's own thread, in the order the calls were made, so a call
    that waits (an ``append`` held back until the encoders catch up, a ``flush`` writing to
    S3) suspends only the task that awaits it; the event loop and its other tasks go on.
    The stream opens (checks and prepares the store) on that thread too, and its errors are
    raised by ``async with`` or by the first awaited call. A frame is taken, copied, by the
    time its ``append`` returns: keep it unchanged until then.

    Examples
    --------
    >>> import asyncio, numpy as np, tempfile, zarr, zarr_stream as zs
    >>> path = tempfile.mkdtemp() + "/doc.zarr"
    >>> settings = zs.StreamSettings(store=path, arrays=[zs.ArraySettings(
    ...     dtype="uint8", dimensions=[zs.Dimension("t", chunk=2), zs.Dimension("x", size=4)])])
    >>> async def acquire():
    ...     async with zs.AsyncZarrStream(settings) as stream:
    ...         for i in range(3):
    ...             await stream.append(np.full(4, i, "uint8"))
    >>> asyncio.run(acquire())
    >>> zarr.open_array(path)[:, 0].tolist()
    [0, 1, 2]
    """

    def __init__(self, settings: StreamSettings) -> None:
        if not isinstance(settings, StreamSettings):
            raise SettingsError(f"settings must be a StreamSettings. Got {settings!r}.")
        self.settings = settings
        # One thread, in call order; daemon, like every thread of a stream (see _threads).
        self._thread = DaemonPool(1, "zarr-stream-async")
        self._opening = self._thread.submit(ZarrStream, settings)
        self._closed = False
        self._closing: Future[None] | None = None
        # A stream never closed: its thread ends when it is collected (the stream inside is
        # closed by its own finalizer, with a ResourceWarning).
        weakref.finalize(self, self._thread.shutdown, False)

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called."""
        return self._closed

    async def append(
        self,
        data: npt.ArrayLike,
        key: str | None = None,
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """See ``ZarrStream.append``."""
        await self._call(lambda stream: stream.append(data, key, metadata))

    async def skip(self, count: int, key: str | None = None) -> None:
        """See ``ZarrStream.skip``."""
        await self._call(lambda stream: stream.skip(count, key))

    async def flush(self) -> None:
        """See ``ZarrStream.flush``."""
        await self._call(lambda stream: stream.flush())

    async def set_attributes(self, attributes: Mapping[str, Any], key: str | None = None) -> None:
        """See ``ZarrStream.set_attributes``."""
        await self._call(lambda stream: stream.set_attributes(attributes, key))

    async def close(self) -> None:
        """See ``ZarrStream.close``; the stream's thread ends with it. The close goes on to the
        end even if the awaiting task is cancelled; a later ``close`` awaits the same one."""
        if self._closing is None:
            if self._thread.closed:  # it never opened (``async with`` raised): nothing to close
                return
            self._closed = True
            self._closing = self._thread.submit(self._close_opened)
            self._thread.shutdown(wait=False)  # after the calls queued and the close
        await asyncio.shield(asyncio.wrap_future(self._closing))

    async def __aenter__(self) -> AsyncZarrStream:
        try:
            await asyncio.wrap_future(self._opening)
        except BaseException:
            self._closed = True  # it never opened: nothing to close, and no thread is kept
            self._thread.shutdown(wait=False)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _call(self, call: Callable[[ZarrStream], None]) -> None:
        if self._closed:
            raise StreamClosedError("the stream is closed: no call may follow close().")
        # queued now, so calls run in the order they were made, whenever they are awaited
        await asyncio.wrap_future(self._thread.submit(self._run, call))

    def _run(self, call: Callable[[ZarrStream], None]) -> None:
        """On the stream's thread, after the opening (its first job): raises what opening raised."""
        call(self._opening.result())

    def _close_opened(self) -> None:
        if self._opening.exception() is None:  # a stream that never opened has nothing to close
            self._opening.result().close()


#: How long the close of an unclosed stream at exit waits for another thread's call to end.
EXIT_CLOSE_WAIT_SECONDS = 60.0


def _close_unclosed(session: WriteSession, lock: threading.Lock, store: str) -> None:
    """Close a stream that was collected, or is still open at exit, without ``close()``."""
    message = f"a zarr-stream stream to {store} was not closed; closing it now, which writes its last frames"
    warnings.warn(message, ResourceWarning, stacklevel=2)
    logger.warning(message)
    if in_pool_thread() or _in_event_loop():
        # Collected on a thread that closing waits for (one of its own, or the event loop a
        # zarr Store runs on): close on another, and let it finish on its own.
        threading.Thread(target=_close_logged, args=(session, lock, store), name="zarr-stream-close").start()
    else:
        _close_logged(session, lock, store)


def _close_logged(session: WriteSession, lock: threading.Lock, store: str) -> None:
    # At exit, another thread may be inside a call of the stream: let it finish first.
    if not lock.acquire(timeout=EXIT_CLOSE_WAIT_SECONDS):
        logger.error("could not close the unclosed stream to %s: a call of another thread holds it", store)
        return
    try:
        session.close()
    except Exception:  # no caller to raise to
        logger.exception("closing the unclosed stream to %s failed", store)
    finally:
        lock.release()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
