"""Child process for the kill tests: streams deterministic frames, flushing now and then.

After each flush returns it records, atomically, which store it writes and how many of its
frames are durable, so the parent knows what must survive a SIGKILL. Most blocks carry
per-frame metadata, which must survive with their frames. Three ways to die:

- ``anywhere``: the parent kills it at a random moment.
- ``flush``: it arms a timer that SIGKILLs it a random fraction of a millisecond or more
  into a ``flush()``. Should the flush return first, it disarms the timer and tries again
  with a shorter delay, so the kill lands inside a flush (or in the instant after it
  returns, before the frames count as acknowledged).
- ``close``: the same inside ``close()``, with unflushed frames and a partial shard to write;
  a close that returns first is tried again on a new store.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import numpy as np

import zarr_stream as zs

FRAME = (96, 80)


def frame(i: int) -> np.ndarray:
    base = np.arange(FRAME[0] * FRAME[1], dtype=np.uint32).reshape(FRAME) * 2654435761
    return ((base >> 7) + i * 977).astype(np.uint16)


#: The frames up to the last that was appended with metadata: those whose records a flush keeps.
with_records = 0


def record(path: str, store: str, flushed: int, tries: int = 0) -> None:
    """``tries``: how many flush() or close() calls the timer raced before this record."""
    with open(path + ".tmp", "w") as f:
        json.dump({"store": store, "flushed": flushed, "records": with_records, "tries": tries}, f)
    os.replace(path + ".tmp", path)


#: Odd seeds stream uncompressed (raw slabs, chunks written in place), even ones compressed.
RAW = False


def settings(store: str, resume: bool = False, raw: bool = False) -> zs.StreamSettings:
    dims = [
        zs.Dimension("t", kind="time", size=0, chunk=3, shard=2),
        zs.Dimension("y", size=FRAME[0], chunk=32, shard=2),
        zs.Dimension("x", size=FRAME[1], chunk=32, shard=2),
    ]
    compression = None if raw else zs.Compression(level=1)
    array = zs.ArraySettings(key="raw", dimensions=dims, compression=compression)
    return zs.StreamSettings(store=store, arrays=[array], resume=resume)


def open_stream(store: str) -> zs.ZarrStream:
    return zs.ZarrStream(settings(store, raw=RAW))


def frame_record(i: int) -> dict:
    """Frame ``i``'s metadata, when its block carries some."""
    return {"i": i, "t": round(i * 0.01, 2), "stage": {"x": i % 7, "y": -i}}


def append_some(stream: zs.ZarrStream, rng: np.random.Generator, first: int) -> int:
    """Append 1-4 frames from ``first`` on, with their metadata or (a third of blocks) without;
    return the next frame number."""
    block = int(rng.integers(1, 5))
    frames = np.stack([frame(first + k) for k in range(block)])
    global with_records
    if rng.random() < 2 / 3:
        stream.append(frames, metadata=[frame_record(first + k) for k in range(block)])
        with_records = first + block
    else:
        stream.append(frames)
    return first + block


def kill_me_in(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGKILL))
    timer.start()
    return timer


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def stream_anywhere(store: str, progress: str, rng: np.random.Generator) -> None:
    stream = open_stream(store)
    record(progress, store, 0)
    i = 0
    while True:
        i = append_some(stream, rng, i)
        if rng.random() < 0.3:
            stream.flush()
            record(progress, store, i)


def die_in_flush(store: str, progress: str, rng: np.random.Generator) -> None:
    stream = open_stream(store)
    record(progress, store, 0)
    i, durations = 0, []
    for _ in range(int(rng.integers(2, 8))):  # some flushed shards first, their length known
        i = append_some(stream, rng, i)
        durations.append(timed(stream.flush))
        record(progress, store, i)
    delay = float(rng.uniform(0.05, 0.9)) * min(durations)
    for tries in range(1, 1000):
        i = append_some(stream, rng, i)
        timer = kill_me_in(delay)
        stream.flush()
        timer.cancel()  # the flush won the race: acknowledge it, try again sooner
        record(progress, store, i, tries)
        delay /= 2
    raise AssertionError("never killed inside flush()")


def die_in_close(store: str, progress: str, rng: np.random.Generator) -> None:
    global with_records
    delay = None
    for attempt in range(1000):
        path = f"{store}-{attempt}"
        stream = open_stream(path)
        with_records = 0
        record(progress, path, 0, max(attempt - 1, 0))
        i = 0
        for _ in range(int(rng.integers(1, 6))):
            i = append_some(stream, rng, i)
            if rng.random() < 0.5:
                stream.flush()
                record(progress, path, i, max(attempt - 1, 0))
        for _ in range(int(rng.integers(1, 6))):  # left for close() to write
            i = append_some(stream, rng, i)
        if delay is None:  # the first close is timed, to know how long one takes
            delay = float(rng.uniform(0.05, 0.9)) * timed(stream.close)
            continue
        timer = kill_me_in(delay)
        stream.close()
        timer.cancel()
        delay /= 2
    raise AssertionError("never killed inside close()")


if __name__ == "__main__":
    store, progress, where, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    RAW = seed % 2 == 1
    rng = np.random.default_rng(seed)
    {"anywhere": stream_anywhere, "flush": die_in_flush, "close": die_in_close}[where](store, progress, rng)
