"""Child process for the OME kill test: streams a t/c/y/x mean pyramid, flushing after each
append, and records (atomically) how many frames each returned flush made durable."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import zarr_stream as zs

CHANNELS, FRAME = 2, (70, 45)


def frame(i: int) -> np.ndarray:
    return (np.arange(FRAME[0] * FRAME[1], dtype=np.uint32).reshape(FRAME) * 7 + i * 977 + 1).astype(
        np.uint16
    )


def settings(store: str) -> zs.StreamSettings:
    dims = [
        zs.Dimension("t", kind="time", chunk=2, shard=2),
        zs.Dimension("c", kind="channel", size=CHANNELS, chunk=1),
        zs.Dimension("y", size=FRAME[0], chunk=16, shard=2),
        zs.Dimension("x", size=FRAME[1], chunk=16),
    ]
    array = zs.ArraySettings(key="img", dimensions=dims, multiscale=zs.Multiscale(method="mean"))
    return zs.StreamSettings(store=store, arrays=[array])


def main(store: str, progress: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    written = 0
    stream = zs.ZarrStream(settings(store))
    while True:  # until killed
        block = int(rng.integers(1, 5))
        stream.append(np.stack([frame(written + k) for k in range(block)]))
        written += block
        stream.flush()
        with open(progress + ".tmp", "w") as f:
            json.dump({"flushed": written}, f)
        os.replace(progress + ".tmp", progress)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
