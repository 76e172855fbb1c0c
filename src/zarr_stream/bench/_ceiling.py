"""The machine's ceiling for a workload: Blosc alone, the disk alone, and Blosc written durably.

The ceiling is what this machine could do with no writer overhead at all: for raw data,
the same bytes written to the same disk, each shard file fsynced in the background as
soon as it is written (a few fsyncs in flight); for compressed data, the slower of Blosc
alone on every core and the disk writing the compressed bytes, as if the two overlapped
perfectly.

Beside the ceiling, for compressed data, the bench measures Blosc on every core while the
simplest durable writer (chunks already cut, no copy, one sequential file per shard) writes
its output: on a machine where getting bytes to disk costs CPU, as on a VM whose host does
the guest's disk writes, this is below the ceiling, and shows by how much.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zarr_stream.bench._workloads import Workload, source_frames
from zarr_stream.storage import FSYNC_THREADS, fsync_and_drop, fsync_path

__all__ = ["MiB", "fsync_tree", "run_ceiling"]

MiB = 2**20


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``."""
    for directory, _, files in os.walk(root):
        for path in [*(Path(directory) / name for name in files), Path(directory)]:
            fsync_path(path)


def _cut_chunks(workload: Workload) -> tuple[list[np.ndarray], Any, int]:
    """One slab of the workload cut into its chunks, contiguous; the Blosc codec; slabs a stream."""
    from numcodecs import Blosc

    frames = source_frames(workload)
    ct, cy, cx = workload.chunks
    slab = np.stack([frames[i % len(frames)] for i in range(ct)])
    chunks = [
        np.ascontiguousarray(slab[:, y : y + cy, x : x + cx])
        for y in range(0, workload.size, cy)
        for x in range(0, workload.size, cx)
    ]
    shuffle = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
    codec = Blosc(cname=workload.codec or "lz4", clevel=workload.level, shuffle=shuffle[workload.shuffle])
    return chunks, codec, -(-workload.frames // ct)


def blosc_chunks(workload: Workload) -> tuple[int, list[bytes], float]:
    """Blosc alone on every core: compress the workload's chunks, already cut and contiguous.

    Returns the raw bytes compressed, one slab's compressed chunks, and the seconds taken.
    """
    chunks, codec, slabs = _cut_chunks(workload)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        start = time.perf_counter()
        for _ in range(slabs):
            compressed = list(pool.map(codec.encode, chunks))
        seconds = time.perf_counter() - start
    return slabs * sum(c.nbytes for c in chunks), compressed, seconds


def blosc_durable_seconds(workload: Workload, out: Path) -> float:
    """Seconds for Blosc on every core while its chunks are written to shard files, durably.

    The simplest durable writer, with no copy: each slab's chunks, already cut, are
    compressed on every core and written in shard order as they come, one file per shard,
    each fsynced in the background once written (``durable_files_seconds``). Not part of the
    ceiling: it shows what getting the bytes to disk during the run costs on this machine.
    """
    chunks, codec, slabs = _cut_chunks(workload)
    grid = -(-workload.size // workload.chunks[2])  # chunks along x
    _, sy, sx = workload.shard_counts
    order = sorted(range(len(chunks)), key=lambda i: ((i // grid) // sy, (i % grid) // sx))
    per_shard = sy * sx

    with ThreadPoolExecutor(os.cpu_count()) as pool:

        def shards() -> Iterator[Iterator[bytes]]:
            for _ in range(slabs):
                encoded = [pool.submit(codec.encode, chunks[i]) for i in order]
                for first in range(0, len(order), per_shard):
                    yield (chunk.result() for chunk in encoded[first : first + per_shard])

        return durable_files_seconds(shards(), out)


def disk_seconds(total: int, shard_bytes: int, out: Path) -> float:
    """Seconds to write ``total`` bytes to files of ``shard_bytes`` under ``out``, durably."""
    buffer = memoryview(np.random.default_rng(0).integers(0, 255, shard_bytes, dtype=np.uint8).tobytes())
    files = ([buffer[: min(shard_bytes, total - start)]] for start in range(0, total, shard_bytes))
    return durable_files_seconds(files, out)


def durable_files_seconds(files: Iterable[Iterable[bytes | memoryview]], out: Path) -> float:
    """Seconds to write each of ``files`` (its parts in order) to a file under ``out``, durably.

    Each file is fsynced in the background as soon as it is written, a few at once, so the
    disk works while the next file is written: the fastest way we found to get bytes onto
    it durably (4 fsyncs in flight beat 1 and 2, and match 8), then out of the page cache.
    The time includes making the parts, when ``files`` makes them as it goes.
    """
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(FSYNC_THREADS) as syncer:
        syncs: list[Future[None]] = []
        start = time.perf_counter()
        for parts in files:
            fd = os.open(out / f"shard{len(syncs)}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
            syncs.append(syncer.submit(_fsync_and_close, fd))
        for sync in syncs:
            sync.result()
        return time.perf_counter() - start


def _fsync_and_close(fd: int) -> None:
    try:
        fsync_and_drop(fd)  # as the engine does: the fastest way we know
    finally:
        os.close(fd)


def run_ceiling(workload: Workload, out: Path) -> dict[str, Any]:
    """The machine's ceiling for the workload (see the module docstring), with its parts."""
    shard_raw = int(np.prod(workload.shard_shape)) * 2
    total_raw = workload.frames * workload.frame_bytes
    result: dict[str, Any] = {"engine": "ceiling", "workload": workload.name}
    if workload.codec is None:
        disk = disk_seconds(total_raw, shard_raw, out)
        result["mib_per_s"] = result["disk_mib_per_s"] = total_raw / MiB / disk
        return result
    raw, chunks, blosc = blosc_chunks(workload)
    ratio = len(chunks) * np.prod(workload.chunks) * 2 / sum(len(c) for c in chunks)
    disk = disk_seconds(int(total_raw / ratio), int(shard_raw / ratio), out)
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # see _child
    result["blosc_durable_mib_per_s"] = raw / MiB / blosc_durable_seconds(workload, out)
    result["blosc_mib_per_s"] = raw / MiB / blosc
    result["disk_mib_per_s"] = total_raw / MiB / disk  # raw frames' MiB/s: compressed bytes x ratio
    result["mib_per_s"] = min(result["blosc_mib_per_s"], result["disk_mib_per_s"])
    result["ratio"] = float(ratio)
    return result
