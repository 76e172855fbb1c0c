"""Runtime configuration (donfig), namespace ``zarr_stream``.

Environment variables use the prefix ``ZSTREAM_`` (not ``ZARR_``: zarr's own
config would take those), e.g. ``ZSTREAM_ENCODE_THREADS=4``.

Keys
----
encode_threads
    Threads that cut and compress chunks; 0 means one per CPU core.
slabs_in_flight
    Full slabs per array that may wait for or be in encoding at once. With the
    filling slab, ``slabs_in_flight + 1`` slabs are allocated per array, when the
    stream opens; ``append`` blocks when all are busy.
fsync
    True (the default): ``flush()`` and ``close()`` return only once every shard and
    ``zarr.json`` they cover is on disk (fsync), so acknowledged frames survive a power
    loss. False skips the fsyncs: writes stay atomic, so a killed *process* still loses
    nothing flushed, but the operating system may lose recent writes if the machine
    goes down. Local disk only.

Examples
--------
>>> from zarr_stream import config
>>> with config.set({"slabs_in_flight": 3}):
...     config.get("slabs_in_flight")
3
"""

from __future__ import annotations

import os

from donfig import Config

from zarr_stream.errors import SettingsError

__all__ = ["config", "encode_threads", "fsync", "slabs_in_flight"]

config = Config(
    "zarr_stream",
    defaults=[{"encode_threads": 0, "slabs_in_flight": 2, "fsync": True}],
    env_prefix="ZSTREAM_",
)


def _positive(key: str, minimum: int) -> int:
    value = config.get(key)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < minimum or str(value).strip() != str(number):
        raise SettingsError(f"config {key!r} must be an integer >= {minimum}. Got {value!r}.")
    return number


def encode_threads() -> int:
    """Encoder threads to start (the configured number, or one per core)."""
    return _positive("encode_threads", 0) or (os.cpu_count() or 1)


def slabs_in_flight() -> int:
    """Full slabs per array allowed in the encode/write pipeline at once."""
    return _positive("slabs_in_flight", 1)


def fsync() -> bool:
    """Whether flush() and close() fsync what they publish."""
    value = config.get("fsync")
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise SettingsError(f"config 'fsync' must be true or false. Got {value!r}.")
    return value
