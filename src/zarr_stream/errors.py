"""Errors raised by zarr-stream.

Every error is a :class:`ZarrStreamError` and also the builtin exception a caller
would catch for that kind of problem::

    ZarrStreamError
    ├── SettingsError        (ValueError)       bad settings, raised before anything is written
    ├── FrameError           (ValueError)       a frame or block that does not fit the array
    │   ├── UnknownKeyError                     append/set_attributes to a key that is not an array
    │   └── CapacityError                       writing past a bounded append dimension
    ├── FrameDtypeError      (TypeError)        a dtype that does not cast safely to the array's
    ├── StreamClosedError    (RuntimeError)     a call after close()
    ├── BackgroundError      (RuntimeError)     a background encode or write failed (cause chained)
    ├── StoreExistsError     (FileExistsError)  non-empty store path with overwrite=False
    └── ObjectExistsError    (FileExistsError)  a write-once data object already exists
                                                (raised on the next call, like BackgroundError)
"""

from __future__ import annotations

__all__ = [
    "BackgroundError",
    "CapacityError",
    "FrameDtypeError",
    "FrameError",
    "ObjectExistsError",
    "SettingsError",
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
    """A background encode or write failed; the original exception is ``__cause__``."""


class StoreExistsError(ZarrStreamError, FileExistsError):
    """The store path holds data and ``overwrite`` is False; it is left untouched."""


class ObjectExistsError(ZarrStreamError, FileExistsError):
    """A data object the stream must create already exists in the store."""
