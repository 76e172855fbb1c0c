"""Runtime configuration (donfig), namespace ``zarr_stream``.

Environment variables use the prefix ``ZSTREAM_`` (not ``ZARR_``: zarr's own
config would take those), e.g. ``ZSTREAM_ENCODE_THREADS=4``.

Keys
----
encode_threads
    Threads that cut and compress chunks; 0 means one per CPU core.
slabs_in_flight
    Full slabs per array that may wait for or be in encoding and writing at once;
    ``append`` blocks when that many are busy. Arrays buffered in slabs (raw ones, and
    those with tiles under ``min_block_bytes``) allocate ``slabs_in_flight + 1`` slabs
    when the stream opens. Compressed arrays hold their slabs compressed.
min_block_bytes
    Compressed arrays whose frame tiles (one frame's part of a chunk) are at least this
    many bytes (default 16384) compress each tile as it arrives, as one Blosc block of
    its chunk, and keep only compressed bytes. Arrays with smaller tiles are buffered in
    raw slabs and compressed chunk by chunk, with Blosc's own block size.
max_block_bytes
    Such arrays join the tiles of consecutive frames into one Blosc block while the
    block stays within this many bytes (default 524288): as many frames as fit and
    divide the chunk's depth, one when a tile alone is bigger. Bigger blocks compress
    faster (zstd: 8% from 128 to 512 KiB) and a little smaller; the encoder then holds
    that many frames per block being filled. Arrays with dimensions between the append
    dimension and a frame's (channels, z) keep one tile per block.
in_place_slab_bytes
    On local disk, compressed arrays encoded tile by tile whose slabs (one chunk deep)
    hold at least this many raw bytes (default 128 MiB) write each frame's compressed
    blocks into their chunks' regions of the shard files as the frames come, instead of
    keeping a slab's compressed bytes until it is full: less memory, and ``close()``
    waits for less (see ``docs/concepts.md``). Shards then hold a few percent of unused
    bytes, mostly holes on disk. Smaller slabs gain nothing from it.
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
from dataclasses import dataclass

from donfig import Config

from zarr_stream.errors import SettingsError

__all__ = [
    "Tuning",
    "config",
    "encode_threads",
    "fsync",
    "in_place_slab_bytes",
    "max_block_bytes",
    "min_block_bytes",
    "slabs_in_flight",
    "tuning",
]

config = Config(
    "zarr_stream",
    defaults=[
        {
            "encode_threads": 0,
            "slabs_in_flight": 1,
            "fsync": True,
            "min_block_bytes": 16384,
            "max_block_bytes": 512 << 10,
            "in_place_slab_bytes": 128 << 20,
        }
    ],
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


def min_block_bytes() -> int:
    """Smallest frame tile, in bytes, compressed tile by tile as one Blosc block."""
    return _positive("min_block_bytes", 0)


def max_block_bytes() -> int:
    """Largest Blosc block, in bytes, made of consecutive frames' tiles."""
    return _positive("max_block_bytes", 0)


def in_place_slab_bytes() -> int:
    """Smallest slab, in raw bytes, whose compressed blocks are written in place as they come."""
    return _positive("in_place_slab_bytes", 0)


@dataclass(frozen=True, slots=True)
class Tuning:
    """The engine's knobs, read from the config once when a stream opens."""

    encode_threads: int
    slabs_in_flight: int
    min_block_bytes: int
    fsync: bool
    in_place_slab_bytes: int
    max_block_bytes: int


def tuning() -> Tuning:
    """Read (and check) every engine key of the config as it stands now."""
    return Tuning(
        encode_threads(),
        slabs_in_flight(),
        min_block_bytes(),
        fsync(),
        in_place_slab_bytes(),
        max_block_bytes(),
    )
