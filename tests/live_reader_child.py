"""Child process for the live-reader test: reads a store in a loop while another process writes it.

``python live_reader_child.py STORE KEY READER STOP``: READER is ``zarr`` or ``tensorstore``.
Until the file STOP exists, it opens the array afresh, checks that its length never shrinks,
and reads a random frame, a random window of frames, or the whole array, comparing every value
with the frames the writer appends (``live_frames.frame``): frames before the last time point
must be exact; frames of the last time point (which a flush pads with fill value) may read as
the fill value where the writer has not flushed them yet. It prints one JSON line of counts.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

import live_frames


def open_reader(store: str, key: str, reader: str):
    if reader == "zarr":
        import zarr

        array = zarr.open_array(store, path=key, mode="r")
        return array.shape, lambda index: np.asarray(array[index])
    import tensorstore as ts

    array = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": os.path.join(store, key)}}
    ).result()
    return tuple(array.shape), lambda index: array[index].read().result()


def main(store: str, key: str, reader: str, stop: str) -> None:
    rng = np.random.default_rng(os.getpid())
    counts = {"opens": 0, "reads": 0, "errors": 0, "wrong": 0, "shrunk": 0, "longest": 0, "first_error": None}
    longest = 0
    while not os.path.exists(stop):
        try:
            shape, read = open_reader(store, key, reader)
        except FileNotFoundError:
            continue  # not created yet
        except Exception as error:  # a torn or missing zarr.json
            counts["errors"] += 1
            counts["first_error"] = counts["first_error"] or f"open: {error!r}"
            continue
        counts["opens"] += 1
        if counts["opens"] % 10 == 0:  # so the writer can go on until the readers really polled
            progress = f"{stop}.{reader}"
            with open(progress + ".tmp", "w") as file:
                file.write(str(counts["opens"]))
            os.replace(progress + ".tmp", progress)
        steps = shape[0]
        if steps < longest:
            counts["shrunk"] += 1
        longest = max(longest, steps)
        if not steps:
            continue
        choice = rng.integers(3)
        if choice == 0:
            first = int(rng.integers(steps))
            stop_at = first + 1
        elif choice == 1:
            first = int(rng.integers(steps))
            stop_at = min(steps, first + int(rng.integers(1, 6)))
        else:
            first, stop_at = 0, steps
        try:
            got = read(slice(first, stop_at))
        except Exception:
            counts["errors"] += 1
            counts["first_error"] = counts["first_error"] or f"read: {traceback.format_exc(limit=3)}"
            continue
        counts["reads"] += 1
        if not live_frames.matches(got, first, steps, shape):
            counts["wrong"] += 1
    counts["longest"] = longest
    print(json.dumps(counts))


if __name__ == "__main__":
    main(*sys.argv[1:5])
