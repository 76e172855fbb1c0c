"""The public streaming writer: the front door to one stream's arrays."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import numpy.typing as npt

from zarr_stream._threads import in_pool_thread
from zarr_stream.engine import WriteSession
from zarr_stream.engine._session import store_label
from zarr_stream.errors import SettingsError, StreamClosedError
from zarr_stream.settings import StreamSettings

__all__ = ["ZarrStream"]

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
        """True once :meth:`close` has been called (or the stream was closed for want of it)."""
        return self._session.closed

    def append(self, data: npt.ArrayLike, key: str | None = None) -> None:
        """Append one frame, or a block of frames, to the array or image at ``key``.

        ``data`` has shape ``(..., *frame_shape)``; its leading axes are flattened and
        each frame fills the next position in C order over the non-frame dimensions.
        Any memory layout is accepted. A bad call raises and writes nothing.
        """
        with self._lock:
            self._check_open()
            self._session.append(data, key)

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
