"""Errors raised by zarr-stream.

Every error is a ``ZarrStreamError`` and also the builtin exception a caller
would catch for that kind of problem::

    ZarrStreamError
    ├── SettingsError        (ValueError)       bad settings, raised before anything is written
    ├── FrameError           (ValueError)       a frame or block that does not fit the array
    │   ├── UnknownKeyError                     append/set_attributes to a key that is not an array
    │   └── CapacityError                       writing past a bounded append dimension
    ├── FrameDtypeError      (TypeError)        a dtype that does not cast safely to the array's
    ├── StreamClosedError    (RuntimeError)     a call after close()
    ├── BackgroundError      (RuntimeError)     an encode or write failed, in the background or
    │                                           inside flush()/close() (cause chained); sticky
    ├── StoreExistsError     (FileExistsError)  a non-empty store without overwrite, or something
    │                                           other than a Zarr hierarchy with overwrite=True
    ├── ObjectExistsError    (FileExistsError)  a write-once data object already exists (sticky)
    └── StoreAccessError     (OSError)          the store cannot be reached or written when the
                                                stream opens, or vanished while it wrote (sticky)

A failure while writing is *sticky*: the stream writes nothing more, and every later
``append``, ``flush``, ``set_attributes`` and ``close`` raises it again, with the original
exception as ``__cause__`` (``close`` releases threads and staged files first). Everything
flushed before it stays as it was.
"""

from __future__ import annotations

__all__ = [
    "BackgroundError",
    "CapacityError",
    "FrameDtypeError",
    "FrameError",
    "ObjectExistsError",
    "SettingsError",
    "StoreAccessError",
    "StoreExistsError",
    "StreamClosedError",
    "UnknownKeyError",
    "ZarrStreamError",
]


class ZarrStreamError(Exception):
    """Base class of every error zarr-stream raises."""


class SettingsError(ZarrStreamError, ValueError):
    """Settings that break a rule; raised at construction, before anything is written."""


class FrameError(ZarrStreamError, ValueError):
    """Data passed to ``append`` that does not fit the array; nothing of the call is written."""


class UnknownKeyError(FrameError):
    """A key that names no array of the stream, or no key where one is needed."""


class CapacityError(FrameError):
    """An append that would write past the size of a bounded append dimension."""


class FrameDtypeError(ZarrStreamError, TypeError):
    """Data whose dtype numpy cannot cast safely to the array's dtype."""


class StreamClosedError(ZarrStreamError, RuntimeError):
    """A call on a stream that is already closed."""


class BackgroundError(ZarrStreamError, RuntimeError):
    """Encoding or writing failed; the original exception is ``__cause__``. The stream is failed."""


class StoreExistsError(ZarrStreamError, FileExistsError):
    """The store holds data and ``overwrite`` is False, or it holds something other than a
    Zarr hierarchy and ``overwrite`` is True; it is left untouched."""


class ObjectExistsError(ZarrStreamError, FileExistsError):
    """A data object the stream must create already exists in the store."""


class StoreAccessError(ZarrStreamError, OSError):
    """The store cannot be reached or written (the cause is chained), or it vanished while written."""
